// The matter walker (every item once, in a fixed order, resumable, problems reported
// without stopping), the encrypted directory's listing, and the vault's locks.
#include <gtest/gtest.h>
#include <unistd.h>

#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "fs/vault/matter_walker.h"
#include "tests/crypto/test_util.h"
#include "tests/vault/matter_tree.h"

namespace matterfs::vault {
namespace {

class WalkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(fx_.vault().CreateMatter("acme"));
    matter_ = fx_.Matter("acme");
    test::TreeWriter w(fx_.vault(), *matter_);
    w.Dir("pleadings");
    w.File("pleadings/complaint.txt", "the complaint");
    w.Dir("pleadings/drafts");
    w.File("pleadings/drafts/v1.txt", std::string(10000, 'x'));
    w.File("memo.txt", "a memo");
    w.File("empty.txt", "");
    w.File(std::string(200, 'L'), "a long name");  // stored hashed, with a side file
    w.Dir("exhibits");
  }

  struct Seen {
    std::string path;
    std::string position;
    bool has_header;
    bool problem;
  };
  std::vector<Seen> Walk(const WalkOptions& o = {}) {
    std::vector<Seen> out;
    MatterWalker walker(fx_.vault(), *matter_);
    EXPECT_OK(walker.Walk(o, [&](WalkItem& item) {
      out.push_back({item.path, item.position, item.header.has_value(), item.problem.has_value()});
      return WalkAction::kContinue;
    }));
    return out;
  }

  test::VaultFixture fx_;
  std::unique_ptr<Matter> matter_;
};

TEST_F(WalkerTest, VisitsEveryItemOnceInPositionOrderWithHeaders) {
  auto items = Walk();
  std::map<std::string, Seen> by_path;
  for (const auto& s : items) {
    EXPECT_FALSE(s.problem) << s.path;
    EXPECT_TRUE(by_path.emplace(s.path, s).second) << "visited twice: " << s.path;
  }
  const std::set<std::string> expected = {"pleadings",
                                          "pleadings/complaint.txt",
                                          "pleadings/drafts",
                                          "pleadings/drafts/v1.txt",
                                          "memo.txt",
                                          "empty.txt",
                                          std::string(200, 'L'),
                                          "exhibits"};
  std::set<std::string> got;
  for (const auto& [p, s] : by_path) got.insert(p);
  EXPECT_EQ(expected, got);
  EXPECT_TRUE(by_path["memo.txt"].has_header);
  EXPECT_TRUE(by_path["pleadings/drafts/v1.txt"].has_header);
  // File format 3: every file has a header from its creation on (format 2: not yet).
  EXPECT_TRUE(by_path["empty.txt"].has_header);
  EXPECT_FALSE(by_path["exhibits"].has_header);
  for (size_t i = 1; i < items.size(); ++i) {
    EXPECT_TRUE(PositionAfter(items[i].position, items[i - 1].position))
        << items[i - 1].position << " then " << items[i].position;
  }
  // A directory comes before everything in it.
  for (size_t i = 0; i < items.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      EXPECT_NE(items[j].position.rfind(items[i].position + "/", 0), 0u)
          << items[j].path << " came before its directory " << items[i].path;
    }
  }
}

TEST_F(WalkerTest, ResumesExactlyAfterEveryPosition) {
  const auto all = Walk();
  ASSERT_EQ(all.size(), 8u);
  for (size_t i = 0; i < all.size(); ++i) {
    WalkOptions o;
    o.resume_after = all[i].position;
    auto rest = Walk(o);
    ASSERT_EQ(rest.size(), all.size() - i - 1) << "after " << all[i].path;
    for (size_t j = 0; j < rest.size(); ++j) EXPECT_EQ(rest[j].path, all[i + 1 + j].path);
  }
}

TEST_F(WalkerTest, StopAndSkipChildren) {
  MatterWalker walker(fx_.vault(), *matter_);
  std::vector<std::string> seen;
  ASSERT_OK(walker.Walk({}, [&](WalkItem& item) {
    seen.push_back(item.path);
    return item.path == "pleadings" ? WalkAction::kSkipChildren : WalkAction::kContinue;
  }));
  for (const auto& p : seen) EXPECT_NE(p.rfind("pleadings/", 0), 0u) << p;
  seen.clear();
  ASSERT_OK(walker.Walk({}, [&](WalkItem& item) {
    seen.push_back(item.path);
    return WalkAction::kStop;
  }));
  EXPECT_EQ(seen.size(), 1u);
}

