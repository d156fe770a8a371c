// Load and soak (issue 12 item 6): 16 threads, 8 writers and 8 readers, over 320 files in
// 16 directories for MATTERFS_SOAK_SECONDS seconds (default 20; scripts/soak runs it for
// longer), every byte read checked against what the writers wrote (content is a function
// of the file, its version and a seed, so a reader knows what each file must hold); no
// call may fail. The daemon's memory (VmRSS) after a warm-up of two full rounds and at the end
// must not have grown beyond a bound (below); its open descriptors must come back to the
// baseline once the files are closed and the kernel has forgotten the inodes (the daemon
// exposes no inode count: every remembered inode holds one backing O_PATH descriptor, so
// the descriptor count stands for both). And a daemon allowed fewer descriptors than the
// files opened through it answers the extra opens with an error and keeps serving.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/mount/mount_fixture.h"
#include "util/unique_fd.h"

namespace matterfs::mount_test {
namespace {

constexpr int kWriters = 8;
constexpr int kReaders = 8;
constexpr int kDirs = 16;
constexpr int kFiles = 320;        // kWriters divides it: writer w owns files f % kWriters == w
constexpr size_t kRecord = 1000;   // a growing file's record (not a multiple of the block)
constexpr int kRecordsMax = 2000;  // then the growing file is replaced by a new generation
constexpr int kWarmupRounds = 2;   // full rounds of every thread before the first sample

uint64_t Mix(uint64_t x) {  // splitmix64
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// What a file must hold. Even files are replaced whole (written under a temporary name,
// then renamed over): version v holds a header line and Mix-sized pattern bytes. Odd
// files grow by records; record r of generation g: a header line and pattern bytes.
std::string Header(const char* kind, int f, uint64_t a, uint64_t b) {
  char h[64];
  std::snprintf(h, sizeof h, "%s f=%d a=%" PRIu64 " b=%" PRIu64 "\n", kind, f, a, b);
  return h;
}
std::string Whole(int f, uint64_t v) {
  const uint64_t seed = Mix(static_cast<uint64_t>(f) << 32 | v);
  return Header("whole", f, v, 0) + Pattern(static_cast<size_t>(seed % 150000), seed);
}
std::string Record(int f, uint64_t g, uint64_t r) {
  std::string h = Header("rec", f, g, r);
  const uint64_t seed = Mix(static_cast<uint64_t>(f) << 40 | g << 20 | r);
  return h + Pattern(kRecord - h.size(), seed);
}
// The header's two numbers, if `data` starts with a header of that kind and file.
bool ParseHeader(const std::string& data, const char* kind, int f, uint64_t* a, uint64_t* b) {
  char k[8] = {};
  int file = -1;
  if (std::sscanf(data.c_str(), "%7s f=%d a=%" SCNu64 " b=%" SCNu64, k, &file, a, b) != 4) {
    return false;
  }
  return std::string(k) == kind && file == f;
}

// /proc/PID/status field in kB (VmRSS) or count (Threads); -1 when missing.
long StatusField(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::atol(line.c_str() + field.size() + 1);
  }
  return -1;
}
long FdCount(pid_t pid) {
  auto fds = ListDir("/proc/" + std::to_string(pid) + "/fd");
  return fds ? static_cast<long>(fds->size()) : -1;
}

class SoakTest : public MountTest {
 protected:
  std::string F(int f) const {
    return M("d" + std::to_string(f % kDirs) + "/f" + std::to_string(f));
  }
  // Makes the directories and version 0 / generation 0 (no record) of every file.
  void MakeFiles() {
    for (int d = 0; d < kDirs; ++d) {
      ASSERT_EQ(::mkdir(M("d" + std::to_string(d)).c_str(), 0755), 0) << ErrName(errno);
    }
    for (int f = 0; f < kFiles; ++f) {
      ASSERT_TRUE(WriteFile(F(f), f % 2 == 0 ? Whole(f, 0) : "")) << F(f) << ErrName(errno);
    }
  }
  // The descriptors of a quiet mount whose matter is loaded: the matter is looked up
  // (the daemon then opens the key table and keeps it, and may open its audit
  // connections), then the kernel is made to forget it again; the count once two
  // readings after a drop agree (FORGETs are handled after drop_caches returns).
  long BaselineFds() {
    const pid_t pid = daemon_pid();
    struct stat st;
    EXPECT_EQ(::stat(M().c_str(), &st), 0) << ErrName(errno);
    long before = -1;
    long now = FdCount(pid);
    for (int i = 0; i < 50 && now != before; ++i) {
      DropCaches(2);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      before = now;
      now = FdCount(pid);
    }
    return now;
  }
  // After the kernel has forgotten every inode (no file open, no cwd in the mount), the
  // daemon's descriptors must come back to `baseline`. FORGETs are handled by the
  // daemon's threads after drop_caches returns: polled (every 200 ms, up to 20 s) for the
  // count to come down, which needs no particular timing to pass.
  void ExpectFdsBackTo(long baseline, const char* when) {
    const pid_t pid = daemon_pid();
    long now = -1;
    for (int i = 0; i < 100; ++i) {
      DropCaches(2);
      now = FdCount(pid);
      if (now <= baseline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    std::fprintf(stderr, "note: daemon fds %s: %ld (baseline %ld)\n", when, now, baseline);
    EXPECT_LE(now, baseline) << "daemon descriptors not back to the baseline " << when;
  }
};

int SoakSeconds() {
  const char* v = std::getenv("MATTERFS_SOAK_SECONDS");
  const int s = v != nullptr ? std::atoi(v) : 20;
  return s > 0 ? s : 20;
}

TEST_F(SoakTest, SixteenReadersAndWritersEveryByteVerifiedMemoryAndFdsFlat) {
  const int seconds = SoakSeconds();
  const pid_t pid = daemon_pid();
  ASSERT_GT(pid, 0);
  const long fd_baseline = BaselineFds();
  ASSERT_NO_FATAL_FAILURE(MakeFiles());

  // Published state, per file: even files the version last renamed into place, odd
  // files their generation and the records written (each record complete when counted).
  struct State {
    std::atomic<uint64_t> version{0};
    std::atomic<uint64_t> gen_records{0};  // generation << 32 | records
  };
  std::vector<State> state(kFiles);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> bytes_verified{0}, bytes_written{0}, reads{0}, writes{0};
  std::atomic<int> rounds_done{0};  // threads that finished their warm-up rounds
  std::mutex err_mu;
  std::vector<std::string> errors;
  auto fail = [&](const std::string& e) {
    std::lock_guard<std::mutex> g(err_mu);
    if (errors.size() < 20) errors.push_back(e);
    stop = true;
  };

  auto writer = [&](int w) {
    std::vector<UniqueFd> growing(kFiles);
    bool counted = false;
    for (uint64_t round = 0; !stop; ++round) {
      for (int f = w; f < kFiles && !stop; f += kWriters) {
        if (f % 2 == 0) {
          const uint64_t v = state[f].version + 1;
          const std::string tmp = M("d" + std::to_string(f % kDirs) + "/tmp-w" + std::to_string(w));
          const std::string data = Whole(f, v);
          if (!WriteFile(tmp, data)) return fail("write " + tmp + ": " + ErrName(errno));
          if (::rename(tmp.c_str(), F(f).c_str()) != 0) {
            return fail("rename " + tmp + ": " + ErrName(errno));
          }
          state[f].version = v;
          bytes_written += data.size();
        } else {
          uint64_t gr = state[f].gen_records;
          uint64_t g = gr >> 32, r = gr & 0xffffffff;
          if (r >= kRecordsMax || !growing[f].valid()) {
            // A new generation: a new file renamed over the old one (readers holding the
            // old one open keep reading it).
            if (r >= kRecordsMax) g += 1;
            const std::string tmp =
                M("d" + std::to_string(f % kDirs) + "/tmp-w" + std::to_string(w));
            UniqueFd fd(::open(tmp.c_str(), O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0644));
            if (!fd.valid()) return fail("create " + tmp + ": " + ErrName(errno));
            const std::string first = Record(f, g, 0);
            if (!PwriteAll(fd.get(), first, 0)) return fail("write " + tmp + ": " + ErrName(errno));
            if (::rename(tmp.c_str(), F(f).c_str()) != 0) {
              return fail("rename " + tmp + ": " + ErrName(errno));
            }
            growing[f] = std::move(fd);
            state[f].gen_records = g << 32 | 1;
            bytes_written += kRecord;
            ++writes;
            continue;
          }
          // Several records per visit, each one write at its offset.
          for (int k = 0; k < 8 && r < kRecordsMax; ++k, ++r) {
            const std::string rec = Record(f, g, r);
            if (!PwriteAll(growing[f].get(), rec, static_cast<off_t>(r * kRecord))) {
              return fail("append to " + F(f) + ": " + ErrName(errno));
            }
            state[f].gen_records = g << 32 | (r + 1);
            bytes_written += kRecord;
          }
        }
        ++writes;
      }
      if (!counted && round + 1 == kWarmupRounds) {
        counted = true;
        ++rounds_done;
      }
    }
  };

  auto reader = [&](int id) {
    std::string buf;
    bool counted = false;
    for (uint64_t i = 0; !stop; ++i) {
      if (!counted && i == kWarmupRounds * kFiles) {
        counted = true;
        ++rounds_done;
      }
      const int f = static_cast<int>(Mix(static_cast<uint64_t>(id) << 48 | i) % kFiles);
      if (f % 2 == 0) {
        const uint64_t before = state[f].version;
        auto data = ReadFile(F(f));
        const uint64_t after = state[f].version;
        if (!data) return fail("read " + F(f) + ": " + ErrName(errno));
        uint64_t v = 0, zero = 0;
        if (!ParseHeader(*data, "whole", f, &v, &zero)) return fail("bad header in " + F(f));
        // Renamed into place before `before` was read at the latest; at most the one
        // renamed but not yet published after the read.
        if (v < before || v > after + 1) {
          return fail(F(f) + ": version " + std::to_string(v) + " outside [" +
                      std::to_string(before) + ", " + std::to_string(after + 1) + "]");
        }
        if (*data != Whole(f, v)) return fail(F(f) + ": version " + std::to_string(v) + " differs");
        bytes_verified += data->size();
      } else {
        const uint64_t gr = state[f].gen_records;
        const uint64_t g = gr >> 32, n = gr & 0xffffffff;
        UniqueFd fd(::open(F(f).c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd.valid()) return fail("open " + F(f) + ": " + ErrName(errno));
        if (n == 0) continue;  // generation 0 before its first record: empty
        buf.resize(n * kRecord);
        ssize_t got = ::pread(fd.get(), buf.data(), buf.size(), 0);
        if (got < 0) return fail("read " + F(f) + ": " + ErrName(errno));
        uint64_t fg = 0, r0 = 0;
        if (!ParseHeader(buf, "rec", f, &fg, &r0) || r0 != 0) {
          return fail("bad first record in " + F(f));
        }
        if (fg < g) return fail(F(f) + ": an older generation after the rename");
        // The file we opened is a newer generation than our snapshot: only its first
        // record (written before its rename) is known to be complete.
        const uint64_t whole_records = fg == g ? n : 1;
        if (static_cast<uint64_t>(got) < whole_records * kRecord) {
          return fail(F(f) + ": " + std::to_string(got) + " bytes, " +
                      std::to_string(whole_records) + " records published");
        }
        for (uint64_t r = 0; r < whole_records; ++r) {
          if (buf.compare(r * kRecord, kRecord, Record(f, fg, r)) != 0) {
            return fail(F(f) + ": record " + std::to_string(r) + " of generation " +
                        std::to_string(fg) + " differs");
          }
        }
        bytes_verified += whole_records * kRecord;
      }
      ++reads;
    }
  };

  std::vector<std::thread> threads;
  const auto start = std::chrono::steady_clock::now();
  for (int w = 0; w < kWriters; ++w) threads.emplace_back(writer, w);
  for (int r = 0; r < kReaders; ++r) threads.emplace_back(reader, r);
  // Warm-up: every thread has done kWarmupRounds full rounds (a writer: every file it
  // owns once; a reader: kFiles reads); then the memory sample to compare with.
  while (rounds_done < kWriters + kReaders && !stop) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const long rss_warm = StatusField(pid, "VmRSS");
  const long threads_warm = StatusField(pid, "Threads");
  const auto warm_at = std::chrono::steady_clock::now();
  std::string samples;  // VmRSS every 5 s, for the log
  for (int tick = 1;
       !stop && std::chrono::steady_clock::now() - start < std::chrono::seconds(seconds); ++tick) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (tick % 50 == 0) samples += " " + std::to_string(StatusField(pid, "VmRSS"));
  }
  const long rss_end = StatusField(pid, "VmRSS");
  const long threads_end = StatusField(pid, "Threads");
  const long fds_busy = FdCount(pid);
  stop = true;
  for (auto& t : threads) t.join();
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (const std::string& e : errors) ADD_FAILURE() << e;
  std::fprintf(stderr,
               "note: soak %.1f s (warm-up %.1f s): %" PRIu64 " writes (%" PRIu64 " MB), %" PRIu64
               " reads (%" PRIu64
               " MB verified); daemon VmRSS %ld kB after "
               "warm-up, %ld kB at the end; threads %ld, %ld; fds %ld under load\n",
               secs, std::chrono::duration<double>(warm_at - start).count(), writes.load(),
               bytes_written.load() >> 20, reads.load(), bytes_verified.load() >> 20, rss_warm,
               rss_end, threads_warm, threads_end, fds_busy);
  std::fprintf(stderr, "note: daemon VmRSS every 5 s (kB):%s\n", samples.c_str());
  EXPECT_GT(reads.load(), static_cast<uint64_t>(kFiles));
  EXPECT_GT(bytes_verified.load(), 0u);
  ASSERT_GT(rss_warm, 0);
  ASSERT_GT(rss_end, 0);
  // The bound: the daemon keeps no cache of file data, so after the warm-up its memory
  // should only move with its FUSE worker threads: each has up to 3 MiB of scratch
  // (1 MiB read buffer, 2 MiB for ciphertext) and a malloc arena, and libfuse starts
  // and stops workers as the load changes (up to 16; idle ones beyond 8 exit, new ones
  // allocate afresh). Measured (2 cores, 16 client threads): 30 to 48 MB, no trend over
  // 90 s. So 32 MiB above the warm-up sample; a leak of 1 KB per request passes it
  // within the default 20 s (tens of thousands of requests), and of a few hundred bytes
  // in a 5-minute scripts/soak run.
  const long allowed = rss_warm + 32 * 1024;
#if defined(__SANITIZE_ADDRESS__)
  // Under AddressSanitizer the daemon's RSS is its quarantine of freed memory (up to
  // 256 MiB by default), which fills as the soak goes on: the bound says nothing there.
  // LeakSanitizer checks the daemon for leaks at its exit instead (scripts/test).
  std::printf("note: AddressSanitizer build: the memory bound (%ld kB) is not checked\n", allowed);
#else
  EXPECT_LE(rss_end, allowed) << "the daemon's memory grew: " << rss_warm << " kB -> " << rss_end
                              << " kB";
#endif
  // Every file's final state, read once more from a fresh look-up.
  for (int f = 0; f < kFiles; ++f) {
    auto data = ReadFile(F(f));
    ASSERT_TRUE(data.has_value()) << F(f);
    if (f % 2 == 0) {
      EXPECT_TRUE(*data == Whole(f, state[f].version)) << F(f);
    } else {
      const uint64_t gr = state[f].gen_records;
      std::string want;
      for (uint64_t r = 0; r < (gr & 0xffffffff); ++r) want += Record(f, gr >> 32, r);
      EXPECT_TRUE(*data == want) << F(f);
    }
  }
  ExpectFdsBackTo(fd_baseline, "after the soak");
}

// A daemon allowed fewer descriptors than the files opened through it. The daemon raises
// its soft limit to the hard one at start and sizes its inode table's descriptor budget
// from it; so it is mounted with --max-fds 64 (the budget a hard limit of 128 would give)
// and then limited to 128 descriptors (soft and hard) with prlimit(2): every open file
// needs one more. 300 files opened at once through the mount: the opens past what it can
// hold fail with EMFILE, ENFILE or EIO, each on its own; the daemon stays up; once they
// are closed every file opens and reads again.
class FdLimitTest : public SoakTest {
 protected:
  std::vector<std::string> ExtraArgs() const override { return {"--max-fds", "64"}; }
};

TEST_F(FdLimitTest, MoreOpenFilesThanTheDaemonCanServeFailCleanly) {
  constexpr int kOpen = 300;
  const pid_t pid = daemon_pid();
  ASSERT_GT(pid, 0);
  const long fd_baseline = BaselineFds();
  ASSERT_NO_FATAL_FAILURE(MakeFiles());
  struct rlimit mine;
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &mine), 0);
  ASSERT_GE(mine.rlim_cur, static_cast<rlim_t>(kOpen + 100)) << "the test needs descriptors";
  ASSERT_LT(fd_baseline, 64);
  struct rlimit low = {128, 128};
  ASSERT_EQ(::prlimit(pid, RLIMIT_NOFILE, &low, nullptr), 0) << ErrName(errno);

