#include "policy/nss_resolver.h"

#include <grp.h>
#include <pwd.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

namespace matterfs::policy {

namespace {

// getpw*_r / getgr*_r need a buffer of unknown size: start with sysconf's hint and
// double on ERANGE, up to a bound (a group with thousands of members is large).
constexpr size_t kMaxBuffer = 16 << 20;

size_t InitialBuffer(int name) {
  long hint = ::sysconf(name);
  return hint > 0 ? static_cast<size_t>(hint) : 16384;
}

// Calls fn(buf, size) -> errno-style int until it does not ask for a bigger buffer.
template <typename Fn>
int WithBuffer(int sysconf_name, std::vector<char>& buf, Fn fn) {
  buf.resize(InitialBuffer(sysconf_name));
  for (;;) {
    int rc = fn(buf.data(), buf.size());
    if (rc == EINTR) continue;
    if (rc != ERANGE || buf.size() >= kMaxBuffer) return rc;
    buf.resize(buf.size() * 2);
  }
}

// "Not found" has several spellings in NSS modules (POSIX lists 0, ENOENT, ESRCH, EBADF,
// EPERM as possible answers for a missing entry).
bool MeansNotFound(int rc) {
  return rc == 0 || rc == ENOENT || rc == ESRCH || rc == EBADF || rc == EPERM;
}

Result<Subject> SubjectFromPasswd(const passwd& pw) {
  Subject s;
  s.user = pw.pw_name;
  s.uid = pw.pw_uid;
  std::vector<gid_t> gids(64);
  for (;;) {
    int n = static_cast<int>(gids.size());
    if (::getgrouplist(pw.pw_name, pw.pw_gid, gids.data(), &n) >= 0) {
      gids.resize(static_cast<size_t>(n));
      break;
    }
    if (n <= static_cast<int>(gids.size())) n = static_cast<int>(gids.size()) * 2;
    if (n > 65536) return Error(Code::kIo, "getgrouplist: too many groups for " + s.user);
    gids.resize(static_cast<size_t>(n));
  }
  std::vector<char> buf;
  for (gid_t gid : gids) {
    group gr{};
    group* result = nullptr;
    int rc = WithBuffer(_SC_GETGR_R_SIZE_MAX, buf, [&](char* b, size_t len) {
      return ::getgrgid_r(gid, &gr, b, len, &result);
    });
    if (result == nullptr) {
      if (MeansNotFound(rc)) continue;  // a gid without a name cannot be named in policy
      return IoError("getgrgid_r(" + std::to_string(gid) + ")", rc);
    }
    std::string name = gr.gr_name;
    bool seen = false;
    for (const std::string& g : s.groups) seen = seen || g == name;
    if (!seen) s.groups.push_back(std::move(name));
  }
  return s;
}

}  // namespace

Result<bool> NssResolver::UserExists(std::string_view user) const {
  std::string name(user);
  passwd pw{};
  passwd* result = nullptr;
  std::vector<char> buf;
  int rc = WithBuffer(_SC_GETPW_R_SIZE_MAX, buf, [&](char* b, size_t len) {
    return ::getpwnam_r(name.c_str(), &pw, b, len, &result);
  });
  if (result != nullptr) return true;
  if (MeansNotFound(rc)) return false;
  return IoError("getpwnam_r(" + name + ")", rc);
}

Result<bool> NssResolver::GroupExists(std::string_view group_name) const {
  std::string name(group_name);
  group gr{};
  group* result = nullptr;
  std::vector<char> buf;
  int rc = WithBuffer(_SC_GETGR_R_SIZE_MAX, buf, [&](char* b, size_t len) {
    return ::getgrnam_r(name.c_str(), &gr, b, len, &result);
  });
  if (result != nullptr) return true;
  if (MeansNotFound(rc)) return false;
  return IoError("getgrnam_r(" + name + ")", rc);
}

Result<Subject> LookupSubject(std::string_view user) {
  std::string name(user);
  passwd pw{};
  passwd* result = nullptr;
  std::vector<char> buf;
  int rc = WithBuffer(_SC_GETPW_R_SIZE_MAX, buf, [&](char* b, size_t len) {
    return ::getpwnam_r(name.c_str(), &pw, b, len, &result);
  });
  if (result == nullptr) {
    if (MeansNotFound(rc)) return Error(Code::kNotFound, "no such user '" + name + "'");
    return IoError("getpwnam_r(" + name + ")", rc);
  }
  return SubjectFromPasswd(pw);
}

Result<Subject> LookupSubject(uint32_t uid) {
  passwd pw{};
  passwd* result = nullptr;
  std::vector<char> buf;
  int rc = WithBuffer(_SC_GETPW_R_SIZE_MAX, buf, [&](char* b, size_t len) {
    return ::getpwuid_r(static_cast<uid_t>(uid), &pw, b, len, &result);
  });
  if (result == nullptr) {
    if (MeansNotFound(rc)) {
      return Error(Code::kNotFound, "no user with uid " + std::to_string(uid));
    }
    return IoError("getpwuid_r(" + std::to_string(uid) + ")", rc);
  }
  return SubjectFromPasswd(pw);
}

}  // namespace matterfs::policy
