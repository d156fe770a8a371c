// Mount-level tests of the access policy and the audit trail (issue 4, "How it is
// checked"; docs/POLICY.md, docs/AUDIT.md). STYLE.md "Tests": the real daemon on temp
// dirs, real syscalls made by real uids, results and errnos asserted, always unmounted.
//
// PolicyMountTest is a MountFixture (tests/mount_support/fixture.h: the temp dir, the
// vault, the mount, the event receiver receiver_, the watchdog, the always-unmount
// TearDown) with the matters acme, globex and initech, the standard test policy
// (StandardPolicy), `-o allow_other` and the daemon's control socket (control_); after
// the first mount, Seed() writes the standard test files as kClerk.
//
// Users: EnsureTestUsers() creates (idempotently, under a lock file, with useradd and
// groupadd) the users mfs-t-alice ... mfs-t-hugo and mfs-t-clerk and the groups
// mfs-t-litp and mfs-t-para. It never depends on anything that exists before; it leaves
// the users in place for the next run (removing them would race with parallel tests).
//
// Every syscall in a test's mount is made by a forked child that has dropped to the
// user's uid, gid and supplementary groups (AsUser); the child reports the return value,
// errno and any data through a pipe. Tools run as a user with
// RunCommand(argv, timeout, input, &user) (matterctl: Matterctl(args, &user)).
//
// Thread-safety: one fixture per test, used from the test's thread. Helpers report
// problems as gtest failures.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "tests/mount_support/fixture.h"

namespace matterfs::policy_mount_test {

// The tests use the support library's helpers (AsUser, Matterctl, ...) unqualified.
using namespace ::matterfs::mount_support;
using namespace std::chrono_literals;

// ---- users -----------------------------------------------------------------------

// The test users (docs in the header comment). Names are fixed so that policies can
// name them; every one of them is made by EnsureTestUsers().
inline constexpr char kAlice[] = "mfs-t-alice";  // partner: group mfs-t-litp
inline constexpr char kBob[] = "mfs-t-bob";      // associate, writer
inline constexpr char kCarol[] = "mfs-t-carol";  // associate, walled off acme
inline constexpr char kDave[] = "mfs-t-dave";    // risk: may break glass
inline constexpr char kErin[] = "mfs-t-erin";    // paralegal: group mfs-t-para
inline constexpr char kFrank[] = "mfs-t-frank";  // granted nothing
inline constexpr char kGina[] = "mfs-t-gina";    // an expired grant; granted by reloads
inline constexpr char kHugo[] = "mfs-t-hugo";    // granted by a SIGHUP reload
inline constexpr char kClerk[] = "mfs-t-clerk";  // writes the test files
inline constexpr char kLitGroup[] = "mfs-t-litp";
inline constexpr char kParaGroup[] = "mfs-t-para";

// Creates the users and groups (a failure is fatal for the test).
void EnsureTestUsers();

// ---- the fixture -----------------------------------------------------------------

// Options of the standard test policy (StandardPolicy); docs in policy_mount_fixture.cc.
struct PolicyOptions {
  bool hide_denied = true;
  std::string create_matters = "partners";
  std::string policy_extra;    // more lines for [policy]
  std::string sections_extra;  // more sections at the end
};
std::string StandardPolicy(const PolicyOptions& o);

class PolicyMountTest : public MountFixture {
 protected:
  void SetUp() override;

  // Matters made in the vault before the first mount.
  std::vector<std::string> Matters() const override { return {"acme", "globex", "initech"}; }
  // The policy written to policy.ini ("" for none: then no --policy).
  std::string Policy() const override { return StandardPolicy({}); }
  // The test users reach the mount.
  std::string MountOptions() const override { return "allow_other"; }
  bool WithControlSocket() const override { return true; }
  // Files written (as kClerk) after the first mount, when MountAtStart(); see Seed().
  virtual bool SeedAtStart() const { return true; }

  // Writes the standard test files as kClerk (mode 0666 files, 0777 dirs):
  //   acme/brief.txt, acme/docs/memo.txt, globex/deal.txt, initech/patent.txt,
  //   initech/notes.txt, initech/empty/ (for each matter that exists).
  void Seed();

  std::string M(const std::string& rel) const { return mnt_ + "/" + rel; }

  TestUser alice_, bob_, carol_, dave_, erin_, frank_, gina_, hugo_, clerk_, root_;
};

// The same fixture with hide_denied = no (every matter listed, opening needs a grant).
class ListedPolicyTest : public PolicyMountTest {
 protected:
  std::string Policy() const override { return StandardPolicy({.hide_denied = false}); }
};

}  // namespace matterfs::policy_mount_test
