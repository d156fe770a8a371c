#include "tests/mount/mount_fixture.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "util/unique_fd.h"

#ifndef MATTERFS_TEST_MATTERCTL_BIN
#error "CMake passes MATTERFS_TEST_MATTERCTL_BIN (the path of matterctl)"
#endif
#ifndef MATTERFS_TEST_MATTERFS_BIN
#error "CMake passes MATTERFS_TEST_MATTERFS_BIN (the path of matterfs)"
#endif

namespace matterfs::mount_test {

namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kPassphrase = "correct horse battery staple";

std::string EnvOr(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

int TestTimeoutSeconds() {
  const char* v = std::getenv("MATTERFS_TEST_TIMEOUT");
  int t = v != nullptr ? std::atoi(v) : 0;
  return t > 0 ? t : 150;
}

void Append(std::string& out, int fd, bool* eof) {
  char buf[65536];
  ssize_t n = ::read(fd, buf, sizeof buf);
  if (n > 0) {
    out.append(buf, static_cast<size_t>(n));
  } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
    *eof = true;
  }
}

std::string Unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() + 1 && i + 3 <= s.size()) {
      out.push_back(static_cast<char>(std::strtol(s.substr(i + 1, 3).c_str(), nullptr, 8)));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::string ErrName(int err) {
  if (err == 0) return "0";
  const char* name = strerrorname_np(err);
  return name != nullptr ? name : std::to_string(err);
}

// Printable form of data[from, from+len) for failure messages, with its size when cut.
std::string Show(const std::string& data, size_t from = 0, size_t len = 160) {
  std::string out;
  if (from > data.size()) from = data.size();
  if (from > 0) out = "..." + std::to_string(from) + " bytes... ";
  const size_t n = std::min<size_t>(data.size(), from + len);
  for (size_t i = from; i < n; ++i) {
    unsigned char c = static_cast<unsigned char>(data[i]);
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  if (data.size() > n) out += "... (" + std::to_string(data.size()) + " bytes)";
  return out;
}

// Before the first test: dead mounts that an earlier run of this binary left behind
// when it crashed (its daemon gone, so every access is ENOTCONN) are lazily unmounted.
class StaleMountCleanup : public ::testing::Environment {
 public:
  void SetUp() override {
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    std::vector<std::string> dead;
    while (std::getline(in, line)) {
      std::istringstream ls(line);
      std::string id, parent, devno, root, mnt;
      ls >> id >> parent >> devno >> root >> mnt;
      mnt = Unescape(mnt);
      struct stat st;
      if (mnt.rfind("/tmp/matterfs-mount.", 0) == 0 && ::stat(mnt.c_str(), &st) != 0 &&
          errno == ENOTCONN) {
        dead.push_back(mnt);
      }
    }
    for (const std::string& m : dead) {
      std::fprintf(stderr, "note: unmounting %s, left dead by an earlier run\n", m.c_str());
      RunCommand({"fusermount3", "-u", "-z", m}, 30);
    }
  }
};

[[maybe_unused]] ::testing::Environment* const kStaleMountCleanup =
    ::testing::AddGlobalTestEnvironment(new StaleMountCleanup);

}  // namespace

// ---- processes -------------------------------------------------------------------

void PrintTo(const CmdResult& r, std::ostream* os) {
  *os << "exit " << r.status << "\n--- stdout ---\n"
      << r.out.substr(0, 4000) << "\n--- stderr ---\n"
      << r.err.substr(0, 4000);
}

CmdResult RunCommand(const std::vector<std::string>& argv, int timeout_s,
                     const std::string& input) {
  CmdResult result;
  int out_pipe[2];
  int err_pipe[2];
  int in_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return result;
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) return result;
  if (::pipe2(in_pipe, O_CLOEXEC) != 0) return result;
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  const pid_t pid = ::fork();
  if (pid < 0) return result;
  if (pid == 0) {
    // Child: only async-signal-safe calls from here on.
    ::setpgid(0, 0);
    ::dup2(in_pipe[0], 0);
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    ::close_range(3, ~0U, 0);  // no test fd (open files on the mount) leaks into tools
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::setpgid(pid, pid);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  ::close(in_pipe[0]);
  UniqueFd out_fd(out_pipe[0]);
  UniqueFd err_fd(err_pipe[0]);
  {
    UniqueFd in_fd(in_pipe[1]);
    size_t done = 0;
    while (done < input.size()) {
      ssize_t n = ::write(in_fd.get(), input.data() + done, input.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
  }
  const auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
  bool out_eof = false;
  bool err_eof = false;
  bool exited = false;
  bool killed = false;
  int wstatus = 0;
  std::optional<Clock::time_point> drain_until;
  while (true) {
    if (!exited) {
      pid_t w = ::waitpid(pid, &wstatus, WNOHANG);
      if (w == pid) {
        exited = true;
        // A grandchild (a daemon) may hold the pipes: read what is there, briefly.
        drain_until = Clock::now() + std::chrono::seconds(2);
      }
    }
    if (out_eof && err_eof && exited) break;
    if (drain_until && Clock::now() > *drain_until) break;
    if (!exited && Clock::now() > deadline) {
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      killed = true;
      ::waitpid(pid, &wstatus, 0);
      exited = true;
      drain_until = Clock::now() + std::chrono::milliseconds(200);
    }
    struct pollfd fds[2];
    nfds_t nfds = 0;
    if (!out_eof) fds[nfds++] = {out_fd.get(), POLLIN, 0};
    if (!err_eof) fds[nfds++] = {err_fd.get(), POLLIN, 0};
    if (nfds == 0) {
      ::usleep(10000);
      continue;
    }
    int rc = ::poll(fds, nfds, 50);
    if (rc <= 0) continue;
    for (nfds_t i = 0; i < nfds; ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == out_fd.get()) Append(result.out, out_fd.get(), &out_eof);
      if (fds[i].fd == err_fd.get()) Append(result.err, err_fd.get(), &err_eof);
    }
  }
  if (killed) {
    result.status = 128 + SIGKILL;
    result.err += "\n[killed after " + std::to_string(timeout_s) + " s]";
  } else if (WIFEXITED(wstatus)) {
    result.status = WEXITSTATUS(wstatus);
  } else if (WIFSIGNALED(wstatus)) {
    result.status = 128 + WTERMSIG(wstatus);
  }
  return result;
}

CmdResult Shell(const std::string& script, int timeout_s) {
  return RunCommand({"/bin/bash", "-c", script}, timeout_s);
}

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out.push_back(c);
    }
  }
  return out + "'";
}

