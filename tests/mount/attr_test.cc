// Attributes and the rest of the file API: chmod/chown/utimens, statfs, fsync, flock and
// POSIX locks (against a second process), user.* xattrs, fallocate, mmap; and ownership
// of new files created by another uid. Compared with a plain directory where it applies.
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <sstream>
#include <string>

#include "tests/mount/mount_fixture.h"
#include "util/unique_fd.h"

namespace matterfs::mount_test {
namespace {

constexpr uid_t kNobody = 65534;
constexpr gid_t kNogroup = 65534;

// Runs body in a forked child (optionally as another uid/gid) and returns what it
// returned, or "child failed: ..." when the child died. The child must not use gtest.
std::string InChild(const std::function<std::string()>& body, uid_t uid = 0, gid_t gid = 0) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return "pipe failed";
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(p[0]);
    if (uid != 0 || gid != 0) {
      if (::setgroups(0, nullptr) != 0 || ::setresgid(gid, gid, gid) != 0 ||
          ::setresuid(uid, uid, uid) != 0) {
        ::_exit(3);
      }
    }
    const std::string out = body();
    size_t done = 0;
    while (done < out.size()) {
      ssize_t n = ::write(p[1], out.data() + done, out.size() - done);
      if (n <= 0) ::_exit(4);
      done += static_cast<size_t>(n);
    }
    ::_exit(0);
  }
  ::close(p[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(p[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(p[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return "child failed: status " + std::to_string(status);
  }
  return out;
}

// "rc/ERRNO" for a syscall result in a child.
std::string R(long rc) {
  const int err = errno;
  if (rc >= 0) return "ok";
  const char* name = strerrorname_np(err);
  return name != nullptr ? name : std::to_string(err);
}

std::string Times(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return "stat failed: " + std::string(std::strerror(errno));
  std::ostringstream s;
  s << "atime=" << st.st_atim.tv_sec << "." << st.st_atim.tv_nsec << " mtime=" << st.st_mtim.tv_sec
    << "." << st.st_mtim.tv_nsec;
  return s.str();
}

TEST_F(MountTest, ChmodChownAndUtimens) {
  Trace r = Compare([](const std::string& d, Trace& t) {
    const std::string f = d + "/f";
    t.Sys("seed", WriteFile(f, "data") ? 0 : -1);
    t.Sys("chmod-600", ::chmod(f.c_str(), 0600));
    t.Stat("stat-600", f);
    t.Sys("chmod-4751", ::chmod(f.c_str(), 04751));
    t.Stat("stat-4751", f);
    {
      UniqueFd fd(::open(f.c_str(), O_RDONLY | O_CLOEXEC));
      t.Sys("fchmod-640", ::fchmod(fd.get(), 0640));
    }
    t.Stat("stat-640", f);
    t.Sys("chown", ::chown(f.c_str(), kNobody, kNogroup));
    t.Stat("stat-chown", f);
    t.Sys("chown-keep-uid", ::chown(f.c_str(), static_cast<uid_t>(-1), 0));
    t.Stat("stat-chown-gid", f);
    t.Sys("symlink", ::symlink("f", (d + "/link").c_str()));
    t.Sys("lchown", ::lchown((d + "/link").c_str(), kNobody, kNogroup));
    t.Stat("lstat-link", d + "/link");
    t.Stat("stat-f-unchanged-by-lchown", f);
    t.Sys("mkdir", ::mkdir((d + "/dir").c_str(), 0755));
    t.Sys("chmod-dir", ::chmod((d + "/dir").c_str(), 0710));
    t.Stat("stat-dir", d + "/dir");
    t.Sys("chmod-missing", ::chmod((d + "/missing").c_str(), 0600));

    // Times: both, then only mtime (atime omitted), then only atime.
    struct timespec both[2] = {{1000000000, 123456789}, {1200000000, 500000000}};
    t.Sys("utimens-both", ::utimensat(AT_FDCWD, f.c_str(), both, 0));
    t.Value("times-both", Times(f));
    struct timespec mtime_only[2] = {{0, UTIME_OMIT}, {1300000000, 42}};
    t.Sys("utimens-mtime-only", ::utimensat(AT_FDCWD, f.c_str(), mtime_only, 0));
    t.Value("times-mtime-only", Times(f));
    struct timespec atime_only[2] = {{1100000000, 7}, {0, UTIME_OMIT}};
    t.Sys("utimens-atime-only", ::utimensat(AT_FDCWD, f.c_str(), atime_only, 0));
    t.Value("times-atime-only", Times(f));
    {
      UniqueFd fd(::open(f.c_str(), O_WRONLY | O_CLOEXEC));
      // Both times: opening may read (and so touch atime of) the backing file.
      struct timespec ft[2] = {{1150000000, 9}, {1400000000, 0}};
      t.Sys("futimens", ::futimens(fd.get(), ft));
    }
    t.Value("times-futimens", Times(f));
    struct timespec link_times[2] = {{1000, 0}, {2000, 0}};
    t.Sys("utimens-symlink-nofollow",
          ::utimensat(AT_FDCWD, (d + "/link").c_str(), link_times, AT_SYMLINK_NOFOLLOW));
    t.Value("times-link", Times(d + "/link"));
    t.Value("times-f-after-link", Times(f));
  });
  EXPECT_EQ(r.Find("times-mtime-only")->data, "atime=1000000000.123456789 mtime=1300000000.42");
  EXPECT_EQ(r.Find("stat-chown")->data, "mode=0100640 nlink=1 uid=65534 gid=65534 size=4");
}

TEST_F(MountTest, MtimeSetWithAtimeOmittedSticks) {
  ASSERT_TRUE(WriteFile(M("f"), "content"));
  struct timespec first[2] = {{1500000000, 0}, {1500000000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, M("f").c_str(), first, 0), 0);
  struct timespec mtime_only[2] = {{0, UTIME_OMIT}, {1600000000, 123}};
  ASSERT_EQ(::utimensat(AT_FDCWD, M("f").c_str(), mtime_only, 0), 0);
  const std::string want = "atime=1500000000.0 mtime=1600000000.123";
  EXPECT_EQ(Times(M("f")), want);
  // Still there once the kernel's attribute cache has expired, after a drop of the
  // caches, and from a new daemon.
  ::usleep(1100 * 1000);
  EXPECT_EQ(Times(M("f")), want);
  DropCaches(2);
  EXPECT_EQ(Times(M("f")), want);
  ASSERT_NO_FATAL_FAILURE(Remount());
  EXPECT_EQ(Times(M("f")), want);
}

TEST_F(MountTest, OpeningAndWritingDoNotChangeAtime) {
  Trace r = Compare([](const std::string& d, Trace& t) {
    const std::string f = d + "/f";
    t.Sys("seed", WriteFile(f, Pattern(10000, 3)) ? 0 : -1);
    // atime older than mtime: under relatime, any read of the file would update it.
    struct timespec times[2] = {{1000000000, 0}, {1200000000, 0}};
    t.Sys("utimens", ::utimensat(AT_FDCWD, f.c_str(), times, 0));
    {
      UniqueFd fd(::open(f.c_str(), O_RDONLY | O_CLOEXEC));
      t.Fd("open-rdonly", fd.get());
    }
    t.Value("after-open-close", Times(f));
    {
      UniqueFd fd(::open(f.c_str(), O_WRONLY | O_CLOEXEC));
      t.Sys("write-whole-block", ::pwrite(fd.get(), Pattern(4096, 4).data(), 4096, 4096));
    }
    struct stat st;
    ::stat(f.c_str(), &st);
    t.Value("atime-after-write", std::to_string(st.st_atim.tv_sec));
  });
  EXPECT_EQ(r.Find("after-open-close")->data, "atime=1000000000.0 mtime=1200000000.0");
}

TEST_F(MountTest, WritingUpdatesMtime) {
  ASSERT_TRUE(WriteFile(M("f"), "content"));
  struct timespec old[2] = {{1500000000, 0}, {1500000000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, M("f").c_str(), old, 0), 0);
  {
    UniqueFd fd(::open(M("f").c_str(), O_WRONLY | O_CLOEXEC));
    ASSERT_EQ(::pwrite(fd.get(), "x", 1, 3), 1);
  }
  struct stat st;
  ASSERT_EQ(::stat(M("f").c_str(), &st), 0);
  EXPECT_GT(st.st_mtim.tv_sec, 1500000000);
}

TEST_F(MountTest, UmaskApplies) {
  const mode_t old_umask = ::umask(027);
  Trace r = Compare([](const std::string& d, Trace& t) {
    t.Sys("create", WriteFile(d + "/masked", "m", 0666) ? 0 : -1);
    t.Stat("stat-masked", d + "/masked");
    t.Sys("mkdir", ::mkdir((d + "/dir").c_str(), 0777));
    t.Stat("stat-dir", d + "/dir");
    t.Sys("mknod-fifo", ::mknod((d + "/fifo").c_str(), S_IFIFO | 0666, 0));
    t.Stat("stat-fifo", d + "/fifo");
  });
  ::umask(old_umask);
  EXPECT_EQ(r.Find("stat-masked")->data, "mode=0100640 nlink=1 uid=0 gid=0 size=1");
}

TEST_F(MountTest, SetgidDirectoriesHandDownGroupAndBit) {
  const mode_t old_umask = ::umask(027);
  Trace r = Compare([](const std::string& d, Trace& t) {
    // A setgid directory hands its group (and, to directories, the bit) down.
    t.Sys("mkdir-sgid", ::mkdir((d + "/sgid").c_str(), 0755));
    t.Sys("chown-sgid", ::chown((d + "/sgid").c_str(), 0, kNogroup));
    t.Sys("chmod-sgid", ::chmod((d + "/sgid").c_str(), 02775));
    t.Sys("create-in-sgid", WriteFile(d + "/sgid/f", "f", 0644) ? 0 : -1);
    t.Stat("stat-in-sgid", d + "/sgid/f");
    t.Sys("mkdir-in-sgid", ::mkdir((d + "/sgid/sub").c_str(), 0755));
    t.Stat("stat-dir-in-sgid", d + "/sgid/sub");
  });
  ::umask(old_umask);
  EXPECT_EQ(r.Find("stat-in-sgid")->data, "mode=0100640 nlink=1 uid=0 gid=65534 size=1");
  EXPECT_EQ(r.Find("stat-dir-in-sgid")->data, "mode=042750 nlink=2 uid=0 gid=65534");
}

TEST_F(MountTest, StatfsReportsTheBackingFileSystem) {
  struct statfs mounted, backing;
  ASSERT_EQ(::statfs(M().c_str(), &mounted), 0) << std::strerror(errno);
  ASSERT_EQ(::statfs(plain_.c_str(), &backing), 0);
  EXPECT_EQ(mounted.f_type, 0x65735546);  // FUSE_SUPER_MAGIC
  EXPECT_GT(mounted.f_bsize, 0);
  EXPECT_GT(mounted.f_blocks, 0u);
  EXPECT_EQ(mounted.f_blocks, backing.f_blocks);
  EXPECT_EQ(mounted.f_namelen, 255);
  ASSERT_TRUE(WriteFile(M("f"), "x"));
  struct statfs on_file;
  EXPECT_EQ(::statfs(M("f").c_str(), &on_file), 0);
  EXPECT_EQ(::statfs(mnt_.c_str(), &on_file), 0);
}

TEST_F(MountTest, FsyncAndFdatasyncSucceed) {
  Compare([](const std::string& d, Trace& t) {
    UniqueFd fd(::open((d + "/f").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644));
    t.Sys("write", ::write(fd.get(), "data", 4));
    t.Sys("fsync", ::fsync(fd.get()));
    t.Sys("fdatasync", ::fdatasync(fd.get()));
    t.Sys("syncfs", ::syncfs(fd.get()));
    UniqueFd ro(::open((d + "/f").c_str(), O_RDONLY | O_CLOEXEC));
    t.Sys("fsync-rdonly", ::fsync(ro.get()));
    t.Sys("fdatasync-rdonly", ::fdatasync(ro.get()));
    UniqueFd dir(::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    t.Sys("fsync-dir", ::fsync(dir.get()));
    t.Sys("fdatasync-dir", ::fdatasync(dir.get()));
    UniqueFd fresh(::open((d + "/empty").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
    t.Sys("fsync-empty-file", ::fsync(fresh.get()));
  });
}

TEST_F(MountTest, FlockExcludesASecondProcess) {
  Trace r = Compare([](const std::string& d, Trace& t) {
    const std::string f = d + "/lockme";
    t.Sys("seed", WriteFile(f, "x") ? 0 : -1);
    UniqueFd fd(::open(f.c_str(), O_RDWR | O_CLOEXEC));
    t.Sys("flock-ex", ::flock(fd.get(), LOCK_EX));
    auto try_lock = [&f](int op) {
      return InChild([&f, op] {
        UniqueFd other(::open(f.c_str(), O_RDWR | O_CLOEXEC));
        if (!other.valid()) return std::string("open failed");
        return R(::flock(other.get(), op | LOCK_NB));
      });
    };
    t.Value("child-ex-while-held", try_lock(LOCK_EX));
    t.Value("child-sh-while-held", try_lock(LOCK_SH));
    t.Sys("flock-un", ::flock(fd.get(), LOCK_UN));
    t.Value("child-ex-after-unlock", try_lock(LOCK_EX));
    t.Sys("flock-sh", ::flock(fd.get(), LOCK_SH));
    t.Value("child-sh-while-shared", try_lock(LOCK_SH));
    t.Value("child-ex-while-shared", try_lock(LOCK_EX));
  });
  // EWOULDBLOCK is EAGAIN on Linux; strerrorname_np names it EAGAIN.
  EXPECT_EQ(r.Find("child-ex-while-held")->data, "EAGAIN");
  EXPECT_EQ(r.Find("child-ex-after-unlock")->data, "ok");
}

TEST_F(MountTest, PosixLocksExcludeASecondProcess) {
  Trace r = Compare([](const std::string& d, Trace& t) {
    const std::string f = d + "/locked";
    t.Sys("seed", WriteFile(f, std::string(1000, 'l')) ? 0 : -1);
    UniqueFd fd(::open(f.c_str(), O_RDWR | O_CLOEXEC));
    struct flock wr = {};
    wr.l_type = F_WRLCK;
    wr.l_whence = SEEK_SET;
    wr.l_start = 0;
    wr.l_len = 100;
    t.Sys("setlk-0-100", ::fcntl(fd.get(), F_SETLK, &wr));
    const pid_t me = ::getpid();
    auto child = [&f, me](off_t start, off_t len, short type) {
      return InChild([&f, me, start, len, type] {
        UniqueFd other(::open(f.c_str(), O_RDWR | O_CLOEXEC));
        struct flock l = {};
        l.l_type = type;
        l.l_whence = SEEK_SET;
        l.l_start = start;
        l.l_len = len;
        std::string out = "setlk=" + R(::fcntl(other.get(), F_SETLK, &l));
        struct flock q = {};
        q.l_type = F_WRLCK;
        q.l_whence = SEEK_SET;
        q.l_start = start;
        q.l_len = len;
        out += " getlk=" + R(::fcntl(other.get(), F_GETLK, &q));
        out += " type=" + std::string(q.l_type == F_UNLCK   ? "unlck"
                                      : q.l_type == F_WRLCK ? "wr"
                                                            : "rd");
        if (q.l_type != F_UNLCK) {
          out += " pid-is-parent=" + std::string(q.l_pid == me ? "yes" : "no") +
                 " start=" + std::to_string(q.l_start) + " len=" + std::to_string(q.l_len);
        }
        return out;
      });
    };
    t.Value("child-overlap-write", child(50, 10, F_WRLCK));
    t.Value("child-overlap-read", child(99, 1, F_RDLCK));
    t.Value("child-disjoint", child(200, 10, F_WRLCK));
    wr.l_type = F_UNLCK;
    t.Sys("unlock", ::fcntl(fd.get(), F_SETLK, &wr));
    t.Value("child-after-unlock", child(50, 10, F_WRLCK));
    // Read locks share.
    struct flock rd = {};
    rd.l_type = F_RDLCK;
    rd.l_whence = SEEK_SET;
    rd.l_start = 0;
    rd.l_len = 0;  // to EOF and beyond
    t.Sys("setlk-read-all", ::fcntl(fd.get(), F_SETLK, &rd));
    t.Value("child-read-while-read", child(500, 10, F_RDLCK));
    t.Value("child-write-while-read", child(5000, 10, F_WRLCK));
    // Open file description locks from another open of the same file conflict too.
    UniqueFd ofd1(::open(f.c_str(), O_RDWR | O_CLOEXEC));
    UniqueFd ofd2(::open(f.c_str(), O_RDWR | O_CLOEXEC));
    struct flock o = {};
    o.l_type = F_WRLCK;
    o.l_whence = SEEK_SET;
    o.l_len = 10;
    o.l_start = 2000;
    t.Sys("ofd-setlk-1", ::fcntl(ofd1.get(), F_OFD_SETLK, &o));
    o.l_pid = 0;
    t.Sys("ofd-setlk-2", ::fcntl(ofd2.get(), F_OFD_SETLK, &o));
  });
  const std::string got = r.Find("child-overlap-write")->data;
  EXPECT_TRUE(got.rfind("setlk=EAGAIN", 0) == 0 || got.rfind("setlk=EACCES", 0) == 0) << got;
  EXPECT_NE(got.find("pid-is-parent=yes"), std::string::npos) << got;
  EXPECT_EQ(r.Find("child-disjoint")->data, "setlk=ok getlk=ok type=unlck");
}

TEST_F(MountTest, UserXattrsRoundTrip) {
  const std::string secret_value = "xattr-value-" + UniqueToken();
  const std::string secret_name = "user.name" + UniqueToken();
  Trace r = Compare([&](const std::string& d, Trace& t) {
    const std::string f = d + "/f";
    t.Sys("seed", WriteFile(f, "x") ? 0 : -1);
    t.Sys("set", ::setxattr(f.c_str(), "user.foo", "bar", 3, 0));
    char buf[16384];
    ssize_t n = ::getxattr(f.c_str(), "user.foo", buf, sizeof buf);
    t.Sys("get", n);
    t.Value("get-value", std::string(buf, n > 0 ? static_cast<size_t>(n) : 0));
    t.Sys("get-size", ::getxattr(f.c_str(), "user.foo", nullptr, 0));
    t.Sys("get-too-small", ::getxattr(f.c_str(), "user.foo", buf, 2));
    t.Sys("create-existing", ::setxattr(f.c_str(), "user.foo", "baz", 3, XATTR_CREATE));
    t.Sys("replace-missing", ::setxattr(f.c_str(), "user.nope", "v", 1, XATTR_REPLACE));
    t.Sys("replace", ::setxattr(f.c_str(), "user.foo", "replaced", 8, XATTR_REPLACE));
    n = ::getxattr(f.c_str(), "user.foo", buf, sizeof buf);
    t.Value("get-replaced", std::string(buf, n > 0 ? static_cast<size_t>(n) : 0));
    t.Sys("set-secret",
          ::setxattr(f.c_str(), secret_name.c_str(), secret_value.data(), secret_value.size(), 0));
    const std::string big = Pattern(8000, 11);
    t.Sys("set-big-binary", ::setxattr(f.c_str(), "user.big", big.data(), big.size(), 0));
    n = ::getxattr(f.c_str(), "user.big", buf, sizeof buf);
    t.Value("get-big", std::string(buf, n > 0 ? static_cast<size_t>(n) : 0));
    t.Sys("set-empty", ::setxattr(f.c_str(), "user.empty", "", 0, 0));
    t.Sys("get-empty", ::getxattr(f.c_str(), "user.empty", buf, sizeof buf));
    n = ::listxattr(f.c_str(), buf, sizeof buf);
    t.Sys("list", n);
    {
      // Order of names is the backend's: compare as a sorted set.
      std::vector<std::string> names;
      for (ssize_t i = 0; i < n;) {
        names.emplace_back(buf + i);
        i += static_cast<ssize_t>(names.back().size()) + 1;
      }
      std::sort(names.begin(), names.end());
      std::string joined;
      for (const auto& s : names) joined += s + ",";
      t.Value("list-names", joined);
    }
    t.Sys("list-size", ::listxattr(f.c_str(), nullptr, 0));
    t.Sys("list-too-small", ::listxattr(f.c_str(), buf, 3));
    t.Sys("remove", ::removexattr(f.c_str(), "user.foo"));
    t.Sys("get-removed", ::getxattr(f.c_str(), "user.foo", buf, sizeof buf));
    t.Sys("remove-missing", ::removexattr(f.c_str(), "user.foo"));
    t.Sys("get-missing", ::getxattr(f.c_str(), "user.never", buf, sizeof buf));
    // On a directory, through an fd.
    t.Sys("mkdir", ::mkdir((d + "/dir").c_str(), 0755));
    t.Sys("set-dir", ::setxattr((d + "/dir").c_str(), "user.dir", "dv", 2, 0));
    n = ::getxattr((d + "/dir").c_str(), "user.dir", buf, sizeof buf);
    t.Value("get-dir", std::string(buf, n > 0 ? static_cast<size_t>(n) : 0));
    UniqueFd fd(::open(f.c_str(), O_RDONLY | O_CLOEXEC));
    t.Sys("fset", ::fsetxattr(fd.get(), "user.viafd", "fd", 2, 0));
    n = ::fgetxattr(fd.get(), "user.viafd", buf, sizeof buf);
    t.Value("fget", std::string(buf, n > 0 ? static_cast<size_t>(n) : 0));
  });
  EXPECT_EQ(r.Find("get-value")->data, "bar");
  EXPECT_EQ(r.Find("create-existing")->err, EEXIST);
  EXPECT_EQ(r.Find("get-removed")->err, ENODATA);

  // Survives a remount; neither the name nor the value is readable in the vault.
  ASSERT_NO_FATAL_FAILURE(Unmount());
  const std::vector<std::string> hits =
      FindInVault({secret_value, secret_name.substr(5), "replaced", "user.foo", "viafd"});
  EXPECT_TRUE(hits.empty()) << "xattr readable in the vault: " << hits.front();
  ASSERT_NO_FATAL_FAILURE(Mount());
  char buf[256];
  ssize_t n = ::getxattr(M("f").c_str(), secret_name.c_str(), buf, sizeof buf);
  EXPECT_EQ(std::string(buf, n > 0 ? static_cast<size_t>(n) : 0), secret_value);
}

TEST_F(MountTest, FallocateExtends) {
  Trace r = Compare([](const std::string& d, Trace& t) {
    const std::string f = d + "/f";
    t.Sys("seed", WriteFile(f, Pattern(1000, 4)) ? 0 : -1);
    UniqueFd fd(::open(f.c_str(), O_RDWR | O_CLOEXEC));
    t.Sys("fallocate-extend", ::fallocate(fd.get(), 0, 0, 10000));
    t.Fstat("fstat-10000", fd.get());
    t.Content("content-10000", fd.get());
    t.Sys("fallocate-inside", ::fallocate(fd.get(), 0, 100, 500));
    t.Fstat("fstat-inside", fd.get());
    t.Sys("fallocate-beyond", ::fallocate(fd.get(), 0, 20000, 100));
    t.Fstat("fstat-20100", fd.get());
    t.Sys("posix_fallocate", -::posix_fallocate(fd.get(), 0, 30000));
    t.Fstat("fstat-30000", fd.get());
    t.Sys("write-in-allocated", ::pwrite(fd.get(), "w", 1, 25000));
    t.Content("content-final", fd.get());
    t.Sys("fallocate-bad-len", ::fallocate(fd.get(), 0, 0, 0));
  });
  const std::string& c = r.Find("content-10000")->data;
  ASSERT_EQ(c.size(), 10000u);
  EXPECT_TRUE(c.substr(1000) == std::string(9000, '\0')) << "fallocated range is not zeros";
}

TEST_F(MountTest, MmapReadAndSharedWrite) {
  const std::string data = Pattern(3 * 4096 + 100, 21);
  Trace r = Compare([&](const std::string& d, Trace& t) {
    const std::string f = d + "/mapped";
    t.Sys("seed", WriteFile(f, data) ? 0 : -1);
    UniqueFd fd(::open(f.c_str(), O_RDWR | O_CLOEXEC));
    void* ro = ::mmap(nullptr, data.size(), PROT_READ, MAP_SHARED, fd.get(), 0);
    t.Sys("mmap-read", ro == MAP_FAILED ? -1 : 0);
    if (ro != MAP_FAILED) {
      t.Value("mapped-content", std::string(static_cast<const char*>(ro), data.size()));
      ::munmap(ro, data.size());
    }
    void* rw = ::mmap(nullptr, data.size(), PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
    t.Sys("mmap-shared-write", rw == MAP_FAILED ? -1 : 0);
    if (rw != MAP_FAILED) {
      char* p = static_cast<char*>(rw);
      std::memcpy(p + 10, "MAPPED-WRITE-1", 14);
      std::memcpy(p + 4090, "ACROSS-BLOCKS", 13);
      std::memcpy(p + 3 * 4096 + 90, "END", 3);
      t.Sys("msync", ::msync(rw, data.size(), MS_SYNC));
      ::munmap(rw, data.size());
    }
    fd.reset();
    DropCaches(1);
    t.File("read-back", f);
    // A write without msync reaches the file by munmap + close as well.
    UniqueFd fd2(::open(f.c_str(), O_RDWR | O_CLOEXEC));
    void* rw2 = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd2.get(), 4096);
    t.Sys("mmap-offset", rw2 == MAP_FAILED ? -1 : 0);
    if (rw2 != MAP_FAILED) {
      std::memcpy(static_cast<char*>(rw2) + 1, "no-msync", 8);
      ::munmap(rw2, 4096);
    }
    t.Sys("fsync", ::fsync(fd2.get()));
    fd2.reset();
    t.File("read-back-2", f);
    // Private mappings never reach the file.
    UniqueFd fd3(::open(f.c_str(), O_RDONLY | O_CLOEXEC));
    void* priv = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd3.get(), 0);
    t.Sys("mmap-private", priv == MAP_FAILED ? -1 : 0);
    if (priv != MAP_FAILED) {
      std::memcpy(priv, "PRIVATE", 7);
      ::munmap(priv, 4096);
    }
    fd3.reset();
    t.File("read-back-3", f);
  });
  std::string want = data;
  want.replace(10, 14, "MAPPED-WRITE-1");
  want.replace(4090, 13, "ACROSS-BLOCKS");
  want.replace(3 * 4096 + 90, 3, "END");
  EXPECT_TRUE(r.Find("read-back")->data == want) << "MAP_SHARED writes not read back by read()";
}

// The kernel writes mmap'd pages back through any writable handle of the file, here one
// opened with O_APPEND afterwards: the pages must land at their own offsets, not at the
// end (the append rule is the calling write's, not the handle's).
TEST_F(MountTest, MmapWriteBackThroughAnAppendHandleLandsInPlace) {
  const std::string data = Pattern(3 * 4096, 22);
  Trace r = Compare([&](const std::string& d, Trace& t) {
    const std::string f = d + "/mapped-append";
    t.Sys("seed", WriteFile(f, data) ? 0 : -1);
    UniqueFd rw(::open(f.c_str(), O_RDWR | O_CLOEXEC));
    void* map = ::mmap(nullptr, data.size(), PROT_READ | PROT_WRITE, MAP_SHARED, rw.get(), 0);
    t.Sys("mmap", map == MAP_FAILED ? -1 : 0);
    UniqueFd app(::open(f.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
    t.Sys("open-append", app.valid() ? 0 : -1);
    if (map != MAP_FAILED) {
      std::memcpy(static_cast<char*>(map) + 10, "MAPPED", 6);
      std::memcpy(static_cast<char*>(map) + 4096 + 7, "SECOND", 6);
      t.Sys("msync", ::msync(map, data.size(), MS_SYNC));
      ::munmap(map, data.size());
    }
    t.Sys("append", ::write(app.get(), "tail", 4) == 4 ? 0 : -1);
    rw.reset();
    app.reset();
    DropCaches(1);
    t.File("read-back", f);
  });
  std::string want = data;
  want.replace(10, 6, "MAPPED");
  want.replace(4096 + 7, 6, "SECOND");
  want += "tail";
  EXPECT_TRUE(r.Find("read-back")->data == want) << "mmap'd pages written back at the end";
}

// ---- other users -------------------------------------------------------------------

// The file-server set-up: allow_other, and a policy that lets root and nobody write.
class AllowOtherTest : public MountTest {
 protected:
  std::string MountOptions() const override { return "allow_other"; }
  std::string Policy() const override {
    return "[policy]\n"
           "create_matters = root\n"
           "[matter *]\n"
           "write = root, nobody\n";
  }
};

TEST_F(AllowOtherTest, OtherUsersReachTheMatters) {
  ASSERT_TRUE(WriteFile(M("readable"), "for everyone", 0644));
  ASSERT_TRUE(WriteFile(P("readable"), "for everyone", 0644));
  Trace r = Compare([](const std::string& d, Trace& t) {
    const std::string top = d.substr(0, d.rfind('/'));  // the mount (or plain dir) root
    t.Value("as-nobody", InChild(
                             [&] {
                               struct stat st;
                               std::string res = "stat-root=" + R(::stat(top.c_str(), &st));
                               res += " list-root=" + std::string(ListDir(top) ? "ok" : "failed");
                               res += " stat-matter=" + R(::stat(d.c_str(), &st));
                               res += " list-matter=" + std::string(ListDir(d) ? "ok" : "failed");
                               res += " read=" + ReadFile(d + "/readable").value_or("failed");
                               return res;
                             },
                             kNobody, kNogroup));
  });
  EXPECT_EQ(r.Find("as-nobody")->data,
            "stat-root=ok list-root=ok stat-matter=ok list-matter=ok read=for everyone");
}

TEST_F(AllowOtherTest, NewFilesBelongToTheCallingUser) {
  // Best effort, so that this test checks ownership whatever the root's mode
  // (OtherUsersReachTheMatters checks that).
  (void)::chmod(mnt_.c_str(), 0755);
  Trace r = Compare([](const std::string& d, Trace& t) {
    // Matters are created 0777 (the policy decides who gets in); compare against the
    // usual 0755 so that Unix permissions inside the matter are checked too.
    t.Sys("chmod-matter", ::chmod(d.c_str(), 0755));
    const std::string shared = d + "/shared";
    t.Sys("mkdir-shared", ::mkdir(shared.c_str(), 0777));
    t.Sys("chmod-shared", ::chmod(shared.c_str(), 0777));
    t.Sys("seed-root-file", WriteFile(d + "/rootfile", "root's", 0644) ? 0 : -1);
    t.Sys("seed-root-secret", WriteFile(d + "/rootsecret", "secret", 0600) ? 0 : -1);
    const std::string out = InChild(
        [&] {
          std::string res;
          UniqueFd fd(
              ::open((shared + "/mine").c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0640));
          res += "create=" + R(fd.get());
          res += " write=" + R(::write(fd.get(), "mine", 4));
          fd.reset();
          res += " mkdir=" + R(::mkdir((shared + "/mydir").c_str(), 0755));
          res += " symlink=" + R(::symlink("mine", (shared + "/mylink").c_str()));
          res += " mknod-fifo=" + R(::mknod((shared + "/fifo").c_str(), S_IFIFO | 0600, 0));
          res += " read-root-file=" + R(::open((d + "/rootfile").c_str(), O_RDONLY | O_CLOEXEC));
          res += " write-root-file=" + R(::open((d + "/rootfile").c_str(), O_WRONLY | O_CLOEXEC));
          res +=
              " read-root-secret=" + R(::open((d + "/rootsecret").c_str(), O_RDONLY | O_CLOEXEC));
          res += " create-in-root-dir=" +
                 R(::open((d + "/denied").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
          res += " chmod-root-file=" + R(::chmod((d + "/rootfile").c_str(), 0666));
          res += " chmod-own=" + R(::chmod((shared + "/mine").c_str(), 0600));
          res += " chown-own-to-root=" + R(::chown((shared + "/mine").c_str(), 0, 0));
          res += " unlink-root-file=" + R(::unlink((d + "/rootfile").c_str()));
          return res;
        },
        kNobody, kNogroup);
    t.Value("as-nobody", out);
    t.Stat("stat-mine", shared + "/mine");
    t.Stat("stat-mydir", shared + "/mydir");
    t.Stat("stat-mylink", shared + "/mylink");
    t.Stat("stat-fifo", shared + "/fifo");
    t.File("content-mine", shared + "/mine");
  });
  EXPECT_EQ(r.Find("stat-mine")->data, "mode=0100600 nlink=1 uid=65534 gid=65534 size=4");
  EXPECT_NE(r.Find("as-nobody")->data.find("read-root-secret=EACCES"), std::string::npos);
  struct stat st;
  ASSERT_EQ(::stat(M("shared/mine").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, kNobody);
}

}  // namespace
}  // namespace matterfs::mount_test

namespace matterfs::mount_test {
namespace {

// -o noxattr: every xattr call fails with EOPNOTSUPP (the daemon answers ENOSYS once and
// the kernel stops asking), the file itself is untouched, and nothing of the value
// reaches the vault.
class NoXattrMountTest : public MountTest {
 protected:
  std::string MountOptions() const override { return "noxattr"; }
};

TEST_F(NoXattrMountTest, EveryXattrCallFailsAndFilesWork) {
  const std::string f = M("tagged.txt");
  ASSERT_TRUE(WriteFile(f, "contents\n", 0644)) << std::strerror(errno);
  char buf[64];
  for (int round = 0; round < 2; ++round) {  // the first answer, then the kernel's own
    errno = 0;
    EXPECT_EQ(::setxattr(f.c_str(), "user.tag", "x", 1, 0), -1);
    EXPECT_EQ(errno, EOPNOTSUPP);
    errno = 0;
    EXPECT_EQ(::getxattr(f.c_str(), "user.tag", buf, sizeof buf), -1);
    EXPECT_EQ(errno, EOPNOTSUPP);
    errno = 0;
    EXPECT_EQ(::listxattr(f.c_str(), buf, sizeof buf), -1);
    EXPECT_EQ(errno, EOPNOTSUPP);
    errno = 0;
    EXPECT_EQ(::removexattr(f.c_str(), "user.tag"), -1);
    EXPECT_EQ(errno, EOPNOTSUPP);
  }
  // Writes (which the kernel no longer precedes with a security.capability query) work.
  const int fd = ::open(f.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(::write(fd, "more\n", 5), 5);
  ::close(fd);
  EXPECT_EQ(ReadFile(f), "contents\nmore\n");
}

}  // namespace
}  // namespace matterfs::mount_test
