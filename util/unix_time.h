// Unix seconds as text for people and scripts: "2026-12-02T15:36:00Z" (UTC, always with
// seconds, so the width never changes). Thread-safe (gmtime_r).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace matterfs {

std::string FormatUnixTime(uint64_t seconds);
// Parses exactly what FormatUnixTime writes (YYYY-MM-DDTHH:MM:SSZ, 1970 or later, a real
// date, no leap second); nullopt for anything else.
std::optional<uint64_t> ParseUnixTime(std::string_view text);
// A point in time on a command line: what ParseUnixTime reads, or a date alone
// (YYYY-MM-DD), which means 00:00:00 UTC at the start of that day.
std::optional<uint64_t> ParseDateOrUnixTime(std::string_view text);

}  // namespace matterfs
