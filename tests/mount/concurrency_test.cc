// Concurrent writers: non-overlapping ranges that share 4 KiB blocks must not lose each
// other's data (the daemon's block read-modify-write), from threads and from processes;
// and many threads creating, writing and removing files at once.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/mount/mount_fixture.h"
#include "util/unique_fd.h"

namespace matterfs::mount_test {
namespace {

// Chunk k of writer w (w = 0 or 1) covers [(2k+w)*kChunk, (2k+w+1)*kChunk): the two
// writers interleave, and almost every 4 KiB block holds bytes of both.
constexpr size_t kChunk = 1000;
constexpr size_t kChunks = 300;  // per writer and round
constexpr int kRounds = 4;

std::string ChunkData(int round, int writer, size_t k) {
  return Pattern(
      kChunk, static_cast<uint64_t>(round) * 1000003u + static_cast<uint64_t>(writer) * 7919u + k);
}

// Writes this writer's chunks of one round, in an order that differs between writers so
// that they collide on blocks often. Returns false on a write error.
bool WriteChunks(int fd, int round, int writer) {
  for (size_t i = 0; i < kChunks; ++i) {
    const size_t k = writer == 0 ? i : kChunks - 1 - i;
    const std::string data = ChunkData(round, writer, k);
    const off_t off = static_cast<off_t>((2 * k + static_cast<size_t>(writer)) * kChunk);
    if (!PwriteAll(fd, data, off)) return false;
  }
  return true;
}

std::string Expected(int round) {
  std::string want;
  for (size_t k = 0; k < kChunks; ++k) {
    want += ChunkData(round, 0, k);
    want += ChunkData(round, 1, k);
  }
  return want;
}

void CheckRound(const std::string& path, int round) {
  auto got = ReadFile(path);
  ASSERT_TRUE(got.has_value());
  const std::string want = Expected(round);
  ASSERT_EQ(got->size(), want.size());
  for (size_t k = 0; k < 2 * kChunks; ++k) {
    if (got->compare(k * kChunk, kChunk, want, k * kChunk, kChunk) != 0) {
      ADD_FAILURE() << "round " << round << ": chunk " << k << " of writer " << (k % 2)
                    << " (bytes " << k * kChunk << ".." << (k + 1) * kChunk << ") lost";
      return;
    }
  }
}

TEST_F(MountTest, TwoThreadsWritingInterleavedRangesLoseNothing) {
  for (int round = 0; round < kRounds; ++round) {
    UniqueFd a(::open(M("shared").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644));
    UniqueFd b(::open(M("shared").c_str(), O_RDWR | O_CLOEXEC));
    ASSERT_TRUE(a.valid() && b.valid());
    std::atomic<bool> ok_a{true}, ok_b{true};
    std::thread ta([&] { ok_a = WriteChunks(a.get(), round, 0); });
    std::thread tb([&] { ok_b = WriteChunks(b.get(), round, 1); });
    ta.join();
    tb.join();
    ASSERT_TRUE(ok_a && ok_b) << "a write failed";
    a.reset();
    b.reset();
    ASSERT_NO_FATAL_FAILURE(CheckRound(M("shared"), round));
  }
}

TEST_F(MountTest, TwoProcessesWritingInterleavedRangesLoseNothing) {
  for (int round = 0; round < kRounds; ++round) {
    if (round == 0) {
      ASSERT_TRUE(WriteFile(M("shared"), ""));
    }
    const std::string path = M("shared");
    const pid_t child = ::fork();
    if (child == 0) {
      UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
      ::_exit(fd.valid() && WriteChunks(fd.get(), round, 1) ? 0 : 1);
    }
    ASSERT_GT(child, 0);
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
    ASSERT_TRUE(fd.valid());
    const bool ok = WriteChunks(fd.get(), round, 0);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(ok);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the child's writes failed";
    fd.reset();
    ASSERT_NO_FATAL_FAILURE(CheckRound(path, round));
  }
}

TEST_F(MountTest, ConcurrentAppendsFromTwoProcessesKeepEveryRecord) {
  constexpr int kRecords = 400;
  const std::string path = M("journal");
  ASSERT_TRUE(WriteFile(path, ""));
  auto append_all = [&path](char tag) {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
    if (!fd.valid()) return false;
    for (int i = 0; i < kRecords; ++i) {
      // Records of varying length, so that they straddle block boundaries.
      std::string rec = std::string(1, tag) + std::to_string(i) + ":" +
                        std::string(static_cast<size_t>(10 + (i * 37) % 3000), tag) + "\n";
      if (::write(fd.get(), rec.data(), rec.size()) != static_cast<ssize_t>(rec.size()))
        return false;
    }
    return true;
  };
  const pid_t child = ::fork();
  if (child == 0) ::_exit(append_all('B') ? 0 : 1);
  ASSERT_GT(child, 0);
  const bool ok = append_all('A');
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(ok);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  auto data = ReadFile(path);
  ASSERT_TRUE(data.has_value());
  // Every record whole, in order per writer.
  int next[2] = {0, 0};
  size_t pos = 0;
  while (pos < data->size()) {
    const size_t nl = data->find('\n', pos);
    ASSERT_NE(nl, std::string::npos) << "torn record at " << pos;
    const std::string rec = data->substr(pos, nl - pos);
    const char tag = rec[0];
    ASSERT_TRUE(tag == 'A' || tag == 'B') << "garbage at " << pos;
    const int w = tag == 'A' ? 0 : 1;
    const std::string want = std::string(1, tag) + std::to_string(next[w]) + ":" +
                             std::string(static_cast<size_t>(10 + (next[w] * 37) % 3000), tag);
    ASSERT_TRUE(rec == want) << "record " << next[w] << " of writer " << tag << " at byte " << pos;
    ++next[w];
    pos = nl + 1;
  }
  EXPECT_EQ(next[0], kRecords);
  EXPECT_EQ(next[1], kRecords);
}

TEST_F(MountTest, ReadersDuringWritesAndTruncatesSeeNoErrorsOrGarbage) {
  // One writer fills random ranges with one letter per operation and truncates now and
  // then; two readers read random ranges meanwhile. Every byte a reader sees must be a
  // letter or a zero (from a gap or a truncate-and-grow): anything else is a block
  // decrypted wrongly, and any error is a bug. The writer's end state must match the same
  // operations on a plain file.
  const std::string path = M("busy");
  ASSERT_TRUE(WriteFile(path, std::string(50000, 'A')));
  ASSERT_TRUE(WriteFile(P("busy"), std::string(50000, 'A')));
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::string first_bad;
  std::mutex bad_mu;
  auto reader = [&](uint64_t seed) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    std::mt19937_64 rng(seed);
    std::string buf(20000, '\0');
    while (!stop) {
      const off_t off = static_cast<off_t>(rng() % 60000);
      const size_t len = 1 + static_cast<size_t>(rng() % buf.size());
      const ssize_t n = ::pread(fd.get(), buf.data(), len, off);
      std::string problem;
      if (n < 0) {
        problem = "pread failed: " + std::string(std::strerror(errno));
      } else {
        for (ssize_t i = 0; i < n; ++i) {
          const char c = buf[static_cast<size_t>(i)];
          if (c != '\0' && (c < 'A' || c > 'Z')) {
            problem = "byte " + std::to_string(off + i) + " is " + std::to_string(c);
            break;
          }
        }
      }
      if (!problem.empty()) {
        std::lock_guard<std::mutex> g(bad_mu);
        if (bad++ == 0) first_bad = problem;
      }
    }
  };
  std::thread r1(reader, 1);
  std::thread r2(reader, 2);
  UniqueFd w(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  UniqueFd pw(::open(P("busy").c_str(), O_RDWR | O_CLOEXEC));
  std::string writer_error = w.valid() && pw.valid() ? "" : "open failed";
  std::mt19937_64 rng(42);
  // No ASSERT until the readers are joined.
  for (int i = 0; i < 1500 && bad == 0 && writer_error.empty(); ++i) {
    if (rng() % 10 == 0) {
      const off_t size = static_cast<off_t>(rng() % 60000);
      if (::ftruncate(w.get(), size) != 0)
        writer_error = "ftruncate: " + std::string(std::strerror(errno));
      (void)::ftruncate(pw.get(), size);
    } else {
      const off_t off = static_cast<off_t>(rng() % 50000);
      const std::string data(1 + rng() % 9000, static_cast<char>('A' + i % 26));
      const ssize_t n = ::pwrite(w.get(), data.data(), data.size(), off);
      if (n != static_cast<ssize_t>(data.size())) {
        writer_error = "pwrite returned " + std::to_string(n) + ": " + std::strerror(errno);
      }
      (void)::pwrite(pw.get(), data.data(), data.size(), off);
    }
  }
  stop = true;
  r1.join();
  r2.join();
  ASSERT_EQ(writer_error, "");
  EXPECT_EQ(bad.load(), 0) << "first: " << first_bad;
  EXPECT_TRUE(ReadFd(w.get()).value_or("?") == ReadFd(pw.get()).value_or("!"))
      << "the writer's result differs from the plain file";
}

TEST_F(MountTest, ManyThreadsCreateWriteReadAndUnlink) {
  constexpr int kThreads = 4;
  constexpr int kFiles = 60;
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t, &errors] {
      const std::string dir = M("t" + std::to_string(t));
      if (::mkdir(dir.c_str(), 0755) != 0) {
        errors[static_cast<size_t>(t)] = "mkdir failed";
        return;
      }
      for (int i = 0; i < kFiles; ++i) {
        const std::string f = dir + "/f" + std::to_string(i);
        const std::string data =
            Pattern(static_cast<size_t>(100 + 997 * i), static_cast<uint64_t>(t * 1000 + i));
        if (!WriteFile(f, data)) {
          errors[static_cast<size_t>(t)] = "write " + f;
          return;
        }
        if (ReadFile(f).value_or("?") != data) {
          errors[static_cast<size_t>(t)] = "read back " + f;
          return;
        }
        // Shared names too: every thread renames into one common directory.
        const std::string common = M("common-" + std::to_string(t) + "-" + std::to_string(i));
        if (i % 3 == 0 && ::rename(f.c_str(), common.c_str()) != 0) {
          errors[static_cast<size_t>(t)] = "rename " + f;
          return;
        }
        if (i % 3 == 1 && ::unlink(f.c_str()) != 0) {
          errors[static_cast<size_t>(t)] = "unlink " + f;
          return;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t)
    EXPECT_EQ(errors[static_cast<size_t>(t)], "") << "thread " << t;
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kFiles; ++i) {
      const std::string data =
          Pattern(static_cast<size_t>(100 + 997 * i), static_cast<uint64_t>(t * 1000 + i));
      const std::string in_dir = M("t" + std::to_string(t) + "/f" + std::to_string(i));
      const std::string common = M("common-" + std::to_string(t) + "-" + std::to_string(i));
      if (i % 3 == 0) {
        EXPECT_TRUE(ReadFile(common).value_or("?") == data) << common;
      }
      if (i % 3 == 1) {
        EXPECT_FALSE(ReadFile(in_dir).has_value()) << in_dir;
      }
      if (i % 3 == 2) {
        EXPECT_TRUE(ReadFile(in_dir).value_or("?") == data) << in_dir;
      }
    }
  }
}

}  // namespace
}  // namespace matterfs::mount_test
