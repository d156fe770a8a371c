#include "tests/policy_mount/policy_mount_fixture.h"

#include <dirent.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "util/unique_fd.h"

#ifndef MATTERFS_TEST_MATTERCTL_BIN
#error "CMake passes MATTERFS_TEST_MATTERCTL_BIN (the path of matterctl)"
#endif
#ifndef MATTERFS_TEST_MATTERFS_BIN
#error "CMake passes MATTERFS_TEST_MATTERFS_BIN (the path of matterfs)"
#endif

namespace matterfs::policy_mount_test {

namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kPassphrase = "policy mount test passphrase";
constexpr const char* kUsersLock = "/tmp/mfs-t-users.lock";

std::string EnvOr(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

int TestTimeoutSeconds() {
  const char* v = std::getenv("MATTERFS_TEST_TIMEOUT");
  int t = v != nullptr ? std::atoi(v) : 0;
  return t > 0 ? t : 150;
}

// Decodes the octal escapes of /proc/self/mountinfo ("\040" for a space).
std::string Unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() + 1) {
      out.push_back(static_cast<char>(std::strtol(s.substr(i + 1, 3).c_str(), nullptr, 8)));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

bool IsMountPoint(const std::string& path) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string id, parent, devno, root, mnt;
    ls >> id >> parent >> devno >> root >> mnt;
    if (Unescape(mnt) == path) return true;
  }
  return false;
}

std::optional<std::string> ReadWhole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool WriteWhole(const std::string& path, const std::string& data, mode_t mode) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  if (!fd.valid()) return false;
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd.get(), data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return ::fchmod(fd.get(), mode) == 0;
}

// Pids of processes whose command line is `matterfs VAULT MOUNTPOINT ...` for mnt.
std::vector<pid_t> DaemonsFor(const std::string& mnt) {
  std::vector<pid_t> out;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return out;
  while (struct dirent* e = ::readdir(d)) {
    std::string p = e->d_name;
    if (p.empty() || p.find_first_not_of("0123456789") != std::string::npos) continue;
    auto cmdline = ReadWhole("/proc/" + p + "/cmdline");
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
    if (args.size() >= 3 && args[0] == MatterfsPath() && args[2] == mnt) {
      out.push_back(static_cast<pid_t>(std::atoi(p.c_str())));
    }
  }
  ::closedir(d);
  return out;
}

// Drops the calling (child) process to the user. Returns false on failure.
bool DropTo(const TestUser& u) {
  if (::setgroups(u.groups.size(), u.groups.data()) != 0) return false;
  if (::setresgid(u.gid, u.gid, u.gid) != 0) return false;
  if (::setresuid(u.uid, u.uid, u.uid) != 0) return false;
  return true;
}

bool WriteAllFd(int fd, const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

std::optional<TestUser> LookupUser(const std::string& name) {
  struct passwd pw;
  struct passwd* found = nullptr;
  std::vector<char> buf(16384);
  if (::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
    return std::nullopt;
  }
  TestUser u;
  u.name = name;
  u.uid = pw.pw_uid;
  u.gid = pw.pw_gid;
  int n = 64;
  std::vector<gid_t> groups(static_cast<size_t>(n));
  while (::getgrouplist(name.c_str(), pw.pw_gid, groups.data(), &n) < 0) {
    groups.resize(static_cast<size_t>(n) + 16);
    n = static_cast<int>(groups.size());
  }
  groups.resize(static_cast<size_t>(n));
  u.groups = groups;
  return u;
}

bool GroupExists(const std::string& name) {
  struct group gr;
  struct group* found = nullptr;
  std::vector<char> buf(65536);
  return ::getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &found) == 0 && found != nullptr;
}

