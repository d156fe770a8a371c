#include "tests/mount_support/fixture.h"

#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace matterfs::mount_support {

namespace {

constexpr const char* kTempPrefix = "/tmp/matterfs-mount.";
constexpr const char* kPassphrase = "correct horse battery staple";

// Before the first test: dead mounts that an earlier run of a mount test binary left
// behind when it crashed (its daemon gone, so every access is ENOTCONN) are lazily
// unmounted. A live mount of a test running in parallel answers stat() and is kept.
class StaleMountCleanup : public ::testing::Environment {
 public:
  void SetUp() override {
    for (const std::string& m : MountPoints()) {
      struct stat st;
      if (m.rfind(kTempPrefix, 0) == 0 && ::stat(m.c_str(), &st) != 0 && errno == ENOTCONN) {
        std::fprintf(stderr, "note: unmounting %s, left dead by an earlier run\n", m.c_str());
        RunCommand({"fusermount3", "-u", "-z", m}, 30);
      }
    }
  }
};

// Registered here, in the object file that every user of MountFixture links.
[[maybe_unused]] ::testing::Environment* const kStaleMountCleanup =
    ::testing::AddGlobalTestEnvironment(new StaleMountCleanup);

}  // namespace

void MountFixture::SetUp() {
  // The daemon detaches from `matterfs` (its parent exits once the mount is up): as a
  // subreaper we inherit and reap it, so that "the daemon has exited" is observable.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  dir_ = MakeTempDir(kTempPrefix);
  ASSERT_FALSE(dir_.empty()) << "cannot make the test directory: " << std::strerror(errno);
  if (PrivateTmpfsMiB() > 0) {
    const std::string opts = "size=" + std::to_string(PrivateTmpfsMiB()) + "m,mode=0755";
    ASSERT_EQ(::mount("tmpfs", dir_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, opts.c_str()), 0)
        << "cannot mount a private tmpfs on " << dir_ << ": " << std::strerror(errno);
    tmpfs_mounted_ = true;
  }
  vault_ = dir_ + "/vault";
  mnt_ = dir_ + "/mnt";
  pass_ = dir_ + "/pass";
  policy_path_ = dir_ + "/policy.ini";
  control_ = dir_ + "/ctl/ctl.sock";
  watchdog_ = std::make_unique<Watchdog>(TestTimeoutSeconds(), [this] { OnTimeout(); });
  ASSERT_EQ(::mkdir(mnt_.c_str(), 0755), 0) << std::strerror(errno);
  ASSERT_TRUE(WriteFile(pass_, kPassphrase, 0600)) << std::strerror(errno);
  receiver_ = std::make_unique<EventReceiver>(dir_ + "/syslog.sock");
  ASSERT_TRUE(receiver_->ok()) << "cannot bind the event receiver: " << std::strerror(errno);
  ASSERT_NO_FATAL_FAILURE(CreateVault(vault_, pass_, Matters()));
  const std::string policy = Policy();
  if (!policy.empty()) {
    ASSERT_TRUE(WriteFile(policy_path_, policy, 0644)) << std::strerror(errno);
  }
  if (MountAtStart()) {
    ASSERT_NO_FATAL_FAILURE(Mount());
  }
}

void MountFixture::TearDown() {
  Unmount();
  std::vector<std::string> others;
  {
    std::lock_guard<std::mutex> g(mu_);
    others = other_mounts_;
  }
  for (const std::string& m : others) {
    if (!IsMountPoint(m)) continue;
    ADD_FAILURE() << "left mounted by the test: " << m;
    UnmountAndWait(m);
  }
  // A daemon that a failed test left behind (e.g. from RunMatterfs).
  for (pid_t pid : DaemonsFor(mnt_)) {
    ADD_FAILURE() << "a matterfs daemon (pid " << pid << ") for " << mnt_ << " is still running";
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
  watchdog_.reset();
  receiver_.reset();
  if (!dir_.empty() && !IsMountPoint(mnt_)) {
    if (tmpfs_mounted_) {
      if (::umount2(dir_.c_str(), MNT_DETACH) != 0) {
        ADD_FAILURE() << "cannot unmount the private tmpfs " << dir_ << ": "
                      << std::strerror(errno);
      }
      tmpfs_mounted_ = false;
    }
    RemoveTree(dir_);
  }
}

std::vector<std::string> MountFixture::DaemonArgs() const {
  std::vector<std::string> args = {"--passphrase-file", pass_};
  if (!Policy().empty()) args.insert(args.end(), {"--policy", policy_path_});
  if (WithControlSocket()) args.insert(args.end(), {"--control-socket", control_});
  if (!MountOptions().empty()) args.insert(args.end(), {"-o", MountOptions()});
  for (const std::string& a : ExtraArgs()) args.push_back(a);
  return args;
}

CmdResult MountFixture::RunMatterfs(const std::string& mountpoint,
                                    const std::vector<std::string>& args) {
  if (mountpoint != mnt_) {
    std::lock_guard<std::mutex> g(mu_);
    other_mounts_.push_back(mountpoint);
  }
  std::vector<std::string> argv = {MatterfsPath(), vault_, mountpoint, "--syslog-socket",
                                   SyslogSocket()};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, 60);
}

