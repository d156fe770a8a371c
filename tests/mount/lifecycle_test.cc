// The life of files across time: unlinked-but-open files, stable inode numbers (across
// cache drops, renames, fd trimming and remounts), and persistence across remounts.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "tests/mount/mount_fixture.h"
#include "util/unique_fd.h"

namespace matterfs::mount_test {
namespace {

TEST_F(MountTest, UnlinkedOpenFileKeepsWorkingUntilLastClose) {
  Trace r = Compare([](const std::string& d, Trace& t) {
    const std::string f = d + "/doomed";
    UniqueFd fd(::open(f.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644));
    UniqueFd second;
    t.Fd("open", fd.get());
    t.Sys("write", PwriteAll(fd.get(), Pattern(10000, 8), 0) ? 0 : -1);
    second.reset(::open(f.c_str(), O_RDONLY | O_CLOEXEC));
    t.Fd("open-second", second.get());
    t.Sys("unlink", ::unlink(f.c_str()));
    t.Stat("stat-name-gone", f);
    t.List("list-without-it", d);
    t.Fstat("fstat-after-unlink", fd.get());
    t.Pread("pread-after-unlink", fd.get(), 3000, 4000);
    t.Sys("pwrite-after-unlink", ::pwrite(fd.get(), "still here", 10, 4090));
    t.Sys("pwrite-past-eof", ::pwrite(fd.get(), "grow", 4, 20000));
    t.Sys("fsync", ::fsync(fd.get()));
    t.Sys("fdatasync", ::fdatasync(fd.get()));
    t.Fstat("fstat-grown", fd.get());
    t.Content("content-grown", fd.get());
    t.Content("content-second-fd", second.get());
    t.Sys("ftruncate-down", ::ftruncate(fd.get(), 3000));
    t.Fstat("fstat-truncated", fd.get());
    t.Sys("ftruncate-up", ::ftruncate(fd.get(), 5000));
    t.Content("content-truncated", fd.get());
    // A new file under the same name is a different file.
    t.Sys("recreate", WriteFile(f, "new file") ? 0 : -1);
    t.File("new-content", f);
    t.Content("old-content-still", fd.get());
    fd.reset();
    t.Content("second-fd-after-first-close", second.get());
    t.Fstat("second-fstat", second.get());
    second.reset();
    t.File("new-content-after-close", f);
  });
  EXPECT_EQ(r.Find("fstat-after-unlink")->data, "mode=0100644 nlink=0 uid=0 gid=0 size=10000");
  // After the last close only the new file's ciphertext is left in the vault.
  ASSERT_NO_FATAL_FAILURE(Unmount());
  EXPECT_EQ(BackingFiles().size(), 1u);
}

TEST_F(MountTest, UnlinkedOpenDirectoryAndRenamedOverFile) {
  Compare([](const std::string& d, Trace& t) {
    t.Sys("mkdir", ::mkdir((d + "/dir").c_str(), 0755));
    UniqueFd dir(::open((d + "/dir").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    t.Sys("rmdir-open", ::rmdir((d + "/dir").c_str()));
    struct stat st;
    t.Sys("fstat-removed-dir", ::fstat(dir.get(), &st));
    t.Value("nlink", std::to_string(st.st_nlink));
    t.Fd("openat-in-removed-dir", ::openat(dir.get(), "x", O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
    // A file replaced by rename while open keeps its content for its readers.
    t.Sys("seed-a", WriteFile(d + "/a", Pattern(9000, 1)) ? 0 : -1);
    t.Sys("seed-b", WriteFile(d + "/b", "b") ? 0 : -1);
    UniqueFd a(::open((d + "/a").c_str(), O_RDWR | O_CLOEXEC));
    t.Sys("rename-b-over-a", ::rename((d + "/b").c_str(), (d + "/a").c_str()));
    t.Content("replaced-content", a.get());
    t.Sys("write-replaced", ::pwrite(a.get(), "zz", 2, 8999));
    t.Content("replaced-content-2", a.get());
    t.File("new-a", d + "/a");
  });
}

TEST_F(MountTest, InodeNumbersStayTheSame) {
  ASSERT_TRUE(WriteFile(M("f"), "f"));
  ASSERT_EQ(::mkdir(M("d").c_str(), 0755), 0);
  ASSERT_TRUE(WriteFile(M("d/inner"), "inner"));
  ASSERT_EQ(::symlink("f", M("l").c_str()), 0);
  const std::vector<std::string> names = {"f", "d", "d/inner", "l"};
  std::map<std::string, ino_t> first;
  for (const std::string& n : names) {
    struct stat a, b;
    ASSERT_EQ(::lstat(M(n).c_str(), &a), 0) << n;
    ASSERT_EQ(::lstat(M(n).c_str(), &b), 0) << n;
    EXPECT_EQ(a.st_ino, b.st_ino) << n;
    first[n] = a.st_ino;
  }
  // The kernel forgets the inodes (dentries and inodes dropped): numbers are unchanged.
  DropCaches(2);
  for (const std::string& n : names) {
    struct stat st;
    ASSERT_EQ(::lstat(M(n).c_str(), &st), 0) << n;
    EXPECT_EQ(st.st_ino, first[n]) << n << " after drop_caches";
  }
  // readdir reports the same numbers as stat.
  DIR* dir = ::opendir(M().c_str());
  ASSERT_NE(dir, nullptr);
  while (struct dirent* e = ::readdir(dir)) {
    auto it = first.find(e->d_name);
    if (it != first.end()) {
      EXPECT_EQ(e->d_ino, it->second) << e->d_name << " in readdir";
    }
  }
  ::closedir(dir);
  // Renamed directory: its child keeps its number.
  ASSERT_EQ(::rename(M("d").c_str(), M("d2").c_str()), 0);
  DropCaches(2);
  struct stat st;
  ASSERT_EQ(::lstat(M("d2/inner").c_str(), &st), 0);
  EXPECT_EQ(st.st_ino, first["d/inner"]);
  // A new daemon reports the same numbers.
  ASSERT_NO_FATAL_FAILURE(Remount());
  ASSERT_EQ(::lstat(M("f").c_str(), &st), 0);
  EXPECT_EQ(st.st_ino, first["f"]);
  ASSERT_EQ(::lstat(M("d2").c_str(), &st), 0);
  EXPECT_EQ(st.st_ino, first["d"]);
  ASSERT_EQ(::lstat(M("d2/inner").c_str(), &st), 0);
  EXPECT_EQ(st.st_ino, first["d/inner"]);
  ASSERT_EQ(::lstat(M("l").c_str(), &st), 0);
  EXPECT_EQ(st.st_ino, first["l"]);
}

// The daemon keeps only a few backing fds for remembered inodes (--max-fds): inodes whose
// fd was closed must be found again by name, also after renames of their directories.
class FewFdsTest : public MountTest {
 protected:
  std::vector<std::string> ExtraArgs() const override { return {"--max-fds", "16"}; }
};

TEST_F(FewFdsTest, ManyInodesWithFewBackingFds) {
  std::map<std::string, ino_t> inos;
  for (int d = 0; d < 6; ++d) {
    const std::string dir = "dir" + std::to_string(d);
    ASSERT_EQ(::mkdir(M(dir).c_str(), 0755), 0);
    ASSERT_EQ(::mkdir(M(dir + "/sub").c_str(), 0755), 0);
    for (int f = 0; f < 20; ++f) {
      const std::string rel = dir + "/sub/file" + std::to_string(f);
      ASSERT_TRUE(WriteFile(M(rel), rel)) << rel << ": " << std::strerror(errno);
      struct stat st;
      ASSERT_EQ(::stat(M(rel).c_str(), &st), 0);
      inos[rel] = st.st_ino;
    }
  }
  // Rename directories while their children are remembered by the kernel.
  for (int d = 0; d < 6; d += 2) {
    const std::string from = "dir" + std::to_string(d);
    ASSERT_EQ(::rename(M(from).c_str(), M("moved-" + from).c_str()), 0);
  }
  // Hold some files open meanwhile.
  std::vector<UniqueFd> open_files;
  for (int f = 0; f < 10; ++f) {
    open_files.emplace_back(
        ::open(M("dir1/sub/file" + std::to_string(f)).c_str(), O_RDWR | O_CLOEXEC));
    ASSERT_TRUE(open_files.back().valid());
  }
  for (int pass = 0; pass < 2; ++pass) {
    for (const auto& [rel, ino] : inos) {
      std::string now = rel;
      const int d = rel[3] - '0';
      if (d % 2 == 0) now = "moved-" + rel;
      auto content = ReadFile(M(now));
      ASSERT_TRUE(content.has_value()) << now << ": " << std::strerror(errno);
      EXPECT_EQ(*content, rel);
      struct stat st;
      ASSERT_EQ(::stat(M(now).c_str(), &st), 0);
      EXPECT_EQ(st.st_ino, ino) << now;
      // Write through the open files while others are looked up.
      if (rel.rfind("dir1/sub/file", 0) == 0) {
        const int f = std::stoi(rel.substr(13));
        if (f < 10) {
          // The byte that is already there: the content stays checkable.
          EXPECT_EQ(::pwrite(open_files[static_cast<size_t>(f)].get(), "d", 1, 0), 1);
        }
      }
    }
    DropCaches(2);
  }
}

// Everything about a tree that should survive a remount.
std::string Snapshot(const std::string& root) {
  std::ostringstream out;
  for (const std::string& p : WalkTree(root)) {
    struct stat st;
    if (::lstat(p.c_str(), &st) != 0) {
      out << p.substr(root.size()) << " lstat failed\n";
      continue;
    }
    out << p.substr(root.size()) << " mode=" << std::oct << st.st_mode << std::dec
        << " nlink=" << st.st_nlink << " uid=" << st.st_uid << " ino=" << st.st_ino
        << " mtime=" << st.st_mtim.tv_sec << "." << st.st_mtim.tv_nsec;
    if (S_ISREG(st.st_mode)) {
      auto data = ReadFile(p);
      out << " size=" << st.st_size << " hash=" << std::hash<std::string>()(data.value_or("?"))
          << (data ? "" : " unreadable");
    } else if (S_ISLNK(st.st_mode)) {
      char buf[4096];
      ssize_t n = ::readlink(p.c_str(), buf, sizeof buf);
      out << " -> " << std::string(buf, n > 0 ? static_cast<size_t>(n) : 0);
    }
    char names[4096];
    ssize_t n = ::llistxattr(p.c_str(), names, sizeof names);
    for (ssize_t i = 0; i < n;) {
      const std::string name = names + i;
      i += static_cast<ssize_t>(name.size()) + 1;
      char value[4096];
      ssize_t v = ::lgetxattr(p.c_str(), name.c_str(), value, sizeof value);
      out << " " << name << "=" << std::string(value, v > 0 ? static_cast<size_t>(v) : 0);
    }
    out << "\n";
  }
  return out.str();
}

TEST_F(MountTest, DataSurvivesUnmountAndRemount) {
  const std::string big = Pattern((1 << 20) + 123, 99);
  ASSERT_TRUE(WriteFile(M("empty"), ""));
  ASSERT_TRUE(WriteFile(M("one"), "1"));
  ASSERT_TRUE(WriteFile(M("block"), Pattern(4096, 1)));
  ASSERT_TRUE(WriteFile(M("big"), big));
  ASSERT_EQ(::mkdir(M("dir").c_str(), 0700), 0);
  ASSERT_EQ(::mkdir(M("dir/deeper").c_str(), 0755), 0);
  ASSERT_TRUE(WriteFile(M("dir/deeper/" + std::string(230, 'n')), "long name"));
  ASSERT_EQ(::symlink("../one", M("dir/link").c_str()), 0);
  ASSERT_EQ(::link(M("one").c_str(), M("dir/hardlink").c_str()), 0);
  ASSERT_EQ(::setxattr(M("block").c_str(), "user.tag", "value", 5, 0), 0);
  ASSERT_EQ(::chmod(M("block").c_str(), 0600), 0);
  {
    // A file still open (and written) when the unmount starts is written before it ends.
    UniqueFd fd(::open(M("sparse").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
    ASSERT_TRUE(fd.valid());
    ASSERT_EQ(::pwrite(fd.get(), "end", 3, 100000), 3);
  }
  const std::string before = Snapshot(M());
  ASSERT_NO_FATAL_FAILURE(Remount());
  const std::string after = Snapshot(M());
  EXPECT_EQ(before, after);
  EXPECT_TRUE(ReadFile(M("big")).value_or("") == big);
  // Offline, matterctl reads the same plaintext.
  ASSERT_NO_FATAL_FAILURE(Unmount());
  CmdResult cat = Matterctl({"cat", vault_, "alpha/big", "--passphrase-file", pass_});
  EXPECT_EQ(cat.status, 0) << cat.err;
  EXPECT_TRUE(cat.out == big) << "matterctl cat differs (" << cat.out.size() << " bytes)";
  ASSERT_NO_FATAL_FAILURE(Mount());
  EXPECT_EQ(Snapshot(M()), before);
}

TEST_F(MountTest, DaemonUnmountsCleanlyOnSigterm) {
  ASSERT_TRUE(WriteFile(M("f"), "written before the signal"));
  const pid_t pid = daemon_pid();
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  // The fixture reaps the daemon (it is our child as a subreaper): wait for the mount to go.
  for (int i = 0; i < 200 && IsMountPoint(mnt_); ++i) ::usleep(50000);
  EXPECT_FALSE(IsMountPoint(mnt_)) << "still mounted 10 s after SIGTERM";
  int status = 0;
  pid_t w = 0;
  for (int i = 0; i < 200 && w == 0; ++i) {
    w = ::waitpid(pid, &status, WNOHANG);
    if (w == 0) ::usleep(50000);
  }
  ASSERT_EQ(w, pid) << "the daemon did not exit";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status 0x" << std::hex << status;
  ASSERT_NO_FATAL_FAILURE(Mount());
  EXPECT_EQ(ReadFile(M("f")).value_or("?"), "written before the signal");
}

// A daemon whose syslog is gone drains its audit queue for up to 5 s after the unmount
// (fusermount3 -u returns at once). A new mount, or an offline matterctl command, in that
// time waits for it instead of failing with "already mounted" (issue: the demo and the
// README's quick start remount at once).
class UnreachableSyslogTest : public MountTest {
 protected:
  std::string SyslogSocket() const override { return dir_ + "/no-syslog-here.sock"; }
};

TEST_F(UnreachableSyslogTest, MountAndOfflineCommandRightAfterAnUnmountWaitForTheOldDaemon) {
  ASSERT_TRUE(WriteFile(M("f"), "kept"));
  const pid_t first = daemon_pid();
  ASSERT_GT(first, 0);
  CmdResult u = RunCommand({"fusermount3", "-u", mnt_}, 30);
  ASSERT_EQ(u.status, 0) << ::testing::PrintToString(u);
  // Mount() asserts exit 0 and exactly one live daemon for the mount point.
  ASSERT_NO_FATAL_FAILURE(Mount());
  WaitForDaemonExit(first);  // already gone: reaps it and checks its exit status
  EXPECT_EQ(ReadFile(M("f")).value_or("?"), "kept");

  const pid_t second = daemon_pid();
  u = RunCommand({"fusermount3", "-u", mnt_}, 30);
  ASSERT_EQ(u.status, 0) << ::testing::PrintToString(u);
  CmdResult close = Matterctl({"matter", "close", vault_, "alpha", "--passphrase-file", pass_});
  EXPECT_EQ(close.status, 0) << ::testing::PrintToString(close);
  EXPECT_NE(close.err.find("waiting for the previous matterfs"), std::string::npos) << close.err;
  WaitForDaemonExit(second);
  CmdResult list = Matterctl({"matter", "list", vault_, "--passphrase-file", pass_});
  EXPECT_NE(list.out.find("alpha\tclosed"), std::string::npos) << list.out;
}

class ReadOnlyMountTest : public MountTest {
 protected:
  std::string MountOptions() const override { return read_only_ ? "ro" : ""; }
  bool read_only_ = false;
};

TEST_F(ReadOnlyMountTest, ReadsWorkAndWritesFailWithErofs) {
  ASSERT_TRUE(WriteFile(M("f"), "read me"));
  ASSERT_EQ(::mkdir(M("d").c_str(), 0755), 0);
  read_only_ = true;
  ASSERT_NO_FATAL_FAILURE(Remount());
  EXPECT_EQ(ReadFile(M("f")).value_or("?"), "read me");
  EXPECT_EQ(ListDir(M()).value_or(std::vector<std::string>{"?"}),
            (std::vector<std::string>{"d", "f"}));
  EXPECT_EQ(::open(M("f").c_str(), O_WRONLY | O_CLOEXEC), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(::open(M("new").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(::mkdir(M("d2").c_str(), 0755), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(::unlink(M("f").c_str()), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(::rename(M("f").c_str(), M("g").c_str()), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(::truncate(M("f").c_str(), 0), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(::mkdir((mnt_ + "/newmatter").c_str(), 0755), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(::setxattr(M("f").c_str(), "user.x", "v", 1, 0), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(ReadFile(M("f")).value_or("?"), "read me");
}

}  // namespace
}  // namespace matterfs::mount_test
