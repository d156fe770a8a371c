// Counting what a piece of code costs in allocations and locks, for the tests that keep
// the fast paths lean (decision cache, audit hand-off, open). A test binary that links
// mfs_test_counting has operator new replaced and pthread's lock functions interposed;
// both count only on a thread inside Count(), and record the addresses of the locks taken
// (without allocating), so a test can tell a lock private to one object from a lock that
// every caller shares.
// Thread-safety: Count() counts the calling thread only; run it on several threads at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace matterfs::testing {

struct Counts {
  uint64_t allocations = 0;  // operator new / new[]
  uint64_t locks = 0;        // pthread mutex lock / trylock, rwlock rdlock / wrlock
  // The distinct lock objects taken (the first kMaxLockAddresses of them).
  std::vector<const void*> lock_addresses;
  static constexpr size_t kMaxLockAddresses = 64;
};

// Runs `fn` on this thread and counts what it did on this thread.
Counts Count(const std::function<void()>& fn);

// The lock objects both a and b took.
std::vector<const void*> SharedLocks(const Counts& a, const Counts& b);

}  // namespace matterfs::testing