const std::string& MatterctlPath() {
  static const std::string path = EnvOr("MATTERFS_TEST_MATTERCTL", MATTERFS_TEST_MATTERCTL_BIN);
  return path;
}

const std::string& MatterfsPath() {
  static const std::string path = EnvOr("MATTERFS_TEST_MATTERFS", MATTERFS_TEST_MATTERFS_BIN);
  return path;
}

// ---- files -----------------------------------------------------------------------

std::optional<std::string> ReadFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return std::nullopt;
  return ReadFd(fd.get());
}

bool WriteFile(const std::string& path, const std::string& data, mode_t mode) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  if (!fd.valid()) return false;
  return PwriteAll(fd.get(), data, 0);
}

std::optional<std::string> ReadFd(int fd) {
  std::string out;
  char buf[65536];
  off_t off = 0;
  while (true) {
    ssize_t n = ::pread(fd, buf, sizeof buf, off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) return out;
    out.append(buf, static_cast<size_t>(n));
    off += n;
  }
}

bool PwriteAll(int fd, const std::string& data, off_t off) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n =
        ::pwrite(fd, data.data() + done, data.size() - done, off + static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

std::optional<std::vector<std::string>> ListDir(const std::string& path) {
  DIR* d = ::opendir(path.c_str());
  if (d == nullptr) return std::nullopt;
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  const int err = errno;
  ::closedir(d);
  if (err != 0) {
    errno = err;
    return std::nullopt;
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::string> WalkTree(const std::string& root) {
  std::vector<std::string> out;
  auto names = ListDir(root);
  if (!names) return out;
  for (const std::string& n : *names) {
    const std::string p = root + "/" + n;
    out.push_back(p);
    struct stat st;
    if (::lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      auto below = WalkTree(p);
      out.insert(out.end(), below.begin(), below.end());
    }
  }
  return out;
}

std::string Pattern(size_t size, uint64_t seed) {
  std::string out(size, '\0');
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
  for (size_t i = 0; i < size; ++i) {
    // splitmix64, one byte per step: cheap and never all zeros for long.
    x += 0x9E3779B97F4A7C15ull;
    uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    out[i] = static_cast<char>(z >> 56);
  }
  return out;
}

std::string UniqueToken() {
  static std::mt19937_64 rng(std::random_device{}() ^
                             static_cast<uint64_t>(Clock::now().time_since_epoch().count()));
  char buf[40];
  std::snprintf(buf, sizeof buf, "%016llx%08x", static_cast<unsigned long long>(rng()),
                static_cast<unsigned>(::getpid()));
  return buf;
}

bool IsMountPoint(const std::string& path) {
  std::string want = path;
  while (want.size() > 1 && want.back() == '/') want.pop_back();
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string id, parent, devno, root, mnt;
    ls >> id >> parent >> devno >> root >> mnt;
    if (Unescape(mnt) == want) return true;
  }
  return false;
}

void DropCaches(int level) {
  ::sync();
  std::ofstream out("/proc/sys/vm/drop_caches");
  out << level << "\n";
  out.flush();
  EXPECT_TRUE(out.good()) << "cannot write /proc/sys/vm/drop_caches";
}

bool RunKnownBugs() {
  const char* v = std::getenv("MATTERFS_TEST_KNOWN_BUGS");
  return v != nullptr && std::string(v) == "run";
}

void RemoveTree(const std::string& path) {
  if (path.empty() || path == "/") return;
  // --one-file-system: never descend into a mount that failed to come down.
  CmdResult r = RunCommand({"rm", "-rf", "--one-file-system", path}, 120);
  if (r.status != 0) std::fprintf(stderr, "warning: rm -rf %s: %s\n", path.c_str(), r.err.c_str());
}

// ---- traces ----------------------------------------------------------------------

void PrintTo(const Step& s, std::ostream* os) {
  *os << s.what << ": rc=" << s.rc << " errno=" << ErrName(s.err);
  if (!s.data.empty()) *os << " data=\"" << Show(s.data) << "\"";
}

namespace {
std::string ShowStep(const Step& s, size_t diff_at) {
  std::string out = s.what + ": rc=" + std::to_string(s.rc) + " errno=" + ErrName(s.err);
  if (!s.data.empty()) {
    const size_t from = diff_at > 40 ? diff_at - 40 : 0;
    out += " data=\"" + Show(s.data, from) + "\"";
  }
  return out;
}
}  // namespace

long Trace::Sys(const char* what, long rc) {
  const int err = rc < 0 ? errno : 0;
  steps_.push_back(Step{what, rc, err, ""});
  return rc;
}

int Trace::Fd(const char* what, int fd) {
  const int err = fd < 0 ? errno : 0;
  steps_.push_back(Step{what, fd < 0 ? -1 : 0, err, ""});
  return fd;
}

void Trace::Value(const char* what, std::string data) {
  steps_.push_back(Step{what, 0, 0, std::move(data)});
}

namespace {
std::string Summary(const struct stat& st) {
  std::ostringstream s;
  s << "mode=0" << std::oct << st.st_mode << std::dec << " nlink=" << st.st_nlink
    << " uid=" << st.st_uid << " gid=" << st.st_gid;
  if (!S_ISDIR(st.st_mode)) s << " size=" << st.st_size;  // directory sizes are the backend's
  return s.str();
}
}  // namespace

void Trace::Stat(const char* what, const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    const int err = errno;
    steps_.push_back(Step{what, -1, err, ""});
    return;
  }
  steps_.push_back(Step{what, 0, 0, Summary(st)});
}

void Trace::Fstat(const char* what, int fd) {
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    steps_.push_back(Step{what, -1, err, ""});
    return;
  }
  steps_.push_back(Step{what, 0, 0, Summary(st)});
}

