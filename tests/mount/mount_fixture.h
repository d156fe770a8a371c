// Mount-level test support (STYLE.md "Tests": real daemon, real syscalls, real uids,
// always unmount).
//
// MountTest gives each test a fresh directory under /tmp holding
//   vault/    a new vault (8 MiB / 1 pass Argon2id) with the matters of Matters()
//   mnt/      the vault mounted there by the real `matterfs` in background mode
//   plain/    a plain directory on the backing file system with the same top-level
//             folders, so that a scenario can run in both and compare every result
//   pass      the passphrase file
//   syslog.sock  a datagram socket the daemon sends its audit events to
//             (--syslog-socket); the fixture collects them (SyslogMessages)
// TearDown always unmounts (fusermount3 -u, then umount -l), waits for the daemon to
// exit and removes the directory. A watchdog thread kills the daemon if a test runs for
// longer than MATTERFS_TEST_TIMEOUT seconds (default 150), so a hung FUSE request fails
// the test instead of hanging the suite.
//
// Binaries: MATTERFS_TEST_MATTERCTL / MATTERFS_TEST_MATTERFS (environment) override the
// paths compiled in from CMake.
//
// Thread-safety: one fixture per test, used from the test's thread; helpers are
// reentrant. Helpers report problems with gtest assertions (ADD_FAILURE), never throw.
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

namespace matterfs::mount_test {

// ---- processes -------------------------------------------------------------------

struct CmdResult {
  int status = -1;  // exit code; 128+N when killed by signal N; -1 when it could not run
  std::string out;
  std::string err;
};
void PrintTo(const CmdResult& r, std::ostream* os);

// Runs argv (no shell) with stdin from `input`, capturing stdout and stderr; kills it
// (SIGKILL) after timeout_s seconds.
CmdResult RunCommand(const std::vector<std::string>& argv, int timeout_s = 120,
                     const std::string& input = "");
// Runs `bash -c script` (for the "real programs" tests only).
CmdResult Shell(const std::string& script, int timeout_s = 120);
std::string Quote(const std::string& s);  // single-quoted for bash

const std::string& MatterctlPath();
const std::string& MatterfsPath();

// ---- files -----------------------------------------------------------------------

// Whole-file helpers; nullopt (with errno kept) on failure.
std::optional<std::string> ReadFile(const std::string& path);
bool WriteFile(const std::string& path, const std::string& data, mode_t mode = 0644);
// Reads everything from an open fd, from offset 0, with pread.
std::optional<std::string> ReadFd(int fd);
// Writes all of data at off with pwrite; false on error (errno kept).
bool PwriteAll(int fd, const std::string& data, off_t off);
// Sorted entry names of a directory without "." and ".."; nullopt on error.
std::optional<std::vector<std::string>> ListDir(const std::string& path);
// Every path below root (files, dirs, symlinks), depth first, without following links.
std::vector<std::string> WalkTree(const std::string& root);
// Deterministic pseudo-random bytes.
std::string Pattern(size_t size, uint64_t seed);
// A short hex string that no test writes twice.
std::string UniqueToken();
// True when path is a mount point in /proc/self/mountinfo.
bool IsMountPoint(const std::string& path);
// echo N > /proc/sys/vm/drop_caches (after sync).
void DropCaches(int level);
void RemoveTree(const std::string& path);

// ---- known daemon bugs ---------------------------------------------------------

// True when MATTERFS_TEST_KNOWN_BUGS=run: tests marked MATTERFS_KNOWN_BUG run anyway
// (to check a fix before removing the mark).
bool RunKnownBugs();

// Skips a test that fails only because of a daemon bug that is reported and not yet
// fixed. Temporary: the fix removes the line. `reason` names the bug.
#define MATTERFS_KNOWN_BUG(reason)                 \
  do {                                             \
    if (!::matterfs::mount_test::RunKnownBugs()) { \
      GTEST_SKIP() << "known bug: " << reason;     \
    }                                              \
  } while (0)

// ---- comparing a scenario in a plain directory and in the mount -------------------

// One recorded result: a syscall's return value and errno, or a value (data).
struct Step {
  std::string what;
  long rc = 0;
  int err = 0;
  std::string data;
  friend bool operator==(const Step&, const Step&) = default;
};
void PrintTo(const Step& s, std::ostream* os);

// The record of one run of a scenario. Sys() must be called directly on a syscall's
// result so that errno is still the syscall's: t.Sys("open", ::open(...)).
class Trace {
 public:
  long Sys(const char* what, long rc);
  // Like Sys for calls that return an fd: records 0 for any fd (numbers may differ).
  int Fd(const char* what, int fd);
  void Value(const char* what, std::string data);
  void Stat(const char* what, const std::string& path);  // lstat: type, mode, size, nlink, uid, gid
  void File(const char* what, const std::string& path);  // whole content or errno
  void Fstat(const char* what, int fd);                  // type, mode, size, nlink
  // pread of size bytes at off: rc, errno and the bytes read.
  long Pread(const char* what, int fd, size_t size, off_t off);
  // The whole content through fd (pread from 0 to EOF).
  void Content(const char* what, int fd);
  // open() recorded and the fd closed again at once (for error cases).
  long OpenClose(const char* what, const std::string& path, int flags, mode_t mode = 0644);
  // Sorted names in a directory.
  void List(const char* what, const std::string& dir);
  const std::vector<Step>& steps() const { return steps_; }
  const Step& last() const { return steps_.back(); }
  const Step* Find(const std::string& what) const;  // first step with that label