  std::vector<UniqueFd> open_files;
  std::vector<int> errs;
  for (int f = 0; f < kOpen; ++f) {
    UniqueFd fd(::open(F(f).c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.valid()) {
      open_files.push_back(std::move(fd));
    } else {
      errs.push_back(errno);
    }
  }
  std::string errnos;
  for (int e : errs) {
    if (errnos.find(ErrName(e)) == std::string::npos) errnos += " " + ErrName(e);
  }
  std::fprintf(
      stderr,
      "note: %zu of %d opens succeeded, the others failed with%s; daemon fds %ld (limit 128)\n",
      open_files.size(), kOpen, errnos.c_str(), FdCount(pid));
  EXPECT_GT(open_files.size(), 10u);
  EXPECT_FALSE(errs.empty()) << "every open succeeded: the limit did not bite";
  for (int e : errs) {
    EXPECT_TRUE(e == EMFILE || e == ENFILE || e == EIO) << "open failed with " << ErrName(e);
  }
  // The files that did open read correctly while the daemon is at its limit.
  for (size_t i = 0; i < open_files.size(); i += 7) {
    auto data = ReadFd(open_files[i].get());
    EXPECT_TRUE(data.has_value()) << i << ": " << ErrName(errno);
  }
  EXPECT_EQ(::kill(pid, 0), 0) << "the daemon died";
  open_files.clear();
  // Serving again: every file, one at a time, with its content.
  for (int f = 0; f < kOpen; ++f) {
    auto data = ReadFile(F(f));
    ASSERT_TRUE(data.has_value()) << F(f) << ": " << ErrName(errno);
    EXPECT_TRUE(*data == (f % 2 == 0 ? Whole(f, 0) : "")) << F(f);
  }
  EXPECT_EQ(daemon_pid(), pid);
  EXPECT_EQ(::kill(pid, 0), 0) << "the daemon died";
  ExpectFdsBackTo(fd_baseline, "after closing");
  // Unmount (TearDown) checks that the daemon exits with status 0.
}

}  // namespace
}  // namespace matterfs::mount_test
