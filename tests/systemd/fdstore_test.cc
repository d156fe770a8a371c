// The sandboxed-service design (docs/OPERATIONS.md "Hardening"), emulated as systemd
// runs it: `matterfs --premount` (ExecStartPre=+) mounts and hands the /dev/fuse
// descriptor to the file descriptor store over $NOTIFY_SOCKET (FDSTORE=1, FDNAME=fuse);
// the daemon gets it back as fd 3 with LISTEN_FDS=1, LISTEN_FDNAMES=fuse and LISTEN_PID
// (set by a tiny exec wrapper, as systemd sets it for the process it execs), takes it
// out of the store (FDSTOREREMOVE=1), serves it, says READY=1 only once the mount serves
// files, and on SIGTERM stops serving and detaches the mount (ExecStopPost= unmounts it
// where the daemon cannot).
#include <signal.h>
#include <sys/wait.h>

#include <cstring>
#include <string>
#include <vector>

#include "tests/systemd/notify_socket.h"

namespace matterfs::systemd_test {
namespace {

using namespace ::matterfs::mount_support;

class FdStoreTest : public ServiceTest {
 protected:
  std::string MountOptions() const override { return "allow_other"; }

  void TearDown() override {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
    stored_.reset();
    // ExecStopPost=+fusermount3 -u -z MOUNTPOINT, whatever happened.
    if (IsMountPoint(mnt_)) RunCommand({"fusermount3", "-u", "-z", mnt_}, 30);
    ServiceTest::TearDown();
  }

  UniqueFd stored_;  // the "file descriptor store"
};

TEST_F(FdStoreTest, PremountedDescriptorIsServedAndReadyComesOnlyWhenServing) {
  // ExecStartPre=+matterfs VAULT MOUNTPOINT --premount -o allow_other
  CmdResult pre = RunCommand({"env", "NOTIFY_SOCKET=" + notify_.path(), MatterfsPath(), vault_,
                              mnt_, "--premount", "-o", MountOptions()},
                             60);
  ASSERT_EQ(pre.status, 0) << ::testing::PrintToString(pre);
  auto stored = notify_.Next();
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->text, "FDSTORE=1\nFDNAME=fuse");
  stored_ = std::move(stored->fd);
  ASSERT_TRUE(stored_.valid()) << "no descriptor came with FDSTORE=1";
  // Mounted (in the mount table) but not served: do not look inside, it would wait.
  ASSERT_TRUE(IsMountPoint(mnt_));

  // ExecStart: the descriptor as fd 3, LISTEN_PID = the pid that execs the daemon.
  std::vector<std::string> argv = {
      "/bin/sh", "-c", "LISTEN_PID=$$ exec \"$@\"", "sh",          MatterfsPath(),
      vault_,    mnt_, "--syslog-socket",           SyslogSocket()};
  for (const std::string& a : DaemonArgs()) argv.push_back(a);
  pid_ = SpawnService(argv,
                      {"NOTIFY_SOCKET=" + notify_.path(), "LISTEN_FDS=1", "LISTEN_FDNAMES=fuse",
                       "PATH=/usr/bin:/bin"},
                      stored_.get());
  ASSERT_GT(pid_, 0);

  auto removed = notify_.Next();
  ASSERT_TRUE(removed.has_value());
  EXPECT_EQ(removed->text, "FDSTOREREMOVE=1\nFDNAME=fuse");
  stored_.reset();  // what systemd does on FDSTOREREMOVE=1
  auto ready = notify_.Next();
  ASSERT_TRUE(ready.has_value()) << "no READY=1";
  EXPECT_TRUE(HasLine(ready->text, "READY=1")) << ready->text;
  EXPECT_TRUE(HasLine(ready->text, "MAINPID=" + std::to_string(pid_))) << ready->text;
  // Served: by us, and seen by another process.
  ASSERT_TRUE(WriteFile(mnt_ + "/alpha/brief.txt", "served")) << std::strerror(errno);
  CmdResult other = RunCommand({"cat", mnt_ + "/alpha/brief.txt"}, 30);
  EXPECT_EQ(other.status, 0) << other.err;
  EXPECT_EQ(other.out, "served");

  ASSERT_EQ(::kill(pid_, SIGTERM), 0);
  auto stopping = notify_.Next();
  ASSERT_TRUE(stopping.has_value());
  EXPECT_TRUE(HasLine(stopping->text, "STOPPING=1")) << stopping->text;
  int status = -1;
  ASSERT_EQ(::waitpid(pid_, &status, 0), pid_);
  pid_ = -1;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  // Outside a sandbox the daemon's own detach already removed it; ExecStopPost= would.
  EXPECT_FALSE(IsMountPoint(mnt_));
}

}  // namespace
}  // namespace matterfs::systemd_test