TEST_F(WalkerTest, ReportsDamageAndGoesOn) {
  test::TreeWriter w(fx_.vault(), *matter_);
  // A damaged name, a directory without its IV, a header from another cipher.
  {
    auto [dirfd, entry] = w.Backing("memo.txt");
    std::string bad = entry;
    bad[2] = bad[2] == 'A' ? 'B' : 'A';
    ASSERT_EQ(::renameat(dirfd.get(), entry.c_str(), dirfd.get(), bad.c_str()), 0);
  }
  {
    auto fd = matter_->OpenPath(fx_.vault(), "pleadings/drafts", O_RDONLY | O_DIRECTORY);
    ASSERT_OK(fd);
    ASSERT_EQ(::unlinkat(fd->get(), ".diriv", 0), 0);
  }
  {
    auto fd = matter_->OpenPath(fx_.vault(), "pleadings/complaint.txt", O_RDWR);
    ASSERT_OK(fd);
    uint8_t cipher = 1;  // AES-GCM in a XChaCha vault
    ASSERT_EQ(::pwrite(fd->get(), &cipher, 1, 5), 1);
  }
  auto items = Walk();
  std::map<std::string, Seen> by_path;
  for (const auto& s : items) by_path[s.path] = s;
  int problems = 0;
  for (const auto& s : items) problems += s.problem ? 1 : 0;
  EXPECT_EQ(problems, 3);
  EXPECT_TRUE(by_path["pleadings/drafts"].problem) << "missing .diriv";
  EXPECT_EQ(by_path.count("pleadings/drafts/v1.txt"), 0u) << "not entered";
  EXPECT_TRUE(by_path["pleadings/complaint.txt"].problem) << "foreign cipher";
  EXPECT_EQ(by_path.count("memo.txt"), 0u);
  // Everything else is still there.
  EXPECT_FALSE(by_path["exhibits"].problem);
  EXPECT_TRUE(by_path[std::string(200, 'L')].has_header);
}

TEST(PositionTest, ComparesComponentByComponent) {
  EXPECT_TRUE(PositionAfter("b", "a"));
  EXPECT_TRUE(PositionAfter("a/x", "a"));  // inside a directory: after it
  EXPECT_FALSE(PositionAfter("a", "a/x"));
  EXPECT_TRUE(PositionAfter("a0", "a/z"));  // '/' is a separator, not a character
  EXPECT_FALSE(PositionAfter("a", "a"));
  EXPECT_TRUE(PositionAfter("anything", ""));
  EXPECT_TRUE(SubtreeMayFollow("a", "a/x"));
  EXPECT_TRUE(SubtreeMayFollow("a", "a")) << "resuming after a directory enters it";
  EXPECT_FALSE(SubtreeMayFollow("a", "b"));
  EXPECT_FALSE(SubtreeMayFollow("a", "ab/x"));
}

TEST(EncryptedDirTest, ListsDecodedNamesAndReportsUndecodableOnes) {
  test::VaultFixture fx;
  ASSERT_OK(fx.vault().CreateMatter("acme"));
  auto matter = fx.Matter("acme");
  test::TreeWriter w(fx.vault(), *matter);
  w.File("a.txt", "1");
  w.File(std::string(180, 'n'), "2");
  auto top = matter->OpenDir(fx.vault());
  ASSERT_OK(top);
  ASSERT_EQ(::mkdirat(top->get(), ".tmp.leftover", 0700), 0);  // never listed
  {
    auto [dirfd, entry] = w.Backing(std::string(180, 'n'));
    // Swap the long name's side file for another: the entry no longer matches it.
    const std::string side = entry + ".n";
    ASSERT_EQ(::unlinkat(dirfd.get(), side.c_str(), 0), 0);
    UniqueFd f(::openat(dirfd.get(), side.c_str(), O_CREAT | O_WRONLY, 0444));
    ASSERT_EQ(::write(f.get(), "AAAA", 4), 4);
  }
  auto dir = EncryptedDir::Open(top->get(), matter->names());
  ASSERT_OK(dir);
  std::vector<std::string> names;
  int bad = 0;
  ASSERT_OK(dir->List([&](DirEntry& e) {
    if (e.name.ok()) {
      names.push_back(*e.name);
    } else {
      ++bad;
      EXPECT_EQ(e.name.error().code(), Code::kCorruption);
    }
  }));
  EXPECT_EQ(names, std::vector<std::string>{"a.txt"});
  EXPECT_EQ(bad, 1);
}

