// Policy reload on a mount (docs/POLICY.md "Problems in a policy file"): the daemon
// reloads when the file changes and on SIGHUP; an invalid file never replaces the policy
// in force (its problems become a policy-reload event with result "error"); at start an
// invalid policy refuses the mount with `file:line: reason`.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iterator>

#include "tests/policy_mount/policy_mount_fixture.h"

namespace matterfs::policy_mount_test {
namespace {

using Clock = std::chrono::steady_clock;

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  const size_t at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

// Polls (bounded) until `user` can read `path`; returns how it ended.
Sys PollUntilReadable(const TestUser& user, const std::string& path,
                      std::chrono::milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  Sys r;
  do {
    r = ReadAs(user, path);
    if (r.rc >= 0) return r;
    std::this_thread::sleep_for(100ms);
  } while (Clock::now() < deadline);
  return r;
}

using ReloadTest = PolicyMountTest;

TEST_F(ReloadTest, ChangedFileGrantsANewUserWithinSeconds) {
  ASSERT_EQ(StatAs(gina_, M("acme")).err, ENOENT) << "gina's grant has expired";
  const size_t mark = receiver_->Mark();
  ASSERT_NO_FATAL_FAILURE(
      ReplacePolicy(Replace(Policy(), "mfs-t-gina until=2020-06-30", "mfs-t-gina")));
  Sys r = PollUntilReadable(gina_, M("acme/brief.txt"), 10s);
  EXPECT_GE(r.rc, 0) << "gina cannot read 10 s after the policy granted it: "
                     << ::testing::PrintToString(r);
  EXPECT_EQ(r.data, "acme brief v1\n");
  ExpectEvent({.event = "policy-reload", .result = "ok"}, mark);
  ExpectEvent({.event = "open",
               .result = "allow",
               .user = kGina,
               .matter = "acme",
               .rule_has = "matter acme: read mfs-t-gina (user)"},
              mark);
  // What was not changed still holds.
  EXPECT_EQ(StatAs(frank_, M("acme")).err, ENOENT);
}

TEST_F(ReloadTest, InvalidFileDoesNotReplaceTheValidOne) {
  ASSERT_GE(ReadAs(bob_, M("acme/brief.txt")).rc, 0);
  size_t mark = receiver_->Mark();
  // An invalid file that would otherwise grant frank and gina read on acme and remove
  // bob's grants: line 7 has no '='.
  std::string bad =
      Replace(Policy(), "read  = associates, @mfs-t-para, partners, mfs-t-gina until=2020-06-30",
              "read  = mfs-t-frank, mfs-t-gina");
  bad = Replace(bad, "break_glass_max = 1h\n", "break_glass_max = 1h\nthis line is not a key\n");
  ASSERT_NO_FATAL_FAILURE(ReplacePolicy(bad));
  auto e = ExpectEvent({.event = "policy-reload", .result = "error"}, mark);
  if (e) {
    EXPECT_NE(e->msg.find(policy_path_ + ":7:"), std::string::npos)
        << "the problem is reported as file:line: reason: " << e->raw;
  }
  // Access unchanged.
  EXPECT_EQ(ReadAs(bob_, M("acme/brief.txt")).data, "acme brief v1\n");
  EXPECT_EQ(StatAs(frank_, M("acme")).err, ENOENT);
  EXPECT_EQ(ReadAs(gina_, M("acme/brief.txt")).err, ENOENT);
  EXPECT_EQ(ListAs(erin_, mnt_).data, "acme\nglobex\ninitech\n");
  EXPECT_TRUE(receiver_->All({.event = "policy-reload", .result = "ok"}, mark).empty())
      << receiver_->Tail();

  // A later valid file is taken again.
  mark = receiver_->Mark();
  ASSERT_NO_FATAL_FAILURE(
      ReplacePolicy(Replace(Policy(), "mfs-t-gina until=2020-06-30", "mfs-t-gina")));
  EXPECT_GE(PollUntilReadable(gina_, M("acme/brief.txt"), 10s).rc, 0);
  ExpectEvent({.event = "policy-reload", .result = "ok"}, mark);
}

TEST_F(ReloadTest, SighupReloads) {
  // Rewrite the file in place with the same size, inode and modification time, so that
  // the daemon's file watcher (which compares those) cannot notice: only SIGHUP can.
  const std::string old_text = Policy();
  const std::string new_text =
      Replace(old_text, "mfs-t-gina until=2020-06-30", "mfs-t-hugo until=2099-06-30");
  ASSERT_EQ(new_text.size(), old_text.size());
  struct stat before;
  ASSERT_EQ(::stat(policy_path_.c_str(), &before), 0);
  {
    const int fd = ::open(policy_path_.c_str(), O_WRONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    const ssize_t n = ::pwrite(fd, new_text.data(), new_text.size(), 0);
    const struct timespec times[2] = {before.st_atim, before.st_mtim};
    const int t = ::futimens(fd, times);
    ::close(fd);
    ASSERT_EQ(n, static_cast<ssize_t>(new_text.size()));
    ASSERT_EQ(t, 0);
  }
  // The watcher polls every second: after 2.5 s it has looked at least twice.
  std::this_thread::sleep_for(2500ms);
  ASSERT_EQ(StatAs(hugo_, M("acme")).err, ENOENT)
      << "the daemon already reloaded without SIGHUP (the test could not isolate SIGHUP)";

  const size_t mark = receiver_->Mark();
  ASSERT_GT(daemon_pid(), 0);
  ASSERT_EQ(::kill(daemon_pid(), SIGHUP), 0);
  ExpectEvent({.event = "policy-reload", .result = "ok"}, mark);
  Sys r = PollUntilReadable(hugo_, M("acme/brief.txt"), 5s);
  EXPECT_GE(r.rc, 0) << "hugo cannot read after SIGHUP: " << ::testing::PrintToString(r);
  // SIGHUP reloads; it does not end the mount.
  EXPECT_GE(ReadAs(bob_, M("acme/brief.txt")).rc, 0);
  EXPECT_EQ(::kill(daemon_pid(), 0), 0) << "the daemon exited on SIGHUP";
}

class InvalidPolicyAtStartTest : public PolicyMountTest {
 protected:
  bool MountAtStart() const override { return false; }
  std::string Policy() const override {
    return "[policy]\n"                           // 1
           "hide_denied = yes\n"                  // 2
           "hide_deny = yes\n"                    // 3: unknown key
           "\n"                                   // 4
           "[matter acme]\n"                      // 5
           "read = mfs-t-no-such-user-at-all\n";  // 6: neither a role nor a user
  }
};

TEST_F(InvalidPolicyAtStartTest, RefusesToMountWithFileLineReason) {
  const size_t mark = receiver_->Mark();
  CmdResult r = RunMatterfs(DaemonArgs());
  EXPECT_NE(r.status, 0) << ::testing::PrintToString(r);
  EXPECT_NE(r.err.find(policy_path_ + ":3: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(policy_path_ + ":6: "), std::string::npos) << r.err;
  // Nothing is mounted, no daemon is left, nobody answers on the control socket.
  std::ifstream mounts("/proc/self/mountinfo");
  std::string all((std::istreambuf_iterator<char>(mounts)), std::istreambuf_iterator<char>());
  EXPECT_EQ(all.find(" " + mnt_ + " "), std::string::npos) << "mounted on " << mnt_;
  CmdResult status = Matterctl({"status", mnt_, "--control-socket", control_});
  EXPECT_NE(status.status, 0) << ::testing::PrintToString(status);
  EXPECT_EQ(StatAs(root_, M("acme")).err, ENOENT) << "the mount point is a plain empty directory";
  EXPECT_TRUE(receiver_->All({.event = "mount"}, mark).empty()) << receiver_->Tail();

  // The same vault mounts with a valid policy.
  ASSERT_NO_FATAL_FAILURE(ReplacePolicy(StandardPolicy({})));
  ASSERT_NO_FATAL_FAILURE(Mount());
  ExpectEvent({.event = "mount", .result = "ok"}, mark);
}

}  // namespace
}  // namespace matterfs::policy_mount_test

namespace matterfs::policy_mount_test {
namespace {

// A mount only its owner reaches (no allow_other) lets the kernel cache the matters at
// the root, which a multi-user mount never does (there the root is the gate between
// users). A reload must still take effect at once: the daemon drops those entries.
class OwnerMountReloadTest : public PolicyMountTest {
 protected:
  std::string MountOptions() const override { return ""; }
  bool SeedAtStart() const override { return false; }
  std::string Policy() const override { return OwnerPolicy("root"); }
  static std::string OwnerPolicy(const std::string& acme_reader) {
    return "[policy]\nhide_denied = yes\n[matter acme]\nread = " + acme_reader +
           "\n[matter globex]\nread = root\n";
  }
};

TEST_F(OwnerMountReloadTest, AReloadHidingAMatterTakesEffectAtOnce) {
  struct stat st;
  // Looked up twice: the second walk may be served by the kernel's cached entry.
  ASSERT_EQ(::stat(M("acme").c_str(), &st), 0) << std::strerror(errno);
  ASSERT_EQ(::stat(M("acme").c_str(), &st), 0) << std::strerror(errno);
  ASSERT_NO_FATAL_FAILURE(ReplacePolicy(OwnerPolicy(kFrank)));
  CmdResult r = Matterctl({"policy", "reload", mnt_, "--control-socket", control_});
  ASSERT_EQ(r.status, 0) << ::testing::PrintToString(r);
  errno = 0;
  EXPECT_NE(::stat(M("acme").c_str(), &st), 0) << "acme still reachable right after the reload";
  EXPECT_EQ(errno, ENOENT);
  EXPECT_EQ(::stat(M("globex").c_str(), &st), 0) << std::strerror(errno);
}

}  // namespace
}  // namespace matterfs::policy_mount_test
