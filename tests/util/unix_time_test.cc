#include "util/unix_time.h"

#include <gtest/gtest.h>

namespace matterfs {
namespace {

TEST(FormatUnixTimeTest, AlwaysUtcWithSeconds) {
  EXPECT_EQ(FormatUnixTime(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatUnixTime(1764633600), "2025-12-02T00:00:00Z");  // seconds 0 still shown
  EXPECT_EQ(FormatUnixTime(1790812859), "2026-10-01T00:00:59Z");
}

}  // namespace
}  // namespace matterfs