bool InGroup(const std::string& user, const std::string& group) {
  struct group gr;
  struct group* found = nullptr;
  std::vector<char> buf(65536);
  if (::getgrnam_r(group.c_str(), &gr, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
    return false;
  }
  for (char** m = gr.gr_mem; m != nullptr && *m != nullptr; ++m) {
    if (user == *m) return true;
  }
  return false;
}

// Runs an account tool, retrying while another process holds /etc/passwd's lock.
bool AccountTool(const std::vector<std::string>& argv, const std::function<bool()>& done) {
  CmdResult r;
  for (int attempt = 0; attempt < 50; ++attempt) {
    if (done()) return true;
    r = RunCommand(argv, nullptr, 60);
    if (r.status == 0 || done()) return true;
    ::usleep(200000);
  }
  ADD_FAILURE() << argv[0] << " failed: " << ::testing::PrintToString(r);
  return false;
}

}  // namespace

// ---- users -----------------------------------------------------------------------

void EnsureTestUsers() {
  static std::once_flag once;
  static bool ok = false;
  std::call_once(once, [] {
    // Serialises test processes (ctest -j) that create the same users.
    UniqueFd lock(::open(kUsersLock, O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!lock.valid() || ::flock(lock.get(), LOCK_EX) != 0) {
      ADD_FAILURE() << "cannot lock " << kUsersLock << ": " << std::strerror(errno);
      return;
    }
    for (const char* g : {kLitGroup, kParaGroup}) {
      if (!AccountTool({"groupadd", "--system", g}, [g] { return GroupExists(g); })) return;
    }
    const std::vector<std::pair<const char*, const char*>> users = {
        {kAlice, kLitGroup}, {kBob, nullptr},     {kCarol, nullptr},
        {kDave, nullptr},    {kErin, kParaGroup}, {kFrank, nullptr},
        {kGina, nullptr},    {kHugo, nullptr},    {kClerk, nullptr}};
    for (const auto& [name, group] : users) {
      const std::string n = name;
      // A group of the user's name may be left from an interrupted run: use it.
      std::vector<std::string> argv = {"useradd", "--system", "--no-create-home", "--shell",
                                       "/usr/sbin/nologin"};
      if (GroupExists(n)) {
        argv.insert(argv.end(), {"-g", n});
      } else {
        argv.push_back("--user-group");
      }
      argv.push_back(n);
      if (!AccountTool(argv, [n] { return LookupUser(n).has_value(); })) return;
      if (group != nullptr) {
        const std::string g = group;
        if (!AccountTool({"usermod", "-a", "-G", g, n}, [n, g] { return InGroup(n, g); })) return;
      }
    }
    ok = true;
  });
  ASSERT_TRUE(ok) << "the test users could not be created (see the failures above)";
}

TestUser User(const std::string& name) {
  auto u = LookupUser(name);
  EXPECT_TRUE(u.has_value()) << "no user " << name;
  return u ? *u : TestUser{name, 65534, 65534, {65534}};
}

// ---- processes -------------------------------------------------------------------

const std::string& MatterctlPath() {
  static const std::string p = EnvOr("MATTERFS_TEST_MATTERCTL", MATTERFS_TEST_MATTERCTL_BIN);
  return p;
}

const std::string& MatterfsPath() {
  static const std::string p = EnvOr("MATTERFS_TEST_MATTERFS", MATTERFS_TEST_MATTERFS_BIN);
  return p;
}

void PrintTo(const CmdResult& r, std::ostream* os) {
  *os << "exit " << r.status << "\n--- stdout ---\n"
      << r.out.substr(0, 4000) << "\n--- stderr ---\n"
      << r.err.substr(0, 4000);
}

CmdResult RunCommand(const std::vector<std::string>& argv, const TestUser* user, int timeout_s) {
  CmdResult result;
  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return result;
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return result;
  }
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const TestUser as = user != nullptr ? *user : TestUser{};

  const pid_t pid = ::fork();
  if (pid < 0) return result;
  if (pid == 0) {
    // Child: only async-signal-safe calls from here on (the test has threads).
    ::setpgid(0, 0);
    int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0) ::dup2(null, 0);
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    ::close_range(3, ~0U, 0);  // no test fd (receiver socket, files) leaks into tools
    if (user != nullptr && !DropTo(as)) ::_exit(126);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::setpgid(pid, pid);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  UniqueFd out_fd(out_pipe[0]);
  UniqueFd err_fd(err_pipe[0]);
  const auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
  bool out_eof = false;
  bool err_eof = false;
  bool exited = false;
  int wstatus = 0;
  std::optional<Clock::time_point> drain_until;
  auto drain = [](int fd, std::string& to, bool* eof) {
    char buf[65536];
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      to.append(buf, static_cast<size_t>(n));
    } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
      *eof = true;
    }
  };
  while (true) {
    if (!exited && ::waitpid(pid, &wstatus, WNOHANG) == pid) {
      exited = true;
      // A grandchild (the daemon) holds the pipes until it detaches: read what is there.
      drain_until = Clock::now() + std::chrono::seconds(2);
    }
    if (out_eof && err_eof && exited) break;
    if (drain_until && Clock::now() > *drain_until) break;
    if (!exited && Clock::now() > deadline) {
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
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
    if (::poll(fds, nfds, 50) <= 0) continue;
    for (nfds_t i = 0; i < nfds; ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == out_fd.get()) drain(out_fd.get(), result.out, &out_eof);
      if (fds[i].fd == err_fd.get()) drain(err_fd.get(), result.err, &err_eof);
    }
  }
  if (WIFEXITED(wstatus)) {
    result.status = WEXITSTATUS(wstatus);
  } else if (WIFSIGNALED(wstatus)) {
    result.status = 128 + WTERMSIG(wstatus);
  }
  return result;
}

