// mount(8) and /etc/fstab (docs/MATTERFS.md "/etc/fstab"): `mount -t fuse.matterfs` runs
// util-linux's mount, which runs fuse3's mount.fuse3 helper, which runs `matterfs VAULT
// MOUNTPOINT -o OPTIONS` found through PATH, exactly as at boot. The options carry the
// unlock key (passphrase_file=, key_file=) and fstab-only words, which the daemon must
// accept and ignore. Each test unmounts with umount(8) and waits for the daemon to exit.
#include <unistd.h>

#include <string>

#include "tests/mount/mount_fixture.h"

namespace matterfs::mount_test {
namespace {

class MountCommandTest : public MountTest {
 protected:
  bool MountAtStart() const override { return false; }

  void SetUp() override {
    MountTest::SetUp();
    if (HasFatalFailure()) return;
    // mount.fuse3 finds the file system's program through PATH, as `matterfs` (the part
    // of the type after "fuse.").
    bin_ = dir_ + "/bin";
    ASSERT_EQ(::mkdir(bin_.c_str(), 0755), 0);
    ASSERT_EQ(::symlink(MatterfsPath().c_str(), (bin_ + "/matterfs").c_str()), 0);
  }

  // Runs a mount(8) command line with our matterfs first in PATH.
  CmdResult MountCmd(const std::string& args) {
    return Shell("PATH=" + Quote(bin_) + ":\"$PATH\" exec mount " + args, 60);
  }

  // The type /proc/self/mounts gives the mount at mnt_ ("" when none).
  std::string MountType() {
    auto mounts = ReadFile("/proc/self/mounts");
    if (!mounts) return "";
    size_t at = mounts->find(" " + mnt_ + " ");
    if (at == std::string::npos) return "";
    size_t start = at + mnt_.size() + 2;
    return mounts->substr(start, mounts->find(' ', start) - start);
  }

  // The mount serves the vault: the matter is there, a file written reads back.
  void ExpectServes() {
    EXPECT_EQ(MountType(), "fuse.matterfs");
    auto listing = ListAs(Root(), mnt_);
    EXPECT_EQ(listing.data, "alpha");
    ASSERT_TRUE(WriteFile(M("through-mount8.txt"), "mounted by mount(8)\n"));
    EXPECT_EQ(ReadFile(M("through-mount8.txt")).value_or(""), "mounted by mount(8)\n");
  }

  // umount(8), then the daemon exits by itself.
  void UmountAndWaitForDaemon() {
    CmdResult r = Shell("exec umount " + Quote(mnt_), 60);
    EXPECT_EQ(r.status, 0) << ::testing::PrintToString(r);
    EXPECT_FALSE(IsMountPoint(mnt_));
    for (int i = 0; i < 600 && !DaemonsFor(mnt_).empty(); ++i) ::usleep(50 * 1000);
    EXPECT_TRUE(DaemonsFor(mnt_).empty()) << "the daemon did not exit after umount";
  }

  static const TestUser& Root() {
    static const TestUser root{"root", 0, 0, {0}};
    return root;
  }

  std::string bin_;
};

TEST_F(MountCommandTest, MountTypeFuseMatterfsWithAPassphraseFile) {
  CmdResult r = MountCmd("-t fuse.matterfs " + Quote(vault_) + " " + Quote(mnt_) +
                         " -o passphrase_file=" + Quote(pass_) + ",noatime");
  ASSERT_EQ(r.status, 0) << ::testing::PrintToString(r);
  ASSERT_TRUE(IsMountPoint(mnt_));
  ExpectServes();
  UmountAndWaitForDaemon();
  // What was written is in the vault: a mount by matterfs itself reads it back.
  ASSERT_NO_FATAL_FAILURE(Mount());
  EXPECT_EQ(ReadFile(M("through-mount8.txt")).value_or(""), "mounted by mount(8)\n");
}

TEST_F(MountCommandTest, AnFstabLineWithAKeyFileAndSystemdWords) {
  const std::string key = dir_ + "/server.key";
  CmdResult k = Matterctl({"genkey", key});
  ASSERT_EQ(k.status, 0) << ::testing::PrintToString(k);
  k = Matterctl({"keyslot", "add", vault_, "--passphrase-file", pass_, "--new-key-file", key});
  ASSERT_EQ(k.status, 0) << ::testing::PrintToString(k);
  // The line docs/MATTERFS.md shows, with the words systemd's fstab generator reads.
  const std::string fstab = dir_ + "/fstab";
  ASSERT_TRUE(WriteFile(fstab, "# a test fstab\n" + vault_ + " " + mnt_ +
                                   " fuse.matterfs key_file=" + key +
                                   ",noauto,nofail,_netdev,x-systemd.automount,"
                                   "x-systemd.idle-timeout=600,comment=test 0 0\n"));
  CmdResult r = MountCmd("--fstab " + Quote(fstab) + " " + Quote(mnt_));
  ASSERT_EQ(r.status, 0) << ::testing::PrintToString(r);
  ASSERT_TRUE(IsMountPoint(mnt_));
  ExpectServes();
  UmountAndWaitForDaemon();
}

TEST_F(MountCommandTest, AWrongPassphraseThroughMountFailsAndMountsNothing) {
  const std::string wrong = dir_ + "/wrong";
  ASSERT_TRUE(WriteFile(wrong, "not the passphrase\n", 0600));
  CmdResult r = MountCmd("-t fuse.matterfs " + Quote(vault_) + " " + Quote(mnt_) +
                         " -o passphrase_file=" + Quote(wrong));
  EXPECT_NE(r.status, 0) << ::testing::PrintToString(r);
  EXPECT_NE(r.err.find("passphrase"), std::string::npos) << r.err;
  EXPECT_FALSE(IsMountPoint(mnt_));
  EXPECT_TRUE(DaemonsFor(mnt_).empty());
}

}  // namespace
}  // namespace matterfs::mount_test
