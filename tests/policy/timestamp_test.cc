#include "policy/timestamp.h"

#include <gtest/gtest.h>

namespace matterfs::policy {
namespace {

using namespace std::chrono_literals;

TEST(TimestampTest, ParsesDatesAndTimesInUtc) {
  EXPECT_EQ(ParseTime("1970-01-01").value().time_since_epoch(), 0s);
  EXPECT_EQ(ParseTime("2026-11-22T12:00Z").value().time_since_epoch().count(), 1795348800);
  EXPECT_EQ(ParseTime("2026-11-22T12:00:30Z").value(),
            ParseTime("2026-11-22T12:00Z").value() + 30s);
  // An offset names local time: 13:00+01:00 is 12:00Z.
  EXPECT_EQ(ParseTime("2026-11-22T13:00+01:00").value(), ParseTime("2026-11-22T12:00Z").value());
  EXPECT_EQ(ParseTime("2026-11-22T07:00-05:00").value(), ParseTime("2026-11-22T12:00Z").value());
  EXPECT_EQ(ParseTime("2028-02-29").value() + 24h, ParseTime("2028-03-01").value());
}

TEST(TimestampTest, UntilADateMeansThroughThatDay) {
  EXPECT_EQ(ParseUntil("2026-12-31").value(), ParseTime("2027-01-01T00:00Z").value());
  EXPECT_EQ(ParseUntil("2026-12-31T18:00Z").value(), ParseTime("2026-12-31T18:00Z").value());
}

TEST(TimestampTest, RejectsMalformedTimes) {
  for (const char* bad :
       {"", "2026", "2026-13-01", "2026-02-30", "2027-02-29", "26-01-01", "2026-1-01",
        "2026-01-01T", "2026-01-01T12:00", "2026-01-01T24:00Z", "2026-01-01T12:60Z",
        "2026-01-01T12:00:60Z", "2026-01-01 12:00Z", "2026-01-01T12:00Zjunk", "2026-01-01T12:00+1",
        "1969-12-31", "tomorrow", "2026-01-01T12:00+01:00x"}) {
    EXPECT_FALSE(ParseTime(bad).ok()) << bad;
  }
  EXPECT_NE(ParseTime("2026-13-01").error().message().find("YYYY-MM-DD"), std::string::npos);
}

TEST(TimestampTest, FormatsMinutesAndSecondsOnlyWhenNeeded) {
  EXPECT_EQ(FormatTime(ParseTime("2026-11-22T12:00Z").value()), "2026-11-22T12:00Z");
  EXPECT_EQ(FormatTime(ParseTime("2026-11-22T12:00:07Z").value()), "2026-11-22T12:00:07Z");
  EXPECT_EQ(FormatTime(ParseTime("2026-11-22").value()), "2026-11-22T00:00Z");
}

TEST(TimestampTest, ParsesDurations) {
  EXPECT_EQ(ParseDuration("90s").value(), 90s);
  EXPECT_EQ(ParseDuration("30m").value(), 30min);
  EXPECT_EQ(ParseDuration("4h").value(), 4h);
  EXPECT_EQ(ParseDuration("1h30m").value(), 90min);
  EXPECT_EQ(ParseDuration("2d").value(), 48h);
  EXPECT_EQ(ParseDuration("1d2h3m4s").value(), 93784s);
  EXPECT_EQ(ParseDuration("366d").value(), kMaxDuration);
}

TEST(TimestampTest, RejectsMalformedDurations) {
  for (const char* bad : {"", "4", "h", "4 h", "4hours", "-1h", "0s", "0h0m", "1.5h", "30m1h",
                          "1h1h", "4H", "367d", "99999999999d", " 4h"}) {
    EXPECT_FALSE(ParseDuration(bad).ok()) << bad;
  }
}

TEST(TimestampTest, FormatsDurations) {
  EXPECT_EQ(FormatDuration(4h), "4h");
  EXPECT_EQ(FormatDuration(90s), "1m30s");
  EXPECT_EQ(FormatDuration(90min), "1h30m");
  EXPECT_EQ(FormatDuration(48h), "2d");
  EXPECT_EQ(FormatDuration(0s), "0s");
}

}  // namespace
}  // namespace matterfs::policy
