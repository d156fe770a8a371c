#include "tests/support/counting.h"

#include <dlfcn.h>
#include <pthread.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <new>

// The replacement operator new takes its memory from malloc, so its delete frees it;
// GCC cannot see that the two belong together.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace {

thread_local bool t_counting = false;
thread_local uint64_t t_allocations = 0;
thread_local uint64_t t_locks = 0;
thread_local std::array<const void*, matterfs::testing::Counts::kMaxLockAddresses> t_addresses;
thread_local size_t t_address_count = 0;

void CountLock(const void* lock) {
  if (!t_counting) return;
  ++t_locks;
  const auto end = t_addresses.begin() + t_address_count;
  if (std::find(t_addresses.begin(), end, lock) == end && t_address_count < t_addresses.size()) {
    t_addresses[t_address_count++] = lock;
  }
}

template <typename Fn>
Fn Next(const char* name) {
  return reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, name));
}

}  // namespace

void* operator new(std::size_t n) {
  if (t_counting) ++t_allocations;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

extern "C" {
int pthread_mutex_lock(pthread_mutex_t* m) {
  static auto next = Next<int (*)(pthread_mutex_t*)>("pthread_mutex_lock");
  CountLock(m);
  return next(m);
}
int pthread_mutex_trylock(pthread_mutex_t* m) {
  static auto next = Next<int (*)(pthread_mutex_t*)>("pthread_mutex_trylock");
  CountLock(m);
  return next(m);
}
int pthread_rwlock_rdlock(pthread_rwlock_t* l) {
  static auto next = Next<int (*)(pthread_rwlock_t*)>("pthread_rwlock_rdlock");
  CountLock(l);
  return next(l);
}
int pthread_rwlock_wrlock(pthread_rwlock_t* l) {
  static auto next = Next<int (*)(pthread_rwlock_t*)>("pthread_rwlock_wrlock");
  CountLock(l);
  return next(l);
}
}

namespace matterfs::testing {

Counts Count(const std::function<void()>& fn) {
  t_allocations = 0;
  t_locks = 0;
  t_address_count = 0;
  t_counting = true;
  fn();
  t_counting = false;
  Counts c;
  c.allocations = t_allocations;
  c.locks = t_locks;
  c.lock_addresses.assign(t_addresses.begin(), t_addresses.begin() + t_address_count);
  return c;
}

std::vector<const void*> SharedLocks(const Counts& a, const Counts& b) {
  std::vector<const void*> both;
  for (const void* p : a.lock_addresses) {
    if (std::find(b.lock_addresses.begin(), b.lock_addresses.end(), p) != b.lock_addresses.end()) {
      both.push_back(p);
    }
  }
  return both;
}

}  // namespace matterfs::testing