std::string ErrName(int err) {
  if (err == 0) return "0";
  const char* name = strerrorname_np(err);
  return name != nullptr ? name : std::to_string(err);
}

void PrintTo(const Sys& s, std::ostream* os) {
  *os << "rc=" << s.rc << " errno=" << ErrName(s.err);
  if (!s.data.empty()) *os << " data=\"" << s.data.substr(0, 200) << "\"";
}

Sys AsUser(const TestUser& user, const std::function<Sys()>& fn, int timeout_s) {
  Sys failed;
  failed.err = EIO;
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe: " << std::strerror(errno);
    return failed;
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    ADD_FAILURE() << "fork: " << std::strerror(errno);
    ::close(p[0]);
    ::close(p[1]);
    return failed;
  }
  if (pid == 0) {
    ::close(p[0]);
    if (!DropTo(user)) ::_exit(126);
    ::umask(0);
    Sys s = fn();
    int64_t head[3] = {s.rc, s.err, static_cast<int64_t>(s.data.size())};
    bool ok = WriteAllFd(p[1], head, sizeof head) && WriteAllFd(p[1], s.data.data(), s.data.size());
    ::_exit(ok ? 0 : 125);
  }
  ::close(p[1]);
  UniqueFd in(p[0]);
  std::string got;
  const auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
  bool timed_out = false;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    struct pollfd pfd = {in.get(), POLLIN, 0};
    int r = ::poll(&pfd, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (r <= 0) continue;
    char buf[65536];
    ssize_t n = ::read(in.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  if (timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (timed_out) {
    ADD_FAILURE() << "a child running as " << user.name << " did not finish within " << timeout_s
                  << " s";
    failed.err = ETIMEDOUT;
    return failed;
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || got.size() < 3 * sizeof(int64_t)) {
    ADD_FAILURE() << "the child running as " << user.name << " failed (status 0x" << std::hex
                  << status << std::dec << ")";
    return failed;
  }
  int64_t head[3];
  std::memcpy(head, got.data(), sizeof head);
  Sys s;
  s.rc = static_cast<long>(head[0]);
  s.err = static_cast<int>(head[1]);
  s.data = got.substr(sizeof head, static_cast<size_t>(head[2]));
  return s;
}

namespace {
Sys Outcome(long rc) {
  Sys s;
  s.rc = rc;
  s.err = rc < 0 ? errno : 0;
  return s;
}
}  // namespace

Sys StatAs(const TestUser& u, const std::string& path) {
  return AsUser(u, [&] {
    struct stat st;
    return Outcome(::lstat(path.c_str(), &st));
  });
}

Sys OpenAs(const TestUser& u, const std::string& path, int flags, mode_t mode) {
  return AsUser(u, [&] {
    int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
    Sys s = Outcome(fd);
    if (fd >= 0) {
      ::close(fd);
      s.rc = 0;
    }
    return s;
  });
}

Sys ReadAs(const TestUser& u, const std::string& path) {
  return AsUser(u, [&] {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Outcome(-1);
    Sys s;
    char buf[65536];
    while (true) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        s = Outcome(-1);
        break;
      }
      if (n == 0) {
        s.rc = static_cast<long>(s.data.size());
        break;
      }
      s.data.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return s;
  });
}

Sys WriteAs(const TestUser& u, const std::string& path, const std::string& data, int flags) {
  return AsUser(u, [&] {
    int fd = ::open(path.c_str(), flags | O_CLOEXEC, 0666);
    if (fd < 0) return Outcome(-1);
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::write(fd, data.data() + done, data.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        Sys s = Outcome(-1);
        ::close(fd);
        return s;
      }
      done += static_cast<size_t>(n);
    }
    Sys s = Outcome(::close(fd));
    if (s.rc == 0) s.rc = static_cast<long>(done);
    return s;
  });
}

