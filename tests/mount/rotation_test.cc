// Key rotation through the real daemon and matterctl (issue "rotation"): online while a
// writer and a reader keep working in the matter, and offline killed with SIGKILL at
// several points, then completed by a rerun; afterwards every file reads back exactly and
// every backing header names the new key version.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "fs/vault/format.h"
#include "tests/mount/mount_fixture.h"
#include "util/unique_fd.h"

namespace matterfs::mount_test {
namespace {

class RotationMountTest : public MountTest {
 protected:
  // Files of many shapes; returns what each should read.
  std::map<std::string, std::string> MakeFiles() {
    std::map<std::string, std::string> files = {
        {"empty", ""},
        {"one", "1"},
        {"block", Pattern(4096, 1)},
        {"block+1", Pattern(4097, 2)},
        {"big", Pattern((1 << 20) + 17, 3)},
    };
    EXPECT_EQ(::mkdir(M("dir").c_str(), 0755), 0);
    EXPECT_EQ(::mkdir(M("dir/" + std::string(200, 'd')).c_str(), 0755), 0);
    files["dir/" + std::string(200, 'd') + "/" + std::string(230, 'n')] = "long names";
    for (const auto& [rel, content] : files) EXPECT_TRUE(WriteFile(M(rel), content)) << rel;
    // Sparse: a hole, then data.
    {
      UniqueFd fd(::open(M("sparse").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
      EXPECT_EQ(::ftruncate(fd.get(), 8 << 20), 0);
      EXPECT_EQ(::pwrite(fd.get(), "evidence", 8, 5 << 20), 8);
    }
    std::string sparse(8 << 20, '\0');
    sparse.replace(5 << 20, 8, "evidence");
    files["sparse"] = sparse;
    EXPECT_EQ(::link(M("one").c_str(), M("dir/hardlink").c_str()), 0);
    files["dir/hardlink"] = files["one"];
    EXPECT_EQ(::setxattr(M("block").c_str(), "user.note", "kept", 4, 0), 0);
    return files;
  }
  void ExpectFiles(const std::map<std::string, std::string>& files) {
    for (const auto& [rel, content] : files) {
      EXPECT_TRUE(ReadFile(M(rel)) == content) << rel;
    }
    char v[8] = {};
    EXPECT_EQ(::getxattr(M("block").c_str(), "user.note", v, sizeof v), 4);
    EXPECT_EQ(std::string(v, 4), "kept");
  }
  // The key version (bytes 8..11 of the header, little-endian) of every backing file
  // that has a header.
  std::vector<uint32_t> BackingKeyVersions() const {
    std::vector<uint32_t> out;
    for (const std::string& p : BackingFiles()) {
      UniqueFd fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC));
      unsigned char b[12];
      if (::pread(fd.get(), b, sizeof b, 0) != static_cast<ssize_t>(sizeof b)) continue;
      out.push_back(uint32_t{b[8]} | uint32_t{b[9]} << 8 | uint32_t{b[10]} << 16 |
                    uint32_t{b[11]} << 24);
    }
    return out;
  }
  // The file id (header bytes 12..27) of every backing file that has a header.
  std::vector<std::string> BackingFileIds() const {
    std::vector<std::string> out;
    for (const std::string& p : BackingFiles()) {
      UniqueFd fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC));
      char b[28];
      if (::pread(fd.get(), b, sizeof b, 0) != static_cast<ssize_t>(sizeof b)) continue;
      out.emplace_back(b + 12, 16);
    }
    return out;
  }
  // Remounts with the daemon pausing after each file of a rotation while the returned
  // file exists, starts `matterctl rotate MNT alpha` on `thread` (its result in `out`),
  // and waits until status shows the rotation at "1 of N files"; returns the pause file.
  std::string StartPausedRotation(std::thread& thread, CmdResult& out) {
    const std::string pause = dir_ + "/pause";
    { UniqueFd p(::open(pause.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600)); }
    ::setenv("MATTERFS_FAULT_INJECT_ROTATE_PAUSE_FILE", pause.c_str(), 1);
    Remount();
    ::unsetenv("MATTERFS_FAULT_INJECT_ROTATE_PAUSE_FILE");
    thread = std::thread([this, &out] { out = Matterctl({"rotate", mnt_, "alpha"}); });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    do {
      last_status_ = Matterctl({"status", mnt_});
    } while (last_status_.out.find("rotating: alpha: 1 of") == std::string::npos &&
             std::chrono::steady_clock::now() < deadline);
    return pause;
  }
  CmdResult last_status_;  // the status StartPausedRotation saw last
  static size_t Count(const std::vector<uint32_t>& v, uint32_t x) {
    size_t n = 0;
    for (uint32_t y : v) n += y == x ? 1 : 0;
    return n;
  }
};

