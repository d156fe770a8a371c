// MountFixture: the base of every mount-level test fixture (STYLE.md "Tests": the real
// daemon on temp dirs, real syscalls by real uids, results and errnos asserted, always
// unmounted). Including this header gives the whole support library.
//
// Each test gets a fresh directory /tmp/matterfs-mount.XXXXXX (mode 0755, so that other
// users reach the mount) holding
//   vault/        a new vault (8 MiB / 1 pass Argon2id) with the matters of Matters()
//   mnt/          where the real `matterfs` mounts it, in background mode
//   pass          the passphrase file
//   policy.ini    the policy of Policy(), when there is one
//   syslog.sock   the test's event receiver (receiver_), given to every daemon the
//                 fixture starts with --syslog-socket (unless SyslogSocket() says other)
//   ctl/ctl.sock  the daemon's control socket, when WithControlSocket()
// SetUp mounts the vault unless MountAtStart() is false. TearDown always unmounts
// (fusermount3 -u, then umount -l), waits for the daemon to exit with status 0, fails the
// test for any mount or daemon it left behind, and removes the directory. A watchdog
// kills the daemon when a test runs longer than MATTERFS_TEST_TIMEOUT seconds (default
// 150), so that a hung FUSE request fails the test instead of hanging the suite. Before
// the first test, mounts of the fixture that an earlier crashed run left dead are
// unmounted.
//
// A suite derives its fixture from MountFixture, overrides what it needs (Matters,
// Policy, MountOptions, ExtraArgs, ...) and adds its own path helpers, e.g.
//   class RotationTest : public mount_support::MountFixture {
//    protected:
//     std::vector<std::string> Matters() const override { return {"alpha"}; }
//     std::string M(const std::string& rel) const { return mnt_ + "/alpha/" + rel; }
//   };
// and its CMakeLists.txt calls matterfs_add_mount_test() (tests/mount_support).
//
// Thread-safety: one fixture per test, used from the test's thread (the watchdog and
// the receiver have their own threads and locks). Errors are gtest failures.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "tests/mount_support/events.h"
#include "tests/mount_support/files.h"
#include "tests/mount_support/mounts.h"
#include "tests/mount_support/process.h"
#include "tests/mount_support/users.h"
#include "tests/mount_support/watchdog.h"

namespace matterfs::mount_support {

class MountFixture : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // ---- what a suite or a test chooses ---------------------------------------------
  // Matters made in the vault before the first mount.
  virtual std::vector<std::string> Matters() const { return {}; }
  // The access policy (INI, docs/POLICY.md) written to policy.ini at SetUp and given
  // with --policy; "" for none (then only the mounting user, root, has access).
  virtual std::string Policy() const { return ""; }
  // -o options of the mount ("" for none); read at every Mount.
  virtual std::string MountOptions() const { return ""; }
  // More matterfs arguments (e.g. --max-fds 16); read at every Mount.
  virtual std::vector<std::string> ExtraArgs() const { return {}; }
  // The --syslog-socket of every daemon (default: the test's receiver).
  virtual std::string SyslogSocket() const { return receiver_->path(); }
  // True: the daemon gets --control-socket control_.
  virtual bool WithControlSocket() const { return false; }
  // False: SetUp prepares the vault but does not mount it.
  virtual bool MountAtStart() const { return true; }
  // True: the test directory (vault, mount point, any plain tree beside them) lives on a
  // private tmpfs of this many MiB that the fixture mounts, so that what the test does
  // cannot depend on, or be disturbed by, the free space of the machine's disk. 0: no.
  virtual size_t PrivateTmpfsMiB() const { return 0; }
  // The arguments of Mount() after `matterfs VAULT MNT --syslog-socket S`: the
  // passphrase file, the policy, the control socket, -o MountOptions(), ExtraArgs().
  std::vector<std::string> DaemonArgs() const;

  // ---- the mount ------------------------------------------------------------------
  // Mounts the vault at mnt_ (asserts exit 0 and that the mount is up) and finds the
  // one daemon serving it.
  void Mount();
  // Unmounts and waits for the daemon to exit; safe to call when not mounted.
  void Unmount();
  void Remount() {
    Unmount();
    Mount();
  }
  // Runs `matterfs VAULT mountpoint --syslog-socket S args...` and returns its result,
  // asserting nothing. A test unmounts what it mounted elsewhere (UnmountAndWait);
  // TearDown unmounts, as a failure, any such mount left behind.
  CmdResult RunMatterfs(const std::string& mountpoint, const std::vector<std::string>& args);
  CmdResult RunMatterfs(const std::vector<std::string>& args) { return RunMatterfs(mnt_, args); }
  // The daemon of the current mount (-1 when not mounted).
  pid_t daemon_pid();
  // Crash tests: kill -9 the daemon of the current mount, reap it (asserting it died of
  // SIGKILL) and detach its dead mount, as a reboot or an admin would.
  void KillDaemon();

  // ---- audit events ---------------------------------------------------------------
  // Every message received so far (raw datagrams).
  std::vector<std::string> SyslogMessages() { return receiver_->Raw(); }
  // Waits up to timeout_ms for a received message that contains every one of `parts`.
  bool WaitForSyslog(const std::vector<std::string>& parts, int timeout_ms = 5000);
  // Expects an event matching q at index >= from (within timeout) and returns it; on
  // failure reports the query and the last events received.
  std::optional<AuditMsg> ExpectEvent(const EventQuery& q, size_t from,
                                      std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // ---- files of the vault ---------------------------------------------------------
  // Writes the policy file atomically (a new inode: the daemon's watcher sees it).
  void ReplacePolicy(const std::string& text);
  // The backing files of file contents in the vault's data directory: regular files
  // that are not metadata (".diriv", ".matter", long-name ".n" files).
  std::vector<std::string> BackingFiles() const;
  // Searches everything in the vault directory (every byte of every file, every name,
  // every symlink target, every xattr name and value) for each needle; returns one line
  // per hit ("needle in name of PATH", ...). Empty when nothing is found.
  std::vector<std::string> FindInVault(const std::vector<std::string>& needles) const;

  std::string dir_;          // the test's temp dir
  std::string vault_;        // dir_/vault
  std::string mnt_;          // dir_/mnt
  std::string pass_;         // dir_/pass
  std::string policy_path_;  // dir_/policy.ini
  std::string control_;      // dir_/ctl/ctl.sock (the daemon makes ctl/)
  std::unique_ptr<EventReceiver> receiver_;
  bool mounted_ = false;

 private:
  void OnTimeout();  // the watchdog's: runs on its thread

  std::mutex mu_;  // guards daemon_pid_ and other_mounts_ (shared with the watchdog)
  pid_t daemon_pid_ = -1;
  std::vector<std::string> other_mounts_;  // mount points of RunMatterfs other than mnt_
  std::unique_ptr<Watchdog> watchdog_;
  bool tmpfs_mounted_ = false;
};

// True when MATTERFS_TEST_KNOWN_BUGS=run: tests marked MATTERFS_KNOWN_BUG run anyway
// (to check a fix before removing the mark).
bool RunKnownBugs();

}  // namespace matterfs::mount_support

// Skips a test that fails only because of a daemon bug that is reported and not yet
// fixed. Temporary: the fix removes the line. `reason` names the bug.
#define MATTERFS_KNOWN_BUG(reason)                    \
  do {                                                \
    if (!::matterfs::mount_support::RunKnownBugs()) { \
      GTEST_SKIP() << "known bug: " << reason;        \
    }                                                 \
  } while (0)
