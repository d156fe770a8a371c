// Crash safety (issue 12 item 2; docs/FORMAT.md §15, docs/SECURITY.md "Crash safety"):
// the daemon is killed with SIGKILL while worker threads append to files, create files
// and rename files (each fsyncing and recording what it did), and while an online
// rotation or an online wipe runs beside them. Then the dead mount is detached, the vault
// checked offline with `matterctl fsck`, mounted again and every file read back.
//
// Determinism: nothing waits for time. The kill comes once the workers have recorded a
// chosen number of completed fsyncs (the test waits on their record), or, for rotations
// and wipes, at a point the daemon reaches (after K rewrapped headers; at a named step
// of the wipe: MATTERFS_FAULT_INJECT_DAEMON_* in fs/control_handler.cc, where the daemon
// raises SIGKILL itself). The checks hold whatever the workers were doing at that
// moment: they are written against the record, not against a schedule.
//
// What is asserted (the guarantees of a daemon crash; the daemon has no write-back cache
// and keeps no data of its own, so every write it acknowledged is in the backing file
// system, which a process crash does not lose):
//   - every file not being written at the kill reads back byte for byte;
//   - a file being appended to: it opens; its size is at least what the writer saw
//     acknowledged (so at least what it fsync'd) and at most what it asked for; every
//     block wholly below the acknowledged size reads exactly; a later block (the one
//     the interrupted write was rewriting or adding) reads exactly or fails with EIO,
//     never with other bytes;
//   - creates and renames are atomic: a file created and synced is there with its
//     content; the create under way may be missing or short; a renamed file has exactly
//     one of its two names, with its content;
//   - fsck reports nothing outside the files being written at the kill (and, for an
//     interrupted long-name create or rename, its orphan side file), and nothing but
//     the wipe's own journal after an interrupted wipe;
//   - a rerun of the interrupted rotation or wipe completes it.
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/mount/mount_fixture.h"
#include "util/unique_fd.h"