void MountFixture::Mount() {
  CmdResult r = RunMatterfs(mnt_, DaemonArgs());
  ASSERT_EQ(r.status, 0) << "matterfs did not mount: " << ::testing::PrintToString(r);
  // Background mode: the command returns only once the mount is up.
  ASSERT_TRUE(IsMountPoint(mnt_)) << "matterfs exited 0 but " << mnt_ << " is not a mount";
  mounted_ = true;
  // The daemon keeps our command line: found, it can be waited for and, if a test
  // hangs, killed.
  const std::vector<pid_t> found = DaemonsFor(mnt_);
  EXPECT_EQ(found.size(), 1u) << "cannot find the one matterfs daemon for " << mnt_;
  std::lock_guard<std::mutex> g(mu_);
  daemon_pid_ = found.empty() ? -1 : found[0];
}

void MountFixture::Unmount() {
  if (mnt_.empty()) return;
  FuseUnmount(mnt_);
  mounted_ = false;
  pid_t pid;
  {
    std::lock_guard<std::mutex> g(mu_);
    pid = daemon_pid_;
    daemon_pid_ = -1;
  }
  // The control socket and the mount point may be reused only once the daemon has gone.
  if (pid > 0) WaitForDaemonExit(pid);
}

void MountFixture::KillDaemon() {
  pid_t pid;
  {
    std::lock_guard<std::mutex> g(mu_);
    pid = daemon_pid_;
    daemon_pid_ = -1;
  }
  ASSERT_GT(pid, 0) << "no daemon to kill";
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << std::hex << status;
  FuseUnmount(mnt_);
  mounted_ = false;
}

pid_t MountFixture::daemon_pid() {
  std::lock_guard<std::mutex> g(mu_);
  return daemon_pid_;
}

void MountFixture::OnTimeout() {
  std::lock_guard<std::mutex> g(mu_);
  ADD_FAILURE() << "watchdog: the test ran for more than " << TestTimeoutSeconds()
                << " s; killing the daemon (pid " << daemon_pid_
                << ") so that requests blocked on the mount fail";
  if (daemon_pid_ > 0) ::kill(daemon_pid_, SIGKILL);
  for (const std::string& m : other_mounts_) {
    for (pid_t pid : DaemonsFor(m)) ::kill(pid, SIGKILL);
  }
}

bool MountFixture::WaitForSyslog(const std::vector<std::string>& parts, int timeout_ms) {
  auto has_all = [&parts](const AuditMsg& m) {
    for (const std::string& p : parts) {
      if (m.raw.find(p) == std::string::npos) return false;
    }
    return true;
  };
  return receiver_->WaitMatching(has_all, 0, std::chrono::milliseconds(timeout_ms)).has_value();
}

std::optional<AuditMsg> MountFixture::ExpectEvent(const EventQuery& q, size_t from,
                                                  std::chrono::milliseconds timeout) {
  auto m = receiver_->Wait(q, from, timeout);
  if (!m) {
    ADD_FAILURE() << "no audit event " << ::testing::PrintToString(q) << " arrived (from #" << from
                  << "); the last events received:\n"
                  << receiver_->Tail();
  }
  return m;
}

void MountFixture::ReplacePolicy(const std::string& text) {
  const std::string tmp = policy_path_ + ".new";
  ASSERT_TRUE(WriteFile(tmp, text, 0644)) << std::strerror(errno);
  ASSERT_EQ(::rename(tmp.c_str(), policy_path_.c_str()), 0) << std::strerror(errno);
}

std::vector<std::string> MountFixture::BackingFiles() const {
  std::vector<std::string> out;
  for (const std::string& p : WalkTree(vault_ + "/d")) {
    struct stat st;
    if (::lstat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    const std::string base = p.substr(p.rfind('/') + 1);
    const bool long_entry =
        base.rfind(".L", 0) == 0 && base.size() > 2 && base.substr(base.size() - 2) != ".n";
    if (base[0] != '.' || long_entry) out.push_back(p);
  }
  return out;
}

std::vector<std::string> MountFixture::FindInVault(const std::vector<std::string>& needles) const {
  std::vector<std::string> hits;
  auto look = [&](const std::string& hay, const std::string& where) {
    for (const std::string& n : needles) {
      if (!n.empty() && hay.find(n) != std::string::npos) hits.push_back(n + " in " + where);
    }
  };
  std::vector<std::string> paths = WalkTree(vault_);
  paths.push_back(vault_);
  for (const std::string& p : paths) {
    look(p.substr(vault_.size()), "name of " + p);
    struct stat st;
    if (::lstat(p.c_str(), &st) != 0) continue;
    if (S_ISREG(st.st_mode)) {
      auto data = ReadFile(p);
      if (!data) {
        hits.push_back("cannot read " + p);
        continue;
      }
      look(*data, "content of " + p);
    } else if (S_ISLNK(st.st_mode)) {
      char buf[8192];
      ssize_t n = ::readlink(p.c_str(), buf, sizeof buf);
      if (n > 0) look(std::string(buf, static_cast<size_t>(n)), "symlink target of " + p);
    }
    std::string names(65536, '\0');
    ssize_t n = ::llistxattr(p.c_str(), names.data(), names.size());
    if (n <= 0) continue;
    names.resize(static_cast<size_t>(n));
    look(names, "xattr names of " + p);
    for (size_t i = 0; i < names.size();) {
      const std::string name = names.c_str() + i;
      i += name.size() + 1;
      std::string value(65536, '\0');
      ssize_t v = ::lgetxattr(p.c_str(), name.c_str(), value.data(), value.size());
      if (v > 0) look(value.substr(0, static_cast<size_t>(v)), "xattr " + name + " of " + p);
    }
  }
  return hits;
}

bool RunKnownBugs() {
  const char* v = std::getenv("MATTERFS_TEST_KNOWN_BUGS");
  return v != nullptr && std::string(v) == "run";
}

}  // namespace matterfs::mount_support
