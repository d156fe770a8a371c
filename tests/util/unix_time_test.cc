#include "util/unix_time.h"

#include <gtest/gtest.h>

namespace matterfs {
namespace {

TEST(FormatUnixTimeTest, AlwaysUtcWithSeconds) {
  EXPECT_EQ(FormatUnixTime(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatUnixTime(1764633600), "2025-12-02T00:00:00Z");  // seconds 0 still shown
  EXPECT_EQ(FormatUnixTime(1790812859), "2026-10-01T00:00:59Z");
}

TEST(ParseUnixTimeTest, ReadsWhatFormatWrites) {
  for (uint64_t t :
       {uint64_t{0}, uint64_t{1764633600}, uint64_t{1790812859}, uint64_t{951782400}}) {
    EXPECT_EQ(ParseUnixTime(FormatUnixTime(t)), t) << FormatUnixTime(t);
  }
}

TEST(ParseUnixTimeTest, RefusesEverythingElse) {
  for (const char* s : {"", "2026-10-01T00:00:59", "2026-10-01T00:00:59z", "2026-10-01 00:00:59Z",
                        "2026-02-30T00:00:00Z", "2026-10-01T24:00:00Z", "2026-10-01T00:60:00Z",
                        "2026-10-01T00:00:60Z", "1969-12-31T23:59:59Z", "2026-10-01T00:00:5aZ",
                        "+026-10-01T00:00:59Z", "2026-10-01T00:00:59.5Z"}) {
    EXPECT_FALSE(ParseUnixTime(s).has_value()) << s;
  }
}

TEST(ParseDateOrUnixTimeTest, ADateIsMidnightUtc) {
  EXPECT_EQ(ParseDateOrUnixTime("2025-12-02"), 1764633600u);
  EXPECT_EQ(ParseDateOrUnixTime("2026-10-01T00:00:59Z"), 1790812859u);
  for (const char* s : {"", "2026-02-30", "2026-1-01", "2026-10-01T", "2026-10-01Z",
                        "2026-10-01T09:30Z", "20261001", "2026-10-01 "}) {
    EXPECT_FALSE(ParseDateOrUnixTime(s).has_value()) << s;
  }
}

}  // namespace
}  // namespace matterfs