Sys ListAs(const TestUser& u, const std::string& dir) {
  return AsUser(u, [&] {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return Outcome(-1);
    std::vector<std::string> names;
    errno = 0;
    while (struct dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") names.push_back(n);
    }
    Sys s = Outcome(errno != 0 ? -1 : 0);
    ::closedir(d);
    std::sort(names.begin(), names.end());
    for (const std::string& n : names) s.data += n + "\n";
    if (s.rc == 0) s.rc = static_cast<long>(names.size());
    return s;
  });
}

Sys MkdirAs(const TestUser& u, const std::string& path, mode_t mode) {
  return AsUser(u, [&] { return Outcome(::mkdir(path.c_str(), mode)); });
}

Sys UnlinkAs(const TestUser& u, const std::string& path) {
  return AsUser(u, [&] { return Outcome(::unlink(path.c_str())); });
}

Sys RmdirAs(const TestUser& u, const std::string& path) {
  return AsUser(u, [&] { return Outcome(::rmdir(path.c_str())); });
}

Sys RenameAs(const TestUser& u, const std::string& from, const std::string& to) {
  return AsUser(u, [&] { return Outcome(::rename(from.c_str(), to.c_str())); });
}

Sys TruncateAs(const TestUser& u, const std::string& path, off_t size) {
  return AsUser(u, [&] { return Outcome(::truncate(path.c_str(), size)); });
}

// ---- audit events ----------------------------------------------------------------

std::optional<AuditMsg> ParseRfc5424(const std::string& text) {
  AuditMsg m;
  m.raw = text;
  size_t pos = 0;
  if (text.empty() || text[0] != '<') return std::nullopt;
  const size_t gt = text.find('>');
  if (gt == std::string::npos || gt < 2 || gt > 4) return std::nullopt;
  m.pri = std::atoi(text.substr(1, gt - 1).c_str());
  pos = gt + 1;
  auto token = [&](std::string* out) {
    const size_t sp = text.find(' ', pos);
    if (sp == std::string::npos) return false;
    *out = text.substr(pos, sp - pos);
    pos = sp + 1;
    return true;
  };
  std::string version;
  if (!token(&version) || version != "1") return std::nullopt;
  if (!token(&m.timestamp) || !token(&m.host) || !token(&m.app) || !token(&m.procid) ||
      !token(&m.msgid)) {
    return std::nullopt;
  }
  if (pos < text.size() && text[pos] == '-') {
    pos += 1;
  } else {
    while (pos < text.size() && text[pos] == '[') {
      ++pos;
      const size_t id_end = text.find_first_of(" ]", pos);
      if (id_end == std::string::npos) return std::nullopt;
      const std::string id = text.substr(pos, id_end - pos);
      pos = id_end;
      while (pos < text.size() && text[pos] == ' ') {
        ++pos;
        const size_t eq = text.find('=', pos);
        if (eq == std::string::npos || eq + 1 >= text.size() || text[eq + 1] != '"') {
          return std::nullopt;
        }
        const std::string key = text.substr(pos, eq - pos);
        pos = eq + 2;
        std::string value;
        bool closed = false;
        while (pos < text.size()) {
          const char c = text[pos++];
          if (c == '\\' && pos < text.size() &&
              (text[pos] == '"' || text[pos] == '\\' || text[pos] == ']')) {
            value.push_back(text[pos++]);
          } else if (c == '"') {
            closed = true;
            break;
          } else {
            value.push_back(c);
          }
        }
        if (!closed) return std::nullopt;
        if (id == "matterfs@32473") m.sd[key] = value;
      }
      if (pos >= text.size() || text[pos] != ']') return std::nullopt;
      ++pos;
    }
  }
  if (pos < text.size() && text[pos] == ' ') m.msg = text.substr(pos + 1);
  return m;
}

