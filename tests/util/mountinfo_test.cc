// ReadMountInfo (util/mountinfo.h) on this machine's real /proc/self/mountinfo.
#include "util/mountinfo.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace matterfs {
namespace {

TEST(MountInfoTest, FindsTheRootAndProcWithTheirTypes) {
  const std::vector<MountEntry> mounts = ReadMountInfo();
  ASSERT_FALSE(mounts.empty());
  EXPECT_TRUE(std::any_of(mounts.begin(), mounts.end(),
                          [](const MountEntry& m) { return m.mount_point == "/"; }));
  // /proc is mounted (we just read from it), as type proc.
  EXPECT_TRUE(std::any_of(mounts.begin(), mounts.end(), [](const MountEntry& m) {
    return m.mount_point == "/proc" && m.fstype == "proc";
  }));
  for (const MountEntry& m : mounts) EXPECT_FALSE(m.fstype.empty()) << m.mount_point;
}

TEST(MountInfoTest, OctalEscapesAreDecodedAndNothingElse) {
  EXPECT_EQ(UnescapeMountField("/srv/case\\040files"), "/srv/case files");
  EXPECT_EQ(UnescapeMountField("a\\011b\\012c\\134d"), "a\tb\nc\\d");
  EXPECT_EQ(UnescapeMountField("/plain,path_x"), "/plain,path_x");
  // Not three octal digits: kept as written.
  EXPECT_EQ(UnescapeMountField("x\\04"), "x\\04");
  EXPECT_EQ(UnescapeMountField("x\\089"), "x\\089");
}

}  // namespace
}  // namespace matterfs
