// Sparse files (format 2, FORMAT.md §13.5): growing a file writes no data for the gap,
// the gap reads as zeros, writing into it works, growth beyond the largest size is EFBIG,
// and fallocate reserves the backing space (or fails with ENOSPC and changes nothing).
// The vault sits on a private 64 MiB tmpfs, so a gibibyte-sized file can only exist if
// it is really sparse, and "the disk is full" is the test's own doing.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "tests/mount/mount_fixture.h"
#include "util/unique_fd.h"

namespace matterfs::mount_test {
namespace {

constexpr off_t kMiB = off_t{1} << 20;
constexpr off_t kGiB = off_t{1} << 30;

class SparseTest : public MountTest {
 protected:
  size_t PrivateTmpfsMiB() const override { return 64; }
  void TearDown() override {
    fd_.reset();  // an open file would keep the mount busy
    MountTest::TearDown();
  }

  // Creates an empty file `rel` in the mount (kept open in fd_) and returns its backing
  // file, found as the only backing file that was not there before.
  std::string CreateAndFindBacking(const std::string& rel) {
    const std::vector<std::string> before = BackingFiles();
    fd_.reset(::open(M(rel).c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600));
    EXPECT_TRUE(fd_.valid()) << rel;
    std::vector<std::string> added;
    for (const std::string& p : BackingFiles()) {
      if (std::find(before.begin(), before.end(), p) == before.end()) added.push_back(p);
    }
    EXPECT_EQ(added.size(), 1u) << "cannot tell the backing file of " << rel;
    return added.empty() ? "" : added.front();
  }
  static off_t AllocatedBytes(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 ? st.st_blocks * 512 : -1;
  }
  std::string Pread(size_t len, off_t at) {
    std::string buf(len, 'X');
    const ssize_t n = ::pread(fd_.get(), buf.data(), len, at);
    buf.resize(n > 0 ? static_cast<size_t>(n) : 0);
    return buf;
  }
  off_t Size() {
    struct stat st;
    return ::fstat(fd_.get(), &st) == 0 ? st.st_size : -1;
  }
  UniqueFd fd_;
};

TEST_F(SparseTest, TruncateToAGibibyteTakesNoSpaceAndReadsZeros) {
  const std::string backing = CreateAndFindBacking("big");
  ASSERT_FALSE(backing.empty());
  ASSERT_EQ(::ftruncate(fd_.get(), kGiB), 0) << strerrorname_np(errno);
  EXPECT_EQ(Size(), kGiB);
  EXPECT_LT(AllocatedBytes(backing), kMiB) << "the gap must not be written";
  const std::string zeros(4096, '\0');
  EXPECT_TRUE(Pread(4096, 0) == zeros);
  EXPECT_TRUE(Pread(4096, 512 * kMiB + 100) == zeros);
  EXPECT_TRUE(Pread(4096, kGiB - 10) == std::string(10, '\0')) << "the last 10 bytes";
  EXPECT_EQ(Pread(4096, kGiB).size(), 0u) << "end of file";

  // Writing into the gap: the written bytes read back, zeros around them, still sparse.
  const std::string evidence = "exhibit 12, page 7";
  ASSERT_EQ(::pwrite(fd_.get(), evidence.data(), evidence.size(), 700 * kMiB + 4000),
            static_cast<ssize_t>(evidence.size()));
  fd_.reset();
  ASSERT_NO_FATAL_FAILURE(Unmount());
  ASSERT_NO_FATAL_FAILURE(Mount());
  fd_.reset(::open(M("big").c_str(), O_RDWR | O_CLOEXEC));
  ASSERT_TRUE(fd_.valid());
  EXPECT_EQ(Size(), kGiB);
  EXPECT_EQ(Pread(evidence.size(), 700 * kMiB + 4000), evidence);
  const std::string around = Pread(3 * 4096, 700 * kMiB);
  ASSERT_EQ(around.size(), 3u * 4096);
  EXPECT_TRUE(around.substr(0, 4000) == std::string(4000, '\0'));
  EXPECT_TRUE(around.substr(4000 + evidence.size()) ==
              std::string(3 * 4096 - 4000 - evidence.size(), '\0'));
  EXPECT_LT(AllocatedBytes(backing), kMiB);

  // Truncating down into the gap and up again: still zeros where the evidence was.
  ASSERT_EQ(::ftruncate(fd_.get(), 600 * kMiB), 0);
  ASSERT_EQ(::ftruncate(fd_.get(), kGiB), 0);
  EXPECT_TRUE(Pread(evidence.size(), 700 * kMiB + 4000) == std::string(evidence.size(), '\0'));
  // matterctl cat (offline) reads the same holes.
  ASSERT_EQ(::ftruncate(fd_.get(), 16 * kMiB), 0);
  ASSERT_EQ(::pwrite(fd_.get(), evidence.data(), evidence.size(), 9 * kMiB),
            static_cast<ssize_t>(evidence.size()));
  fd_.reset();
  ASSERT_NO_FATAL_FAILURE(Unmount());
  CmdResult cat = Matterctl({"cat", vault_, "alpha/big", "--passphrase-file", pass_});
  EXPECT_EQ(cat.status, 0) << cat.err;
  ASSERT_EQ(cat.out.size(), static_cast<size_t>(16 * kMiB));
  EXPECT_EQ(cat.out.substr(9 * kMiB, evidence.size()), evidence);
  cat.out.replace(9 * kMiB, evidence.size(), evidence.size(), '\0');
  EXPECT_EQ(cat.out.find_first_not_of('\0'), std::string::npos);
}

TEST_F(SparseTest, GrowingPastTheLargestSizeIsEfbigAndChangesNothing) {
  const std::string backing = CreateAndFindBacking("f");
  ASSERT_FALSE(backing.empty());
  ASSERT_EQ(::pwrite(fd_.get(), "abc", 3, 0), 3);
  struct stat before;
  ASSERT_EQ(::stat(backing.c_str(), &before), 0);
  // 2^61 bytes: past the format's 2^60 (and past any backing file system).
  const off_t huge = off_t{1} << 61;
  errno = 0;
  EXPECT_EQ(::ftruncate(fd_.get(), huge), -1);
  EXPECT_EQ(errno, EFBIG) << strerrorname_np(errno);
  errno = 0;
  EXPECT_EQ(::pwrite(fd_.get(), "x", 1, huge), -1);
  EXPECT_EQ(errno, EFBIG) << strerrorname_np(errno);
  EXPECT_EQ(Size(), 3);
  EXPECT_EQ(Pread(10, 0), "abc");
  struct stat after;
  ASSERT_EQ(::stat(backing.c_str(), &after), 0);
  EXPECT_EQ(after.st_size, before.st_size);
}

TEST_F(SparseTest, FallocateReservesTheBackingSpaceOrFailsWithEnospc) {
  const std::string backing = CreateAndFindBacking("reserved");
  ASSERT_FALSE(backing.empty());
  ASSERT_EQ(::fallocate(fd_.get(), 0, 0, 8 * kMiB), 0) << strerrorname_np(errno);
  EXPECT_EQ(Size(), 8 * kMiB);
  EXPECT_GE(AllocatedBytes(backing), 8 * kMiB) << "the blocks' space is reserved";
  EXPECT_TRUE(Pread(4096, 5 * kMiB) == std::string(4096, '\0'));
  // More than the 64 MiB file system holds: ENOSPC, and the file keeps its size.
  errno = 0;
  EXPECT_EQ(::fallocate(fd_.get(), 0, 0, 128 * kMiB), -1);
  EXPECT_EQ(errno, ENOSPC) << strerrorname_np(errno);
  EXPECT_EQ(Size(), 8 * kMiB);
  // Other modes are not supported.
  errno = 0;
  EXPECT_EQ(::fallocate(fd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096), -1);
  EXPECT_EQ(errno, EOPNOTSUPP);
}

}  // namespace
}  // namespace matterfs::mount_test
