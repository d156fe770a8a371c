// The unit's CapabilityBoundingSet= is enough: the daemon runs under exactly that
// bounding set (setpriv, as systemd would set it, with no inheritable capabilities) and
// a second user works in the mount as on a local disk: directories, files, modes
// (a set-group-ID folder included), renames, times, removal; root reads the user's
// file; the backing files belong to the user.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "tests/mount_support/fixture.h"

namespace matterfs::systemd_test {
namespace {

using namespace ::matterfs::mount_support;

// systemd/matterfs@.service's CapabilityBoundingSet=, in setpriv's words.
constexpr char kBoundingSet[] =
    "-all,+sys_admin,+chown,+fowner,+fsetid,+dac_override,+dac_read_search";
constexpr char kUser[] = "mfs-t-sysd";

class CapabilitiesTest : public MountFixture {
 protected:
  std::vector<std::string> Matters() const override { return {"alpha"}; }
  std::string Policy() const override {
    return std::string("[matter alpha]\nread = root, ") + kUser + "\nwrite = root, " + kUser + "\n";
  }
  std::string MountOptions() const override { return "allow_other"; }
  bool MountAtStart() const override { return false; }
  // Starts the daemon of this fixture under a capability bounding set (setpriv's words),
  // with no inheritable capabilities, as systemd would.
  CmdResult RunUnderBoundingSet(const std::string& set) {
    std::vector<std::string> argv = {
        "setpriv", "--bounding-set=" + set, "--inh-caps=-all", MatterfsPath(), vault_,
        mnt_,      "--syslog-socket",       SyslogSocket()};
    for (const std::string& a : DaemonArgs()) argv.push_back(a);
    return RunCommand(argv, 60);
  }
};

uint64_t CapBnd(pid_t pid) {
  std::istringstream in(ReadFile("/proc/" + std::to_string(pid) + "/status").value_or(""));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("CapBnd:", 0) == 0) return std::strtoull(line.c_str() + 7, nullptr, 16);
  }
  return ~uint64_t{0};
}

TEST_F(CapabilitiesTest, TheUnitsBoundingSetServesAnotherUser) {
  ASSERT_NO_FATAL_FAILURE(EnsureUsers({{kUser, {}}}));
  const TestUser user = User(kUser);
  CmdResult r = RunUnderBoundingSet(kBoundingSet);
  ASSERT_EQ(r.status, 0) << ::testing::PrintToString(r);
  ASSERT_TRUE(IsMountPoint(mnt_));
  const std::vector<pid_t> daemons = DaemonsFor(mnt_);
  ASSERT_EQ(daemons.size(), 1u);
  // CAP_CHOWN 0, CAP_DAC_OVERRIDE 1, CAP_DAC_READ_SEARCH 2, CAP_FOWNER 3, CAP_FSETID 4,
  // CAP_SYS_ADMIN 21.
  EXPECT_EQ(CapBnd(daemons[0]), uint64_t{0x1f} | (uint64_t{1} << 21));

  const std::string dir = mnt_ + "/alpha/shared";
  const std::string file = dir + "/brief.txt";
  EXPECT_EQ(MkdirAs(user, dir, 0770).rc, 0);
  Sys setgid = AsUser(user, [&] {
    Sys s;
    s.rc = ::chmod(dir.c_str(), 02770);
    s.err = s.rc < 0 ? errno : 0;
    return s;
  });
  EXPECT_EQ(setgid.rc, 0) << ::testing::PrintToString(setgid);
  EXPECT_EQ(WriteAs(user, file, "privileged").rc, 10);
  EXPECT_EQ(ReadAs(user, file).data, "privileged");
  Sys modes = AsUser(user, [&] {
    Sys s;
    struct timeval times[2] = {{1000000000, 0}, {1000000000, 0}};
    s.rc = ::chmod(file.c_str(), 0600) == 0 ? ::utimes(file.c_str(), times) : -1;
    s.err = s.rc < 0 ? errno : 0;
    return s;
  });
  EXPECT_EQ(modes.rc, 0) << ::testing::PrintToString(modes);
  struct stat st = {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, user.uid);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_mtime, 1000000000);
  ASSERT_EQ(::stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 02770u) << "the set-group-ID bit was lost";
  EXPECT_EQ(ReadFile(file).value_or("(root cannot read it)"), "privileged");
  for (const std::string& backing : BackingFiles()) {
    struct stat b = {};
    ASSERT_EQ(::lstat(backing.c_str(), &b), 0);
    EXPECT_EQ(b.st_uid, user.uid) << backing;
  }
  EXPECT_EQ(RenameAs(user, file, dir + "/renamed.txt").rc, 0);
  EXPECT_EQ(UnlinkAs(user, dir + "/renamed.txt").rc, 0);
  EXPECT_EQ(RmdirAs(user, dir).rc, 0);
  UnmountAndWait(mnt_);
}

// -o require_owner (file-server mode): a daemon that cannot give new files to the users
// who create them refuses to mount, saying why; one that can gives every new file,
// directory and link to its creator.
class RequireOwnerTest : public CapabilitiesTest {
 protected:
  std::string MountOptions() const override { return "allow_other,require_owner"; }
};

TEST_F(RequireOwnerTest, ADaemonWithoutChownRefusesToMount) {
  CmdResult r =
      RunUnderBoundingSet("-all,+sys_admin,+fowner,+fsetid,+dac_override,+dac_read_search");
  EXPECT_EQ(r.status, 1) << ::testing::PrintToString(r);
  EXPECT_NE(r.err.find("require_owner"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("chown"), std::string::npos) << r.err;
  EXPECT_FALSE(IsMountPoint(mnt_));
  EXPECT_TRUE(DaemonsFor(mnt_).empty());
  // Nothing is left of the probe in the vault's data directory.
  for (const std::string& backing : BackingFiles()) {
    EXPECT_EQ(backing.find("owner-probe"), std::string::npos) << backing;
  }
}

TEST_F(RequireOwnerTest, NewFilesDirectoriesAndLinksBelongToTheirCreator) {
  ASSERT_NO_FATAL_FAILURE(EnsureUsers({{kUser, {}}}));
  const TestUser user = User(kUser);
  ASSERT_NO_FATAL_FAILURE(Mount());
  const std::string dir = mnt_ + "/alpha/mine";
  EXPECT_EQ(MkdirAs(user, dir, 0750).rc, 0);
  EXPECT_EQ(WriteAs(user, dir + "/f.txt", "x").rc, 1);
  Sys link = AsUser(user, [&] {
    Sys s;
    s.rc = ::symlink("f.txt", (dir + "/l").c_str());
    s.err = s.rc < 0 ? errno : 0;
    return s;
  });
  EXPECT_EQ(link.rc, 0) << ::testing::PrintToString(link);
  for (const std::string& p : {dir, dir + "/f.txt", dir + "/l"}) {
    struct stat st = {};
    ASSERT_EQ(::lstat(p.c_str(), &st), 0) << p;
    EXPECT_EQ(st.st_uid, user.uid) << p;
  }
  Unmount();
}

}  // namespace
}  // namespace matterfs::systemd_test
