// The FUSE adapter's inode table over a real directory tree: identity by (dev, ino),
// lookup counting, fds closed by Trim and reopened by name (checked against st_ino),
// renames, hard links and unlinked inodes.
#include "fs/fuse/inode_table.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "tests/vault/vault_test_util.h"

namespace matterfs::fuse {
namespace {

class InodeTableTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(::mkdir(dir_.Sub("root").c_str(), 0755), 0); }
  std::unique_ptr<InodeTable> Table(size_t max_fds) {
    return std::make_unique<InodeTable>(
        UniqueFd(::open(dir_.Sub("root").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)), max_fds);
  }
  void Touch(const std::string& rel) {
    UniqueFd fd(::open(dir_.Sub("root/" + rel).c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
    ASSERT_TRUE(fd.valid()) << rel;
  }
  // Looks `entry` up in `parent` the way the adapter does: stat, then Insert.
  Inode* Lookup(InodeTable& t, Inode* parent, const std::string& entry) {
    auto pfd = t.Fd(parent);
    EXPECT_TRUE(pfd.ok());
    if (!pfd.ok()) return nullptr;
    struct stat st;
    if (::fstatat((*pfd)->get(), entry.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return nullptr;
    return t.Insert(parent, entry, "plain-" + entry, st, UniqueFd(), nullptr);
  }
  test::TempDir dir_;
};

TEST_F(InodeTableTest, OneInodePerBackingFileAndForgetFreesIt) {
  Touch("a");
  ASSERT_EQ(::link(dir_.Sub("root/a").c_str(), dir_.Sub("root/b").c_str()), 0);
  auto t = Table(100);
  Inode* a = Lookup(*t, t->root(), "a");
  Inode* b = Lookup(*t, t->root(), "b");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a, b) << "hard links share one inode";
  EXPECT_EQ(a->nlookup, 2u);
  struct stat st;
  ASSERT_EQ(::stat(dir_.Sub("root/a").c_str(), &st), 0);
  EXPECT_EQ(a->ino, st.st_ino) << "the backing inode number is reported";
  EXPECT_EQ(t->Find(st.st_dev, st.st_ino), a);
  EXPECT_EQ(t->size(), 1u);
  t->Forget(a, 1);
  EXPECT_EQ(t->size(), 1u);
  t->Forget(a, 1);
  EXPECT_EQ(t->size(), 0u);
  EXPECT_EQ(t->Find(st.st_dev, st.st_ino), nullptr);
}

TEST_F(InodeTableTest, TrimClosesIdleFdsAndFdReopensByName) {
  constexpr int kFiles = 60;
  for (int i = 0; i < kFiles; ++i) Touch("f" + std::to_string(i));
  auto t = Table(8);
  std::vector<Inode*> inodes;
  for (int i = 0; i < kFiles; ++i) {
    Inode* in = Lookup(*t, t->root(), "f" + std::to_string(i));
    ASSERT_NE(in, nullptr);
    ASSERT_TRUE(t->Fd(in).ok());
    inodes.push_back(in);
    EXPECT_LE(t->open_fds(), 9u) << "never much more than max_fds";
  }
  for (int i = 0; i < kFiles; ++i) {
    auto fd = t->Fd(inodes[static_cast<size_t>(i)]);
    ASSERT_TRUE(fd.ok()) << i;
    struct stat st;
    ASSERT_EQ(::fstat((*fd)->get(), &st), 0);
    EXPECT_EQ(st.st_ino, inodes[static_cast<size_t>(i)]->ino) << "reopened the same file";
  }
  EXPECT_LE(t->open_fds(), 9u);
}

TEST_F(InodeTableTest, AReplacedFileIsStaleNotSilentlyAnother) {
  Touch("a");
  auto t = Table(1);
  Inode* a = Lookup(*t, t->root(), "a");
  ASSERT_NE(a, nullptr);
  Touch("other");
  Inode* other = Lookup(*t, t->root(), "other");
  ASSERT_TRUE(t->Fd(other).ok());  // pushes a's fd out (max 1)
  Touch("x");
  ASSERT_TRUE(t->Fd(Lookup(*t, t->root(), "x")).ok());
  // Replace "a" behind the table's back: a new inode under the old name.
  ASSERT_EQ(::unlink(dir_.Sub("root/a").c_str()), 0);
  Touch("a");
  auto fd = t->Fd(a);
  if (fd.ok()) {
    // Still open from before (not trimmed): then it is the old file, never the new one.
    struct stat st;
    ASSERT_EQ(::fstat((*fd)->get(), &st), 0);
    EXPECT_EQ(st.st_ino, a->ino);
  } else {
    EXPECT_EQ(fd.error().ToErrno(), ESTALE);
  }
}

TEST_F(InodeTableTest, MoveAndPathOf) {
  ASSERT_EQ(::mkdir(dir_.Sub("root/d").c_str(), 0755), 0);
  Touch("d/f");
  auto t = Table(4);
  Inode* d = Lookup(*t, t->root(), "d");
  Inode* f = Lookup(*t, d, "f");
  EXPECT_EQ(t->PathOf(f), "plain-d/plain-f");
  ASSERT_EQ(::rename(dir_.Sub("root/d/f").c_str(), dir_.Sub("root/g").c_str()), 0);
  t->Move(f, t->root(), "g", "plain-g");
  EXPECT_EQ(t->PathOf(f), "plain-g");
  t->Forget(d, 1);  // d is no longer a parent: it goes
  EXPECT_EQ(t->size(), 1u);
  auto fd = t->Fd(f);
  ASSERT_TRUE(fd.ok()) << "reopens under its new name";
}

TEST_F(InodeTableTest, PinnedUnlinkedInodeKeepsItsFd) {
  Touch("a");
  auto t = Table(1);
  Inode* a = Lookup(*t, t->root(), "a");
  ASSERT_TRUE(t->Fd(a).ok());
  t->Pin(a);
  ASSERT_EQ(::unlink(dir_.Sub("root/a").c_str()), 0);
  for (int i = 0; i < 10; ++i) {
    Touch("n" + std::to_string(i));
    ASSERT_TRUE(t->Fd(Lookup(*t, t->root(), "n" + std::to_string(i))).ok());
  }
  EXPECT_TRUE(t->Fd(a).ok()) << "an unlinked inode cannot be reopened, so it is never trimmed";
}

TEST_F(InodeTableTest, ConcurrentLookupsForgetsAndTrims) {
  constexpr int kFiles = 200;
  for (int i = 0; i < kFiles; ++i) Touch("c" + std::to_string(i));
  auto t = Table(16);
  std::vector<std::thread> threads;
  for (int th = 0; th < 4; ++th) {
    threads.emplace_back([&, th] {
      for (int round = 0; round < 20; ++round) {
        for (int i = th; i < kFiles; i += 4) {
          Inode* in = Lookup(*t, t->root(), "c" + std::to_string(i));
          if (in == nullptr || !t->Fd(in).ok()) {
            ADD_FAILURE() << "lookup failed";
            return;
          }
          t->Forget(in, 1);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(t->size(), 0u) << "every lookup was forgotten";
  EXPECT_EQ(t->open_fds(), 0u);
}

}  // namespace
}  // namespace matterfs::fuse
