// Names inside a matter: rename (plain, replacing, directories, RENAME_NOREPLACE,
// RENAME_EXCHANGE, across matters), unlink, mkdir/rmdir, readdir, symlinks and hard
// links, compared with a plain directory.
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "tests/mount/mount_fixture.h"
#include "util/unique_fd.h"

namespace matterfs::mount_test {
namespace {

ino_t InoOf(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

TEST_F(MountTest, RenameWithinMatter) {
  Trace r = Compare([](const std::string& d, Trace& t) {
    t.Sys("seed-a", WriteFile(d + "/a", "AAA") ? 0 : -1);
    t.Sys("seed-b", WriteFile(d + "/b", "BBBB") ? 0 : -1);
    t.Sys("rename-a-c", ::rename((d + "/a").c_str(), (d + "/c").c_str()));
    t.Stat("stat-a", d + "/a");
    t.File("content-c", d + "/c");
    // Replacing a file target; a descriptor open on the replaced file keeps its data.
    UniqueFd old_b(::open((d + "/b").c_str(), O_RDONLY | O_CLOEXEC));
    t.Sys("rename-c-over-b", ::rename((d + "/c").c_str(), (d + "/b").c_str()));
    t.File("content-b", d + "/b");
    t.Stat("stat-c", d + "/c");
    t.Content("replaced-b-via-old-fd", old_b.get());
    t.Fstat("replaced-b-fstat", old_b.get());
    // Same name: a no-op.
    t.Sys("rename-same", ::rename((d + "/b").c_str(), (d + "/b").c_str()));
    t.File("content-b-after-same", d + "/b");
    // Into a subdirectory and back.
    t.Sys("mkdir-sub", ::mkdir((d + "/sub").c_str(), 0755));
    t.Sys("rename-into-sub", ::rename((d + "/b").c_str(), (d + "/sub/b2").c_str()));
    t.File("content-sub-b2", d + "/sub/b2");
    t.Sys("rename-out-of-sub", ::rename((d + "/sub/b2").c_str(), (d + "/b3").c_str()));
    t.List("list", d);
    t.List("list-sub", d + "/sub");
    t.Sys("rename-missing", ::rename((d + "/missing").c_str(), (d + "/x").c_str()));
    t.Sys("rename-to-missing-dir", ::rename((d + "/b3").c_str(), (d + "/nodir/x").c_str()));
    t.Sys("rename-long-name",
          ::rename((d + "/b3").c_str(), (d + "/" + std::string(240, 'L')).c_str()));
    t.File("content-long", d + "/" + std::string(240, 'L'));
    t.Sys("rename-long-back",
          ::rename((d + "/" + std::string(240, 'L')).c_str(), (d + "/b3").c_str()));
    t.List("list-after-long", d);
  });
  EXPECT_EQ(r.Find("content-b")->data, "AAA");
  EXPECT_EQ(r.Find("replaced-b-via-old-fd")->data, "BBBB");
}

TEST_F(MountTest, RenameKeepsInodeNumber) {
  ASSERT_TRUE(WriteFile(M("f"), "data"));
  const ino_t before = InoOf(M("f"));
  ASSERT_NE(before, 0u);
  ASSERT_EQ(::rename(M("f").c_str(), M("g").c_str()), 0);
  EXPECT_EQ(InoOf(M("g")), before);
  ASSERT_EQ(::mkdir(M("d").c_str(), 0755), 0);
  ASSERT_EQ(::rename(M("g").c_str(), M("d/g").c_str()), 0);
  EXPECT_EQ(InoOf(M("d/g")), before);
}

TEST_F(MountTest, RenameDirectories) {
  Compare([](const std::string& d, Trace& t) {
    t.Sys("mkdir-d1", ::mkdir((d + "/d1").c_str(), 0755));
    t.Sys("mkdir-d1-deep", ::mkdir((d + "/d1/deep").c_str(), 0700));
    t.Sys("seed-inner", WriteFile(d + "/d1/deep/inner", "inner data") ? 0 : -1);
    t.Sys("rename-d1-d2", ::rename((d + "/d1").c_str(), (d + "/d2").c_str()));
    t.File("inner-after", d + "/d2/deep/inner");
    t.Stat("stat-d1", d + "/d1");
    // Over a non-empty directory: ENOTEMPTY (over an empty one: RenameOverAnEmptyDirectory).
    t.Sys("rename-d2-empty", ::rename((d + "/d2").c_str(), (d + "/empty").c_str()));
    t.File("inner-after-2", d + "/empty/deep/inner");
    t.Sys("mkdir-full", ::mkdir((d + "/full").c_str(), 0755));
    t.Sys("seed-full", WriteFile(d + "/full/x", "x") ? 0 : -1);
    t.Sys("rename-over-nonempty", ::rename((d + "/empty").c_str(), (d + "/full").c_str()));
    // Kinds that do not fit, and a directory into itself.
    t.Sys("seed-file", WriteFile(d + "/file", "f") ? 0 : -1);
    t.Sys("rename-file-over-dir", ::rename((d + "/file").c_str(), (d + "/full").c_str()));
    t.Sys("rename-dir-over-file", ::rename((d + "/full").c_str(), (d + "/file").c_str()));
    t.Sys("rename-dir-into-itself", ::rename((d + "/full").c_str(), (d + "/full/sub").c_str()));
    t.Sys("rename-dir-into-child", ::rename((d + "/empty").c_str(), (d + "/empty/deep/x").c_str()));
    // A directory moved into another directory, then used.
    t.Sys("rename-into-full", ::rename((d + "/empty").c_str(), (d + "/full/moved").c_str()));
    t.File("inner-after-3", d + "/full/moved/deep/inner");
    t.Sys("create-in-moved", WriteFile(d + "/full/moved/new", "n") ? 0 : -1);
    t.List("list-moved", d + "/full/moved");
    t.List("list", d);
  });
}

TEST_F(MountTest, RenameOverAnEmptyDirectory) {
  Trace r = Compare([](const std::string& d, Trace& t) {
    t.Sys("mkdir-src", ::mkdir((d + "/src").c_str(), 0755));
    t.Sys("seed", WriteFile(d + "/src/inner", "inner") ? 0 : -1);
    t.Sys("mkdir-empty", ::mkdir((d + "/empty").c_str(), 0755));
    t.Sys("rename-over-empty", ::rename((d + "/src").c_str(), (d + "/empty").c_str()));
    t.File("inner-after", d + "/empty/inner");
    t.List("list", d);
    t.Sys("mkdir-empty2", ::mkdir((d + "/empty2").c_str(), 0755));
    t.Sys("mkdir-src2", ::mkdir((d + "/src2").c_str(), 0755));
    t.Sys("rename-empty-over-empty", ::rename((d + "/src2").c_str(), (d + "/empty2").c_str()));
    t.Sys("exchange-dirs", ::renameat2(AT_FDCWD, (d + "/empty").c_str(), AT_FDCWD,
                                       (d + "/empty2").c_str(), RENAME_EXCHANGE));
    t.List("list-2", d);
    t.List("list-empty2", d + "/empty2");
  });
  EXPECT_EQ(r.Find("rename-over-empty")->rc, 0);
}

TEST_F(MountTest, RenameNoreplace) {
  Trace r = Compare([](const std::string& d, Trace& t) {
    t.Sys("seed-a", WriteFile(d + "/a", "A") ? 0 : -1);
    t.Sys("seed-b", WriteFile(d + "/b", "B") ? 0 : -1);
    t.Sys("noreplace-existing", ::renameat2(AT_FDCWD, (d + "/a").c_str(), AT_FDCWD,
                                            (d + "/b").c_str(), RENAME_NOREPLACE));
    t.File("a", d + "/a");
    t.File("b", d + "/b");
    t.Sys("noreplace-new", ::renameat2(AT_FDCWD, (d + "/a").c_str(), AT_FDCWD, (d + "/c").c_str(),
                                       RENAME_NOREPLACE));
    t.List("list", d);
  });
  EXPECT_EQ(r.Find("noreplace-existing")->err, EEXIST);
  EXPECT_EQ(r.Find("noreplace-new")->rc, 0);
}

TEST_F(MountTest, RenameExchange) {
  Trace r = Compare([](const std::string& d, Trace& t) {
    t.Sys("seed-x", WriteFile(d + "/x", "content of x") ? 0 : -1);
    t.Sys("seed-y", WriteFile(d + "/y", "y!") ? 0 : -1);
    t.Sys("mkdir-dir", ::mkdir((d + "/dir").c_str(), 0755));
    t.Sys("seed-dir-f", WriteFile(d + "/dir/f", "in dir") ? 0 : -1);
    t.Sys("exchange-files",
          ::renameat2(AT_FDCWD, (d + "/x").c_str(), AT_FDCWD, (d + "/y").c_str(), RENAME_EXCHANGE));
    t.File("x", d + "/x");
    t.File("y", d + "/y");
    t.Sys("exchange-file-dir", ::renameat2(AT_FDCWD, (d + "/x").c_str(), AT_FDCWD,
                                           (d + "/dir").c_str(), RENAME_EXCHANGE));
    t.File("dir-now-file", d + "/dir");
    t.File("x-now-dir-f", d + "/x/f");
    t.Sys("exchange-missing", ::renameat2(AT_FDCWD, (d + "/y").c_str(), AT_FDCWD,
                                          (d + "/nope").c_str(), RENAME_EXCHANGE));
    t.Sys("exchange-noreplace-both",
          ::renameat2(AT_FDCWD, (d + "/y").c_str(), AT_FDCWD, (d + "/dir").c_str(),
                      RENAME_EXCHANGE | RENAME_NOREPLACE));
    // Across directories.
    t.Sys("exchange-across-dirs", ::renameat2(AT_FDCWD, (d + "/y").c_str(), AT_FDCWD,
                                              (d + "/x/f").c_str(), RENAME_EXCHANGE));
    t.File("y-after", d + "/y");
    t.File("x-f-after", d + "/x/f");
    t.List("list", d);
    t.List("list-x", d + "/x");
  });
  EXPECT_EQ(r.Find("x")->data, "y!");
  EXPECT_EQ(r.Find("y")->data, "content of x");
}

TEST_F(MountTest, RenameExchangeKeepsInodesWithNames) {
  ASSERT_TRUE(WriteFile(M("x"), "x"));
  ASSERT_TRUE(WriteFile(M("y"), "y"));
  const ino_t x = InoOf(M("x"));
  const ino_t y = InoOf(M("y"));
  ASSERT_EQ(::renameat2(AT_FDCWD, M("x").c_str(), AT_FDCWD, M("y").c_str(), RENAME_EXCHANGE), 0);
  EXPECT_EQ(InoOf(M("x")), y);
  EXPECT_EQ(InoOf(M("y")), x);
  // Appending via the names after the exchange reaches the right files.
  UniqueFd fx(::open(M("x").c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
  ASSERT_TRUE(fx.valid());
  ASSERT_EQ(::write(fx.get(), "+", 1), 1);
  fx.reset();
  EXPECT_EQ(ReadFile(M("x")).value_or("?"), "y+");
  EXPECT_EQ(ReadFile(M("y")).value_or("?"), "x");
}

TEST_F(MountTest, Unlink) {
  Trace r = Compare([](const std::string& d, Trace& t) {
    t.Sys("seed", WriteFile(d + "/f", "f") ? 0 : -1);
    t.Sys("mkdir", ::mkdir((d + "/dir").c_str(), 0755));
    t.Sys("unlink", ::unlink((d + "/f").c_str()));
    t.Stat("stat-after", d + "/f");
    t.Sys("unlink-again", ::unlink((d + "/f").c_str()));
    t.Sys("unlink-dir", ::unlink((d + "/dir").c_str()));
    t.Sys("unlink-in-missing-dir", ::unlink((d + "/nodir/f").c_str()));
    t.Sys("seed2", WriteFile(d + "/g", "g") ? 0 : -1);
    t.Sys("unlink-through-file", ::unlink((d + "/g/x").c_str()));
    t.Sys("symlink", ::symlink("g", (d + "/link").c_str()));
    t.Sys("unlink-symlink", ::unlink((d + "/link").c_str()));
    t.File("target-kept", d + "/g");
    // The name can be reused at once.
    t.Sys("recreate", WriteFile(d + "/f", "new") ? 0 : -1);
    t.File("recreated", d + "/f");
    t.List("list", d);
  });
  EXPECT_EQ(r.Find("unlink")->rc, 0);
  EXPECT_EQ(r.Find("unlink-again")->err, ENOENT);
  EXPECT_EQ(r.Find("unlink-dir")->err, EISDIR);
}

TEST_F(MountTest, MkdirAndRmdir) {
  Trace r = Compare([](const std::string& d, Trace& t) {
    t.Sys("mkdir", ::mkdir((d + "/a").c_str(), 0750));
    t.Stat("stat", d + "/a");
    t.Sys("mkdir-nested", ::mkdir((d + "/a/b").c_str(), 0755));
    t.Sys("mkdir-existing", ::mkdir((d + "/a").c_str(), 0755));
    t.Sys("seed", WriteFile(d + "/file", "x") ? 0 : -1);
    t.Sys("mkdir-over-file", ::mkdir((d + "/file").c_str(), 0755));
    t.Sys("mkdir-missing-parent", ::mkdir((d + "/nope/x").c_str(), 0755));
    t.Sys("mkdir-under-file", ::mkdir((d + "/file/x").c_str(), 0755));
    t.Sys("rmdir-nonempty", ::rmdir((d + "/a").c_str()));
    t.Sys("seed-in-b", WriteFile(d + "/a/b/f", "x") ? 0 : -1);
    t.Sys("rmdir-nonempty-file", ::rmdir((d + "/a/b").c_str()));
    t.Sys("unlink-f", ::unlink((d + "/a/b/f").c_str()));
    t.Sys("rmdir-b", ::rmdir((d + "/a/b").c_str()));
    t.Sys("rmdir-a", ::rmdir((d + "/a").c_str()));
    t.Stat("stat-a-after", d + "/a");
    t.Sys("rmdir-file", ::rmdir((d + "/file").c_str()));
    t.Sys("rmdir-missing", ::rmdir((d + "/missing").c_str()));
    t.Sys("rmdir-dot", ::rmdir((d + "/.").c_str()));
    t.Sys("mkdir-again", ::mkdir((d + "/a").c_str(), 0755));
    t.List("list-new-a", d + "/a");
    t.List("list", d);
  });
  EXPECT_EQ(r.Find("rmdir-nonempty")->err, ENOTEMPTY);
  EXPECT_EQ(r.Find("rmdir-file")->err, ENOTDIR);
  EXPECT_EQ(r.Find("rmdir-missing")->err, ENOENT);
  EXPECT_EQ(r.Find("mkdir-existing")->err, EEXIST);
}

TEST_F(MountTest, ReaddirListsTheSameNamesAndTypes) {
  auto scenario = [](const std::string& d, Trace& t) {
    std::vector<std::string> names = {
        "plain.txt",           "with space",          "ünïcödé-名前", ".hidden", "...",  "a.b.c",
        std::string(200, 'x'), std::string(255, 'y'), "-dash",        "UPPER",   "upper"};
    for (int i = 0; i < 300; ++i) names.push_back("many-" + std::to_string(i));
    for (const std::string& n : names) {
      if (!WriteFile(d + "/" + n, n)) t.Sys(("create " + n.substr(0, 20)).c_str(), -1);
    }
    t.Sys("mkdir", ::mkdir((d + "/subdir").c_str(), 0755));
    t.Sys("symlink", ::symlink("plain.txt", (d + "/link").c_str()));
    for (int i = 0; i < 300; i += 3) ::unlink((d + "/many-" + std::to_string(i)).c_str());
    // Names with their d_type, in sorted order.
    DIR* dir = ::opendir(d.c_str());
    std::map<std::string, int> seen;
    while (struct dirent* e = dir ? ::readdir(dir) : nullptr) {
      // "." and "..": ReaddirIncludesDotAndDotDot.
      if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") {
        seen[e->d_name] = e->d_type;
      }
    }
    if (dir) ::closedir(dir);
    std::string all;
    for (const auto& [n, type] : seen) all += n + " " + std::to_string(type) + "\n";
    t.Value("entries", all);
    for (const auto& [n, type] : seen) {
      if (n != "." && n != ".." && n != "link" && n != "subdir") t.File("content", d + "/" + n);
    }
  };
  Trace r = Compare(scenario);
  EXPECT_NE(r.Find("entries")->data.find(std::string(255, 'y') + " 8\n"), std::string::npos);
}

TEST_F(MountTest, ReaddirIncludesDotAndDotDot) {
  Trace r = Compare([](const std::string& d, Trace& t) {
    t.Sys("mkdir", ::mkdir((d + "/sub").c_str(), 0755));
    t.Sys("seed", WriteFile(d + "/sub/f", "f") ? 0 : -1);
    for (const std::string& dir : {d, d + "/sub"}) {
      DIR* h = ::opendir(dir.c_str());
      std::map<std::string, int> seen;
      while (struct dirent* e = h ? ::readdir(h) : nullptr) seen[e->d_name] = e->d_type;
      if (h) ::closedir(h);
      std::string all;
      for (const auto& [n, type] : seen) all += n + " " + std::to_string(type) + "\n";
      t.Value("entries", all);
    }
  });
  EXPECT_NE(r.Find("entries")->data.find(". 4\n.. 4\n"), std::string::npos);
}

TEST_F(MountTest, SymlinkAndReadlink) {
  const std::string secret_target = "target-" + UniqueToken() + "/secret.txt";
  Trace r = Compare([&](const std::string& d, Trace& t) {
    t.Sys("seed", WriteFile(d + "/file", "file content") ? 0 : -1);
    t.Sys("symlink-rel", ::symlink("file", (d + "/rel").c_str()));
    t.Sys("symlink-abs", ::symlink("/etc/hostname", (d + "/abs").c_str()));
    t.Sys("symlink-dangling", ::symlink(secret_target.c_str(), (d + "/dangling").c_str()));
    const std::string long_target(1000, 't');
    t.Sys("symlink-long", ::symlink(long_target.c_str(), (d + "/long").c_str()));
    t.Sys("symlink-existing", ::symlink("x", (d + "/file").c_str()));
    for (const char* n : {"rel", "abs", "dangling", "long"}) {
      char buf[4096];
      ssize_t len = ::readlink((d + "/" + n).c_str(), buf, sizeof buf);
      t.Sys("readlink", len);
      t.Value("readlink-target", std::string(buf, len > 0 ? static_cast<size_t>(len) : 0));
      t.Stat("lstat", d + "/" + n);  // symlink size = target length
    }
    char small[4];
    t.Sys("readlink-truncated", ::readlink((d + "/rel").c_str(), small, sizeof small));
    t.Value("readlink-truncated-data", std::string(small, 4));
    char buf[64];
    t.Sys("readlink-not-a-link", ::readlink((d + "/file").c_str(), buf, sizeof buf));
    t.File("read-through-link", d + "/rel");
    struct stat st;
    t.Sys("stat-through-link", ::stat((d + "/rel").c_str(), &st));
    t.Value("stat-through-link-size", std::to_string(st.st_size));
    t.File("read-dangling", d + "/dangling");
    t.OpenClose("open-nofollow", d + "/rel", O_RDONLY | O_NOFOLLOW);
    // Writing through the link writes the target.
    t.Sys("write-through-link", WriteFile(d + "/rel", "via link") ? 0 : -1);
    t.File("file-after", d + "/file");
  });
  EXPECT_EQ(r.Find("read-through-link")->data, "file content");
  EXPECT_EQ(r.Find("file-after")->data, "via link");
  ASSERT_NO_FATAL_FAILURE(Unmount());
  const std::vector<std::string> hits = FindInVault({secret_target, "secret.txt"});
  EXPECT_TRUE(hits.empty()) << "symlink target readable in the vault: " << hits.front();
}

TEST_F(MountTest, HardLinksShareOneInode) {
  Trace r = Compare([](const std::string& d, Trace& t) {
    t.Sys("seed", WriteFile(d + "/f", "original") ? 0 : -1);
    t.Sys("mkdir", ::mkdir((d + "/sub").c_str(), 0755));
    t.Sys("link", ::link((d + "/f").c_str(), (d + "/g").c_str()));
    t.Sys("link-other-dir", ::link((d + "/f").c_str(), (d + "/sub/h").c_str()));
    t.Stat("stat-f", d + "/f");
    t.Stat("stat-g", d + "/g");
    // A write through one name is seen through the others, with the same size.
    {
      UniqueFd fd(::open((d + "/g").c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
      t.Sys("append-g", ::write(fd.get(), " + more via g", 13));
    }
    t.File("f-after", d + "/f");
    t.Stat("stat-f-after", d + "/f");
    t.Stat("stat-h-after", d + "/sub/h");
    t.Sys("link-existing", ::link((d + "/f").c_str(), (d + "/g").c_str()));
    t.Sys("link-missing", ::link((d + "/nope").c_str(), (d + "/n").c_str()));
    t.Sys("link-dir", ::link((d + "/sub").c_str(), (d + "/sub2").c_str()));
    t.Sys("unlink-f", ::unlink((d + "/f").c_str()));
    t.Stat("stat-g-after-unlink", d + "/g");
    t.File("g-after-unlink", d + "/g");
    t.Sys("rename-h-over-g", ::rename((d + "/sub/h").c_str(), (d + "/g").c_str()));
    t.Stat("stat-g-same-inode-rename", d + "/g");
    t.Stat("stat-h-still-there", d + "/sub/h");
  });
  EXPECT_EQ(r.Find("stat-f")->data, "mode=0100644 nlink=3 uid=0 gid=0 size=8");

  // st_ino is one number for all names, now and after a remount.
  ASSERT_TRUE(WriteFile(M("p"), "p"));
  ASSERT_EQ(::link(M("p").c_str(), M("q").c_str()), 0);
  struct stat p, q;
  ASSERT_EQ(::stat(M("p").c_str(), &p), 0);
  ASSERT_EQ(::stat(M("q").c_str(), &q), 0);
  EXPECT_EQ(p.st_ino, q.st_ino);
  EXPECT_EQ(p.st_nlink, 2u);
  ASSERT_NO_FATAL_FAILURE(Remount());
  struct stat p2, q2;
  ASSERT_EQ(::stat(M("q").c_str(), &q2), 0);
  ASSERT_EQ(::stat(M("p").c_str(), &p2), 0);
  EXPECT_EQ(p2.st_ino, q2.st_ino);
  EXPECT_EQ(p2.st_ino, p.st_ino);
  EXPECT_EQ(q2.st_nlink, 2u);
}

TEST_F(MountTest, HardLinkWritesAreSharedWhileBothAreOpen) {
  ASSERT_TRUE(WriteFile(M("f"), std::string(10000, 'a')));
  ASSERT_EQ(::link(M("f").c_str(), M("g").c_str()), 0);
  UniqueFd f(::open(M("f").c_str(), O_RDWR | O_CLOEXEC));
  UniqueFd g(::open(M("g").c_str(), O_RDWR | O_CLOEXEC));
  ASSERT_TRUE(f.valid() && g.valid());
  ASSERT_EQ(::pwrite(f.get(), "XYZ", 3, 4095), 3);
  char buf[3];
  ASSERT_EQ(::pread(g.get(), buf, 3, 4095), 3);
  EXPECT_EQ(std::string(buf, 3), "XYZ");
  ASSERT_EQ(::ftruncate(g.get(), 5000), 0);
  struct stat st;
  ASSERT_EQ(::fstat(f.get(), &st), 0);
  EXPECT_EQ(st.st_size, 5000);
  ASSERT_EQ(::pwrite(g.get(), "tail", 4, 6000), 4);
  std::string want(10000, 'a');
  want.replace(4095, 3, "XYZ");
  want.resize(5000);
  want.resize(6000, '\0');
  want += "tail";
  EXPECT_TRUE(ReadFd(f.get()).value_or("?") == want);
}

TEST_F(TwoMatterTest, RenameAndLinkAcrossMattersFailWithExdev) {
  ASSERT_TRUE(WriteFile(M("f"), "alpha data"));
  ASSERT_EQ(::mkdir(M("dir").c_str(), 0755), 0);
  EXPECT_EQ(::rename(M("f").c_str(), B("f").c_str()), -1);
  EXPECT_EQ(errno, EXDEV);
  EXPECT_EQ(::rename(M("dir").c_str(), B("dir").c_str()), -1);
  EXPECT_EQ(errno, EXDEV);
  EXPECT_EQ(::link(M("f").c_str(), B("f").c_str()), -1);
  EXPECT_EQ(errno, EXDEV);
  ASSERT_TRUE(WriteFile(B("g"), "beta data"));
  EXPECT_EQ(::renameat2(AT_FDCWD, M("f").c_str(), AT_FDCWD, B("g").c_str(), RENAME_EXCHANGE), -1);
  EXPECT_EQ(errno, EXDEV);
  // Nothing moved.
  EXPECT_EQ(ReadFile(M("f")).value_or("?"), "alpha data");
  EXPECT_EQ(ReadFile(B("g")).value_or("?"), "beta data");
  EXPECT_EQ(ListDir(B("")).value_or(std::vector<std::string>{"?"}), std::vector<std::string>{"g"});
}

TEST_F(TwoMatterTest, MvAcrossMattersCopies) {
  const std::string data = Pattern(70000, 3);
  ASSERT_TRUE(WriteFile(M("doc.bin"), data));
  ASSERT_EQ(::mkdir(M("tree").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(M("tree/sub").c_str(), 0755), 0);
  ASSERT_TRUE(WriteFile(M("tree/sub/x"), "x"));
  ASSERT_EQ(::symlink("sub/x", M("tree/link").c_str()), 0);
  CmdResult mv = RunCommand({"mv", M("doc.bin"), B("doc.bin")});
  ASSERT_EQ(mv.status, 0) << ::testing::PrintToString(mv);
  CmdResult mv2 = RunCommand({"mv", M("tree"), B("tree")});
  ASSERT_EQ(mv2.status, 0) << ::testing::PrintToString(mv2);
  EXPECT_TRUE(ReadFile(B("doc.bin")).value_or("") == data);
  EXPECT_EQ(ReadFile(B("tree/sub/x")).value_or("?"), "x");
  char buf[64];
  ssize_t n = ::readlink(B("tree/link").c_str(), buf, sizeof buf);
  EXPECT_EQ(std::string(buf, n > 0 ? static_cast<size_t>(n) : 0), "sub/x");
  EXPECT_EQ(ListDir(M("")).value_or(std::vector<std::string>{"?"}), std::vector<std::string>{});
}

}  // namespace
}  // namespace matterfs::mount_test
