// The daemon under systemd's Type=notify, emulated as systemd does it (sd_notify(3)): the
// test binds the $NOTIFY_SOCKET datagram socket, starts the real daemon on a real vault
// with that variable set, and reads what the daemon says: READY=1 (with MAINPID= and
// STATUS=) only once the mount serves files, RELOADING=1 then READY=1 on SIGHUP,
// STOPPING=1 on SIGTERM, after which the mount is gone and the daemon exits 0.
#include <signal.h>
#include <sys/wait.h>

#include <cstring>
#include <string>
#include <vector>

#include "tests/systemd/notify_socket.h"

namespace matterfs::systemd_test {
namespace {

using namespace ::matterfs::mount_support;

class NotifyTest : public ServiceTest {
 protected:
  std::string Policy() const override { return "[matter alpha]\nread = root\nwrite = root\n"; }
};

TEST_F(NotifyTest, ReadyOnlyWhenServingReloadingAroundSighupStoppingOnSigterm) {
  // As the unit starts it: NOTIFY_SOCKET set, no -f.
  std::vector<std::string> argv = {MatterfsPath(), vault_, mnt_, "--syslog-socket", SyslogSocket()};
  for (const std::string& a : DaemonArgs()) argv.push_back(a);
  pid_ = SpawnService(argv, {"NOTIFY_SOCKET=" + notify_.path(), "PATH=/usr/bin:/bin"});
  ASSERT_GT(pid_, 0);

  auto ready = notify_.Next();
  ASSERT_TRUE(ready.has_value()) << "no READY=1 within 20 s";
  // The first word is READY=1, and at that moment the mount is up and serves files.
  EXPECT_TRUE(IsMountPoint(mnt_)) << ready->text;
  ASSERT_TRUE(WriteFile(mnt_ + "/alpha/brief.txt", "served")) << std::strerror(errno);
  EXPECT_EQ(ReadFile(mnt_ + "/alpha/brief.txt").value_or("(unreadable)"), "served");
  EXPECT_TRUE(HasLine(ready->text, "READY=1")) << ready->text;
  EXPECT_TRUE(HasLine(ready->text, "MAINPID=" + std::to_string(pid_))) << ready->text;
  EXPECT_TRUE(HasLine(ready->text, "STATUS=serving " + vault_ + " on " + mnt_)) << ready->text;
  // The main process itself says it (NotifyAccess=main): it did not fork.
  EXPECT_EQ(ready->sender, pid_);
  EXPECT_EQ(DaemonsFor(mnt_), std::vector<pid_t>{pid_});

  ASSERT_EQ(::kill(pid_, SIGHUP), 0);
  auto reloading = notify_.Next();
  ASSERT_TRUE(reloading.has_value()) << "no RELOADING=1 after SIGHUP";
  EXPECT_TRUE(HasLine(reloading->text, "RELOADING=1")) << reloading->text;
  EXPECT_NE(reloading->text.find("MONOTONIC_USEC="), std::string::npos) << reloading->text;
  auto reloaded = notify_.Next();
  ASSERT_TRUE(reloaded.has_value()) << "no READY=1 after the reload";
  EXPECT_TRUE(HasLine(reloaded->text, "READY=1")) << reloaded->text;

  ASSERT_EQ(::kill(pid_, SIGTERM), 0);
  auto stopping = notify_.Next();
  ASSERT_TRUE(stopping.has_value()) << "no STOPPING=1 after SIGTERM";
  EXPECT_TRUE(HasLine(stopping->text, "STOPPING=1")) << stopping->text;
  int status = -1;
  ASSERT_EQ(::waitpid(pid_, &status, 0), pid_);
  pid_ = -1;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  EXPECT_FALSE(IsMountPoint(mnt_)) << "SIGTERM left the mount behind";
  EXPECT_FALSE(notify_.Next(200).has_value()) << "a message after STOPPING=1";
}

}  // namespace
}  // namespace matterfs::systemd_test
