// A randomized differential test: thousands of mixed operations on one file in the mount
// and on one file in a plain directory, with the same seed, compared after every step
// (results and errnos) and in full at intervals and at the end.
//
// Reproduce a failure with MATTERFS_RANDOM_SEED=<seed printed in the failure>; change the
// length with MATTERFS_RANDOM_STEPS.
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <deque>
#include <random>
#include <sstream>
#include <string>

#include "tests/mount/mount_fixture.h"
#include "util/unique_fd.h"

namespace matterfs::mount_test {
namespace {

constexpr size_t kBlock = 4096;

uint64_t SeedFromEnv() {
  const char* s = std::getenv("MATTERFS_RANDOM_SEED");
  if (s != nullptr && *s != '\0') return std::strtoull(s, nullptr, 0);
  return std::random_device{}() ^ (static_cast<uint64_t>(std::random_device{}()) << 32);
}

int StepsFromEnv() {
  const char* s = std::getenv("MATTERFS_RANDOM_STEPS");
  const int n = s != nullptr ? std::atoi(s) : 0;
  return n > 0 ? n : 3000;
}

// One side of the comparison: a directory, the current name of the file, its fd.
struct Side {
  std::string dir;
  std::string name;
  UniqueFd fd;
  std::string Path() const { return dir + "/" + name; }
};

struct Outcome {
  long rc;
  int err;
  std::string data;
  bool operator==(const Outcome& o) const = default;
};

Outcome Of(long rc) { return {rc, rc < 0 ? errno : 0, ""}; }

TEST_F(MountTest, RandomOperationsMatchAPlainFile) {
  MATTERFS_KNOWN_BUG(kHeapOverflowBug);
  const uint64_t seed = SeedFromEnv();
  const int steps = StepsFromEnv();
  std::printf("random operations: seed %llu, %d steps (MATTERFS_RANDOM_SEED to repeat)\n",
              static_cast<unsigned long long>(seed), steps);
  std::fflush(stdout);
  SCOPED_TRACE("MATTERFS_RANDOM_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  auto uniform = [&rng](uint64_t lo, uint64_t hi) {  // inclusive
    return std::uniform_int_distribution<uint64_t>(lo, hi)(rng);
  };
  // Offsets near block boundaries are where codecs break: favour them.
  auto offset = [&](uint64_t max) -> off_t {
    if (uniform(0, 2) == 0) {
      const uint64_t block = uniform(0, max / kBlock);
      const int64_t delta = static_cast<int64_t>(uniform(0, 4)) - 2;
      const int64_t at = static_cast<int64_t>(block * kBlock) + delta;
      return static_cast<off_t>(at < 0 ? 0 : at);
    }
    return static_cast<off_t>(uniform(0, max));
  };

  Side sides[2];
  sides[0].dir = P();
  sides[1].dir = M();
  for (Side& s : sides) {
    s.name = "r0";
    s.fd.reset(::open(s.Path().c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644));
    ASSERT_TRUE(s.fd.valid());
  }
  const std::vector<std::string> names = {"r0", "r1", "r2"};
  std::deque<std::string> recent;  // the last operations, for the failure message
  auto history = [&recent] {
    std::string h;
    for (const std::string& r : recent) h += "\n  " + r;
    return h;
  };

  auto compare_all = [&](int step) -> bool {
    auto a = ReadFd(sides[0].fd.get());
    auto b = ReadFd(sides[1].fd.get());
    if (!a || !b) {
      ADD_FAILURE() << "step " << step << ": full read failed (plain " << a.has_value()
                    << ", mount " << b.has_value() << ")" << history();
      return false;
    }
    if (*a != *b) {
      size_t at = 0;
      while (at < a->size() && at < b->size() && (*a)[at] == (*b)[at]) ++at;
      ADD_FAILURE() << "step " << step << ": contents differ at byte " << at << " (block "
                    << at / kBlock << "); sizes plain " << a->size() << ", mount " << b->size()
                    << history();
      return false;
    }
    return true;
  };

  for (int step = 0; step < steps; ++step) {
    const uint64_t kind = uniform(0, 99);
    std::ostringstream what;
    Outcome out[2];
    if (kind < 35) {
      const off_t off = offset(150000);
      const size_t len = static_cast<size_t>(uniform(1, 20000));
      const std::string data = Pattern(len, rng());
      what << "pwrite off=" << off << " len=" << len;
      for (int i = 0; i < 2; ++i) out[i] = Of(::pwrite(sides[i].fd.get(), data.data(), len, off));
    } else if (kind < 45) {
      const off_t size = offset(160000);
      what << "ftruncate " << size;
      for (int i = 0; i < 2; ++i) out[i] = Of(::ftruncate(sides[i].fd.get(), size));
    } else if (kind < 75) {
      const off_t off = offset(170000);
      const size_t len = static_cast<size_t>(uniform(1, 30000));
      what << "pread off=" << off << " len=" << len;
      for (int i = 0; i < 2; ++i) {
        std::string buf(len, '\0');
        out[i] = Of(::pread(sides[i].fd.get(), buf.data(), len, off));
        buf.resize(out[i].rc > 0 ? static_cast<size_t>(out[i].rc) : 0);
        out[i].data = std::move(buf);
      }
    } else if (kind < 83) {
      std::string to = names[static_cast<size_t>(uniform(0, names.size() - 1))];
      what << "rename " << sides[0].name << " -> " << to;
      for (int i = 0; i < 2; ++i) {
        out[i] = Of(::rename(sides[i].Path().c_str(), (sides[i].dir + "/" + to).c_str()));
        if (out[i].rc == 0) sides[i].name = to;
      }
    } else if (kind < 90) {
      what << "close and reopen " << sides[0].name;
      for (int i = 0; i < 2; ++i) {
        sides[i].fd.reset();
        sides[i].fd.reset(::open(sides[i].Path().c_str(), O_RDWR | O_CLOEXEC));
        out[i] = Of(sides[i].fd.valid() ? 0 : -1);
      }
    } else if (kind < 94) {
      // Through a second descriptor, closed at once.
      const off_t off = offset(150000);
      const size_t len = static_cast<size_t>(uniform(1, 9000));
      const std::string data = Pattern(len, rng());
      what << "pwrite via second fd off=" << off << " len=" << len;
      for (int i = 0; i < 2; ++i) {
        UniqueFd other(::open(sides[i].Path().c_str(), O_WRONLY | O_CLOEXEC));
        out[i] = Of(other.valid() ? ::pwrite(other.get(), data.data(), len, off) : -1);
      }
    } else if (kind < 97) {
      what << "fstat";
      for (int i = 0; i < 2; ++i) {
        struct stat st;
        out[i] = Of(::fstat(sides[i].fd.get(), &st));
        out[i].data = std::to_string(st.st_size);
      }
    } else {
      const off_t off = offset(150000);
      const size_t len = static_cast<size_t>(uniform(1, 5000));
      const std::string data = Pattern(len, rng());
      what << "lseek " << off << " + write len=" << len;
      for (int i = 0; i < 2; ++i) {
        ::lseek(sides[i].fd.get(), off, SEEK_SET);
        out[i] = Of(::write(sides[i].fd.get(), data.data(), len));
      }
    }
    recent.push_back("step " + std::to_string(step) + ": " + what.str() + " -> " +
                     std::to_string(out[1].rc));
    if (recent.size() > 15) recent.pop_front();
    if (!(out[0] == out[1])) {
      std::string where;
      if (out[0].data != out[1].data) {
        size_t at = 0;
        while (at < out[0].data.size() && at < out[1].data.size() &&
               out[0].data[at] == out[1].data[at]) {
          ++at;
        }
        where = " data differ at byte " + std::to_string(at);
      }
      FAIL() << "step " << step << " (" << what.str() << "): plain rc=" << out[0].rc
             << " errno=" << out[0].err << ", mount rc=" << out[1].rc << " errno=" << out[1].err
             << where << history();
    }
    if (step % 100 == 99 && !compare_all(step)) return;
  }
  ASSERT_TRUE(compare_all(steps));
  // And from a fresh open after the caches are gone.
  const std::string final_name = sides[1].name;
  for (Side& s : sides) s.fd.reset();
  DropCaches(3);
  auto a = ReadFile(P(final_name));
  auto b = ReadFile(M(final_name));
  ASSERT_TRUE(a.has_value() && b.has_value());
  EXPECT_TRUE(*a == *b) << "final contents differ after reopen";
}

}  // namespace
}  // namespace matterfs::mount_test