long Trace::Pread(const char* what, int fd, size_t size, off_t off) {
  std::string buf(size, '\0');
  const ssize_t n = ::pread(fd, buf.data(), size, off);
  const int err = n < 0 ? errno : 0;
  buf.resize(n > 0 ? static_cast<size_t>(n) : 0);
  steps_.push_back(Step{what, static_cast<long>(n), err, std::move(buf)});
  return static_cast<long>(n);
}

void Trace::Content(const char* what, int fd) {
  auto data = ReadFd(fd);
  if (!data) {
    const int err = errno;
    steps_.push_back(Step{what, -1, err, ""});
    return;
  }
  steps_.push_back(Step{what, static_cast<long>(data->size()), 0, std::move(*data)});
}

long Trace::OpenClose(const char* what, const std::string& path, int flags, mode_t mode) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  Fd(what, fd);
  if (fd >= 0) ::close(fd);
  return fd;
}

void Trace::List(const char* what, const std::string& dir) {
  auto names = ListDir(dir);
  if (!names) {
    const int err = errno;
    steps_.push_back(Step{what, -1, err, ""});
    return;
  }
  std::string joined;
  for (const std::string& n : *names) joined += n + "\n";
  steps_.push_back(Step{what, static_cast<long>(names->size()), 0, joined});
}