TEST_F(RotationMountTest, OnlineRotationWhileAWriterAndAReaderKeepWorking) {
  auto files = MakeFiles();
  // A writer with its file open through all rotations, and a reader of "big".
  std::atomic<bool> stop{false};
  std::atomic<int> records{0};
  std::atomic<int> bad_reads{0};
  UniqueFd log(::open(M("log").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644));
  ASSERT_TRUE(log.valid());
  // Writes far apart make holes: each one rewrites the hole table from the header the
  // daemon holds in memory, which must be the rewrapped one.
  UniqueFd gappy(::open(M("gappy").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644));
  ASSERT_TRUE(gappy.valid());
  std::thread writer([&] {
    for (int i = 0; !stop.load() || i < 50; ++i) {
      const std::string rec = "record " + std::to_string(i) + "\n";
      const off_t at = static_cast<off_t>(i) * 16;
      if (::pwrite(log.get(), rec.data(), rec.size(), at) != static_cast<ssize_t>(rec.size())) {
        break;
      }
      // New files while the rotation runs get a key the rotation must not destroy.
      if (i % 10 == 0) WriteFile(M("new-" + std::to_string(i)), "new " + std::to_string(i));
      if (::pwrite(gappy.get(), "g", 1, static_cast<off_t>(i) << 20) != 1) break;
      records = i + 1;
    }
  });
  std::thread reader([&] {
    while (!stop.load()) {
      if (ReadFile(M("big")) != files["big"]) ++bad_reads;
    }
  });
  std::vector<CmdResult> runs;
  for (int i = 0; i < 3; ++i) runs.push_back(Matterctl({"rotate", mnt_, "alpha"}));
  stop = true;
  writer.join();
  reader.join();
  gappy.reset();
  for (size_t i = 0; i < runs.size(); ++i) {
    EXPECT_EQ(runs[i].status, 0) << ::testing::PrintToString(runs[i]);
    EXPECT_NE(runs[i].out.find("-> " + std::to_string(i + 2) + ";"), std::string::npos)
        << runs[i].out;
  }
  EXPECT_EQ(bad_reads.load(), 0);
  CmdResult status = Matterctl({"status", mnt_});
  EXPECT_TRUE(std::regex_search(
      status.out, std::regex("alpha\topen\tkey-version 4\trotated 20[0-9-]{8}T[0-9:]{8}Z\n")))
      << status.out;
  // Every record the writer wrote is there, through the fd it kept open all along.
  const int n = records.load();
  ASSERT_GE(n, 50);
  std::string expect_log;
  for (int i = 0; i < n; ++i) {
    std::string rec = "record " + std::to_string(i) + "\n";
    rec.resize(16, '\0');
    expect_log += rec;
  }
  // pwrite of the last record wrote its text only, not the padding: the file ends there.
  expect_log.resize(expect_log.size() - (16 - ("record " + std::to_string(n - 1) + "\n").size()));
  std::string got(expect_log.size() + 16, '\0');
  const ssize_t read = ::pread(log.get(), got.data(), got.size(), 0);
  ASSERT_EQ(read, static_cast<ssize_t>(expect_log.size()));
  got.resize(expect_log.size());
  log.reset();
  EXPECT_TRUE(got == expect_log);
  ExpectFiles(files);

  // After a remount (nothing cached) and offline, everything still reads; every header
  // names version 4, the only one left.
  ASSERT_NO_FATAL_FAILURE(Remount());
  ExpectFiles(files);
  for (int i = 0; i < n; i += 10) {
    EXPECT_EQ(ReadFile(M("new-" + std::to_string(i))).value_or("?"), "new " + std::to_string(i));
  }
  {
    UniqueFd g(::open(M("gappy").c_str(), O_RDONLY | O_CLOEXEC));
    for (int i = 0; i < n; ++i) {
      char c = 0;
      EXPECT_EQ(::pread(g.get(), &c, 1, static_cast<off_t>(i) << 20), 1) << i;
      EXPECT_EQ(c, 'g') << i;
    }
  }
  ASSERT_NO_FATAL_FAILURE(Unmount());
  const auto versions = BackingKeyVersions();
  EXPECT_EQ(Count(versions, 4), versions.size());
  CmdResult cat = Matterctl({"cat", vault_, "alpha/big", "--passphrase-file", pass_});
  EXPECT_EQ(cat.status, 0) << cat.err;
  EXPECT_TRUE(cat.out == files["big"]);
}

