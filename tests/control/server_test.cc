#include "fs/control/server.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace matterfs::control {
namespace {

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/mfs-control-XXXXXX";
    ASSERT_NE(nullptr, ::mkdtemp(tmpl));
    dir_ = tmpl;
    path_ = dir_ + "/run/test.sock";
    Status st = server_.Start(path_, [this](const Request& r, const Peer& p) {
      ++calls_;
      last_uid_ = p.uid;
      Response resp;
      if (r.command == "echo") {
        resp.rows.push_back(r.args);
      } else {
        resp.ok = false;
        resp.code = "EINVAL";
        resp.message = "unknown command";
      }
      return resp;
    });
    ASSERT_TRUE(st.ok()) << st.error().message();
  }
  void TearDown() override {
    server_.Stop();
    std::string cmd = "rm -rf " + dir_;
    ASSERT_EQ(0, std::system(cmd.c_str()));
  }

  // Sends raw bytes (optionally without closing the write side) and returns the answer.
  std::string Raw(const std::string& bytes, bool shut = true) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr = {};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
    EXPECT_EQ(0, ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr));
    (void)!::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (shut) ::shutdown(fd, SHUT_WR);
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<size_t>(n));
    ::close(fd);
    return out;
  }

  std::string dir_, path_;
  ControlServer server_;
  int calls_ = 0;
  uid_t last_uid_ = 12345;
};

TEST_F(ServerTest, AnswersAndIdentifiesThePeerByKernelCredentials) {
  auto r = Call(path_, {"echo", {{"x", "1 2"}, {"uid", "0"}}});
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_TRUE(r->ok);
  ASSERT_EQ(1u, r->rows.size());
  EXPECT_EQ("1 2", r->rows[0]["x"]);
  EXPECT_EQ(::getuid(), last_uid_);  // from SO_PEERCRED, not from the request's "uid"
}

TEST_F(ServerTest, HostileRequestsGetAnErrorAndTheServerKeepsServing) {
  EXPECT_EQ(0u, Raw("garbage\n").find("ERR EINVAL"));
  EXPECT_EQ(0u, Raw(std::string(10000, 'A')).find("ERR EINVAL"));
  EXPECT_EQ(0u, Raw("MFS1 echo\0x=1\n", true).find("ERR"));
  EXPECT_EQ(0u, Raw("MFS1 echo x=1").find("ERR EINVAL"));  // closed before a newline
  EXPECT_EQ(0u, Raw(std::string("\xff\xfe\x00\x01\n", 5)).find("ERR EINVAL"));
  EXPECT_EQ(0u, Raw("MFS1 nosuch\n").find("ERR EINVAL"));
  EXPECT_EQ(0, calls_ - 1);  // only "nosuch" reached the handler
  // A client that connects and says nothing is dropped after the timeout...
  std::string silent = Raw("", false);
  EXPECT_EQ(0u, silent.find("ERR ETIMEDOUT"));
  // ...and the server still answers.
  auto r = Call(path_, {"echo", {{"still", "here"}}});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->ok);
}

TEST_F(ServerTest, ASecondServerOnTheSameSocketIsRefused) {
  ControlServer second;
  Status st = second.Start(path_, [](const Request&, const Peer&) { return Response{}; });
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(Code::kExists, st.error().code());
}

TEST(ServerStaleTest, AStaleSocketFileIsReplaced) {
  char tmpl[] = "/tmp/mfs-control-XXXXXX";
  ASSERT_NE(nullptr, ::mkdtemp(tmpl));
  const std::string path = std::string(tmpl) + "/stale.sock";
  {
    ControlServer first;
    ASSERT_TRUE(first.Start(path, [](const Request&, const Peer&) { return Response{}; }).ok());
    // Simulate a crash: the socket file stays, nobody listens.
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr = {};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    first.Stop();
    ASSERT_EQ(0, ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr));
    ::close(fd);
  }
  ControlServer second;
  Status st = second.Start(path, [](const Request&, const Peer&) { return Response{}; });
  EXPECT_TRUE(st.ok()) << st.error().message();
  second.Stop();
  std::string cmd = std::string("rm -rf ") + tmpl;
  ASSERT_EQ(0, std::system(cmd.c_str()));
}

}  // namespace
}  // namespace matterfs::control