TEST(EncryptedDirTest, AsideDirectoryIsRestoredOrDestroyed) {
  test::VaultFixture fx;
  ASSERT_OK(fx.vault().CreateMatter("acme"));
  auto matter = fx.Matter("acme");
  test::TreeWriter w(fx.vault(), *matter);
  w.Dir("empty");
  w.Dir("full");
  w.File("full/x", "x");
  auto top = matter->OpenDir(fx.vault());
  ASSERT_OK(top);
  auto [fd1, empty_entry] = w.Backing("empty");
  auto [fd2, full_entry] = w.Backing("full");
  auto refused = MoveEmptyDirAside(top->get(), full_entry);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().ToErrno(), ENOTEMPTY);

  auto aside = MoveEmptyDirAside(top->get(), empty_entry);
  ASSERT_OK(aside);
  struct stat st;
  EXPECT_NE(::fstatat(top->get(), empty_entry.c_str(), &st, 0), 0) << "moved out of sight";
  aside->Restore(top->get(), empty_entry);
  EXPECT_EQ(::fstatat(top->get(), empty_entry.c_str(), &st, 0), 0) << "back in place";

  auto again = MoveEmptyDirAside(top->get(), empty_entry);
  ASSERT_OK(again);
  ASSERT_OK(again->Destroy(top->get()));
  EXPECT_NE(::fstatat(top->get(), empty_entry.c_str(), &st, 0), 0);
  auto listing = EncryptedDir::Open(top->get(), matter->names());
  ASSERT_OK(listing);
  std::vector<std::string> left;
  ASSERT_OK(listing->List([&](DirEntry& e) { left.push_back(e.entry); }));
  EXPECT_EQ(left.size(), 1u) << "only 'full' remains, no leftover";
}

TEST(VaultLockTest, MountsExcludeEachOtherUnlessSharedAndOfflineToolsWait) {
  test::VaultFixture fx;
  auto other = fx.Reopen();
  // No mount is visible for these in-process locks: answer "busy" at once.
  Vault::SetUnmountGraceForTesting(std::chrono::milliseconds(0));
  {
    auto first = fx.vault().LockMounted(false);
    ASSERT_OK(first);
    auto second = other->LockMounted(false);
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.error().code(), Code::kBusy);
    EXPECT_EQ(other->LockMounted(true).error().code(), Code::kBusy);
    auto offline = other->LockOffline();
    ASSERT_FALSE(offline.ok());
    EXPECT_EQ(offline.error().code(), Code::kBusy);
    EXPECT_NE(offline.error().message().find("mount point"), std::string::npos);
    // The change lock is separate: a mounted daemon may still create matters.
    ASSERT_OK(other->LockVault());
  }
  {
    auto a = fx.vault().LockMounted(true);
    auto b = other->LockMounted(true);
    ASSERT_OK(a);
    ASSERT_OK(b);
    EXPECT_EQ(other->LockMounted(false).error().code(), Code::kBusy);
  }
  ASSERT_OK(other->LockOffline());  // nothing mounted any more
  Vault::SetUnmountGraceForTesting(std::chrono::seconds(10));
}

TEST(VaultLockTest, AMountLockWithNoVisibleMountIsWaitedForUntilReleased) {
  // A daemon that was just unmounted still holds the lock for a moment: a new mount waits
  // for it (here a thread plays the daemon and lets go a moment later; without the wait
  // the second LockMounted fails at once, with it the test passes however late that is).
  test::VaultFixture fx;
  auto other = fx.Reopen();
  Vault::SetUnmountGraceForTesting(std::chrono::minutes(5));
  auto held = fx.vault().LockMounted(false);
  ASSERT_OK(held);
  std::thread release([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    held->reset();
  });
  auto second = other->LockMounted(false);
  release.join();
  EXPECT_OK(second);
  Vault::SetUnmountGraceForTesting(std::chrono::seconds(10));
}

}  // namespace
}  // namespace matterfs::vault
