// The daemon does not die or freeze (issue "hardening"): more open files than it serves
// get a clean ENFILE; secure-memory allocation failures (injected) are clean ENOMEM
// answers and alert events, in FUSE threads and in the daemon's own threads alike, and
// the mount works again once memory is back; relative paths given at start keep working
// after the daemon has detached.
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "tests/mount/mount_fixture.h"
#include "util/unique_fd.h"

namespace matterfs::mount_test {
namespace {

class OpenLimitTest : public MountTest {
 protected:
  std::vector<std::string> ExtraArgs() const override { return {"--max-open-files", "8"}; }
};

TEST_F(OpenLimitTest, OpensBeyondTheLimitGetENFILEAndTheDaemonGoesOn) {
  constexpr int kFiles = 150;
  for (int i = 0; i < kFiles; ++i) {
    ASSERT_TRUE(WriteFile(M("f" + std::to_string(i)), "file " + std::to_string(i)));
  }
  std::vector<UniqueFd> open;
  int refused = 0;
  for (int i = 0; i < kFiles; ++i) {
    UniqueFd fd(::open(M("f" + std::to_string(i)).c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.valid()) {
      open.push_back(std::move(fd));
    } else {
      EXPECT_EQ(errno, ENFILE) << "file " << i;
      ++refused;
    }
  }
  EXPECT_GE(open.size(), 8u) << "at least the files the limit promises";
  EXPECT_GT(refused, 0) << "the limit (8 files, plus room for keys being unwrapped) holds";
  // The open ones read correctly; the daemon still answers everything else.
  for (size_t i = 0; i < open.size(); ++i) EXPECT_TRUE(ReadFd(open[i].get()).has_value());
  struct stat st;
  EXPECT_EQ(::stat(M("f0").c_str(), &st), 0);
  open.clear();
  // With the handles closed, every file opens again.
  for (int i = 0; i < kFiles; ++i) {
    EXPECT_EQ(ReadFile(M("f" + std::to_string(i))), "file " + std::to_string(i)) << i;
  }
}

class AllocationFaultTest : public MountTest {
 protected:
  void SetUp() override {
    fault_ = "/tmp/matterfs-alloc-fault." + UniqueToken();
    ::unlink(fault_.c_str());
    // The daemon reads this at start; while the file exists, secure allocations fail.
    ::setenv("MATTERFS_FAULT_INJECT_ALLOC_FILE", fault_.c_str(), 1);
    MountTest::SetUp();
  }
  void TearDown() override {
    ::unlink(fault_.c_str());
    ::unsetenv("MATTERFS_FAULT_INJECT_ALLOC_FILE");
    MountTest::TearDown();
  }
  std::string fault_;
};

TEST_F(AllocationFaultTest, FailedSecureAllocationsAreCleanErrorsAndTheMountSurvives) {
  ASSERT_TRUE(WriteFile(M("brief.txt"), "the brief\n"));
  ASSERT_TRUE(WriteFile(M("memo.txt"), "the memo\n"));
  ASSERT_TRUE(WriteFile(fault_, ""));
  const size_t mark = SyslogMessages().size();
  // Opens need a data key in secure memory: a clean ENOMEM, not a dead mount.
  for (int i = 0; i < 5; ++i) {
    errno = 0;
    EXPECT_EQ(::open(M("brief.txt").c_str(), O_RDONLY | O_CLOEXEC), -1);
    EXPECT_EQ(errno, ENOMEM);
    EXPECT_EQ(::open(M("new" + std::to_string(i)).c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644),
              -1);
  }
  // The daemon's own refresh thread re-reads the matter's keyring every second: its
  // allocation fails too, is reported, and the thread goes on.
  EXPECT_TRUE(WaitForSyslog({"internal-error", "matter refresh failed"}, 15000));
  struct stat st;
  EXPECT_EQ(::stat(M("brief.txt").c_str(), &st), 0) << "the mount is alive";
  EXPECT_GT(SyslogMessages().size(), mark);
  // Memory is back: everything works, nothing was lost.
  ASSERT_EQ(::unlink(fault_.c_str()), 0);
  EXPECT_EQ(ReadFile(M("brief.txt")), "the brief\n");
  EXPECT_EQ(ReadFile(M("memo.txt")), "the memo\n");
  EXPECT_TRUE(WriteFile(M("after.txt"), "after\n"));
  EXPECT_EQ(ReadFile(M("after.txt")), "after\n");
  EXPECT_TRUE(IsMountPoint(mnt_));
}

class RelativePathTest : public MountTest {
 protected:
  bool MountAtStart() const override { return false; }
  // The daemon started with relative arguments (DaemonsFor matches absolute ones).
  static std::vector<pid_t> RelativeDaemons() {
    std::vector<pid_t> out;
    for (const std::string& pid : ListDir("/proc").value_or(std::vector<std::string>{})) {
      if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
      auto cmdline = ReadFile("/proc/" + pid + "/cmdline");
      if (cmdline && cmdline->find("rel-policy.ini") != std::string::npos &&
          cmdline->find("matterfs") != std::string::npos &&
          cmdline->find("bash") == std::string::npos) {
        out.push_back(static_cast<pid_t>(std::stoi(pid)));
      }
    }
    return out;
  }
};

TEST_F(RelativePathTest, RelativePathsGivenAtStartWorkAfterTheDaemonDetaches) {
  // A policy that grants root everything; later a second version walls root off alpha.
  const std::string open_policy =
      "[policy]\nhide_denied = yes\n[matter *]\nread = root\nwrite = root\nadmin = root\n";
  ASSERT_TRUE(WriteFile(dir_ + "/rel-policy.ini", open_policy));
  const std::string cmd = "cd " + Quote(dir_) + " && " + Quote(MatterfsPath()) +
                          " vault mnt --passphrase-file pass --policy rel-policy.ini"
                          " --control-socket rel-ctl/ctl.sock --syslog-socket syslog.sock";
  CmdResult mounted = Shell(cmd);
  ASSERT_EQ(mounted.status, 0) << ::testing::PrintToString(mounted);
  ASSERT_TRUE(IsMountPoint(mnt_));
  ASSERT_TRUE(WriteFile(M("file.txt"), "x"));
  // The control socket is where the relative path said, not under the daemon's cwd (/).
  struct stat st;
  EXPECT_EQ(::stat((dir_ + "/rel-ctl/ctl.sock").c_str(), &st), 0);
  EXPECT_NE(::stat("/rel-ctl", &st), 0) << "no directory made under /";
  CmdResult status = Matterctl({"status", mnt_, "--control-socket", dir_ + "/rel-ctl/ctl.sock"});
  EXPECT_EQ(status.status, 0) << ::testing::PrintToString(status);
  // A new wall in the relative policy file is enforced: the reload finds the file.
  ASSERT_TRUE(
      WriteFile(dir_ + "/rel-policy.ini.new", open_policy + "[matter alpha]\ndeny = root\n"));
  ASSERT_EQ(::rename((dir_ + "/rel-policy.ini.new").c_str(), (dir_ + "/rel-policy.ini").c_str()),
            0);
  EXPECT_TRUE(
      WaitForSyslog({"policy-reload", "policy reloaded from " + dir_ + "/rel-policy.ini"}, 15000));
  EXPECT_NE(::stat(M("file.txt").c_str(), &st), 0) << "the wall holds after the reload";
  // SIGTERM unmounts the relative mount point cleanly: no dead mount is left.
  const auto daemons = RelativeDaemons();
  ASSERT_EQ(daemons.size(), 1u);
  char cwd[64] = {};
  ASSERT_GT(::readlink(("/proc/" + std::to_string(daemons[0]) + "/cwd").c_str(), cwd, 63), 0);
  EXPECT_EQ(std::string(cwd), "/") << "the daemon detached";
  ASSERT_EQ(::kill(daemons[0], SIGTERM), 0);
  WaitForDaemonExit(daemons[0]);  // exit status 0 within 10 s, or a test failure
  EXPECT_FALSE(IsMountPoint(mnt_)) << "and leaves no dead mount";
  // The same relative command mounts again (no stray socket directory refuses it).
  CmdResult again = Shell(cmd);
  ASSERT_EQ(again.status, 0) << ::testing::PrintToString(again);
  const auto second = RelativeDaemons();
  ASSERT_EQ(second.size(), 1u);
  FuseUnmount(mnt_);
  WaitForDaemonExit(second[0]);
}

}  // namespace
}  // namespace matterfs::mount_test

namespace matterfs::mount_test {
namespace {

class NoSyslogTest : public MountTest {
 protected:
  std::string SyslogSocket() const override { return dir_ + "/nothing-listens-here.sock"; }
  bool WithControlSocket() const override { return true; }
  bool MountAtStart() const override { return false; }
};

TEST_F(NoSyslogTest, AMissingSyslogSocketIsSaidAtStartAndInStatus) {
  CmdResult r = RunMatterfs(DaemonArgs());
  ASSERT_EQ(r.status, 0) << ::testing::PrintToString(r);
  EXPECT_NE(r.err.find("cannot reach syslog"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("nothing-listens-here.sock missing"), std::string::npos) << r.err;
  ASSERT_TRUE(WriteFile(M("still-works.txt"), "yes"));
  CmdResult status = Matterctl({"status", mnt_, "--control-socket", control_});
  EXPECT_EQ(status.status, 0) << ::testing::PrintToString(status);
  EXPECT_NE(status.out.find("syslog:   " + SyslogSocket() + " (missing)"), std::string::npos)
      << status.out;
  EXPECT_NE(status.err.find("cannot reach syslog"), std::string::npos) << status.err;
  ASSERT_NO_FATAL_FAILURE(UnmountAndWait(mnt_));
}

}  // namespace
}  // namespace matterfs::mount_test

namespace matterfs::mount_test {
namespace {

// The backing directory of matter alpha in the vault (its only directory entry).
std::string AlphaDir(const std::string& vault) {
  for (const std::string& e : ListDir(vault + "/d").value_or(std::vector<std::string>{})) {
    if (e[0] != '.') return vault + "/d/" + e;
  }
  return "";
}

// The one name entry (not metadata) in a backing directory.
std::string OnlyEntry(const std::string& dir, const std::string& prefix = "") {
  std::string found;
  for (const std::string& e : ListDir(dir).value_or(std::vector<std::string>{})) {
    if (e.rfind(prefix, 0) != 0 || (prefix.empty() && e[0] == '.')) continue;
    if (e.size() > 2 && e.substr(e.size() - 2) == ".n") continue;
    found = e;
  }
  return found;
}

TEST_F(MountTest, TamperedNamesRaiseTamperEventsNamingTheMatterAndDirectory) {
  ASSERT_EQ(::mkdir(M("short").c_str(), 0755), 0);
  ASSERT_TRUE(WriteFile(M("short/victim.txt"), "v"));
  ASSERT_EQ(::mkdir(M("long").c_str(), 0755), 0);
  ASSERT_TRUE(WriteFile(M("long/" + std::string(200, 'L')), "l"));
  ASSERT_EQ(::mkdir(M("iv").c_str(), 0755), 0);
  ASSERT_TRUE(WriteFile(M("iv/a.txt"), "a"));
  ASSERT_TRUE(WriteFile(M("iv/b.txt"), "b"));  // two names: how its backing dir is told apart
  ASSERT_NO_FATAL_FAILURE(Unmount());
  const std::string alpha = AlphaDir(vault_);
  ASSERT_FALSE(alpha.empty());
  // Find the three backing directories by what they hold.
  std::string short_dir, long_dir, iv_dir;
  for (const std::string& e : ListDir(alpha).value_or(std::vector<std::string>{})) {
    if (e[0] == '.') continue;
    const std::string d = alpha + "/" + e;
    auto inside = ListDir(d).value_or(std::vector<std::string>{});
    bool has_long = false;
    size_t names = 0;
    for (const auto& x : inside) {
      has_long |= x.rfind(".L", 0) == 0;
      names += x[0] != '.' ? 1 : 0;
    }
    if (has_long) {
      long_dir = d;
    } else if (names == 1) {
      short_dir = d;
    } else {
      iv_dir = d;
    }
  }
  ASSERT_FALSE(short_dir.empty() || long_dir.empty() || iv_dir.empty());
  // 1. An edited name: flip a character of the entry.
  const std::string entry = OnlyEntry(short_dir);
  std::string edited = entry;
  edited[3] = edited[3] == 'A' ? 'B' : 'A';
  ASSERT_EQ(::rename((short_dir + "/" + entry).c_str(), (short_dir + "/" + edited).c_str()), 0);
  // 2. A swapped long-name side file.
  const std::string long_entry = OnlyEntry(long_dir, ".L");
  ASSERT_TRUE(WriteFile(long_dir + "/" + long_entry + ".n", "AAAA"));
  // 3. A replaced directory IV (the old one is 0444).
  ::unlink((iv_dir + "/.diriv").c_str());
  ASSERT_TRUE(WriteFile(iv_dir + "/.diriv", std::string(16, 'X')));
  ASSERT_NO_FATAL_FAILURE(Mount());
  const size_t mark = SyslogMessages().size();
  // Listings leave the bad names out (a replaced IV makes every name undecodable) ...
  for (const std::string d : {"short", "long", "iv"}) {
    auto listing = ListDir(M(d));
    ASSERT_TRUE(listing.has_value()) << d;
    EXPECT_TRUE(listing->empty()) << d;
  }
  // ... and each raises a tamper event naming the matter, the directory and the entry.
  EXPECT_TRUE(WaitForSyslog({"tamper", "matter=\"alpha\"", "path=\"alpha/short\"", edited}))
      << receiver_->Tail();
  EXPECT_TRUE(WaitForSyslog({"tamper", "path=\"alpha/long\"", long_entry}));
  EXPECT_TRUE(WaitForSyslog({"tamper", "path=\"alpha/iv\"", "does not decode"}));
  EXPECT_GT(SyslogMessages().size(), mark);
}

}  // namespace
}  // namespace matterfs::mount_test

namespace matterfs::mount_test {
namespace {

// A full disk: every failed operation leaves the tree as a kernel file system would
// (nothing half-made, no hidden leftover), what was there stays readable, and all works
// again once there is room. On a private tmpfs, so the machine's own disk is not touched.
class FullDiskTest : public MountTest {
 protected:
  size_t PrivateTmpfsMiB() const override { return 16; }
};

TEST_F(FullDiskTest, FailedOperationsOnAFullDiskLeaveNothingHalfMade) {
  ASSERT_TRUE(WriteFile(M("keep.txt"), "kept\n"));
  ASSERT_EQ(::mkdir(M("dir").c_str(), 0755), 0);
  // Fill the file system.
  const std::string filler = dir_ + "/filler";
  {
    UniqueFd fd(::open(filler.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
    ASSERT_TRUE(fd.valid());
    const std::string chunk(1 << 16, 'f');
    while (::write(fd.get(), chunk.data(), chunk.size()) > 0) {
    }
    ASSERT_EQ(errno, ENOSPC);
    const std::string byte = "f";
    while (::write(fd.get(), byte.data(), 1) == 1) {
    }
  }
  const auto backing_before = WalkTree(vault_);
  // mkdir, create and write all fail with ENOSPC (or succeed where the fs had a block)...
  const int mk = ::mkdir(M("dir/new").c_str(), 0755);
  const int mk_err = errno;
  UniqueFd created(::open(M("dir/new.txt").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
  const int cr_err = errno;
  int wr = 0;
  int wr_err = 0;
  {
    UniqueFd fd(::open(M("keep.txt").c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
    ASSERT_TRUE(fd.valid());
    const std::string big(1 << 20, 'x');
    wr = static_cast<int>(::write(fd.get(), big.data(), big.size()));
    wr_err = errno;
  }
  if (mk != 0) {
    EXPECT_EQ(mk_err, ENOSPC);
  }
  if (!created.valid()) {
    EXPECT_EQ(cr_err, ENOSPC);
  }
  EXPECT_EQ(wr, -1);
  EXPECT_EQ(wr_err, ENOSPC);
  // ... and leave nothing behind that a plain file system would not have.
  auto listing = ListDir(M("dir")).value_or(std::vector<std::string>{"?"});
  std::vector<std::string> expect;
  if (mk == 0) expect.push_back("new");
  if (created.valid()) expect.push_back("new.txt");
  std::sort(expect.begin(), expect.end());
  EXPECT_EQ(listing, expect);
  for (const std::string& p : WalkTree(vault_)) {
    EXPECT_EQ(p.find("/.tmp."), std::string::npos) << "a leftover: " << p;
  }
  // What was there is intact (the failed append re-encrypted nothing it could not write).
  EXPECT_EQ(ReadFile(M("keep.txt")), "kept\n");
  // Room again: everything works.
  created.reset();
  ASSERT_EQ(::unlink(filler.c_str()), 0);
  ASSERT_TRUE(WriteFile(M("dir/after.txt"), "after\n"));
  EXPECT_EQ(ReadFile(M("dir/after.txt")), "after\n");
  EXPECT_EQ(ReadFile(M("keep.txt")), "kept\n");
  EXPECT_FALSE(WaitForSyslog({"tamper"}, 100)) << "a full disk is not tampering";
}

}  // namespace
}  // namespace matterfs::mount_test
