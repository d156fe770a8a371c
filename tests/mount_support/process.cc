#include "tests/mount_support/process.h"

#include <dirent.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "util/unique_fd.h"

#ifndef MATTERFS_TEST_MATTERCTL_BIN
#error "CMake passes MATTERFS_TEST_MATTERCTL_BIN (the path of matterctl)"
#endif
#ifndef MATTERFS_TEST_MATTERFS_BIN
#error "CMake passes MATTERFS_TEST_MATTERFS_BIN (the path of matterfs)"
#endif

namespace matterfs::mount_support {

namespace {

using Clock = std::chrono::steady_clock;

std::string EnvOr(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

// Drops the calling (child) process to the user. Async-signal-safe.
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

// Appends what one read() of fd gives; sets *eof at the end or on a hard error.
void Append(std::string& out, int fd, bool* eof) {
  char buf[65536];
  ssize_t n = ::read(fd, buf, sizeof buf);
  if (n > 0) {
    out.append(buf, static_cast<size_t>(n));
  } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
    *eof = true;
  }
}

}  // namespace

// ---- programs --------------------------------------------------------------------

void PrintTo(const CmdResult& r, std::ostream* os) {
  *os << "exit " << r.status << "\n--- stdout ---\n"
      << r.out.substr(0, 4000) << "\n--- stderr ---\n"
      << r.err.substr(0, 4000);
}

CmdResult RunCommand(const std::vector<std::string>& argv, int timeout_s, const std::string& input,
                     const TestUser* user) {
  CmdResult result;
  int out_pipe[2];
  int err_pipe[2];
  int in_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return result;
  UniqueFd out_fd(out_pipe[0]);
  UniqueFd out_child(out_pipe[1]);
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) return result;
  UniqueFd err_fd(err_pipe[0]);
  UniqueFd err_child(err_pipe[1]);
  if (::pipe2(in_pipe, O_CLOEXEC) != 0) return result;
  UniqueFd in_child(in_pipe[0]);
  UniqueFd in_fd(in_pipe[1]);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const TestUser as = user != nullptr ? *user : TestUser{};

  const pid_t pid = ::fork();
  if (pid < 0) return result;
  if (pid == 0) {
    // Child: only async-signal-safe calls from here on (the test has threads).
    ::setpgid(0, 0);
    ::dup2(in_child.get(), 0);
    ::dup2(out_child.get(), 1);
    ::dup2(err_child.get(), 2);
    ::close_range(3, ~0U, 0);  // no test fd (files on the mount, sockets) leaks into tools
    if (user != nullptr && !DropTo(as)) ::_exit(126);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::setpgid(pid, pid);
  out_child.reset();
  err_child.reset();
  in_child.reset();
  // The input goes in before any output is read: it must fit the pipe (64 KiB).
  WriteAllFd(in_fd.get(), input.data(), input.size());
  in_fd.reset();

  const auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
  bool out_eof = false;
  bool err_eof = false;
  bool exited = false;
  bool killed = false;
  int wstatus = 0;
  std::optional<Clock::time_point> drain_until;
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
    if (::poll(fds, nfds, 50) <= 0) continue;
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
  static const std::string kPath = EnvOr("MATTERFS_TEST_MATTERCTL", MATTERFS_TEST_MATTERCTL_BIN);
  return kPath;
}

const std::string& MatterfsPath() {
  static const std::string kPath = EnvOr("MATTERFS_TEST_MATTERFS", MATTERFS_TEST_MATTERFS_BIN);
  return kPath;
}

CmdResult Matterctl(const std::vector<std::string>& args, const TestUser* user) {
  std::vector<std::string> argv = {MatterctlPath()};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, 60, "", user);
}

std::string ErrName(int err) {
  if (err == 0) return "0";
  const char* name = strerrorname_np(err);
  return name != nullptr ? name : std::to_string(err);
}

// ---- syscalls as another user ------------------------------------------------------

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
  UniqueFd in(p[0]);
  UniqueFd child_out(p[1]);
  const pid_t pid = ::fork();
  if (pid < 0) {
    ADD_FAILURE() << "fork: " << std::strerror(errno);
    return failed;
  }
  if (pid == 0) {
    if (!DropTo(user)) ::_exit(126);
    ::umask(0);
    Sys s = fn();
    int64_t head[3] = {s.rc, s.err, static_cast<int64_t>(s.data.size())};
    bool ok = WriteAllFd(child_out.get(), head, sizeof head) &&
              WriteAllFd(child_out.get(), s.data.data(), s.data.size());
    ::_exit(ok ? 0 : 125);
  }
  child_out.reset();
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

}  // namespace matterfs::mount_support
