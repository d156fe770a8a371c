// util/file_io.h: whole-file reads with a size limit, atomic and exclusive writes, and
// positioned I/O that moves every byte, each on a private temporary directory.
#include "util/file_io.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

namespace matterfs {
namespace {

class FileIoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    old_umask_ = ::umask(022);  // the modes the tests expect, whatever the caller's umask
    std::string tmpl = (std::filesystem::temp_directory_path() / "mfs-util-test.XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr) << std::strerror(errno);
    dir_path_ = tmpl;
    dir_.reset(::open(dir_path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(dir_.valid()) << std::strerror(errno);
  }
  void TearDown() override {
    dir_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_path_, ec);
    ::umask(old_umask_);
  }

  // The names in the directory, sorted.
  std::vector<std::string> Names() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(dir_path_)) {
      out.push_back(e.path().filename().string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  Bytes Read(const std::string& name) const {
    Result<Bytes> r = ReadWholeFile(dir_.get(), name, 1 << 24);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
    return r.ok() ? *r : Bytes{};
  }
  void Make(const std::string& name, std::string_view data) {
    ASSERT_TRUE(WriteFileExclusive(dir_.get(), name, AsBytes(data), 0644).ok());
  }
  static Bytes B(std::string_view s) { return Bytes(s.begin(), s.end()); }

  std::string dir_path_;
  UniqueFd dir_;
  mode_t old_umask_ = 022;
};

// ---- ReadWholeFile ---------------------------------------------------------------------

TEST_F(FileIoTest, ReadWholeFileReadsEverything) {
  std::string big(200000, '\0');  // several reads of the helper's 64 KiB buffer
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7);
  ASSERT_NO_FATAL_FAILURE(Make("big", big));
  EXPECT_EQ(Read("big"), B(big));
  ASSERT_NO_FATAL_FAILURE(Make("empty", ""));
  EXPECT_EQ(Read("empty"), Bytes{});
}

TEST_F(FileIoTest, ReadWholeFileAllowsExactlyMaxSize) {
  ASSERT_NO_FATAL_FAILURE(Make("f", "0123456789"));
  Result<Bytes> exact = ReadWholeFile(dir_.get(), "f", 10);
  ASSERT_TRUE(exact.ok());
  EXPECT_EQ(*exact, B("0123456789"));
}

TEST_F(FileIoTest, ReadWholeFileRefusesAFileOverMaxSize) {
  ASSERT_NO_FATAL_FAILURE(Make("ten-bytes", "0123456789"));
  Result<Bytes> over = ReadWholeFile(dir_.get(), "ten-bytes", 9);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().code(), Code::kInvalidArgument);
  EXPECT_NE(over.error().message().find("ten-bytes"), std::string::npos) << over.error().message();
  // Also past the first buffer: the limit holds however the file is read.
  ASSERT_NO_FATAL_FAILURE(Make("big", std::string(100000, 'x')));
  EXPECT_EQ(ReadWholeFile(dir_.get(), "big", 99999).error().code(), Code::kInvalidArgument);
}

TEST_F(FileIoTest, ReadWholeFileOfAMissingFileIsNotFound) {
  Result<Bytes> r = ReadWholeFile(dir_.get(), "missing", 100);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kNotFound);
  EXPECT_EQ(r.error().ToErrno(), ENOENT);
  EXPECT_NE(r.error().message().find("missing"), std::string::npos) << r.error().message();
}

TEST_F(FileIoTest, ReadWholeFileOfADirectoryIsAnIoError) {
  ASSERT_EQ(::mkdirat(dir_.get(), "sub", 0755), 0);
  Result<Bytes> r = ReadWholeFile(dir_.get(), "sub", 100);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kIo);
  EXPECT_EQ(r.error().sys_errno(), EISDIR);
}

TEST_F(FileIoTest, ReadWholeFileResolvesRelativeToDirfd) {
  ASSERT_NO_FATAL_FAILURE(Make("here", "in the dir"));
  // Whatever the working directory, the name is looked up below dirfd.
  EXPECT_EQ(Read("here"), B("in the dir"));
  Result<Bytes> absolute = ReadWholeFile(AT_FDCWD, dir_path_ + "/here", 100);
  ASSERT_TRUE(absolute.ok());
  EXPECT_EQ(*absolute, B("in the dir"));
}

// ---- WriteFileExclusive ----------------------------------------------------------------

TEST_F(FileIoTest, WriteFileExclusiveCreatesWithTheMode) {
  ASSERT_TRUE(WriteFileExclusive(dir_.get(), "new", AsBytes("data"), 0600).ok());
  EXPECT_EQ(Read("new"), B("data"));
  struct stat st;
  ASSERT_EQ(::fstatat(dir_.get(), "new", &st, 0), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST_F(FileIoTest, WriteFileExclusiveRefusesAnExistingFile) {
  ASSERT_NO_FATAL_FAILURE(Make("f", "original"));
  Status s = WriteFileExclusive(dir_.get(), "f", AsBytes("replacement"), 0644);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), Code::kExists);
  EXPECT_EQ(s.error().ToErrno(), EEXIST);
  EXPECT_EQ(Read("f"), B("original")) << "the existing file is untouched";
}

TEST_F(FileIoTest, WriteFileExclusiveIntoAMissingDirectoryIsAnIoError) {
  Status s = WriteFileExclusive(dir_.get(), "no-such-dir/f", AsBytes("x"), 0644);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), Code::kIo);
  EXPECT_EQ(s.error().sys_errno(), ENOENT);
}

// ---- WriteFileAtomic -------------------------------------------------------------------