bool EventQuery::Matches(const AuditMsg& m) const {
  if (!event.empty() && m.msgid != event) return false;
  if (!result.empty() && m.Field("result") != result) return false;
  if (!user.empty() && m.Field("user") != user) return false;
  if (!matter.empty() && m.Field("matter") != matter) return false;
  if (!access.empty() && m.Field("access") != access) return false;
  if (!path.empty() && m.Field("path") != path) return false;
  if (!rule_has.empty() && m.Field("rule").find(rule_has) == std::string::npos) return false;
  if (severity >= 0 && m.severity() != severity) return false;
  return true;
}

void PrintTo(const EventQuery& q, std::ostream* os) {
  *os << "{";
  auto f = [&](const char* k, const std::string& v) {
    if (!v.empty()) *os << " " << k << "=\"" << v << "\"";
  };
  f("event", q.event);
  f("result", q.result);
  f("user", q.user);
  f("matter", q.matter);
  f("access", q.access);
  f("path", q.path);
  f("rule contains", q.rule_has);
  if (q.severity >= 0) *os << " severity=" << q.severity;
  *os << " }";
}

EventReceiver::EventReceiver(std::string path) : path_(std::move(path)) {
  fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return;
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (path_.size() >= sizeof addr.sun_path) {
    ::close(fd_);
    fd_ = -1;
    return;
  }
  std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
  ::unlink(path_.c_str());
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd_);
    fd_ = -1;
    return;
  }
  int size = 4 << 20;
  (void)::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  thread_ = std::thread([this] { Loop(); });
}

EventReceiver::~EventReceiver() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) ::close(fd_);
  ::unlink(path_.c_str());
}

void EventReceiver::Loop() {
  std::vector<char> buf(1 << 17);
  while (!stop_) {
    if (paused_) {
      std::this_thread::sleep_for(10ms);
      continue;
    }
    struct pollfd p = {fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    ssize_t n = ::recv(fd_, buf.data(), buf.size(), MSG_DONTWAIT);
    if (n <= 0) continue;
    auto m = ParseRfc5424(std::string(buf.data(), static_cast<size_t>(n)));
    if (!m) {
      ++unparsed_;
      m = AuditMsg{};
      m->raw = std::string(buf.data(), static_cast<size_t>(n));
    }
    {
      std::lock_guard<std::mutex> g(mu_);
      msgs_.push_back(std::move(*m));
    }
    cv_.notify_all();
  }
}

size_t EventReceiver::Mark() {
  std::lock_guard<std::mutex> g(mu_);
  return msgs_.size();
}

std::optional<AuditMsg> EventReceiver::Wait(const EventQuery& q, size_t from,
                                            std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::unique_lock<std::mutex> lock(mu_);
  size_t seen = from;
  while (true) {
    for (; seen < msgs_.size(); ++seen) {
      if (q.Matches(msgs_[seen])) return msgs_[seen];
    }
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
      for (; seen < msgs_.size(); ++seen) {
        if (q.Matches(msgs_[seen])) return msgs_[seen];
      }
      return std::nullopt;
    }
  }
}