 private:
  std::vector<Step> steps_;
};
// Reports (as a test failure) the first differing step of two traces.
void ExpectSameTrace(const Trace& plain, const Trace& mounted);

// ---- the fixture ----------------------------------------------------------------

class MountTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Matters created in the vault (and plain folders created in plain/) before mounting.
  virtual std::vector<std::string> Matters() const { return {"alpha"}; }
  // Extra -o options for the mount ("" for none).
  virtual std::string MountOptions() const { return ""; }
  // An access policy (INI, docs/POLICY.md) for --policy; "" for none (then only the
  // mounting user, root, has access).
  virtual std::string Policy() const { return ""; }
  // Extra matterfs arguments (e.g. --max-fds 16).
  virtual std::vector<std::string> ExtraArgs() const { return {}; }
  // False: SetUp prepares the vault but does not mount it.
  virtual bool MountAtStart() const { return true; }

  // Mounts the vault (asserts exit 0 and that the mount is up).
  void MountVault();
  // Unmounts and waits for the daemon to exit; safe to call when not mounted.
  void UnmountVault();
  void Remount() {
    UnmountVault();
    MountVault();
  }
  CmdResult Matterctl(const std::vector<std::string>& args);
  // Audit events received so far on the fixture's syslog socket (raw datagrams).
  std::vector<std::string> SyslogMessages();
  // Waits up to timeout_ms for a received message that contains every one of `parts`.
  bool WaitForSyslog(const std::vector<std::string>& parts, int timeout_ms = 5000);
  // The daemon of the current mount (-1 when not mounted).
  pid_t daemon_pid() {
    std::lock_guard<std::mutex> g(mu_);
    return daemon_pid_;
  }
  // Runs `matterfs VAULT MOUNTPOINT args...` and returns its result, asserting nothing.
  // Any mount it leaves behind is unmounted in TearDown.
  CmdResult RunMatterfs(const std::string& mountpoint, const std::vector<std::string>& args);

  // Paths in matter "alpha" of the mount, and the same path in the plain directory.
  std::string M(const std::string& rel = "") const { return mnt_ + "/alpha" + Rel(rel); }
  std::string P(const std::string& rel = "") const { return plain_ + "/alpha" + Rel(rel); }

  // Runs scenario(dir, trace) with dir = P() and then dir = M(); expects equal traces and
  // returns the mount's.
  template <typename F>
  Trace Compare(F&& scenario) {
    Trace plain;
    Trace mounted;
    scenario(P(), plain);
    scenario(M(), mounted);
    ExpectSameTrace(plain, mounted);
    return mounted;
  }

  // The backing files of file contents in the vault's data directory: regular files
  // that are not metadata (".diriv", ".matter", long-name ".n" files).
  std::vector<std::string> BackingFiles() const;
  // Searches everything in the vault directory (every byte of every file, every name,
  // every symlink target, every xattr name and value) for each needle; returns one line
  // per hit ("needle in name of PATH", ...). Empty when nothing is found.
  std::vector<std::string> FindInVault(const std::vector<std::string>& needles) const;

  std::string dir_;    // the test's temp dir
  std::string vault_;  // dir_/vault
  std::string mnt_;    // dir_/mnt
  std::string plain_;  // dir_/plain
  std::string pass_;   // dir_/pass
  bool mounted_ = false;

 private:
  static std::string Rel(const std::string& rel) { return rel.empty() ? "" : "/" + rel; }
  void StartWatchdog();
  void StopWatchdog();
  void StartSyslog();
  void StopSyslog();
  void WaitForDaemonExit(pid_t pid);

  std::vector<std::string> other_mounts_;  // mount points of RunMatterfs, for TearDown
  std::mutex mu_;                          // guards daemon_pid_, stop_ (shared with the watchdog)
  pid_t daemon_pid_ = -1;
  bool stop_ = false;
  std::condition_variable cv_;
  std::thread watchdog_;
  int syslog_fd_ = -1;
  std::atomic<bool> syslog_stop_{false};
  std::thread syslog_thread_;
  std::mutex syslog_mu_;  // guards syslog_
  std::vector<std::string> syslog_;
};

// A vault with two matters, "alpha" and "beta".
class TwoMatterTest : public MountTest {
 protected:
  std::vector<std::string> Matters() const override { return {"alpha", "beta"}; }
  std::string B(const std::string& rel = "") const { return mnt_ + "/beta/" + rel; }
};

}  // namespace matterfs::mount_test
