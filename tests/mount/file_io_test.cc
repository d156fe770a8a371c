// File data through the mount: create/open/read/write at any offset, truncation, append,
// O_TRUNC, O_EXCL and access-mode errors, each compared with a plain directory.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <utility>
#include <vector>

#include "tests/mount/mount_fixture.h"
#include "util/unique_fd.h"

namespace matterfs::mount_test {
namespace {

constexpr size_t kBlock = 4096;

TEST_F(MountTest, CreateWriteReadSmallFile) {
  Trace r = Compare([](const std::string& d, Trace& t) {
    const std::string f = d + "/hello.txt";
    UniqueFd fd(::open(f.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0640));
    t.Fd("open", fd.get());
    t.Sys("write", ::write(fd.get(), "hello, world", 12));
    t.Fstat("fstat", fd.get());
    t.Pread("pread", fd.get(), 100, 0);
    t.Pread("pread-middle", fd.get(), 5, 7);
    t.Pread("pread-at-eof", fd.get(), 10, 12);
    t.Pread("pread-past-eof", fd.get(), 10, 5000);
    fd.reset();
    t.Stat("stat", f);
    t.File("reopen-read", f);
  });
  EXPECT_EQ(r.Find("reopen-read")->data, "hello, world");
  EXPECT_EQ(r.Find("stat")->data, "mode=0100640 nlink=1 uid=0 gid=0 size=12");
}

TEST_F(MountTest, WritesAtAnyOffsetMatchPlainDir) {
  // Partial blocks, writes straddling block boundaries, writes past EOF that leave a gap
  // of several blocks, overwrites inside earlier writes.
  const std::vector<std::pair<off_t, size_t>> writes = {
      {0, 100},  {4090, 12}, {4096, 4096},  {10000, 1},  {50000, 3000},
      {1, 4094}, {8191, 2},  {12288, 4096}, {49999, 2},  {53000, 1},
      {0, 1},    {4095, 1},  {20000, 9000}, {123, 45678}};
  Trace r = Compare([&](const std::string& d, Trace& t) {
    const std::string f = d + "/offsets.bin";
    UniqueFd fd(::open(f.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644));
    t.Fd("open", fd.get());
    uint64_t seed = 1;
    for (const auto& [off, len] : writes) {
      const std::string data = Pattern(len, seed++);
      t.Sys("pwrite", ::pwrite(fd.get(), data.data(), data.size(), off));
      t.Fstat("fstat", fd.get());
    }
    t.Content("content", fd.get());
    // Unaligned reads across blocks, through this fd and through a fresh open.
    t.Pread("read-5000@3000", fd.get(), 5000, 3000);
    t.Pread("read-gap", fd.get(), 4000, 45900);  // no write touched 45801..49999
    fd.reset();
    DropCaches(1);
    t.File("reopen-content", f);
  });
  ASSERT_NE(r.Find("content"), nullptr);
  EXPECT_EQ(r.Find("content")->data.size(), 53001u);
  // The part of the gap that no write touched reads as zeros.
  EXPECT_TRUE(r.Find("read-gap")->data == std::string(4000, '\0')) << "the gap is not zeros";
}

TEST_F(MountTest, WritePastEofLeavesZeroGap) {
  Trace r = Compare([](const std::string& d, Trace& t) {
    const std::string f = d + "/gap";
    UniqueFd fd(::open(f.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644));
    t.Fd("open", fd.get());
    t.Sys("pwrite-start", ::pwrite(fd.get(), "abc", 3, 0));
    t.Sys("pwrite-far", ::pwrite(fd.get(), "xyz", 3, 5 * 4096 + 17));
    t.Fstat("fstat", fd.get());
    fd.reset();
    t.File("content", f);
  });
  std::string want(5 * 4096 + 20, '\0');
  want.replace(0, 3, "abc");
  want.replace(5 * 4096 + 17, 3, "xyz");
  EXPECT_TRUE(r.Find("content")->data == want) << "the gap is not zeros";
}

TEST_F(MountTest, SizesAroundBlockBoundaries) {
  const std::vector<size_t> sizes = {
      0, 1, kBlock - 1, kBlock, kBlock + 1, 2 * kBlock - 1, 2 * kBlock, 2 * kBlock + 1, 3 * kBlock};
  auto scenario = [&](const std::string& d, Trace& t) {
    for (size_t size : sizes) {
      const std::string f = d + "/size-" + std::to_string(size);
      t.Sys("write-file", WriteFile(f, Pattern(size, size)) ? 0 : -1);
      t.Stat("stat", f);
      t.File("read", f);
    }
  };
  Compare(scenario);
  // Sizes and content again from a fresh daemon (sizes from the backing file sizes).
  ASSERT_NO_FATAL_FAILURE(Remount());
  Trace plain, mounted;
  for (size_t size : sizes) {
    const std::string rel = "size-" + std::to_string(size);
    plain.Stat("stat", P(rel));
    mounted.Stat("stat", M(rel));
    plain.File("read", P(rel));
    mounted.File("read", M(rel));
  }
  ExpectSameTrace(plain, mounted);
  struct stat st;
  ASSERT_EQ(::stat(M("size-4096").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 4096);
}

TEST_F(MountTest, OneMebibyteWrites) {
  const std::string big = Pattern(1 << 20, 77);
  const std::string big2 = Pattern(1 << 20, 78);
  Trace r = Compare([&](const std::string& d, Trace& t) {
    const std::string f = d + "/big";
    UniqueFd fd(::open(f.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644));
    t.Fd("open", fd.get());
    t.Sys("write-1MiB@0", ::pwrite(fd.get(), big.data(), big.size(), 0));
    t.Sys("write-1MiB@12345", ::pwrite(fd.get(), big2.data(), big2.size(), 12345));
    t.Fstat("fstat", fd.get());
    t.Pread("read-1MiB@4096", fd.get(), 1 << 20, 4096);
    fd.reset();
    DropCaches(1);
    t.File("content", f);
  });
  std::string want = big;
  want.resize(12345 + big2.size());
  want.replace(12345, big2.size(), big2);
  EXPECT_TRUE(r.Find("content")->data == want) << "the 1 MiB writes did not read back";
}

TEST_F(MountTest, TruncateDownAndUp) {
  Trace r = Compare([](const std::string& d, Trace& t) {
    const std::string f = d + "/trunc";
    UniqueFd fd(::open(f.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644));
    t.Fd("open", fd.get());
    t.Sys("write", PwriteAll(fd.get(), Pattern(3 * kBlock + 500, 5), 0) ? 0 : -1);
    t.Sys("ftruncate-5000", ::ftruncate(fd.get(), 5000));
    t.Fstat("fstat-5000", fd.get());
    t.Content("content-5000", fd.get());
    // Up again: the bytes that were cut off must not come back, the new part is zeros.
    t.Sys("ftruncate-8192", ::ftruncate(fd.get(), 8192));
    t.Content("content-8192", fd.get());
    t.Sys("ftruncate-20000", ::ftruncate(fd.get(), 20000));
    t.Content("content-20000", fd.get());
    t.Sys("truncate-4096", ::truncate(f.c_str(), 4096));
    t.Stat("stat-4096", f);
    t.Sys("truncate-4097", ::truncate(f.c_str(), 4097));
    t.Content("content-4097", fd.get());
    t.Sys("truncate-1", ::truncate(f.c_str(), 1));
    t.Content("content-1", fd.get());
    t.Sys("truncate-0", ::truncate(f.c_str(), 0));
    t.Stat("stat-0", f);
    t.Sys("pwrite-after-0", ::pwrite(fd.get(), "after", 5, 100));
    t.Content("content-after", fd.get());
    t.Sys("ftruncate-negative", ::ftruncate(fd.get(), -1));
    t.Sys("truncate-dir", ::truncate(d.c_str(), 0));
    UniqueFd ro(::open(f.c_str(), O_RDONLY | O_CLOEXEC));
    t.Sys("ftruncate-readonly-fd", ::ftruncate(ro.get(), 0));
    fd.reset();
    t.File("final", f);
  });
  const Step* c = r.Find("content-8192");
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(c->data.substr(5000) == std::string(8192 - 5000, '\0'))
      << "bytes cut off by a truncate came back";
}

TEST_F(MountTest, AppendFromTwoDescriptors) {
  Trace r = Compare([](const std::string& d, Trace& t) {
    const std::string f = d + "/log";
    t.Sys("seed", WriteFile(f, "head\n") ? 0 : -1);
    UniqueFd a(::open(f.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
    UniqueFd b(::open(f.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
    t.Fd("open-a", a.get());
    t.Fd("open-b", b.get());
    for (int i = 0; i < 12; ++i) {
      const std::string da = Pattern(static_cast<size_t>(1000 + 700 * i), static_cast<uint64_t>(i));
      const std::string db = "line " + std::to_string(i) + " from b\n";
      t.Sys("append-a", ::write(a.get(), da.data(), da.size()));
      t.Sys("append-b", ::write(b.get(), db.data(), db.size()));
    }
    // pwrite on an O_APPEND fd appends on Linux, whatever the offset.
    t.Sys("pwrite-append", ::pwrite(a.get(), "PW", 2, 0));
    t.Fstat("fstat", a.get());
    a.reset();
    b.reset();
    t.File("content", f);
  });
  EXPECT_EQ(r.Find("content")->data.substr(0, 5), "head\n");
}

TEST_F(MountTest, OpenWithTruncEmptiesTheFile) {
  Compare([](const std::string& d, Trace& t) {
    const std::string f = d + "/t";
    t.Sys("seed", WriteFile(f, Pattern(10000, 1)) ? 0 : -1);
    UniqueFd keep(::open(f.c_str(), O_RDONLY | O_CLOEXEC));
    UniqueFd fd(::open(f.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
    t.Fd("open-trunc", fd.get());
    t.Fstat("fstat-other-fd", keep.get());
    t.Content("other-fd-content", keep.get());
    t.Sys("write", ::write(fd.get(), "x", 1));
    fd.reset();
    t.File("content", f);
    // Linux truncates even with O_RDONLY | O_TRUNC.
    t.Sys("seed2", WriteFile(f, "0123456789") ? 0 : -1);
    UniqueFd ro(::open(f.c_str(), O_RDONLY | O_TRUNC | O_CLOEXEC));
    t.Fd("open-rdonly-trunc", ro.get());
    t.Stat("stat", f);
    // O_CREAT without O_EXCL on an existing file neither fails nor truncates.
    t.Sys("seed3", WriteFile(f, "keep me") ? 0 : -1);
    UniqueFd c(::open(f.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600));
    t.Fd("open-creat-existing", c.get());
    t.Content("content-creat-existing", c.get());
  });
}

TEST_F(MountTest, OpenErrors) {
  Trace r = Compare([](const std::string& d, Trace& t) {
    const std::string f = d + "/exists";
    t.Sys("seed", WriteFile(f, "x") ? 0 : -1);
    t.Sys("mkdir", ::mkdir((d + "/dir").c_str(), 0755));
    t.Sys("symlink-dangling", ::symlink("nowhere", (d + "/dangling").c_str()));
    t.OpenClose("excl-existing", f, O_CREAT | O_EXCL | O_WRONLY);
    t.OpenClose("excl-dir", d + "/dir", O_CREAT | O_EXCL | O_WRONLY);
    t.OpenClose("excl-dangling-symlink", d + "/dangling", O_CREAT | O_EXCL | O_WRONLY);
    t.OpenClose("missing", d + "/missing", O_RDONLY);
    t.OpenClose("dir-for-write", d + "/dir", O_WRONLY);
    t.OpenClose("file-as-dir", f + "/x", O_RDONLY);
    t.OpenClose("file-o-directory", f, O_RDONLY | O_DIRECTORY);
    t.OpenClose("create-in-missing-dir", d + "/nodir/f", O_CREAT | O_WRONLY);
    t.OpenClose("name-255", d + "/" + std::string(255, 'n'), O_CREAT | O_WRONLY);
    t.Stat("stat-255", d + "/" + std::string(255, 'n'));
  });
  EXPECT_EQ(r.Find("excl-existing")->err, EEXIST);
  EXPECT_EQ(r.Find("missing")->err, ENOENT);
}

TEST_F(MountTest, NamesOver255BytesFailWithEnametoolong) {
  Trace r = Compare([](const std::string& d, Trace& t) {
    const std::string too_long = d + "/" + std::string(256, 'n');
    t.Sys("seed", WriteFile(d + "/f", "f") ? 0 : -1);
    t.OpenClose("create", too_long, O_CREAT | O_WRONLY);
    t.OpenClose("open", too_long, O_RDONLY);
    t.Sys("mkdir", ::mkdir(too_long.c_str(), 0755));
    t.Sys("symlink", ::symlink("f", too_long.c_str()));
    t.Sys("link", ::link((d + "/f").c_str(), too_long.c_str()));
    t.Sys("rename", ::rename((d + "/f").c_str(), too_long.c_str()));
    t.Stat("stat", too_long);
    t.Sys("unlink", ::unlink(too_long.c_str()));
  });
  EXPECT_EQ(r.Find("create")->err, ENAMETOOLONG);
}

TEST_F(MountTest, AccessModeIsEnforcedPerDescriptor) {
  Compare([](const std::string& d, Trace& t) {
    const std::string f = d + "/modes";
    t.Sys("seed", WriteFile(f, "0123456789") ? 0 : -1);
    UniqueFd ro(::open(f.c_str(), O_RDONLY | O_CLOEXEC));
    UniqueFd wo(::open(f.c_str(), O_WRONLY | O_CLOEXEC));
    t.Sys("write-on-rdonly", ::write(ro.get(), "x", 1));
    char buf[4];
    t.Sys("read-on-wronly", ::read(wo.get(), buf, sizeof buf));
    t.Sys("write-on-wronly", ::pwrite(wo.get(), "AB", 2, 4));
    t.Pread("read-on-rdonly", ro.get(), 100, 0);
  });
}

TEST_F(MountTest, SequentialReadWriteAndLseek) {
  Compare([](const std::string& d, Trace& t) {
    const std::string f = d + "/seq";
    UniqueFd fd(::open(f.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644));
    const std::string chunk = Pattern(3000, 9);
    for (int i = 0; i < 7; ++i) t.Sys("write", ::write(fd.get(), chunk.data(), chunk.size()));
    t.Sys("lseek-end", ::lseek(fd.get(), 0, SEEK_END));
    t.Sys("lseek-set", ::lseek(fd.get(), 4000, SEEK_SET));
    std::string buf(9000, '\0');
    const ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    t.Sys("read", n);
    t.Value("read-data", buf.substr(0, n > 0 ? static_cast<size_t>(n) : 0));
    t.Sys("lseek-cur", ::lseek(fd.get(), 0, SEEK_CUR));
    t.Sys("lseek-past-end", ::lseek(fd.get(), 100000, SEEK_SET));
    t.Sys("write-past-end", ::write(fd.get(), "end", 3));
    t.Fstat("fstat", fd.get());
  });
}

}  // namespace
}  // namespace matterfs::mount_test
