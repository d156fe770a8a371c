#include "util/unix_time.h"

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

}  // namespace matterfs
