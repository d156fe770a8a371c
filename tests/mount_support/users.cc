#include "tests/mount_support/users.h"

#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>

#include "util/unique_fd.h"

namespace matterfs::mount_support {

namespace {

constexpr const char* kUsersLock = "/tmp/mfs-t-users.lock";

bool GroupExists(const std::string& name) {
  struct group gr;
  struct group* found = nullptr;
  std::vector<char> buf(65536);
  return ::getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &found) == 0 && found != nullptr;
}

bool InGroup(const std::string& user, const std::string& group) {
  struct group gr;
  struct group* found = nullptr;
  std::vector<char> buf(65536);
  if (::getgrnam_r(group.c_str(), &gr, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
    return false;
  }
  for (char** m = gr.gr_mem; m != nullptr && *m != nullptr; ++m) {
    if (user == *m) return true;
  }
  return false;
}

// Runs an account tool unless `done`, retrying while another process holds the lock of
// /etc/passwd.
bool AccountTool(const std::vector<std::string>& argv, const std::function<bool()>& done) {
  CmdResult r;
  for (int attempt = 0; attempt < 50; ++attempt) {
    if (done()) return true;
    r = RunCommand(argv, 60);
    if (r.status == 0 || done()) return true;
    ::usleep(200000);
  }
  ADD_FAILURE() << argv[0] << " failed: " << ::testing::PrintToString(r);
  return false;
}

bool MakeUsers(const std::vector<UserSpec>& users) {
  for (const UserSpec& u : users) {
    for (const std::string& g : u.groups) {
      if (!AccountTool({"groupadd", "--system", g}, [g] { return GroupExists(g); })) return false;
    }
  }
  for (const UserSpec& u : users) {
    const std::string n = u.name;
    // A group of the user's name may be left from an interrupted run: use it.
    std::vector<std::string> argv = {"useradd", "--system", "--no-create-home", "--shell",
                                     "/usr/sbin/nologin"};
    if (GroupExists(n)) {
      argv.insert(argv.end(), {"-g", n});
    } else {
      argv.push_back("--user-group");
    }
    argv.push_back(n);
    if (!AccountTool(argv, [n] { return LookupUser(n).has_value(); })) return false;
    for (const std::string& g : u.groups) {
      if (!AccountTool({"usermod", "-a", "-G", g, n}, [n, g] { return InGroup(n, g); })) {
        return false;
      }
    }
  }
  return true;
}

}  // namespace

void EnsureUsers(const std::vector<UserSpec>& users) {
  // Serialises test processes (ctest -j) that create the same users.
  UniqueFd lock(::open(kUsersLock, O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  ASSERT_TRUE(lock.valid() && ::flock(lock.get(), LOCK_EX) == 0)
      << "cannot lock " << kUsersLock << ": " << std::strerror(errno);
  ASSERT_TRUE(MakeUsers(users)) << "the test users could not be created (see the failures above)";
}

std::optional<TestUser> LookupUser(const std::string& name) {
  struct passwd pw;
  struct passwd* found = nullptr;
  std::vector<char> buf(16384);
  if (::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
    return std::nullopt;
  }
  TestUser u;
  u.name = name;
  u.uid = pw.pw_uid;
  u.gid = pw.pw_gid;
  int n = 64;
  std::vector<gid_t> groups(static_cast<size_t>(n));
  while (::getgrouplist(name.c_str(), pw.pw_gid, groups.data(), &n) < 0) {
    groups.resize(static_cast<size_t>(n) + 16);
    n = static_cast<int>(groups.size());
  }
  groups.resize(static_cast<size_t>(n));
  u.groups = groups;
  return u;
}

TestUser User(const std::string& name) {
  auto u = LookupUser(name);
  EXPECT_TRUE(u.has_value()) << "no user " << name;
  return u ? *u : TestUser{name, 65534, 65534, {65534}};
}

}  // namespace matterfs::mount_support
