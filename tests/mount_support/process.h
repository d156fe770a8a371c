// Running programs and single syscalls for the mount tests, as root or as another user
// (STYLE.md "Tests": real daemon, real syscalls, real uids).
//
// RunCommand runs a program (no shell) with a timeout and captures its output; AsUser
// runs a function in a forked child that has dropped to a user and brings back one
// syscall's outcome (Sys) through a pipe; the *As helpers are the common one-syscall
// cases of AsUser.
//
// Binaries: MatterctlPath()/MatterfsPath() are the paths CMake compiles in, unless the
// environment names others (MATTERFS_TEST_MATTERCTL, MATTERFS_TEST_MATTERFS).
//
// Thread-safety: every function is reentrant and may be called from any thread; between
// fork and exec the children make only async-signal-safe calls (the tests have threads).
// Errors: a program that cannot be started gives status -1 (127 when exec fails); a
// failure of AsUser's own machinery is a gtest failure (ADD_FAILURE). Nothing throws.
#pragma once

#include <fcntl.h>
#include <sys/types.h>

#include <functional>
#include <ostream>
#include <string>
#include <vector>

namespace matterfs::mount_support {

// A user as NSS knows it (users.h looks them up): who a child process becomes.
struct TestUser {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // primary and supplementary
};

// ---- programs --------------------------------------------------------------------

struct CmdResult {
  int status = -1;  // exit code; 128+N when killed by signal N; -1 when it could not run
  std::string out;
  std::string err;
};
void PrintTo(const CmdResult& r, std::ostream* os);

// Runs argv (no shell; PATH is searched) in a process group of its own, with `input` on
// its stdin and no other fd of the test, capturing stdout and stderr. As `user` when not
// null (setgroups, setresgid, setresuid in the child), else as the caller. Kills the
// group with SIGKILL after timeout_s seconds (status 137, "[killed after N s]" in err).
CmdResult RunCommand(const std::vector<std::string>& argv, int timeout_s = 120,
                     const std::string& input = "", const TestUser* user = nullptr);
// Runs `bash -c script` (for tests of real programs only).
CmdResult Shell(const std::string& script, int timeout_s = 120);
// s single-quoted for bash.
std::string Quote(const std::string& s);

const std::string& MatterctlPath();
const std::string& MatterfsPath();
// `matterctl args...` as root (user null) or as the user, with a 60 s timeout.
CmdResult Matterctl(const std::vector<std::string>& args, const TestUser* user = nullptr);

// "ENOENT" for ENOENT, "0" for 0: errno names for failure messages.
std::string ErrName(int err);

// ---- syscalls as another user ------------------------------------------------------

// The outcome of one syscall made by a child process as a test user.
struct Sys {
  long rc = -1;
  int err = 0;       // errno when rc < 0
  std::string data;  // what was read, or a listing
};
void PrintTo(const Sys& s, std::ostream* os);

// Forks, drops to the user (setgroups, setresgid, setresuid; umask 0), runs fn in the
// child and returns its result; kills the child after timeout_s seconds. fn must only
// make syscalls and simple computations (no gtest, no locks: the test has threads).
Sys AsUser(const TestUser& user, const std::function<Sys()>& fn, int timeout_s = 30);

// One-syscall helpers, each run as the user in a child.
Sys StatAs(const TestUser& u, const std::string& path);  // lstat
// open + close; rc 0 when the open succeeded.
Sys OpenAs(const TestUser& u, const std::string& path, int flags, mode_t mode = 0666);
Sys ReadAs(const TestUser& u, const std::string& path);  // open O_RDONLY + read all
// open(flags) + write data; rc = bytes written or -1 at the failing step.
Sys WriteAs(const TestUser& u, const std::string& path, const std::string& data,
            int flags = O_WRONLY | O_CREAT | O_TRUNC);
Sys ListAs(const TestUser& u, const std::string& dir);  // data = sorted names, '\n'-joined
Sys MkdirAs(const TestUser& u, const std::string& path, mode_t mode = 0777);
Sys UnlinkAs(const TestUser& u, const std::string& path);
Sys RmdirAs(const TestUser& u, const std::string& path);
Sys RenameAs(const TestUser& u, const std::string& from, const std::string& to);
Sys TruncateAs(const TestUser& u, const std::string& path, off_t size);

}  // namespace matterfs::mount_support