void Trace::File(const char* what, const std::string& path) {
  auto data = ReadFile(path);
  if (!data) {
    const int err = errno;
    steps_.push_back(Step{what, -1, err, ""});
    return;
  }
  steps_.push_back(Step{what, static_cast<long>(data->size()), 0, std::move(*data)});
}

const Step* Trace::Find(const std::string& what) const {
  for (const Step& s : steps_) {
    if (s.what == what) return &s;
  }
  return nullptr;
}

void ExpectSameTrace(const Trace& plain, const Trace& mounted) {
  const auto& a = plain.steps();
  const auto& b = mounted.steps();
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    if (a[i] == b[i]) continue;
    std::string where;
    size_t at = 0;
    if (a[i].data != b[i].data) {
      while (at < a[i].data.size() && at < b[i].data.size() && a[i].data[at] == b[i].data[at]) {
        ++at;
      }
      where = " (data differ first at byte " + std::to_string(at) + ")";
    }
    ADD_FAILURE() << "step " << i << " differs" << where << "\n  plain dir: " << ShowStep(a[i], at)
                  << "\n  mount:     " << ShowStep(b[i], at);
    return;
  }
  EXPECT_EQ(a.size(), b.size()) << "the traces have different lengths";
}

// ---- the fixture ----------------------------------------------------------------