namespace matterfs::mount_test {
namespace {

constexpr size_t kBlock = 4096;         // plaintext block size (docs/FORMAT.md §13.2)
constexpr int kAppenders = 4;           // threads appending to one file each
constexpr size_t kAppendMax = 6 << 20;  // what an appender may write in all
constexpr int kRenamed = 8;             // files the renamer moves between two directories

uint64_t Mix(uint64_t x) {  // splitmix64: deterministic sizes
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// The name of the n-th file the creator makes: every fourth one long (a side file).
std::string CreatedName(int n) {
  return n % 4 == 0 ? "c" + std::to_string(n) + "-" + std::string(200, 'x')
                    : "c" + std::to_string(n);
}
std::string CreatedContent(int n) {
  return Pattern(static_cast<size_t>(Mix(static_cast<uint64_t>(n)) % 70000), 1000 + n);
}
// Renamed file k at generation g: in ren/a or ren/b; file 0 has a long name.
std::string RenamedRel(int k, uint64_t g) {
  const std::string base = k == 0 ? std::string(180, 'r') : "f";
  return std::string(g % 2 == 0 ? "a/" : "b/") + base + std::to_string(k) + "." + std::to_string(g);
}
std::string RenamedContent(int k) {
  return Pattern(5000 + static_cast<size_t>(k) * 3001, 2000 + k);
}

// How calls fail once the daemon is gone: ENOTCONN for new requests, ECONNABORTED or
// EIO for requests under way when the kernel aborted the connection.
bool IsDeathErrno(int err) { return err == ENOTCONN || err == ECONNABORTED || err == EIO; }

// One round of workers in directory `base` of the mount (e.g. MNT/alpha/r0): what they
// completed, guarded by mu. "acked": the call returned success; "synced": its fsync (and
// the directory's, for creates and renames) returned too.
class Workers {
 public:
  explicit Workers(std::string base) : base_(std::move(base)) {
    for (int i = 0; i < kAppenders; ++i) {
      expected_.push_back(Pattern(kAppendMax, 100 + static_cast<uint64_t>(i)));
    }
    acked_.assign(kAppenders, 0);
    synced_.assign(kAppenders, 0);
    gen_.assign(kRenamed, 0);
  }
  // A test that failed early stops the workers (the mount is still up).
  ~Workers() {
    stop_ = true;
    Join();
  }

  // Makes the directories and the files to rename (synced), then starts the threads.
  void Start() {
    for (const char* d : {"", "/new", "/ren", "/ren/a", "/ren/b"}) {
      ASSERT_EQ(::mkdir((base_ + d).c_str(), 0755), 0) << base_ + d << ": " << ErrName(errno);
    }
    for (int k = 0; k < kRenamed; ++k) {
      ASSERT_TRUE(WriteFile(Ren(k, 0), RenamedContent(k)));
    }
    ::sync();
    for (int i = 0; i < kAppenders; ++i) threads_.emplace_back([this, i] { Append(i); });
    threads_.emplace_back([this] { Create(); });
    threads_.emplace_back([this] { Rename(); });
  }

  // Waits until the workers have completed `syncs` fsyncs in all and each of them at
  // least one (or one has stopped). True when they got there.
  bool WaitForSyncs(uint64_t syncs) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] {
      const bool each =
          std::all_of(synced_.begin(), synced_.end(), [](uint64_t s) { return s > 0; }) &&
          created_ > 0 && renames_ > 0;
      return stopped_ > 0 || (syncs_ >= syncs && each);
    });
    return stopped_ == 0;
  }
  // From now on the daemon may die (the test is about to kill it, or starts what it
  // dies in): calls failing as with a dead daemon are expected.
  void MayDie() { may_die_ = true; }
  void Join() {
    for (auto& t : threads_) t.join();
    threads_.clear();
  }
  // Errors that were not the daemon's death (a test failure).
  std::vector<std::string> errors() {
    std::lock_guard<std::mutex> g(mu_);
    return errors_;
  }
  uint64_t syncs() {
    std::lock_guard<std::mutex> g(mu_);
    return syncs_;
  }

  // After the kill (threads joined), on a fresh mount: everything the record promises.
  // Returns the paths (relative to the mount) of the files that were being written, for
  // the fsck check.
  std::set<std::string> Verify(const std::string& mnt) {
    std::set<std::string> in_flight;
    const std::string rel = base_.substr(mnt.size() + 1);
    for (int i = 0; i < kAppenders; ++i) {
      VerifyGrowing(App(i), expected_[i], acked_[i], synced_[i]);
      in_flight.insert(rel + "/app" + std::to_string(i));
    }
    // Creates: every synced file complete; the one under way absent or readable as far
    // as it goes; nothing else.
    auto listing = ListDir(base_ + "/new");
    EXPECT_TRUE(listing.has_value()) << base_;
    std::set<std::string> allowed;
    for (int n = 0; n < created_started_; ++n) allowed.insert(CreatedName(n));
    for (const std::string& name : listing.value_or(std::vector<std::string>{})) {
      EXPECT_EQ(allowed.count(name), 1u) << "an unexpected file " << name;
    }
    for (int n = 0; n < created_; ++n) {
      EXPECT_TRUE(ReadFile(base_ + "/new/" + CreatedName(n)) == CreatedContent(n))
          << "created and synced file " << n << " lost or changed";
    }
    if (created_started_ > created_) {
      const std::string path = base_ + "/new/" + CreatedName(created_);
      struct stat st;
      if (::stat(path.c_str(), &st) == 0) VerifyGrowing(path, CreatedContent(created_), 0, 0);
      in_flight.insert(rel + "/new/" + CreatedName(created_));
      if (created_ % 4 == 0) in_flight.insert(rel + "/new/*");  // an orphan side file
    }
    // Renames: each file under exactly one of its names, whole.
    const int moving = static_cast<int>(renames_ % kRenamed);
    for (int k = 0; k < kRenamed; ++k) {
      const bool a = ::access(Ren(k, gen_[k]).c_str(), F_OK) == 0;
      const bool b = ::access(Ren(k, gen_[k] + 1).c_str(), F_OK) == 0;
      EXPECT_TRUE(a != b) << "renamed file " << k << " at generation " << gen_[k] << ": old name "
                          << a << ", new name " << b;
      if (b) {
        EXPECT_EQ(k, moving) << "only the file being renamed may have its new name";
      }
      EXPECT_TRUE(ReadFile(b ? Ren(k, gen_[k] + 1) : Ren(k, gen_[k])) == RenamedContent(k))
          << "renamed file " << k;
    }
    for (const char* d : {"/ren/a", "/ren/b"}) {
      auto names = ListDir(base_ + d);
      EXPECT_TRUE(names.has_value());
      size_t expected_count = 0;
      for (int k = 0; k < kRenamed; ++k) expected_count += RenamedRel(k, gen_[k])[0] == d[5];
      const bool moving_here = RenamedRel(moving, gen_[moving] + 1)[0] == d[5];
      const size_t n = names.value_or(std::vector<std::string>{}).size();
      EXPECT_TRUE(n == expected_count || (moving_here && n == expected_count + 1) ||
                  (!moving_here && n + 1 == expected_count))
          << d << ": " << n << " names, " << expected_count << " expected";
    }
    if (moving == 0) {  // the long name: its side file (or its temporary) in either directory
      in_flight.insert(rel + "/ren/a/*");
      in_flight.insert(rel + "/ren/b/*");
    }
    return in_flight;
  }