TEST_F(FileIoTest, WriteFileAtomicCreatesAMissingFile) {
  ASSERT_TRUE(WriteFileAtomic(dir_.get(), "f", AsBytes("first"), 0640).ok());
  EXPECT_EQ(Read("f"), B("first"));
  struct stat st;
  ASSERT_EQ(::fstatat(dir_.get(), "f", &st, 0), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(Names(), std::vector<std::string>{"f"});
}

TEST_F(FileIoTest, WriteFileAtomicReplacesByRenameAndLeavesNoTempFile) {
  ASSERT_NO_FATAL_FAILURE(Make("f", "old contents, longer than the new"));
  // A reader that opened the old file keeps the old file: the new one is a new inode
  // renamed over the name, never the old inode rewritten in place.
  UniqueFd reader(::openat(dir_.get(), "f", O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(reader.valid());
  struct stat before;
  ASSERT_EQ(::fstat(reader.get(), &before), 0);

  ASSERT_TRUE(WriteFileAtomic(dir_.get(), "f", AsBytes("new"), 0644).ok());
  EXPECT_EQ(Read("f"), B("new"));
  struct stat after;
  ASSERT_EQ(::fstatat(dir_.get(), "f", &after, 0), 0);
  EXPECT_NE(after.st_ino, before.st_ino);
  std::string old(64, '\0');
  Result<size_t> n = PreadFull(reader.get(), old.data(), old.size(), 0);
  ASSERT_TRUE(n.ok());
  old.resize(*n);
  EXPECT_EQ(old, "old contents, longer than the new");
  EXPECT_EQ(Names(), std::vector<std::string>{"f"}) << "no temporary file is left";
}

TEST_F(FileIoTest, WriteFileAtomicIgnoresATempFileLeftByACrash) {
  ASSERT_NO_FATAL_FAILURE(Make("f", "live"));
  ASSERT_NO_FATAL_FAILURE(Make("f.tmp", "half-written leftover"));
  ASSERT_TRUE(WriteFileAtomic(dir_.get(), "f", AsBytes("next"), 0644).ok());
  EXPECT_EQ(Read("f"), B("next"));
  EXPECT_EQ(Names(), std::vector<std::string>{"f"});
}

TEST_F(FileIoTest, WriteFileAtomicFailureKeepsTheTargetAndLeavesNoTempFile) {
  // rename() of a file over a directory fails (EISDIR): the write must fail cleanly.
  ASSERT_EQ(::mkdirat(dir_.get(), "target", 0755), 0);
  Status s = WriteFileAtomic(dir_.get(), "target", AsBytes("x"), 0644);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), Code::kIo);
  EXPECT_EQ(s.error().sys_errno(), EISDIR);
  struct stat st;
  ASSERT_EQ(::fstatat(dir_.get(), "target", &st, 0), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(Names(), std::vector<std::string>{"target"});
}

// ---- PreadFull and PwriteFull ----------------------------------------------------------

TEST_F(FileIoTest, PwriteFullWritesAtTheOffsetAndPreadFullReadsItBack) {
  UniqueFd fd(::openat(dir_.get(), "f", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  ASSERT_TRUE(fd.valid());
  ASSERT_TRUE(PwriteFull(fd.get(), "abc", 3, 10).ok());
  ASSERT_TRUE(PwriteFull(fd.get(), "XY", 2, 1).ok());
  struct stat st;
  ASSERT_EQ(::fstat(fd.get(), &st), 0);
  EXPECT_EQ(st.st_size, 13);
  EXPECT_EQ(Read("f"), B(std::string_view("\0XY\0\0\0\0\0\0\0abc", 13)));
  char buf[3] = {};
  Result<size_t> n = PreadFull(fd.get(), buf, 3, 10);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 3u);
  EXPECT_EQ(std::string(buf, 3), "abc");
  // Positioned I/O leaves the file offset alone.
  EXPECT_EQ(::lseek(fd.get(), 0, SEEK_CUR), 0);
}

TEST_F(FileIoTest, PreadFullStopsShortAtEndOfFile) {
  ASSERT_NO_FATAL_FAILURE(Make("f", "0123456789"));
  UniqueFd fd(::openat(dir_.get(), "f", O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(fd.valid());
  char buf[16] = {};
  Result<size_t> tail = PreadFull(fd.get(), buf, sizeof buf, 6);
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(*tail, 4u);
  EXPECT_EQ(std::string(buf, 4), "6789");
  Result<size_t> past = PreadFull(fd.get(), buf, sizeof buf, 100);
  ASSERT_TRUE(past.ok());
  EXPECT_EQ(*past, 0u);
  Result<size_t> none = PreadFull(fd.get(), buf, 0, 0);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, 0u);
}

TEST_F(FileIoTest, PreadFullAndPwriteFullReportTheErrno) {
  char buf[4];
  Result<size_t> r = PreadFull(-1, buf, sizeof buf, 0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kIo);
  EXPECT_EQ(r.error().sys_errno(), EBADF);
  ASSERT_NO_FATAL_FAILURE(Make("f", "data"));
  UniqueFd read_only(::openat(dir_.get(), "f", O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(read_only.valid());
  Status w = PwriteFull(read_only.get(), "x", 1, 0);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.error().code(), Code::kIo);
  EXPECT_EQ(w.error().sys_errno(), EBADF);
  EXPECT_EQ(Read("f"), B("data"));
}

// ---- FsyncDir --------------------------------------------------------------------------

TEST_F(FileIoTest, FsyncDirAcceptsADirectoryAndAnOPathDescriptor) {
  EXPECT_TRUE(FsyncDir(dir_.get()).ok());
  UniqueFd path_only(::open(dir_path_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(path_only.valid());
  EXPECT_TRUE(FsyncDir(path_only.get()).ok());
}

}  // namespace
}  // namespace matterfs
