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
#include <vector>

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

class RandomFileTest : public MountTest {
 protected:
  size_t PrivateTmpfsMiB() const override { return 256; }  // see RandomTreeTest
};

TEST_F(RandomFileTest, RandomOperationsMatchAPlainFile) {
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

// The same idea for names: random creates, writes, renames (files and directories,
// replacing and failing), links, symlinks, unlinks, mkdirs and rmdirs over a small tree,
// with descriptors kept open across renames, in the mount (with few backing fds, so
// inodes are reopened by name) and in a plain directory; every result compared, the
// whole tree compared at intervals, and the kernel's caches dropped now and then.
class RandomTreeTest : public MountTest {
 protected:
  std::vector<std::string> ExtraArgs() const override { return {"--max-fds", "8"}; }
  // The plain tree and the vault on one private tmpfs: a disk filling up for a moment
  // elsewhere on the machine once made one side fail (ENOSPC) where the other did not.
  size_t PrivateTmpfsMiB() const override { return 256; }
};

// Everything visible in a tree: per path its type, size, link count, content or target.
std::string TreeState(const std::string& root) {
  std::string out;
  for (const std::string& p : WalkTree(root)) {
    struct stat st;
    out += p.substr(root.size());
    if (::lstat(p.c_str(), &st) != 0) {
      out += " lstat failed\n";
      continue;
    }
    if (S_ISDIR(st.st_mode)) {
      out += " dir nlink=" + std::to_string(st.st_nlink) + "\n";
    } else if (S_ISLNK(st.st_mode)) {
      char buf[256];
      ssize_t n = ::readlink(p.c_str(), buf, sizeof buf);
      out += " -> " + std::string(buf, n > 0 ? static_cast<size_t>(n) : 0) + "\n";
    } else {
      out += " size=" + std::to_string(st.st_size) + " nlink=" + std::to_string(st.st_nlink) +
             " = " + ReadFile(p).value_or("<unreadable>") + "\n";
    }
  }
  return out;
}

TEST_F(RandomTreeTest, RandomNamespaceOperationsMatchAPlainTree) {
  const uint64_t seed = SeedFromEnv();
  const int steps = StepsFromEnv() / 2;
  std::printf("random tree operations: seed %llu, %d steps (MATTERFS_RANDOM_SEED to repeat)\n",
              static_cast<unsigned long long>(seed), steps);
  std::fflush(stdout);
  SCOPED_TRACE("MATTERFS_RANDOM_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  auto uniform = [&rng](uint64_t lo, uint64_t hi) {
    return std::uniform_int_distribution<uint64_t>(lo, hi)(rng);
  };
  const std::vector<std::string> parts = {"a", "b", "c"};
  auto random_path = [&] {
    std::string p = parts[uniform(0, 2)];
    const uint64_t depth = uniform(1, 3);
    for (uint64_t i = 1; i < depth; ++i) p += "/" + parts[uniform(0, 2)];
    return p;
  };
  const std::string roots[2] = {P(), M()};
  UniqueFd fds[2][3];  // three descriptors per side, kept open across renames
  std::deque<std::string> recent;
  auto history = [&recent] {
    std::string h;
    for (const std::string& r : recent) h += "\n  " + r;
    return h;
  };
  for (int step = 0; step < steps; ++step) {
    const uint64_t kind = uniform(0, 99);
    const std::string a = random_path();
    const std::string b = random_path();
    const size_t slot = static_cast<size_t>(uniform(0, 2));
    const off_t at = static_cast<off_t>(uniform(0, 40));
    std::ostringstream what;
    Outcome out[2];
    for (int i = 0; i < 2; ++i) {
      const std::string pa = roots[i] + "/" + a;
      const std::string pb = roots[i] + "/" + b;
      if (kind < 20) {
        what.str("write " + a);
        const std::string data = "step " + std::to_string(step) + " " + Pattern(step % 50, seed);
        UniqueFd fd(::open(pa.c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644));
        out[i] = Of(fd.valid() ? ::write(fd.get(), data.data(), data.size()) : -1);
      } else if (kind < 28) {
        what.str("append " + a);
        UniqueFd fd(::open(pa.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
        out[i] = Of(fd.valid() ? ::write(fd.get(), "+", 1) : -1);
      } else if (kind < 36) {
        what.str("mkdir " + a);
        out[i] = Of(::mkdir(pa.c_str(), 0755));
      } else if (kind < 42) {
        what.str("rmdir " + a);
        out[i] = Of(::rmdir(pa.c_str()));
      } else if (kind < 50) {
        what.str("unlink " + a);
        out[i] = Of(::unlink(pa.c_str()));
      } else if (kind < 66) {
        what.str("rename " + a + " -> " + b);
        out[i] = Of(::rename(pa.c_str(), pb.c_str()));
      } else if (kind < 72) {
        what.str("link " + a + " -> " + b);
        out[i] = Of(::link(pa.c_str(), pb.c_str()));
      } else if (kind < 76) {
        what.str("symlink " + b + " at " + a);
        out[i] = Of(::symlink(b.c_str(), pa.c_str()));
      } else if (kind < 82) {
        what.str("open slot " + std::to_string(slot) + " on " + a);
        fds[i][slot].reset(::open(pa.c_str(), O_RDWR | O_CLOEXEC));
        out[i] = Of(fds[i][slot].valid() ? 0 : -1);
      } else if (kind < 90) {
        what.str("pwrite via slot " + std::to_string(slot));
        const std::string data = "<" + std::to_string(step) + ">";
        out[i] = fds[i][slot].valid()
                     ? Of(::pwrite(fds[i][slot].get(), data.data(), data.size(), at))
                     : Outcome{-9, 0, ""};
      } else if (kind < 95) {
        what.str("fstat + read via slot " + std::to_string(slot));
        if (fds[i][slot].valid()) {
          struct stat st;
          out[i] = Of(::fstat(fds[i][slot].get(), &st));
          out[i].data = "size=" + std::to_string(st.st_size) +
                        " nlink=" + std::to_string(st.st_nlink) + " " +
                        ReadFd(fds[i][slot].get()).value_or("?");
        } else {
          out[i] = Outcome{-9, 0, ""};
        }
      } else {
        what.str("stat + read " + a);
        struct stat st;
        out[i] = Of(::lstat(pa.c_str(), &st));
        if (out[i].rc == 0 && S_ISREG(st.st_mode)) out[i].data = ReadFile(pa).value_or("?");
      }
    }
    recent.push_back("step " + std::to_string(step) + ": " + what.str() + " -> " +
                     std::to_string(out[1].rc) + "/" + std::to_string(out[1].err));
    if (recent.size() > 25) recent.pop_front();
    if (!(out[0] == out[1])) {
      FAIL() << "step " << step << " (" << what.str() << "): plain rc=" << out[0].rc
             << " errno=" << out[0].err << " data=" << out[0].data.substr(0, 80)
             << ", mount rc=" << out[1].rc << " errno=" << out[1].err
             << " data=" << out[1].data.substr(0, 80) << history();
    }
    if (step % 25 == 24) {
      const std::string plain_tree = TreeState(roots[0]);
      const std::string mount_tree = TreeState(roots[1]);
      ASSERT_EQ(plain_tree, mount_tree) << "trees differ after step " << step << history();
    }
    if (step % 100 == 99) DropCaches(2);
  }
}

}  // namespace
}  // namespace matterfs::mount_test