void MountTest::SetUp() {
  // The daemon detaches from `matterfs` (its parent exits once the mount is up): as a
  // subreaper we inherit and reap it, so that "the daemon has exited" is observable.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  std::string tmpl = "/tmp/matterfs-mount.XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr) << std::strerror(errno);
  dir_ = tmpl;
  ASSERT_EQ(::chmod(dir_.c_str(), 0755), 0);  // other users (nobody) must reach the mount
  vault_ = dir_ + "/vault";
  mnt_ = dir_ + "/mnt";
  plain_ = dir_ + "/plain";
  pass_ = dir_ + "/pass";
  ASSERT_EQ(::mkdir(mnt_.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(plain_.c_str(), 0755), 0);
  ASSERT_TRUE(WriteFile(pass_, kPassphrase, 0600));
  CmdResult init = RunCommand({MatterctlPath(), "init", vault_, "--passphrase-file", pass_,
                               "--kdf-memory", "8", "--kdf-ops", "1"});
  ASSERT_EQ(init.status, 0) << ::testing::PrintToString(init);
  for (const std::string& m : Matters()) {
    CmdResult made = Matterctl({"matter", "create", vault_, m, "--passphrase-file", pass_});
    ASSERT_EQ(made.status, 0) << ::testing::PrintToString(made);
    ASSERT_EQ(::mkdir((plain_ + "/" + m).c_str(), 0755), 0);
  }
  StartWatchdog();
  StartSyslog();
  if (MountAtStart()) {
    ASSERT_NO_FATAL_FAILURE(MountVault());
  }
}

void MountTest::TearDown() {
  UnmountVault();
  StopSyslog();
  for (const std::string& m : other_mounts_) {
    if (IsMountPoint(m)) {
      ADD_FAILURE() << "left mounted by the test: " << m;
      if (RunCommand({"fusermount3", "-u", m}, 30).status != 0) RunCommand({"umount", "-l", m}, 30);
    }
  }
  StopWatchdog();
  if (!dir_.empty() && !IsMountPoint(mnt_)) RemoveTree(dir_);
}

CmdResult MountTest::Matterctl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {MatterctlPath()};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, 60);
}

CmdResult MountTest::RunMatterfs(const std::string& mountpoint,
                                 const std::vector<std::string>& args) {
  if (mountpoint != mnt_) other_mounts_.push_back(mountpoint);
  std::vector<std::string> argv = {MatterfsPath(), vault_, mountpoint, "--syslog-socket",
                                   dir_ + "/syslog.sock"};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, 60);
}

void MountTest::MountVault() {
  std::vector<std::string> argv = {MatterfsPath(),       vault_, mnt_,
                                   "--passphrase-file",  pass_,  "--syslog-socket",
                                   dir_ + "/syslog.sock"};
  if (!MountOptions().empty()) {
    argv.push_back("-o");
    argv.push_back(MountOptions());
  }
  if (!Policy().empty()) {
    const std::string policy = dir_ + "/policy.ini";
    ASSERT_TRUE(WriteFile(policy, Policy(), 0644));
    argv.push_back("--policy");
    argv.push_back(policy);
  }
  for (const std::string& a : ExtraArgs()) argv.push_back(a);
  CmdResult r = RunCommand(argv, 60);
  ASSERT_EQ(r.status, 0) << "matterfs did not mount: " << ::testing::PrintToString(r);
  // Background mode: the command returns only once the mount is up.
  ASSERT_TRUE(IsMountPoint(mnt_)) << "matterfs exited 0 but " << mnt_ << " is not a mount";
  mounted_ = true;
  // Find the daemon (it keeps our command line) to wait for it and, if a test hangs, to
  // kill it.
  pid_t found = -1;
  if (auto procs = ListDir("/proc")) {
    for (const std::string& p : *procs) {
      if (p.find_first_not_of("0123456789") != std::string::npos) continue;
      auto cmdline = ReadFile("/proc/" + p + "/cmdline");
      if (!cmdline) continue;
      std::vector<std::string> args;
      std::string one;
      for (char c : *cmdline) {
        if (c == '\0') {
          args.push_back(one);
          one.clear();
        } else {
          one.push_back(c);
        }
      }
      if (args.size() >= 3 && args[0] == MatterfsPath() && args[2] == mnt_) {
        found = static_cast<pid_t>(std::atoi(p.c_str()));
        break;
      }
    }
  }
  EXPECT_GT(found, 0) << "cannot find the matterfs daemon for " << mnt_;
  std::lock_guard<std::mutex> g(mu_);
  daemon_pid_ = found;
}

