// Times and durations as the policy file writes them, all in UTC.
//
//   time:     2026-12-31            (a date; see ParseTime / ParseUntil for its meaning)
//             2026-12-31T18:00Z     2026-12-31T18:00:30Z     2026-12-31T18:00+01:00
//   duration: 90s  30m  4h  2d  1h30m   (one or more NUMBER UNIT pairs, units s m h d)
//
// Pure functions: no clock, no time zone database, no I/O. Thread-safe.
// Errors: kInvalidArgument with a message that quotes the text and shows the syntax.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "util/result.h"

namespace matterfs::policy {

// A point in time, whole seconds since the Unix epoch (UTC).
using Time = std::chrono::sys_seconds;
using Duration = std::chrono::seconds;

// The longest duration the policy accepts anywhere (break_glass_max, bulk_window).
inline constexpr Duration kMaxDuration = std::chrono::days(366);

// A point in time. A date alone means 00:00Z at the start of that day.
Result<Time> ParseTime(std::string_view text);

// The end of a grant (`until=`), exclusive: the grant holds while now < the result.
// A date alone means "through that whole day": 00:00Z of the following day.
Result<Time> ParseUntil(std::string_view text);

// "2026-11-22T12:00Z", or "2026-11-22T12:00:30Z" when the seconds are not zero.
std::string FormatTime(Time t);

// A positive duration of at most kMaxDuration.
Result<Duration> ParseDuration(std::string_view text);

// "4h", "1h30m", "90s" -> "1m30s", "2d".
std::string FormatDuration(Duration d);

}  // namespace matterfs::policy
