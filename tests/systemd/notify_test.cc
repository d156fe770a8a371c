// The daemon under systemd's Type=notify, emulated as systemd does it (sd_notify(3)): the
// test binds the $NOTIFY_SOCKET datagram socket, starts the real daemon on a real vault
// with that variable set, and reads what the daemon says: READY=1 (with MAINPID= and
// STATUS=) only once the mount serves files, RELOADING=1 then READY=1 on SIGHUP,
// STOPPING=1 on SIGTERM, after which the mount is gone and the daemon exits 0.
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "tests/mount_support/fixture.h"
#include "util/unique_fd.h"

namespace matterfs::systemd_test {
namespace {

using namespace ::matterfs::mount_support;

class NotifyTest : public MountFixture {
 protected:
  std::vector<std::string> Matters() const override { return {"alpha"}; }
  std::string Policy() const override { return "[matter alpha]\nread = root\nwrite = root\n"; }
  bool MountAtStart() const override { return false; }

  void SetUp() override {
    MountFixture::SetUp();
    if (HasFatalFailure()) return;
    notify_path_ = dir_ + "/notify.sock";
    socket_ = UniqueFd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    ASSERT_TRUE(socket_.valid()) << std::strerror(errno);
    sockaddr_un addr = {};
    addr.sun_family = AF_UNIX;
    ASSERT_LT(notify_path_.size(), sizeof addr.sun_path);
    std::memcpy(addr.sun_path, notify_path_.c_str(), notify_path_.size());
    ASSERT_EQ(::bind(socket_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0)
        << std::strerror(errno);
    // systemd checks the sender (NotifyAccess=main) by SCM_CREDENTIALS: so do we.
    int on = 1;
    ASSERT_EQ(::setsockopt(socket_.get(), SOL_SOCKET, SO_PASSCRED, &on, sizeof on), 0);
  }

  void TearDown() override {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    MountFixture::TearDown();
  }

  // Starts `matterfs VAULT MNT ...` with NOTIFY_SOCKET set and no -f, as the unit does.
  void Start() {
    std::vector<std::string> args = {MatterfsPath(), vault_, mnt_, "--syslog-socket",
                                     SyslogSocket()};
    for (const std::string& a : DaemonArgs()) args.push_back(a);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_s = {"NOTIFY_SOCKET=" + notify_path_, "PATH=/usr/bin:/bin"};
    std::vector<char*> envp;
    for (auto& e : env_s) envp.push_back(e.data());
    envp.push_back(nullptr);
    ASSERT_EQ(::posix_spawn(&pid_, argv[0], nullptr, nullptr, argv.data(), envp.data()), 0);
  }

  // The next datagram within timeout_ms, and the pid that sent it; nullopt on timeout.
  std::optional<std::string> Next(pid_t* sender, int timeout_ms = 20000) {
    pollfd p = {socket_.get(), POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) != 1) return std::nullopt;
    char buf[4096];
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
    iovec iov = {buf, sizeof buf};
    msghdr msg = {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(socket_.get(), &msg, 0);
    if (n < 0) return std::nullopt;
    *sender = -1;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
        ucred cred;
        std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
        *sender = cred.pid;
      }
    }
    return std::string(buf, static_cast<size_t>(n));
  }

  static bool Has(const std::string& message, const std::string& line) {
    return ("\n" + message + "\n").find("\n" + line + "\n") != std::string::npos;
  }

  std::string notify_path_;
  UniqueFd socket_;
  pid_t pid_ = -1;
};

TEST_F(NotifyTest, ReadyOnlyWhenServingReloadingAroundSighupStoppingOnSigterm) {
  ASSERT_NO_FATAL_FAILURE(Start());
  pid_t sender = -1;
  auto ready = Next(&sender);
  ASSERT_TRUE(ready.has_value()) << "no READY=1 within 20 s";
  // The first word is READY=1, and at that moment the mount is up and serves files.
  EXPECT_TRUE(IsMountPoint(mnt_)) << *ready;
  ASSERT_TRUE(WriteFile(mnt_ + "/alpha/brief.txt", "served")) << std::strerror(errno);
  EXPECT_EQ(ReadFile(mnt_ + "/alpha/brief.txt").value_or("(unreadable)"), "served");
  EXPECT_TRUE(Has(*ready, "READY=1")) << *ready;
  EXPECT_TRUE(Has(*ready, "MAINPID=" + std::to_string(pid_))) << *ready;
  EXPECT_TRUE(Has(*ready, "STATUS=serving " + vault_ + " on " + mnt_)) << *ready;
  // The main process itself says it (NotifyAccess=main): it did not fork.
  EXPECT_EQ(sender, pid_);
  EXPECT_EQ(DaemonsFor(mnt_), std::vector<pid_t>{pid_});

  ASSERT_EQ(::kill(pid_, SIGHUP), 0);
  auto reloading = Next(&sender);
  ASSERT_TRUE(reloading.has_value()) << "no RELOADING=1 after SIGHUP";
  EXPECT_TRUE(Has(*reloading, "RELOADING=1")) << *reloading;
  EXPECT_NE(reloading->find("MONOTONIC_USEC="), std::string::npos) << *reloading;
  auto reloaded = Next(&sender);
  ASSERT_TRUE(reloaded.has_value()) << "no READY=1 after the reload";
  EXPECT_TRUE(Has(*reloaded, "READY=1")) << *reloaded;

  ASSERT_EQ(::kill(pid_, SIGTERM), 0);
  auto stopping = Next(&sender);
  ASSERT_TRUE(stopping.has_value()) << "no STOPPING=1 after SIGTERM";
  EXPECT_TRUE(Has(*stopping, "STOPPING=1")) << *stopping;
  int status = -1;
  ASSERT_EQ(::waitpid(pid_, &status, 0), pid_);
  pid_ = -1;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  EXPECT_FALSE(IsMountPoint(mnt_)) << "SIGTERM left the mount behind";
  pid_t none = -1;
  EXPECT_FALSE(Next(&none, 200).has_value()) << "a message after STOPPING=1";
}

}  // namespace
}  // namespace matterfs::systemd_test
