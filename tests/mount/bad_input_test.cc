// matterfs refusing to mount: wrong passphrase, missing / non-empty / already mounted
// mount points, a vault of a newer format version. Each: the documented exit code, a
// one-line message, and nothing mounted.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>

#include "tests/mount/mount_fixture.h"
#include "util/unique_fd.h"

namespace matterfs::mount_test {
namespace {

class BadInputTest : public MountTest {
 protected:
  bool MountAtStart() const override { return false; }
  static size_t Lines(const std::string& s) {
    return static_cast<size_t>(std::count(s.begin(), s.end(), '\n')) +
           (!s.empty() && s.back() != '\n' ? 1 : 0);
  }
};

TEST_F(BadInputTest, WrongPassphraseExits3AndMountsNothing) {
  const std::string wrong = dir_ + "/wrong";
  ASSERT_TRUE(WriteFile(wrong, "not the passphrase", 0600));
  CmdResult r = RunMatterfs(mnt_, {"--passphrase-file", wrong});
  EXPECT_EQ(r.status, 3) << ::testing::PrintToString(r);
  EXPECT_EQ(Lines(r.err), 1u) << r.err;
  EXPECT_FALSE(IsMountPoint(mnt_));
  // The right one still works afterwards.
  ASSERT_NO_FATAL_FAILURE(Mount());
}

TEST_F(BadInputTest, MissingMountPointFailsWithOneLine) {
  const std::string missing = dir_ + "/no-such-dir";
  CmdResult r = RunMatterfs(missing, {"--passphrase-file", pass_});
  EXPECT_NE(r.status, 0);
  EXPECT_EQ(Lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find(missing), std::string::npos) << "the message names the path: " << r.err;
  EXPECT_FALSE(IsMountPoint(missing));
  struct stat st;
  EXPECT_NE(::stat(missing.c_str(), &st), 0) << "the mount point was created";
}

TEST_F(BadInputTest, MountPointThatIsAFileIsRefused) {
  const std::string file = dir_ + "/a-file";
  ASSERT_TRUE(WriteFile(file, "x"));
  CmdResult r = RunMatterfs(file, {"--passphrase-file", pass_});
  EXPECT_NE(r.status, 0);
  EXPECT_EQ(Lines(r.err), 1u) << r.err;
  EXPECT_FALSE(IsMountPoint(file));
}

TEST_F(BadInputTest, NonEmptyMountPointIsRefused) {
  ASSERT_TRUE(WriteFile(mnt_ + "/precious", "do not hide me"));
  CmdResult r = RunMatterfs(mnt_, {"--passphrase-file", pass_});
  EXPECT_NE(r.status, 0);
  EXPECT_EQ(Lines(r.err), 1u) << r.err;
  EXPECT_FALSE(IsMountPoint(mnt_));
  EXPECT_EQ(ReadFile(mnt_ + "/precious").value_or("?"), "do not hide me");
}

TEST_F(BadInputTest, AlreadyMountedMountPointIsRefused) {
  ASSERT_NO_FATAL_FAILURE(Mount());
  ASSERT_TRUE(WriteFile(M("f"), "still served"));
  CmdResult r = RunMatterfs(mnt_, {"--passphrase-file", pass_});
  EXPECT_NE(r.status, 0);
  EXPECT_EQ(Lines(r.err), 1u) << r.err;
  // Exactly one mount there, and it still works.
  std::string mountinfo = ReadFile("/proc/self/mountinfo").value_or("");
  size_t count = 0;
  for (size_t at = mountinfo.find(" " + mnt_ + " "); at != std::string::npos;
       at = mountinfo.find(" " + mnt_ + " ", at + 1)) {
    ++count;
  }
  EXPECT_EQ(count, 1u) << mountinfo;
  EXPECT_EQ(ReadFile(M("f")).value_or("?"), "still served");
  // -o nonempty does not allow mounting over a live matterfs mount either.
  CmdResult r2 = RunMatterfs(mnt_, {"--passphrase-file", pass_, "-o", "nonempty"});
  EXPECT_NE(r2.status, 0);
  EXPECT_EQ(ReadFile(M("f")).value_or("?"), "still served");
}

TEST_F(BadInputTest, NewerFormatVersionIsRefusedWithExit6) {
  // The config's format version: bytes 8-9, little-endian, in both copies (version 3: a
  // newer matterfs writes both alike; one copy changed alone is damage, and the other
  // copy is used).
  const std::string config = vault_ + "/matterfs.vault";
  {
    UniqueFd fd(::open(config.c_str(), O_RDWR | O_CLOEXEC));
    ASSERT_TRUE(fd.valid());
    const unsigned char four[2] = {4, 0};
    ASSERT_EQ(::pwrite(fd.get(), four, 2, 8), 2);
    ASSERT_EQ(::pwrite(fd.get(), four, 2, 8192 + 8), 2);
  }
  CmdResult r = RunMatterfs(mnt_, {"--passphrase-file", pass_});
  EXPECT_EQ(r.status, 6) << ::testing::PrintToString(r);
  EXPECT_EQ(Lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("version 4"), std::string::npos) << r.err;
  EXPECT_FALSE(IsMountPoint(mnt_));
}

TEST_F(BadInputTest, MissingPassphraseFileFails) {
  CmdResult r = RunMatterfs(mnt_, {"--passphrase-file", dir_ + "/nope"});
  EXPECT_NE(r.status, 0);
  EXPECT_EQ(Lines(r.err), 1u) << r.err;
  EXPECT_FALSE(IsMountPoint(mnt_));
}

TEST_F(BadInputTest, NotAVaultFails) {
  const std::string empty = dir_ + "/empty-vault";
  ASSERT_EQ(::mkdir(empty.c_str(), 0700), 0);
  CmdResult r = RunCommand({MatterfsPath(), empty, mnt_, "--passphrase-file", pass_}, 60);
  EXPECT_NE(r.status, 0);
  EXPECT_EQ(Lines(r.err), 1u) << r.err;
  EXPECT_FALSE(IsMountPoint(mnt_));
}

}  // namespace
}  // namespace matterfs::mount_test
