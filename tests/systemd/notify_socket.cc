#include "tests/systemd/notify_socket.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <cerrno>
#include <csignal>
#include <cstring>

namespace matterfs::systemd_test {

void NotifySocket::Bind(const std::string& path) {
  path_ = path;
  socket_ = UniqueFd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(socket_.valid()) << std::strerror(errno);
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  ASSERT_LT(path.size(), sizeof addr.sun_path);
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  ASSERT_EQ(::bind(socket_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0)
      << std::strerror(errno);
  int on = 1;
  ASSERT_EQ(::setsockopt(socket_.get(), SOL_SOCKET, SO_PASSCRED, &on, sizeof on), 0);
}

std::optional<Notification> NotifySocket::Next(int timeout_ms) {
  pollfd p = {socket_.get(), POLLIN, 0};
  if (::poll(&p, 1, timeout_ms) != 1) return std::nullopt;
  char buf[4096];
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred)) + CMSG_SPACE(sizeof(int) * 4)];
  iovec iov = {buf, sizeof buf};
  msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  const ssize_t n = ::recvmsg(socket_.get(), &msg, MSG_CMSG_CLOEXEC);
  if (n < 0) return std::nullopt;
  Notification out;
  out.text.assign(buf, static_cast<size_t>(n));
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET) continue;
    if (c->cmsg_type == SCM_CREDENTIALS) {
      ucred cred;
      std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
      out.sender = cred.pid;
    } else if (c->cmsg_type == SCM_RIGHTS) {
      const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; ++i) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        if (i == 0) {
          out.fd = UniqueFd(fd);
        } else {
          ::close(fd);
        }
      }
    }
  }
  return out;
}

bool HasLine(const std::string& text, const std::string& line) {
  return ("\n" + text + "\n").find("\n" + line + "\n") != std::string::npos;
}

pid_t SpawnService(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                   int fd3) {
  std::vector<std::string> args = argv;
  std::vector<char*> argv_p;
  for (auto& a : args) argv_p.push_back(a.data());
  argv_p.push_back(nullptr);
  std::vector<std::string> envs = env;
  std::vector<char*> env_p;
  for (auto& e : envs) env_p.push_back(e.data());
  env_p.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (fd3 >= 0) posix_spawn_file_actions_adddup2(&actions, fd3, 3);  // dup2 clears CLOEXEC
  pid_t pid = -1;
  const int err = ::posix_spawn(&pid, argv_p[0], &actions, nullptr, argv_p.data(), env_p.data());
  posix_spawn_file_actions_destroy(&actions);
  return err == 0 ? pid : -1;
}

void ServiceTest::SetUp() {
  MountFixture::SetUp();
  if (HasFatalFailure()) return;
  ASSERT_NO_FATAL_FAILURE(notify_.Bind(dir_ + "/notify.sock"));
}

void ServiceTest::TearDown() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  MountFixture::TearDown();
}

}  // namespace matterfs::systemd_test