std::vector<AuditMsg> EventReceiver::All(const EventQuery& q, size_t from) {
  std::lock_guard<std::mutex> g(mu_);
  std::vector<AuditMsg> out;
  for (size_t i = from; i < msgs_.size(); ++i) {
    if (q.Matches(msgs_[i])) out.push_back(msgs_[i]);
  }
  return out;
}

std::string EventReceiver::Tail(size_t n) {
  std::lock_guard<std::mutex> g(mu_);
  std::string out;
  const size_t start = msgs_.size() > n ? msgs_.size() - n : 0;
  for (size_t i = start; i < msgs_.size(); ++i) {
    out += "  #" + std::to_string(i) + " " + msgs_[i].raw + "\n";
  }
  if (out.empty()) out = "  (no events at all)\n";
  return out;
}

// ---- the standard policy ----------------------------------------------------------

// Who may do what (the tests rely on every line):
//   mfs-t-alice  partners (via @mfs-t-litp): read acme (role containing a group), admin
//                of every matter ([matter *]), may create matters
//   mfs-t-bob    associates: read acme/globex/initech (role), write them (user)
//   mfs-t-carol  associates and risk, admin of acme, but walled off acme
//   mfs-t-dave   risk: may break glass, granted nothing
//   mfs-t-erin   @mfs-t-para: read acme, globex, initech (group)
//   mfs-t-frank  nothing; mfs-t-hugo nothing
//   mfs-t-gina   read acme until 2020-06-30 (expired)
//   mfs-t-clerk  write on every matter (writes the test files)
//   root         nothing
std::string StandardPolicy(const PolicyOptions& o) {
  std::string p;
  p += "; policy_mount_test: the standard test policy\n";
  p += "[policy]\n";
  p += std::string("hide_denied     = ") + (o.hide_denied ? "yes" : "no") + "\n";
  p += "create_matters  = " + o.create_matters + "\n";
  p += "break_glass     = risk\n";
  p += "break_glass_max = 1h\n";
  p += o.policy_extra;
  if (o.policy_extra.find("bulk_threshold") == std::string::npos) {
    p += "bulk_threshold  = off\n";
  }
  p += "\n[role partners]\nmembers = @mfs-t-litp\n";
  p += "\n[role associates]\nmembers = mfs-t-bob, mfs-t-carol\n";
  p += "\n[role risk]\nmembers = mfs-t-dave, mfs-t-carol\n";
  p += "\n[matter *]\nwrite = mfs-t-clerk\nadmin = partners\n";
  p += "\n[matter acme]\n";
  p += "read  = associates, @mfs-t-para, partners, mfs-t-gina until=2020-06-30\n";
  p += "write = mfs-t-bob\n";
  p += "admin = mfs-t-carol\n";
  p += "deny  = mfs-t-carol   ; ethical wall\n";
  p += "\n[matter globex]\nread  = associates, @mfs-t-para\nwrite = mfs-t-bob\n";
  p += "\n[matter initech]\nread  = associates, @mfs-t-para\nwrite = mfs-t-bob\n";
  p += o.sections_extra;
  return p;
}

// ---- the fixture ------------------------------------------------------------------