void MountTest::UnmountVault() {
  if (mnt_.empty()) return;
  if (IsMountPoint(mnt_)) {
    CmdResult r;
    for (int attempt = 0; attempt < 20; ++attempt) {
      r = RunCommand({"fusermount3", "-u", mnt_}, 30);
      if (r.status == 0 || !IsMountPoint(mnt_)) break;
      ::usleep(100000);  // e.g. a child process of the test still closing its files
    }
    if (IsMountPoint(mnt_)) {
      std::fprintf(stderr, "warning: fusermount3 -u %s failed (%s); trying umount -l\n",
                   mnt_.c_str(), r.err.c_str());
      CmdResult lazy = RunCommand({"umount", "-l", mnt_}, 30);
      EXPECT_EQ(lazy.status, 0) << ::testing::PrintToString(lazy);
    }
  }
  mounted_ = false;
  pid_t pid;
  {
    std::lock_guard<std::mutex> g(mu_);
    pid = daemon_pid_;
    daemon_pid_ = -1;
  }
  if (pid > 0) WaitForDaemonExit(pid);
}

void MountTest::WaitForDaemonExit(pid_t pid) {
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (Clock::now() < deadline) {
    int status = 0;
    pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) {
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
          << "the daemon ended with status 0x" << std::hex << status;
      return;
    }
    if (w < 0 && errno == ECHILD && ::kill(pid, 0) != 0 && errno == ESRCH) return;
    ::usleep(20000);
  }
  ADD_FAILURE() << "the daemon (pid " << pid << ") did not exit within 10 s of the unmount";
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

void MountTest::StartSyslog() {
  const std::string path = dir_ + "/syslog.sock";
  syslog_fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(syslog_fd_, 0);
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  ASSERT_LT(path.size(), sizeof addr.sun_path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  ASSERT_EQ(::bind(syslog_fd_, reinterpret_cast<struct sockaddr*>(&addr), sizeof addr), 0)
      << std::strerror(errno);
  syslog_stop_ = false;
  syslog_thread_ = std::thread([this] {
    std::vector<char> buf(65536);
    while (!syslog_stop_) {
      struct pollfd p = {syslog_fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      ssize_t n = ::recv(syslog_fd_, buf.data(), buf.size(), 0);
      if (n <= 0) continue;
      std::lock_guard<std::mutex> g(syslog_mu_);
      syslog_.emplace_back(buf.data(), static_cast<size_t>(n));
    }
  });
}

void MountTest::StopSyslog() {
  syslog_stop_ = true;
  if (syslog_thread_.joinable()) syslog_thread_.join();
  if (syslog_fd_ >= 0) ::close(syslog_fd_);
  syslog_fd_ = -1;
}

std::vector<std::string> MountTest::SyslogMessages() {
  std::lock_guard<std::mutex> g(syslog_mu_);
  return syslog_;
}

bool MountTest::WaitForSyslog(const std::vector<std::string>& parts, int timeout_ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  do {
    for (const std::string& m : SyslogMessages()) {
      bool all = true;
      for (const std::string& p : parts) all = all && m.find(p) != std::string::npos;
      if (all) return true;
    }
    ::usleep(20000);
  } while (Clock::now() < deadline);
  return false;
}

void MountTest::StartWatchdog() {
  const int seconds = TestTimeoutSeconds();
  watchdog_ = std::thread([this, seconds] {
    std::unique_lock<std::mutex> lock(mu_);
    if (cv_.wait_for(lock, std::chrono::seconds(seconds), [this] { return stop_; })) return;
    ADD_FAILURE() << "watchdog: the test ran for more than " << seconds
                  << " s; killing the daemon (pid " << daemon_pid_
                  << ") so that requests blocked on the mount fail";
    if (daemon_pid_ > 0) ::kill(daemon_pid_, SIGKILL);
  });
}

void MountTest::StopWatchdog() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (watchdog_.joinable()) watchdog_.join();
}

std::vector<std::string> MountTest::BackingFiles() const {
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

std::vector<std::string> MountTest::FindInVault(const std::vector<std::string>& needles) const {
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

}  // namespace matterfs::mount_test
