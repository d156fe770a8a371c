// Real programs in the mount (shelling out is the point here): tar, git, sqlite3 with a
// journal and with WAL, rsync -aX both ways, and an editor's save-by-rename.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <string>

#include "tests/mount/mount_fixture.h"
#include "util/unique_fd.h"

namespace matterfs::mount_test {
namespace {

class ProgramsTest : public MountTest {
 protected:
  // A source tree with nested directories, symlinks, a hard link, long names (> 200
  // bytes), odd names, modes and sizes from empty to several blocks.
  void MakeSourceTree(const std::string& src) {
    const std::string long_dir(210, 'D');
    const std::string long_file = "long-" + std::string(220, 'f') + ".txt";
    std::string script = "set -e\n";
    script += "mkdir -p " + Quote(src + "/a/b/c") + " " + Quote(src + "/" + long_dir) + " " +
              Quote(src + "/with space/sub") + "\n";
    ASSERT_EQ(Shell(script).status, 0);
    ASSERT_TRUE(WriteFile(src + "/empty", ""));
    ASSERT_TRUE(WriteFile(src + "/a/small.txt", "small file\n"));
    ASSERT_TRUE(WriteFile(src + "/a/b/block", Pattern(4096, 1)));
    ASSERT_TRUE(WriteFile(src + "/a/b/c/big.bin", Pattern(300000, 2)));
    ASSERT_TRUE(WriteFile(src + "/" + long_dir + "/" + long_file, "long names\n"));
    ASSERT_TRUE(WriteFile(src + "/with space/sub/ünïcödé", "unicode\n", 0600));
    ASSERT_EQ(::symlink("a/small.txt", (src + "/rel-link").c_str()), 0);
    ASSERT_EQ(::symlink("/nonexistent/target", (src + "/dangling-link").c_str()), 0);
    ASSERT_EQ(::symlink("../../a", (src + "/with space/sub/up-link").c_str()), 0);
    ASSERT_EQ(::link((src + "/a/small.txt").c_str(), (src + "/a/hardlink.txt").c_str()), 0);
    ASSERT_EQ(::chmod((src + "/a/b").c_str(), 0750), 0);
    ASSERT_EQ(::chmod((src + "/a/b/block").c_str(), 0755), 0);
  }
};

TEST_F(ProgramsTest, TarExtractAndCompare) {
  const std::string src = dir_ + "/src";
  ASSERT_NO_FATAL_FAILURE(MakeSourceTree(src));
  const std::string tarball = dir_ + "/src.tar";
  CmdResult c = RunCommand({"tar", "-C", src, "-cf", tarball, "."});
  ASSERT_EQ(c.status, 0) << ::testing::PrintToString(c);
  ASSERT_EQ(::mkdir(M("x").c_str(), 0755), 0);
  CmdResult x = RunCommand({"tar", "-C", M("x"), "-xpf", tarball});
  ASSERT_EQ(x.status, 0) << ::testing::PrintToString(x);
  CmdResult diff = RunCommand({"diff", "-r", "--no-dereference", src, M("x")});
  EXPECT_EQ(diff.status, 0) << ::testing::PrintToString(diff);
  // tar's own check: contents, sizes, modes, mtimes, link targets.
  CmdResult cmp = RunCommand({"tar", "-C", M("x"), "--compare", "-f", tarball});
  EXPECT_EQ(cmp.status, 0) << ::testing::PrintToString(cmp);
  // The hard link came out as one inode.
  struct stat a, b;
  ASSERT_EQ(::stat(M("x/a/small.txt").c_str(), &a), 0);
  ASSERT_EQ(::stat(M("x/a/hardlink.txt").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(a.st_nlink, 2u);
  // And a tar made from the mount extracts to the same tree elsewhere.
  CmdResult back =
      Shell("set -e; mkdir " + Quote(dir_ + "/out") + "; tar -C " + Quote(M("x")) +
            " -cf - . | tar -C " + Quote(dir_ + "/out") + " -xpf -; diff -r --no-dereference " +
            Quote(src) + " " + Quote(dir_ + "/out"));
  EXPECT_EQ(back.status, 0) << ::testing::PrintToString(back);
}

TEST_F(ProgramsTest, GitInitAddCommitStatus) {
  const std::string repo = M("repo");
  ASSERT_EQ(::mkdir(repo.c_str(), 0755), 0);
  ASSERT_NO_FATAL_FAILURE(MakeSourceTree(repo + "/tree"));
  const std::string script =
      "set -e\n"
      "export HOME=" +
      Quote(dir_) +
      " GIT_CONFIG_NOSYSTEM=1\n"
      "cd " +
      Quote(repo) +
      "\n"
      "git -c init.defaultBranch=main init -q\n"
      "git config user.email test@example.com\n"
      "git config user.name 'Mount Test'\n"
      "echo 'first line' > README\n"
      "git add -A\n"
      "git commit -qm 'first commit'\n"
      "test -z \"$(git status --porcelain)\"\n"
      "echo 'second line' >> README\n"
      "git mv tree/a/small.txt tree/a/renamed.txt\n"
      "git commit -qam 'second commit'\n"
      "git checkout -q -b topic\n"
      "echo topic > topic.txt && git add topic.txt && git commit -qm topic\n"
      "git checkout -q main\n"
      "git merge -q --no-edit topic\n"
      "git gc -q\n"
      "git fsck --full --no-progress\n"
      "test -z \"$(git status --porcelain)\"\n"
      "git log --oneline | wc -l\n"
      "git show HEAD~1:README\n";
  CmdResult r = Shell(script, 120);
  ASSERT_EQ(r.status, 0) << ::testing::PrintToString(r);
  EXPECT_EQ(r.out, "3\nfirst line\nsecond line\n");
  // A clone out of the mount has the same files.
  CmdResult clone = Shell("set -e; export HOME=" + Quote(dir_) +
                          " GIT_CONFIG_NOSYSTEM=1; git clone -q " + Quote(repo) + " " +
                          Quote(dir_ + "/clone") + "; diff -r --no-dereference --exclude=.git " +
                          Quote(repo) + " " + Quote(dir_ + "/clone"));
  EXPECT_EQ(clone.status, 0) << ::testing::PrintToString(clone);
}

TEST_F(ProgramsTest, Sqlite3WithRollbackJournal) {
  const std::string db = M("cases.sqlite");
  const std::string sql =
      "PRAGMA journal_mode=DELETE;\n"
      "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);\n"
      "BEGIN;\n"
      "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000)\n"
      "  INSERT INTO t(v) SELECT printf('row %d %s', x, hex(randomblob(40))) FROM c;\n"
      "COMMIT;\n"
      "SELECT count(*) FROM t;\n"
      "BEGIN; DELETE FROM t WHERE id % 2 = 0; ROLLBACK;\n"
      "SELECT count(*) FROM t;\n"
      "UPDATE t SET v = v || '-updated' WHERE id <= 500;\n"
      "PRAGMA integrity_check;\n";
  CmdResult r = RunCommand({"sqlite3", db}, 120, sql);
  ASSERT_EQ(r.status, 0) << ::testing::PrintToString(r);
  EXPECT_EQ(r.out, "delete\n1000\n1000\nok\n");
  // A fresh daemon reads the same database.
  ASSERT_NO_FATAL_FAILURE(Remount());
  CmdResult again = RunCommand(
      {"sqlite3", db, "SELECT count(*), sum(v LIKE '%-updated') FROM t; PRAGMA integrity_check;"});
  ASSERT_EQ(again.status, 0) << ::testing::PrintToString(again);
  EXPECT_EQ(again.out, "1000|500\nok\n");
}

TEST_F(ProgramsTest, Sqlite3WithWriteAheadLog) {
  // WAL keeps its index in a MAP_SHARED mapping of the -shm file.
  const std::string db = M("wal.sqlite");
  const std::string sql =
      "PRAGMA journal_mode=WAL;\n"
      "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);\n"
      "BEGIN;\n"
      "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000)\n"
      "  INSERT INTO t(v) SELECT printf('row %d', x) FROM c;\n"
      "COMMIT;\n"
      "SELECT count(*) FROM t;\n"
      "PRAGMA wal_checkpoint(TRUNCATE);\n"
      "PRAGMA integrity_check;\n";
  CmdResult r = RunCommand({"sqlite3", db}, 120, sql);
  ASSERT_EQ(r.status, 0) << ::testing::PrintToString(r);
  EXPECT_EQ(r.out, "wal\n1000\n0|0|0\nok\n");
}

TEST_F(ProgramsTest, RsyncWithXattrsInAndOut) {
  const std::string src = dir_ + "/src";
  ASSERT_NO_FATAL_FAILURE(MakeSourceTree(src));
  ASSERT_EQ(::setxattr((src + "/a/small.txt").c_str(), "user.note", "privileged", 10, 0), 0);
  ASSERT_EQ(::setxattr((src + "/a/b").c_str(), "user.dirnote", "on a dir", 8, 0), 0);
  CmdResult in = RunCommand({"rsync", "-aHX", src + "/", M("r") + "/"});
  ASSERT_EQ(in.status, 0) << ::testing::PrintToString(in);
  char buf[64];
  ssize_t n = ::getxattr(M("r/a/small.txt").c_str(), "user.note", buf, sizeof buf);
  EXPECT_EQ(std::string(buf, n > 0 ? static_cast<size_t>(n) : 0), "privileged");
  const std::string out_dir = dir_ + "/out";
  CmdResult out = RunCommand({"rsync", "-aHX", M("r") + "/", out_dir + "/"});
  ASSERT_EQ(out.status, 0) << ::testing::PrintToString(out);
  CmdResult diff = RunCommand({"diff", "-r", "--no-dereference", src, out_dir});
  EXPECT_EQ(diff.status, 0) << ::testing::PrintToString(diff);
  n = ::getxattr((out_dir + "/a/small.txt").c_str(), "user.note", buf, sizeof buf);
  EXPECT_EQ(std::string(buf, n > 0 ? static_cast<size_t>(n) : 0), "privileged");
  n = ::getxattr((out_dir + "/a/b").c_str(), "user.dirnote", buf, sizeof buf);
  EXPECT_EQ(std::string(buf, n > 0 ? static_cast<size_t>(n) : 0), "on a dir");
  // A second run finds nothing to do (sizes, mtimes and modes round-tripped exactly).
  CmdResult again = RunCommand({"rsync", "-aHXi", src + "/", M("r") + "/"});
  ASSERT_EQ(again.status, 0) << ::testing::PrintToString(again);
  EXPECT_EQ(again.out, "") << "rsync wanted to transfer again";
}

TEST_F(ProgramsTest, EditorSaveByRename) {
  Trace r = Compare([](const std::string& d, Trace& t) {
    const std::string doc = d + "/brief.txt";
    t.Sys("seed", WriteFile(doc, "version 1\n", 0640) ? 0 : -1);
    UniqueFd reader(::open(doc.c_str(), O_RDONLY | O_CLOEXEC));
    // Save: write a temporary file, fsync, rename over the original, fsync the directory.
    const std::string tmp = d + "/.brief.txt.swp";
    UniqueFd w(::open(tmp.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0640));
    t.Fd("open-tmp", w.get());
    const std::string v2 = "version 2, longer than the first\n" + std::string(5000, '.');
    t.Sys("write-tmp", PwriteAll(w.get(), v2, 0) ? 0 : -1);
    t.Sys("fsync-tmp", ::fsync(w.get()));
    w.reset();
    t.Sys("rename-over", ::rename(tmp.c_str(), doc.c_str()));
    UniqueFd dir(::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    t.Sys("fsync-dir", ::fsync(dir.get()));
    t.File("saved", doc);
    t.Stat("stat-saved", doc);
    t.Stat("stat-tmp-gone", tmp);
    t.Content("reader-sees-old-version", reader.get());
    // Save again, vim style: keep a backup by renaming the original away first.
    t.Sys("rename-to-backup", ::rename(doc.c_str(), (doc + "~").c_str()));
    t.Sys("write-new", WriteFile(doc, "version 3\n", 0640) ? 0 : -1);
    t.Sys("unlink-backup", ::unlink((doc + "~").c_str()));
    t.File("saved-3", doc);
    t.List("list", d);
  });
  EXPECT_EQ(r.Find("reader-sees-old-version")->data, "version 1\n");
  EXPECT_EQ(r.Find("saved-3")->data, "version 3\n");
  ASSERT_NO_FATAL_FAILURE(Remount());
  EXPECT_EQ(ReadFile(M("brief.txt")).value_or("?"), "version 3\n");
}

}  // namespace
}  // namespace matterfs::mount_test