void PolicyMountTest::SetUp() {
  ASSERT_NO_FATAL_FAILURE(EnsureTestUsers());
  alice_ = User(kAlice);
  bob_ = User(kBob);
  carol_ = User(kCarol);
  dave_ = User(kDave);
  erin_ = User(kErin);
  frank_ = User(kFrank);
  gina_ = User(kGina);
  hugo_ = User(kHugo);
  clerk_ = User(kClerk);
  root_ = User("root");
  ASSERT_FALSE(HasFailure());

  // The daemon detaches from `matterfs` (its parent exits once the mount is up): as a
  // subreaper we inherit and reap it, so that "the daemon has exited" is observable.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  std::string tmpl = "/tmp/mfs-pm.XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr) << std::strerror(errno);
  dir_ = tmpl;
  ASSERT_EQ(::chmod(dir_.c_str(), 0755), 0);  // the test users must reach the mount
  vault_ = dir_ + "/vault";
  mnt_ = dir_ + "/mnt";
  pass_ = dir_ + "/pass";
  policy_path_ = dir_ + "/policy.ini";
  control_ = dir_ + "/ctl/ctl.sock";
  ASSERT_EQ(::mkdir(mnt_.c_str(), 0755), 0);
  ASSERT_TRUE(WriteWhole(pass_, kPassphrase, 0600));
  receiver_ = std::make_unique<EventReceiver>(dir_ + "/audit.sock");
  ASSERT_TRUE(receiver_->ok()) << "cannot bind the event receiver: " << std::strerror(errno);

  CmdResult init = RunCommand({MatterctlPath(), "init", vault_, "--passphrase-file", pass_,
                               "--kdf-memory", "8", "--kdf-ops", "1"});
  ASSERT_EQ(init.status, 0) << ::testing::PrintToString(init);
  for (const std::string& m : Matters()) {
    CmdResult made = Matterctl({"matter", "create", vault_, m, "--passphrase-file", pass_});
    ASSERT_EQ(made.status, 0) << ::testing::PrintToString(made);
  }
  const std::string policy = Policy();
  if (!policy.empty()) {
    ASSERT_TRUE(WriteWhole(policy_path_, policy, 0644));
  }
  StartWatchdog();
  if (MountAtStart()) {
    ASSERT_NO_FATAL_FAILURE(Mount());
    if (SeedAtStart()) {
      ASSERT_NO_FATAL_FAILURE(Seed());
    }
  }
}

