// Hostile and malformed requests on the daemon's control socket (issue 4, point 6): each
// gets an error reply or a closed connection, and the daemon keeps serving both the mount
// and the socket. The caller is identified by SO_PEERCRED, never by the request.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "tests/policy_mount/policy_mount_fixture.h"

namespace matterfs::policy_mount_test {
namespace {

using Clock = std::chrono::steady_clock;

enum class After { kShutdownWrite, kKeepOpen, kCloseAtOnce };

// Connects to `path`, sends `bytes` (what the socket takes: the daemon may stop reading),
// then shuts down the write side or not, and reads the reply until EOF or `timeout`.
// rc = 0 and data = the reply, or rc = -1 and err = the connect error.
Sys Exchange(const std::string& path, const std::string& bytes, After after,
             std::chrono::milliseconds timeout = 4000ms) {
  Sys s;
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    s.err = errno;
    return s;
  }
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), std::min(path.size() + 1, sizeof addr.sun_path - 1));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    s.err = errno;
    ::close(fd);
    return s;
  }
  size_t sent = 0;
  const auto send_deadline = Clock::now() + 3s;
  while (sent < bytes.size() && Clock::now() < send_deadline) {
    const ssize_t n =
        ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      struct pollfd p = {fd, POLLOUT, 0};
      ::poll(&p, 1, 50);
    } else {
      break;  // the daemon closed: it answered already (read below) or hung up
    }
  }
  if (after == After::kCloseAtOnce) {
    ::close(fd);
    s.rc = 0;
    return s;
  }
  if (after == After::kShutdownWrite) ::shutdown(fd, SHUT_WR);
  s.rc = 0;
  const auto deadline = Clock::now() + timeout;
  char buf[4096];
  while (Clock::now() < deadline) {
    struct pollfd p = {fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;  // EOF, or ECONNRESET after the daemon's early close
    s.data.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return s;
}

bool IsErrorReply(const std::string& reply) { return reply.rfind("ERR ", 0) == 0; }

class ControlSocketTest : public PolicyMountTest {
 protected:
  // The daemon still serves the mount and the control socket.
  void ExpectServing(const std::string& after) {
    SCOPED_TRACE("after " + after);
    ASSERT_GT(daemon_pid(), 0);
    EXPECT_EQ(::kill(daemon_pid(), 0), 0) << "the daemon is gone";
    EXPECT_EQ(StatAs(alice_, M("acme")).rc, 0) << "the mount no longer serves";
    Sys ok = Exchange(control_, "MFS1 status\n", After::kKeepOpen);
    EXPECT_EQ(ok.data.rfind("OK\n", 0), 0u) << "the control socket no longer serves: " << ok.data;
  }
};

TEST_F(ControlSocketTest, MalformedRequestsGetAnErrorAndTheDaemonKeepsServing) {
  struct Case {
    const char* what;
    std::string bytes;
    After after;
    bool must_reply;  // an ERR reply is required (else ERR or a closed connection)
  };
  const std::vector<Case> cases = {
      {"garbage line", "hello daemon\n", After::kKeepOpen, true},
      {"unknown command", "MFS1 frobnicate\n", After::kKeepOpen, true},
      {"another protocol version", "MFS2 status\n", After::kKeepOpen, true},
      {"magic without command", "MFS1\n", After::kKeepOpen, true},
      {"empty line", "\n", After::kKeepOpen, true},
      {"binary bytes", std::string("\x00\x01\xff\xfe MFS1 \x7f\n", 12), After::kKeepOpen, true},
      {"bad character in command", "MFS1 sta\x01tus\n", After::kKeepOpen, true},
      {"bad percent escape", "MFS1 break-glass matter=%zz reason=x duration=1s\n", After::kKeepOpen,
       true},
      {"key without value", "MFS1 status verbose\n", After::kKeepOpen, false},
      {"huge duration", "MFS1 break-glass matter=acme reason=x duration=99999999999999999d\n",
       After::kKeepOpen, true},
      {"bad verb", "MFS1 matter-status matter=acme verb=explode\n", After::kKeepOpen, true},
      {"path as matter", "MFS1 matter-status matter=..%2F..%2Fetc verb=close\n", After::kKeepOpen,
       true},
      {"nul in a value", "MFS1 break-glass matter=ac%00me reason=x duration=1m\n", After::kKeepOpen,
       true},
      {"no newline, then end of input", "MFS1 status", After::kShutdownWrite, true},
      {"over-long line", std::string(10000, 'A') + "\n", After::kKeepOpen, false},
      {"over-long line without newline", "MFS1 status " + std::string(1 << 20, 'x'),
       After::kShutdownWrite, false},
      {"no newline, then close", "MFS1 stat", After::kCloseAtOnce, false},
      {"nothing, then close", "", After::kCloseAtOnce, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    Sys r = Exchange(control_, c.bytes, c.after);
    ASSERT_EQ(r.rc, 0) << "connect: " << ErrName(r.err);
    if (c.after != After::kCloseAtOnce) {
      if (c.must_reply) {
        EXPECT_TRUE(IsErrorReply(r.data)) << "reply: \"" << r.data << "\"";
      } else {
        EXPECT_TRUE(r.data.empty() || IsErrorReply(r.data) || r.data.rfind("OK\n", 0) == 0)
            << "reply: \"" << r.data << "\"";
      }
    }
    ASSERT_NO_FATAL_FAILURE(ExpectServing(c.what));
  }
  const std::string unknown = Exchange(control_, "MFS1 frobnicate\n", After::kKeepOpen).data;
  EXPECT_EQ(unknown.rfind("ERR EINVAL ", 0), 0u) << unknown;
  EXPECT_NE(unknown.find("frobnicate"), std::string::npos) << unknown;
}

TEST_F(ControlSocketTest, SilentClientTimesOutAndDoesNotStallTheDaemon) {
  // Connect and send nothing: the daemon gives up after its read timeout (2 s).
  const auto start = Clock::now();
  Sys r = Exchange(control_, "", After::kKeepOpen, 8000ms);
  ASSERT_EQ(r.rc, 0) << ErrName(r.err);
  EXPECT_LT(Clock::now() - start, 6s) << "the daemon kept a silent connection open";
  EXPECT_TRUE(r.data.empty() || IsErrorReply(r.data)) << r.data;
  ASSERT_NO_FATAL_FAILURE(ExpectServing("a silent client"));
  // Meanwhile the mount itself never depended on the control socket.
  EXPECT_EQ(ReadAs(bob_, M("acme/brief.txt")).data, "acme brief v1\n");
}

TEST_F(ControlSocketTest, ManyBadConnectionsInARow) {
  for (int i = 0; i < 100; ++i) {
    Sys r = Exchange(control_, i % 2 == 0 ? "junk\n" : "MFS1 \n", After::kKeepOpen);
    ASSERT_EQ(r.rc, 0) << "connection " << i << ": " << ErrName(r.err);
    ASSERT_TRUE(IsErrorReply(r.data)) << "connection " << i << ": " << r.data;
  }
  ASSERT_NO_FATAL_FAILURE(ExpectServing("100 bad connections"));
  CmdResult status = Matterctl({"status", mnt_, "--control-socket", control_}, &alice_);
  EXPECT_EQ(status.status, 0) << ::testing::PrintToString(status);
  EXPECT_NE(status.out.find("acme"), std::string::npos) << status.out;
}

TEST_F(ControlSocketTest, CallerIsTheSocketPeerNotTheRequest) {
  // frank asks for a reload and for alice's admin action, naming alice in the request:
  // the daemon goes by SO_PEERCRED.
  const size_t mark = receiver_->Mark();
  const std::string path = control_;
  Sys reload = AsUser(frank_, [&] { return Exchange(path, "MFS1 reload\n", After::kKeepOpen); });
  EXPECT_EQ(reload.data.rfind("ERR EACCES", 0), 0u) << reload.data;
  Sys close = AsUser(frank_, [&] {
    return Exchange(path, "MFS1 matter-status matter=acme verb=close user=mfs-t-alice uid=0\n",
                    After::kKeepOpen);
  });
  EXPECT_EQ(close.data.rfind("ERR EACCES", 0), 0u) << close.data;
  ExpectEvent({.event = "matter-close", .result = "deny", .user = kFrank, .matter = "acme"}, mark);
  // acme is still open: bob writes.
  EXPECT_EQ(WriteAs(bob_, M("acme/still-open.txt"), "yes").rc, 3);
  ASSERT_NO_FATAL_FAILURE(ExpectServing("requests from frank"));
}

}  // namespace
}  // namespace matterfs::policy_mount_test