TEST_F(RotationMountTest, OfflineRotationKilledAtAnyPointLosesNothingAndARerunCompletes) {
  auto files = MakeFiles();
  ASSERT_NO_FATAL_FAILURE(Unmount());
  const size_t headers = BackingKeyVersions().size();
  ASSERT_GT(headers, 5u);
  // Killed right after the new version, after one file, after three, after all files
  // (before the old version is destroyed).
  for (long kill_after : {0L, 1L, 3L, static_cast<long>(files.size())}) {
    ::setenv("MATTERFS_FAULT_INJECT_ROTATE_KILL_AFTER", std::to_string(kill_after).c_str(), 1);
    CmdResult killed = Matterctl({"rotate", vault_, "alpha", "--passphrase-file", pass_});
    ::unsetenv("MATTERFS_FAULT_INJECT_ROTATE_KILL_AFTER");
    EXPECT_EQ(killed.status, 128 + SIGKILL) << kill_after << ": " << killed.err;
    // Every file still decrypts offline.
    for (const auto& [rel, content] : files) {
      CmdResult cat = Matterctl({"cat", vault_, "alpha/" + rel, "--passphrase-file", pass_});
      EXPECT_EQ(cat.status, 0) << "killed after " << kill_after << ": " << rel << ": " << cat.err;
      EXPECT_TRUE(cat.out == content) << "killed after " << kill_after << ": " << rel;
    }
  }
  // Each kill after the first found the unfinished rotation: still version 2.
  CmdResult done = Matterctl({"rotate", vault_, "alpha", "--passphrase-file", pass_});
  EXPECT_EQ(done.status, 0) << ::testing::PrintToString(done);
  EXPECT_NE(done.out.find("1 -> 2"), std::string::npos) << done.out;
  EXPECT_NE(done.out.find("unfinished rotation, completed"), std::string::npos) << done.out;
  EXPECT_NE(done.out.find("destroyed version(s) 1"), std::string::npos) << done.out;
  const auto versions = BackingKeyVersions();
  EXPECT_EQ(Count(versions, 2), versions.size());
  ASSERT_NO_FATAL_FAILURE(Mount());
  ExpectFiles(files);
}