  // Files that no worker touches any more: everything synced must still read exactly
  // (checked again after later crashes).
  void VerifySettled() {
    for (int n = 0; n < created_; ++n) {
      EXPECT_TRUE(ReadFile(base_ + "/new/" + CreatedName(n)) == CreatedContent(n)) << n;
    }
    for (int i = 0; i < kAppenders; ++i) VerifyGrowing(App(i), expected_[i], acked_[i], synced_[i]);
  }

 private:
  std::string App(int i) const { return base_ + "/app" + std::to_string(i); }
  std::string Ren(int k, uint64_t g) const { return base_ + "/ren/" + RenamedRel(k, g); }

  // A worker's call failed: the daemon's death (only once it may die), or an error to
  // report. Returns false (the worker stops).
  bool Failed(const std::string& what, int err) {
    std::lock_guard<std::mutex> g(mu_);
    if (!may_die_ || !IsDeathErrno(err)) errors_.push_back(what + ": " + ErrName(err));
    ++stopped_;
    cv_.notify_all();
    return false;
  }
  void Synced() {
    ++syncs_;
    cv_.notify_all();
  }

  // Appends chunks of 1 byte to 150 KB of expected_[i], fsyncing after every second one.
  void Append(int i) {
    UniqueFd fd(::open(App(i).c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
    if (!fd.valid()) return (void)Failed("open " + App(i), errno);
    uint64_t at = 0;
    for (uint64_t step = 0; !stop_; ++step) {
      const size_t len =
          1 + static_cast<size_t>(Mix(step * 16 + static_cast<uint64_t>(i)) % 150000);
      if (at + len > kAppendMax) return;
      const ssize_t n = ::pwrite(fd.get(), expected_[i].data() + at, len, static_cast<off_t>(at));
      if (n != static_cast<ssize_t>(len)) {
        return (void)Failed("write " + App(i), n < 0 ? errno : EIO);
      }
      at += len;
      {
        std::lock_guard<std::mutex> g(mu_);
        acked_[i] = at;
      }
      if (step % 2 == 1) {
        if (::fsync(fd.get()) != 0) return (void)Failed("fsync " + App(i), errno);
        std::lock_guard<std::mutex> g(mu_);
        synced_[i] = at;
        Synced();
      }
    }
  }

  // Creates files one after the other: O_EXCL, write, fsync, close, fsync the directory.
  void Create() {
    UniqueFd dir(::open((base_ + "/new").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir.valid()) return (void)Failed("open new/", errno);
    for (int n = 0; !stop_; ++n) {
      {
        std::lock_guard<std::mutex> g(mu_);
        created_started_ = n + 1;
      }
      const std::string path = base_ + "/new/" + CreatedName(n);
      const std::string content = CreatedContent(n);
      UniqueFd fd(::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644));
      if (!fd.valid()) return (void)Failed("create " + path, errno);
      if (!content.empty() && ::write(fd.get(), content.data(), content.size()) !=
                                  static_cast<ssize_t>(content.size())) {
        return (void)Failed("write " + path, errno);
      }
      if (::fsync(fd.get()) != 0) return (void)Failed("fsync " + path, errno);
      fd.reset();
      if (::fsync(dir.get()) != 0) return (void)Failed("fsync new/", errno);
      std::lock_guard<std::mutex> g(mu_);
      created_ = n + 1;
      Synced();
    }
  }

  // Renames file (step mod kRenamed) to its next generation, in the other directory;
  // fsyncs both directories.
  void Rename() {
    UniqueFd a(::open((base_ + "/ren/a").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    UniqueFd b(::open((base_ + "/ren/b").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!a.valid() || !b.valid()) return (void)Failed("open ren/", errno);
    for (uint64_t step = 0; !stop_; ++step) {
      const int k = static_cast<int>(step % kRenamed);
      const uint64_t g = gen_[k];  // only this thread changes gen_
      const std::string from = Ren(k, g);
      const std::string to = Ren(k, g + 1);
      if (::rename(from.c_str(), to.c_str()) != 0) return (void)Failed("rename " + from, errno);
      if (::fsync(a.get()) != 0 || ::fsync(b.get()) != 0) {
        return (void)Failed("fsync ren/", errno);
      }
      std::lock_guard<std::mutex> l(mu_);
      gen_[k] = g + 1;
      renames_ = step + 1;
      Synced();
    }
  }

  // A file that grows toward `expected` and may have been written at the kill.
  static void VerifyGrowing(const std::string& path, const std::string& expected, uint64_t acked,
                            uint64_t synced) {
    SCOPED_TRACE(path + " (acknowledged " + std::to_string(acked) + ", synced " +
                 std::to_string(synced) + ")");
    // O_DIRECT: each pread is one FUSE read of exactly that block (no read-ahead that
    // would fail a good block together with a bad one after it).
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC));
    ASSERT_TRUE(fd.valid()) << "does not open: " << ErrName(errno);
    struct stat st;
    ASSERT_EQ(::fstat(fd.get(), &st), 0);
    const uint64_t size = static_cast<uint64_t>(st.st_size);
    EXPECT_GE(size, acked) << "acknowledged bytes lost";
    EXPECT_GE(size, synced) << "synced bytes lost";
    ASSERT_LE(size, expected.size()) << "longer than anything written";
    const uint64_t guaranteed = acked / kBlock * kBlock;
    void* raw = nullptr;
    ASSERT_EQ(::posix_memalign(&raw, kBlock, kBlock), 0);
    std::unique_ptr<char, decltype(&std::free)> buf(static_cast<char*>(raw), &std::free);
    int bad = 0;
    for (uint64_t off = 0; off < size; off += kBlock) {
      const size_t want = static_cast<size_t>(std::min<uint64_t>(kBlock, size - off));
      const ssize_t n = ::pread(fd.get(), buf.get(), kBlock, static_cast<off_t>(off));
      const int err = errno;
      if (n < 0 && err == EIO && off >= guaranteed) {
        ++bad;  // the block the interrupted write was writing
        continue;
      }
      ASSERT_EQ(n, static_cast<ssize_t>(want))
          << "block at " << off << ": " << (n < 0 ? ErrName(err) : "short read");
      ASSERT_TRUE(std::equal(buf.get(), buf.get() + want, expected.data() + off))
          << "block at " << off << " holds other bytes than were written";
    }
    if (bad > 0)
      std::fprintf(stderr, "note: %s: %d block(s) at the end read EIO\n", path.c_str(), bad);
  }

  const std::string base_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> may_die_{false};
  std::vector<std::string> expected_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<uint64_t> acked_, synced_;
  int created_started_ = 0;
  int created_ = 0;
  std::vector<uint64_t> gen_;
  uint64_t renames_ = 0;
  uint64_t syncs_ = 0;
  int stopped_ = 0;
  std::vector<std::string> errors_;
};

class CrashTest : public MountTest {
 protected:
  std::vector<std::string> Matters() const override { return {"alpha"}; }

  // Files written and synced before any worker starts: they must never change.
  void MakeQuietFiles(int count) {
    ASSERT_EQ(::mkdir(M("quiet").c_str(), 0755), 0);
    for (int i = 0; i < count; ++i) {
      const size_t size = i == 0 ? (1 << 20) + 17 : static_cast<size_t>(Mix(500 + i) % 20000);
      quiet_[M("quiet/q" + std::to_string(i))] = Pattern(size, 500 + static_cast<uint64_t>(i));
    }
    for (const auto& [path, content] : quiet_) ASSERT_TRUE(WriteFile(path, content)) << path;
    ::sync();
  }
  void ExpectQuietFiles() {
    for (const auto& [path, content] : quiet_) {
      EXPECT_TRUE(ReadFile(path) == content) << path << " changed";
    }
  }

  // The daemon died (killed by the test, or by itself at an injected point): the
  // workers stop, then the dead mount is detached and the daemon reaped.
  void AfterDeath(Workers& w) {
    w.Join();
    for (const std::string& e : w.errors()) ADD_FAILURE() << "a worker failed: " << e;
    ASSERT_NO_FATAL_FAILURE(KillDaemon());  // reaps it (SIGKILL) and detaches the mount
  }

  // fsck offline: every problem must concern an allowed path ("DIR/*": anything of kind
  // orphan or temp in DIR), or be of an allowed kind.
  void ExpectFsckOnly(const std::set<std::string>& allowed,
                      const std::set<std::string>& allowed_kinds = {}) {
    CmdResult r = Matterctl({"fsck", vault_, "--json", "--passphrase-file", pass_});
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(r.out);
    } catch (const nlohmann::json::exception&) {
      FAIL() << "fsck --json did not print JSON: " << ::testing::PrintToString(r);
    }
    ASSERT_TRUE(j.contains("problems")) << r.out;
    for (const auto& p : j["problems"]) {
      if (p.value("severity", "") == "note") continue;
      const std::string matter = p.value("matter", "");
      const std::string path =
          matter.empty() ? p.value("path", "") : matter + "/" + p.value("path", "");
      const std::string kind = p.value("kind", "");
      bool ok = allowed.count(path) > 0 || allowed_kinds.count(kind) > 0;
      const size_t slash = path.rfind('/');
      if (!ok && slash != std::string::npos && (kind == "orphan" || kind == "temp")) {
        ok = allowed.count(path.substr(0, slash) + "/*") > 0;
      }
      EXPECT_TRUE(ok) << "fsck found a problem outside the files being written: " << p.dump();
      if (ok) std::fprintf(stderr, "note: fsck (allowed): %s\n", p.dump().c_str());
    }
    EXPECT_TRUE(r.status == 0 || r.status == 4) << ::testing::PrintToString(r);
  }

  std::map<std::string, std::string> quiet_;
};

TEST_F(CrashTest, KilledDuringWritesCreatesAndRenamesLosesNothingSynced) {
  ASSERT_NO_FATAL_FAILURE(MakeQuietFiles(5));
  std::vector<std::unique_ptr<Workers>> rounds;
  std::set<std::string> in_flight;
  // Three kills, each after a different number of completed fsyncs.
  for (uint64_t syncs : {12, 40, 90}) {
    SCOPED_TRACE("kill after " + std::to_string(syncs) + " fsyncs");
    rounds.push_back(std::make_unique<Workers>(M("r" + std::to_string(rounds.size()))));
    Workers& w = *rounds.back();
    ASSERT_NO_FATAL_FAILURE(w.Start());
    ASSERT_TRUE(w.WaitForSyncs(syncs)) << "a worker stopped before the kill";
    const pid_t pid = daemon_pid();
    ASSERT_GT(pid, 0);
    w.MayDie();
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    ASSERT_NO_FATAL_FAILURE(AfterDeath(w));
    std::fprintf(stderr, "note: killed after %llu fsyncs\n",
                 static_cast<unsigned long long>(w.syncs()));
    ASSERT_NO_FATAL_FAILURE(Mount());
    for (const std::string& f : w.Verify(mnt_)) in_flight.insert(f);
    for (size_t r = 0; r + 1 < rounds.size(); ++r) rounds[r]->VerifySettled();
    ExpectQuietFiles();
    ASSERT_NO_FATAL_FAILURE(Unmount());
    ExpectFsckOnly(in_flight);
    ASSERT_NO_FATAL_FAILURE(Mount());
  }
}

TEST_F(CrashTest, KilledDuringAnOnlineRotationUnderWritesAndARerunCompletes) {
  ASSERT_NO_FATAL_FAILURE(MakeQuietFiles(40));
  // The daemon kills itself once 20 headers are rewrapped.
  ::setenv("MATTERFS_FAULT_INJECT_DAEMON_ROTATE_KILL_AFTER", "20", 1);
  Remount();
  ::unsetenv("MATTERFS_FAULT_INJECT_DAEMON_ROTATE_KILL_AFTER");
  Workers w(M("r0"));
  ASSERT_NO_FATAL_FAILURE(w.Start());
  ASSERT_TRUE(w.WaitForSyncs(20)) << "a worker stopped before the rotation";
  w.MayDie();
  CmdResult rotated = Matterctl({"rotate", mnt_, "alpha"});
  EXPECT_NE(rotated.status, 0) << "the daemon died during the rotation: "
                               << ::testing::PrintToString(rotated);
  ASSERT_NO_FATAL_FAILURE(AfterDeath(w));
  // Both versions in the keyring: nothing is unreadable.
  CmdResult list = Matterctl({"matter", "list", vault_, "--passphrase-file", pass_});
  EXPECT_NE(list.out.find("key-version 2 (rotation unfinished)"), std::string::npos) << list.out;
  ASSERT_NO_FATAL_FAILURE(Mount());
  std::set<std::string> in_flight = w.Verify(mnt_);
  ExpectQuietFiles();
  ASSERT_NO_FATAL_FAILURE(Unmount());
  ExpectFsckOnly(in_flight);
  // The rerun, online, completes the rotation.
  ASSERT_NO_FATAL_FAILURE(Mount());
  CmdResult done = Matterctl({"rotate", mnt_, "alpha"});
  EXPECT_EQ(done.status, 0) << ::testing::PrintToString(done);
  EXPECT_NE(done.out.find("unfinished rotation, completed"), std::string::npos) << done.out;
  EXPECT_NE(done.out.find("destroyed version(s) 1"), std::string::npos) << done.out;
  ASSERT_NO_FATAL_FAILURE(Remount());
  w.VerifySettled();
  ExpectQuietFiles();
  ASSERT_NO_FATAL_FAILURE(Unmount());
  list = Matterctl({"matter", "list", vault_, "--passphrase-file", pass_});
  EXPECT_NE(list.out.find("alpha\topen\t"), std::string::npos) << list.out;
  EXPECT_EQ(list.out.find("rotation unfinished"), std::string::npos) << list.out;
  // Every header opens with the one version left (fsck checks each against the keyring).
  ExpectFsckOnly(in_flight);
}

class CrashWipeTest : public CrashTest {
 protected:
  std::vector<std::string> Matters() const override {
    return {"alpha", "closed0", "closed1", "closed2"};
  }
};

TEST_F(CrashWipeTest, KilledDuringOnlineWipesUnderWritesAndRerunsComplete) {
  ASSERT_NO_FATAL_FAILURE(MakeQuietFiles(5));
  const std::vector<std::string> points = {"after-aside", "mid-overwrite", "mid-unlink"};
  for (size_t i = 0; i < points.size(); ++i) {
    const std::string m = mnt_ + "/closed" + std::to_string(i);
    ASSERT_EQ(::mkdir((m + "/sub").c_str(), 0755), 0);
    ASSERT_TRUE(WriteFile(m + "/big", Pattern(3 << 20, 77)));
    for (int f = 0; f < 6; ++f) {
      ASSERT_TRUE(WriteFile(m + "/sub/f" + std::to_string(f), Pattern(9000, 78 + f)));
    }
    ASSERT_EQ(Matterctl({"matter", "close", mnt_, "closed" + std::to_string(i)}).status, 0);
  }
  std::vector<std::unique_ptr<Workers>> rounds;
  std::set<std::string> in_flight;
  for (size_t i = 0; i < points.size(); ++i) {
    const std::string matter = "closed" + std::to_string(i);
    SCOPED_TRACE("wipe of " + matter + " killed at " + points[i]);
    ::setenv("MATTERFS_FAULT_INJECT_DAEMON_WIPE_KILL_AT", points[i].c_str(), 1);
    Remount();
    ::unsetenv("MATTERFS_FAULT_INJECT_DAEMON_WIPE_KILL_AT");
    rounds.push_back(std::make_unique<Workers>(M("r" + std::to_string(i))));
    Workers& w = *rounds.back();
    ASSERT_NO_FATAL_FAILURE(w.Start());
    ASSERT_TRUE(w.WaitForSyncs(15)) << "a worker stopped before the wipe";
    w.MayDie();
    const std::string cert = dir_ + "/" + matter + ".json";
    CmdResult killed =
        Matterctl({"wipe", mnt_, matter, "--confirm", matter, "--certificate", cert});
    EXPECT_NE(killed.status, 0) << ::testing::PrintToString(killed);
    ASSERT_NO_FATAL_FAILURE(AfterDeath(w));
    ASSERT_NO_FATAL_FAILURE(Mount());
    for (const std::string& f : w.Verify(mnt_)) in_flight.insert(f);
    for (size_t r = 0; r + 1 < rounds.size(); ++r) rounds[r]->VerifySettled();
    ExpectQuietFiles();
    auto listing = ListDir(mnt_);
    ASSERT_TRUE(listing.has_value());
    EXPECT_EQ(std::count(listing->begin(), listing->end(), matter), 0) << "out of sight";
    // Offline: the interrupted wipe's journal is the only finding besides the files
    // being written.
    ASSERT_NO_FATAL_FAILURE(Unmount());
    ExpectFsckOnly(in_flight, {"journal"});
    ASSERT_NO_FATAL_FAILURE(Mount());
    // The same command again completes it.
    CmdResult rerun = Matterctl({"wipe", mnt_, matter, "--confirm", matter, "--certificate", cert});
    ASSERT_EQ(rerun.status, 0) << ::testing::PrintToString(rerun);
    EXPECT_NE(rerun.out.find("(an unfinished wipe, completed)"), std::string::npos) << rerun.out;
    CmdResult v = Matterctl({"certificate", "verify", vault_, cert});
    EXPECT_EQ(v.status, 0) << ::testing::PrintToString(v);
    EXPECT_NE(v.out.find("valid: matter " + matter + " of vault "), std::string::npos) << v.out;
    ASSERT_NO_FATAL_FAILURE(Unmount());
    CmdResult cat = Matterctl({"cat", vault_, matter + "/big", "--passphrase-file", pass_});
    EXPECT_NE(cat.status, 0) << "the wiped matter must not decrypt";
    ExpectFsckOnly(in_flight);  // the journal is gone
    ASSERT_NO_FATAL_FAILURE(Mount());
  }
}

}  // namespace
}  // namespace matterfs::mount_test
