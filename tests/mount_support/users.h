// Test users for the mount tests: looked up through NSS, and created when missing.
//
// EnsureUsers() makes system accounts (no home, shell nologin, a group of the user's own
// name) and supplementary groups with useradd, groupadd and usermod, idempotently and
// serialised between test processes (ctest -j) by a lock file. It never depends on an
// account that exists before, and it leaves the accounts in place for the next run
// (removing them would race with tests running in parallel).
//
// Thread-safety: call from the test's thread. Errors: gtest failures; EnsureUsers'
// failure is fatal (wrap it in ASSERT_NO_FATAL_FAILURE).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "tests/mount_support/process.h"

namespace matterfs::mount_support {

struct UserSpec {
  std::string name;
  std::vector<std::string> groups;  // supplementary groups (EnsureUsers makes them too)
};

// Creates every missing group and user of `users`, and adds each user to its groups.
void EnsureUsers(const std::vector<UserSpec>& users);

// The user as NSS knows it now, with its groups; nullopt when there is none.
std::optional<TestUser> LookupUser(const std::string& name);
// Like LookupUser, but a missing user is a test failure (and gives nobody, 65534).
TestUser User(const std::string& name);

}  // namespace matterfs::mount_support