TEST_F(RotationMountTest, OfflineReencryptionKilledAtAnyPointLosesNothingAndARerunCompletes) {
  auto files = MakeFiles();
  struct stat before_link;
  ASSERT_EQ(::stat(M("one").c_str(), &before_link), 0);
  ASSERT_NO_FATAL_FAILURE(Unmount());
  const auto ids_before = BackingFileIds();
  // Killed right after the new version; in the middle of relinking the hard-linked file
  // (one name on the new copy; second, because the walk follows the random encrypted
  // names, so a later kill could come after that file is done); after one file, after
  // three, after all files.
  struct Kill {
    const char* env;
    long at;
  };
  const Kill kills[] = {
      {"MATTERFS_FAULT_INJECT_ROTATE_KILL_AFTER", 0},
      {"MATTERFS_FAULT_INJECT_REENCRYPT_KILL_AT_LINK", 1},
      {"MATTERFS_FAULT_INJECT_ROTATE_KILL_AFTER", 1},
      {"MATTERFS_FAULT_INJECT_ROTATE_KILL_AFTER", 3},
      {"MATTERFS_FAULT_INJECT_ROTATE_KILL_AFTER", static_cast<long>(files.size())}};
  for (const Kill& k : kills) {
    const std::string what = std::string(k.env) + "=" + std::to_string(k.at);
    ::setenv(k.env, std::to_string(k.at).c_str(), 1);
    CmdResult killed =
        Matterctl({"rotate", vault_, "alpha", "--reencrypt", "--passphrase-file", pass_});
    ::unsetenv(k.env);
    EXPECT_EQ(killed.status, 128 + SIGKILL) << what << ": " << killed.err;
    // Every file still decrypts offline, by every name.
    for (const auto& [rel, content] : files) {
      CmdResult cat = Matterctl({"cat", vault_, "alpha/" + rel, "--passphrase-file", pass_});
      EXPECT_EQ(cat.status, 0) << what << ": " << rel << ": " << cat.err;
      EXPECT_TRUE(cat.out == content) << what << ": " << rel;
    }
    if (std::string(k.env).find("LINK") != std::string::npos) {
      // Half relinked: the daemon refuses the matter (a write through one name would be
      // lost to the other) and says how to finish.
      ASSERT_NO_FATAL_FAILURE(Mount());
      struct stat st;
      EXPECT_NE(::stat(M("one").c_str(), &st), 0);
      EXPECT_EQ(errno, EIO);
      ASSERT_NO_FATAL_FAILURE(Unmount());
    }
  }
  // A plain rotate (no --reencrypt) finishes the re-encryption as one.
  CmdResult done = Matterctl({"rotate", vault_, "alpha", "--passphrase-file", pass_});
  EXPECT_EQ(done.status, 0) << ::testing::PrintToString(done);
  EXPECT_NE(done.out.find("1 -> 2"), std::string::npos) << done.out;
  EXPECT_NE(done.out.find("unfinished re-encryption, completed"), std::string::npos) << done.out;
  EXPECT_NE(done.out.find("destroyed version(s) 1"), std::string::npos) << done.out;
  const auto versions = BackingKeyVersions();
  EXPECT_EQ(Count(versions, 2), versions.size());
  // Every file has a new file id (so a new data key); nothing temporary is left.
  const auto ids_after = BackingFileIds();
  EXPECT_EQ(ids_after.size(), ids_before.size());
  for (const auto& id : ids_after) {
    EXPECT_EQ(std::count(ids_before.begin(), ids_before.end(), id), 0);
  }
  for (const auto& e : std::filesystem::recursive_directory_iterator(vault_)) {
    const std::string name = e.path().filename().string();
    EXPECT_NE(name.rfind(".tmp.", 0), 0u) << e.path();
    EXPECT_NE(name.rfind(".reencrypt", 0), 0u) << e.path();
  }
  // The sparse file kept its hole: 8 MiB long, about one block stored.
  bool found_sparse = false;
  for (const std::string& p : BackingFiles()) {
    struct stat st;
    ASSERT_EQ(::stat(p.c_str(), &st), 0);
    if (st.st_size < (8 << 20)) continue;
    found_sparse = true;
    EXPECT_LT(st.st_blocks * 512, 1 << 20) << p;
  }
  EXPECT_TRUE(found_sparse);
  ASSERT_NO_FATAL_FAILURE(Mount());
  ExpectFiles(files);
  // Still one file with two names, with its mode and times.
  struct stat a, b;
  ASSERT_EQ(::stat(M("one").c_str(), &a), 0);
  ASSERT_EQ(::stat(M("dir/hardlink").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(a.st_nlink, 2u);
  EXPECT_EQ(a.st_mode, before_link.st_mode);
  EXPECT_EQ(a.st_mtim.tv_sec, before_link.st_mtim.tv_sec);
  EXPECT_EQ(a.st_mtim.tv_nsec, before_link.st_mtim.tv_nsec);
}

TEST_F(RotationMountTest, ADamagedFileKeepsTheOldVersionExits4AndARerunCompletesOnceItIsGone) {
  ASSERT_TRUE(WriteFile(M("good"), "good file"));
  const std::vector<std::string> before = BackingFiles();
  ASSERT_TRUE(WriteFile(M("bad"), "bad file"));
  std::string bad;
  for (const std::string& p : BackingFiles()) {
    if (std::find(before.begin(), before.end(), p) == before.end()) bad = p;
  }
  ASSERT_FALSE(bad.empty());
  ASSERT_NO_FATAL_FAILURE(Unmount());
  {
    // Both header copies lose their wrapped data key.
    UniqueFd fd(::open(bad.c_str(), O_RDWR | O_CLOEXEC));
    for (off_t at : {off_t{80}, static_cast<off_t>(vault::kHeaderCopySize + 80)}) {
      unsigned char b = 0;
      ASSERT_EQ(::pread(fd.get(), &b, 1, at), 1);
      b ^= 0x10;
      ASSERT_EQ(::pwrite(fd.get(), &b, 1, at), 1);
    }
  }
  CmdResult r = Matterctl({"rotate", vault_, "alpha", "--passphrase-file", pass_});
  EXPECT_EQ(r.status, 4) << ::testing::PrintToString(r);
  EXPECT_NE(r.err.find("matterctl: bad: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("old key version is kept"), std::string::npos) << r.err;
  CmdResult list = Matterctl({"matter", "list", vault_, "--passphrase-file", pass_});
  EXPECT_NE(list.out.find("key-version 2 (rotation unfinished)"), std::string::npos) << list.out;
  CmdResult cat = Matterctl({"cat", vault_, "alpha/good", "--passphrase-file", pass_});
  EXPECT_EQ(cat.out, "good file") << cat.err;
  // The damaged file removed (restored from a backup, say), a rerun completes.
  ASSERT_EQ(::unlink(bad.c_str()), 0);
  CmdResult again = Matterctl({"rotate", vault_, "alpha", "--passphrase-file", pass_});
  EXPECT_EQ(again.status, 0) << ::testing::PrintToString(again);
  EXPECT_NE(again.out.find("destroyed version(s) 1"), std::string::npos) << again.out;
  list = Matterctl({"matter", "list", vault_, "--passphrase-file", pass_});
  EXPECT_TRUE(
      std::regex_search(list.out, std::regex("\tkey-version 2\trotated 20[0-9-]{8}T[0-9:]{8}Z\n")))
      << list.out;
}

TEST_F(RotationMountTest, RotationNeedsAdminAndAnExistingMatter) {
  ASSERT_TRUE(WriteFile(M("f"), "x"));
  CmdResult missing = Matterctl({"rotate", mnt_, "no-such-matter"});
  EXPECT_EQ(missing.status, 5) << ::testing::PrintToString(missing);
  CmdResult neither = Matterctl({"rotate", mnt_});
  EXPECT_EQ(neither.status, 2) << ::testing::PrintToString(neither);
  ASSERT_NO_FATAL_FAILURE(Unmount());
  CmdResult wrong = Matterctl({"rotate", vault_, "alpha", "--passphrase-file", "/nonexistent"});
  EXPECT_NE(wrong.status, 0);
  EXPECT_EQ(BackingKeyVersions(), std::vector<uint32_t>{1});
}

TEST_F(RotationMountTest, StatusShowsTheProgressOfAnOnlineRotation) {
  auto files = MakeFiles();
  CmdResult rotated;
  std::thread rotation;
  const std::string pause = StartPausedRotation(rotation, rotated);
  CmdResult status = last_status_;
  EXPECT_NE(
      status.out.find("rotating: alpha: 1 of " + std::to_string(files.size()) + " files done\n"),
      std::string::npos)
      << status.out;
  ASSERT_EQ(::unlink(pause.c_str()), 0);
  rotation.join();
  EXPECT_EQ(rotated.status, 0) << ::testing::PrintToString(rotated);
  status = Matterctl({"status", mnt_});
  EXPECT_EQ(status.out.find("rotating:"), std::string::npos) << status.out;
  EXPECT_TRUE(std::regex_search(
      status.out, std::regex("alpha\topen\tkey-version 2\trotated 20[0-9-]{8}T[0-9:]{8}Z\n")))
      << status.out;
  ExpectFiles(files);
}

TEST_F(RotationMountTest, RotateAllGoesOnPastAMatterThatFails) {
  ASSERT_TRUE(WriteFile(M("a.txt"), "alpha"));
  ASSERT_EQ(::mkdir((mnt_ + "/beta").c_str(), 0755), 0);
  ASSERT_TRUE(WriteFile(mnt_ + "/beta/b.txt", "beta"));
  ASSERT_NO_FATAL_FAILURE(Unmount());
  // alpha's matter directory (its .matter starts with the id matter list shows) gets a
  // re-encryption journal that does not parse: rotating alpha fails.
  CmdResult list = Matterctl({"matter", "list", vault_, "--passphrase-file", pass_});
  const size_t at = list.out.find("alpha\topen\t");
  ASSERT_NE(at, std::string::npos) << list.out;
  const std::string id_hex = list.out.substr(at + 11, 32);
  std::string alpha_dir;
  for (const auto& e : std::filesystem::directory_iterator(vault_ + "/d")) {
    UniqueFd fd(::open((e.path().string() + "/.matter").c_str(), O_RDONLY | O_CLOEXEC));
    unsigned char id[16];
    if (!fd.valid() || ::read(fd.get(), id, sizeof id) != 16) continue;
    std::string hex;
    for (unsigned char c : id) {
      static const char* digits = "0123456789abcdef";
      hex += digits[c >> 4];
      hex += digits[c & 15];
    }
    if (hex == id_hex) alpha_dir = e.path().string();
  }
  ASSERT_FALSE(alpha_dir.empty());
  {
    UniqueFd j(::open((alpha_dir + "/.reencrypt").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
    ASSERT_EQ(::write(j.get(), "garbage", 7), 7);
  }
  // Offline: beta is rotated, alpha is named, the exit code is alpha's (4: corrupt).
  CmdResult offline = Matterctl({"rotate", vault_, "--all", "--passphrase-file", pass_});
  EXPECT_EQ(offline.status, 4) << ::testing::PrintToString(offline);
  EXPECT_NE(offline.err.find("matter alpha: "), std::string::npos) << offline.err;
  EXPECT_NE(offline.out.find("matter beta: key version 1 -> 2;"), std::string::npos) << offline.out;
  // Online: the same, through the daemon.
  ASSERT_NO_FATAL_FAILURE(Mount());
  CmdResult online = Matterctl({"rotate", mnt_, "--all"});
  EXPECT_EQ(online.status, 1) << ::testing::PrintToString(online);
  EXPECT_NE(online.out.find("matter beta: key version 2 -> 3;"), std::string::npos) << online.out;
  EXPECT_NE(online.out.find("matter alpha: "), std::string::npos) << online.out;
  EXPECT_NE(online.err.find("1 of 2 matters could not be rotated"), std::string::npos)
      << online.err;
  EXPECT_EQ(ReadFile(mnt_ + "/beta/b.txt"), "beta");
}

TEST_F(RotationMountTest, ADaemonKilledDuringAnOnlineRotationLosesNothingAndARerunCompletes) {
  auto files = MakeFiles();
  CmdResult rotated;
  std::thread rotation;
  const std::string pause = StartPausedRotation(rotation, rotated);
  // The daemon has the new version in the keyring and one file rewrapped: kill it there.
  const bool paused = last_status_.out.find("rotating: alpha: 1 of") != std::string::npos;
  EXPECT_TRUE(paused) << last_status_.out;
  if (!paused) {  // let the rotation finish so the thread can be joined
    ::unlink(pause.c_str());
    rotation.join();
    return;
  }
  ASSERT_NO_FATAL_FAILURE(KillDaemon());
  rotation.join();
  EXPECT_NE(rotated.status, 0) << "the client learns that the daemon went away";
  ASSERT_EQ(::unlink(pause.c_str()), 0);
  // Both versions are in the keyring: every file decrypts, offline and mounted.
  CmdResult list = Matterctl({"matter", "list", vault_, "--passphrase-file", pass_});
  EXPECT_NE(list.out.find("key-version 2 (rotation unfinished)"), std::string::npos) << list.out;
  for (const auto& [rel, content] : files) {
    CmdResult cat = Matterctl({"cat", vault_, "alpha/" + rel, "--passphrase-file", pass_});
    EXPECT_EQ(cat.status, 0) << rel << ": " << cat.err;
    EXPECT_TRUE(cat.out == content) << rel;
  }
  ASSERT_NO_FATAL_FAILURE(Mount());
  ExpectFiles(files);
  CmdResult done = Matterctl({"rotate", mnt_, "alpha"});
  EXPECT_EQ(done.status, 0) << ::testing::PrintToString(done);
  EXPECT_NE(done.out.find("unfinished rotation, completed"), std::string::npos) << done.out;
  EXPECT_NE(done.out.find("destroyed version(s) 1"), std::string::npos) << done.out;
  ASSERT_NO_FATAL_FAILURE(Remount());
  ExpectFiles(files);
  ASSERT_NO_FATAL_FAILURE(Unmount());
  const auto versions = BackingKeyVersions();
  EXPECT_EQ(Count(versions, 2), versions.size());
}

}  // namespace
}  // namespace matterfs::mount_test
