// Mount-level tests of the file system (STYLE.md "Tests": real daemon, real syscalls,
// real uids, always unmount).
//
// MountTest is a MountFixture (tests/mount_support/fixture.h: the temp dir, the vault,
// the mount, the event receiver, the watchdog, the always-unmount TearDown) whose vault
// has the matter "alpha", plus
//   plain/    a plain directory on the backing file system with the same top-level
//             folders, so that a scenario can run in both and compare every result
//             (Compare, Trace).
//
// Thread-safety: one fixture per test, used from the test's thread; helpers are
// reentrant. Helpers report problems with gtest assertions (ADD_FAILURE), never throw.
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <ostream>
#include <string>
#include <vector>

#include "tests/mount_support/fixture.h"

namespace matterfs::mount_test {

// The tests use the support library's helpers (RunCommand, WriteFile, ...) unqualified.
using namespace ::matterfs::mount_support;

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

class MountTest : public MountFixture {
 protected:
  void SetUp() override;

  // Matters created in the vault (and plain folders created in plain/) before mounting.
  std::vector<std::string> Matters() const override { return {"alpha"}; }

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

  std::string plain_;  // dir_/plain

 private:
  static std::string Rel(const std::string& rel) { return rel.empty() ? "" : "/" + rel; }
};

// A vault with two matters, "alpha" and "beta".
class TwoMatterTest : public MountTest {
 protected:
  std::vector<std::string> Matters() const override { return {"alpha", "beta"}; }
  std::string B(const std::string& rel = "") const { return mnt_ + "/beta/" + rel; }
};

}  // namespace matterfs::mount_test
