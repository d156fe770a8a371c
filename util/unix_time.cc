#include "util/unix_time.h"

#include <chrono>
#include <ctime>

namespace matterfs {

std::string FormatUnixTime(uint64_t seconds) {
  const auto t = static_cast<time_t>(seconds);
  struct tm tm = {};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::optional<uint64_t> ParseUnixTime(std::string_view s) {
  if (s.size() != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
      s[16] != ':' || s[19] != 'Z') {
    return std::nullopt;
  }
  bool digits = true;
  auto num = [&](size_t pos, size_t len) {
    unsigned v = 0;
    for (size_t i = pos; i < pos + len; ++i) {
      if (s[i] < '0' || s[i] > '9') digits = false;
      v = v * 10 + static_cast<unsigned>(s[i] - '0');
    }
    return v;
  };
  const unsigned year = num(0, 4), mon = num(5, 2), day = num(8, 2), hour = num(11, 2),
                 min = num(14, 2), sec = num(17, 2);
  const std::chrono::year_month_day ymd{std::chrono::year(static_cast<int>(year)),
                                        std::chrono::month(mon), std::chrono::day(day)};
  if (!digits || year < 1970 || !ymd.ok() || hour > 23 || min > 59 || sec > 59) {
    return std::nullopt;
  }
  const auto days = std::chrono::sys_days(ymd).time_since_epoch().count();
  return static_cast<uint64_t>(days) * 86400 + hour * 3600u + min * 60u + sec;
}

std::optional<uint64_t> ParseDateOrUnixTime(std::string_view text) {
  if (text.size() == 10) return ParseUnixTime(std::string(text) + "T00:00:00Z");
  return ParseUnixTime(text);
}

}  // namespace matterfs