void PolicyMountTest::TearDown() {
  Unmount();
  // A daemon that a failed test left behind (e.g. from RunMatterfs).
  for (pid_t pid : DaemonsFor(mnt_)) {
    ADD_FAILURE() << "a matterfs daemon (pid " << pid << ") for " << mnt_ << " is still running";
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
  StopWatchdog();
  receiver_.reset();
  if (!dir_.empty() && !IsMountPoint(mnt_)) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

std::vector<std::string> PolicyMountTest::DaemonArgs() const {
  std::vector<std::string> args = {"--passphrase-file", pass_};
  if (!Policy().empty()) args.insert(args.end(), {"--policy", policy_path_});
  args.insert(args.end(), {"--syslog-socket", SyslogSocket(), "--control-socket", control_, "-o",
                           "allow_other"});
  for (const std::string& a : ExtraArgs()) args.push_back(a);
  return args;
}

CmdResult PolicyMountTest::RunMatterfs(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {MatterfsPath(), vault_, mnt_};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, nullptr, 60);
}

void PolicyMountTest::Mount() {
  CmdResult r = RunMatterfs(DaemonArgs());
  ASSERT_EQ(r.status, 0) << "matterfs did not mount: " << ::testing::PrintToString(r);
  ASSERT_TRUE(IsMountPoint(mnt_)) << "matterfs exited 0 but " << mnt_ << " is not a mount";
  mounted_ = true;
  std::vector<pid_t> found = DaemonsFor(mnt_);
  EXPECT_EQ(found.size(), 1u) << "cannot find the one matterfs daemon for " << mnt_;
  std::lock_guard<std::mutex> g(mu_);
  daemon_pid_ = found.empty() ? -1 : found[0];
}

void PolicyMountTest::Unmount() {
  if (mnt_.empty()) return;
  if (IsMountPoint(mnt_)) {
    CmdResult r;
    for (int attempt = 0; attempt < 20; ++attempt) {
      r = RunCommand({"fusermount3", "-u", mnt_}, nullptr, 30);
      if (r.status == 0 || !IsMountPoint(mnt_)) break;
      ::usleep(100000);  // e.g. a child of the test still closing its files
    }
    if (IsMountPoint(mnt_)) {
      ADD_FAILURE() << "fusermount3 -u " << mnt_ << " failed: " << r.err << "; trying umount -l";
      RunCommand({"umount", "-l", mnt_}, nullptr, 30);
    }
  }
  mounted_ = false;
  pid_t pid;
  {
    std::lock_guard<std::mutex> g(mu_);
    pid = daemon_pid_;
    daemon_pid_ = -1;
  }
  if (pid <= 0) return;
  // The control socket may be reused only once the daemon has gone.
  const auto deadline = Clock::now() + 10s;
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

pid_t PolicyMountTest::daemon_pid() {
  std::lock_guard<std::mutex> g(mu_);
  return daemon_pid_;
}

void PolicyMountTest::Seed() {
  auto has = [&](const char* m) {
    auto ms = Matters();
    return std::find(ms.begin(), ms.end(), m) != ms.end();
  };
  auto write = [&](const std::string& rel, const std::string& data) {
    Sys s = WriteAs(clerk_, M(rel), data);
    ASSERT_EQ(s.rc, static_cast<long>(data.size()))
        << "seeding " << rel << ": " << ::testing::PrintToString(s);
    // Explicitly 0666, so that the kernel's mode check (default_permissions) lets every
    // user through and only the policy decides: the daemon applies its own umask to new
    // files (see CreatedFilesKeepTheRequestedMode).
    const std::string path = M(rel);
    Sys c = AsUser(clerk_, [&] {
      Sys out;
      out.rc = ::chmod(path.c_str(), 0666);
      out.err = out.rc < 0 ? errno : 0;
      return out;
    });
    ASSERT_EQ(c.rc, 0) << "chmod " << rel << ": " << ::testing::PrintToString(c);
  };
  auto mkdir = [&](const std::string& rel) {
    Sys s = MkdirAs(clerk_, M(rel));
    ASSERT_EQ(s.rc, 0) << "seeding " << rel << ": " << ::testing::PrintToString(s);
  };
  if (has("acme")) {
    ASSERT_NO_FATAL_FAILURE(write("acme/brief.txt", "acme brief v1\n"));
    ASSERT_NO_FATAL_FAILURE(mkdir("acme/docs"));
    ASSERT_NO_FATAL_FAILURE(write("acme/docs/memo.txt", "acme memo\n"));
  }
  if (has("globex")) {
    ASSERT_NO_FATAL_FAILURE(write("globex/deal.txt", "globex deal\n"));
  }
  if (has("initech")) {
    ASSERT_NO_FATAL_FAILURE(write("initech/patent.txt", "initech patent claims\n"));
    ASSERT_NO_FATAL_FAILURE(write("initech/notes.txt", "initech notes\n"));
    ASSERT_NO_FATAL_FAILURE(mkdir("initech/empty"));
  }
}

CmdResult PolicyMountTest::Matterctl(const std::vector<std::string>& args, const TestUser* user) {
  std::vector<std::string> argv = {MatterctlPath()};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, user, 60);
}

std::optional<AuditMsg> PolicyMountTest::ExpectEvent(const EventQuery& q, size_t from,
                                                     std::chrono::milliseconds timeout) {
  auto m = receiver_->Wait(q, from, timeout);
  if (!m) {
    ADD_FAILURE() << "no audit event " << ::testing::PrintToString(q) << " arrived (from #" << from
                  << "); the last events received:\n"
                  << receiver_->Tail();
  }
  return m;
}

void PolicyMountTest::ReplacePolicy(const std::string& text) {
  const std::string tmp = policy_path_ + ".new";
  ASSERT_TRUE(WriteWhole(tmp, text, 0644));
  ASSERT_EQ(::rename(tmp.c_str(), policy_path_.c_str()), 0) << std::strerror(errno);
}

void PolicyMountTest::StartWatchdog() {
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

void PolicyMountTest::StopWatchdog() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (watchdog_.joinable()) watchdog_.join();
}

bool RunKnownBugs() {
  const char* v = std::getenv("MATTERFS_TEST_KNOWN_BUGS");
  return v != nullptr && std::string(v) == "run";
}

}  // namespace matterfs::policy_mount_test
