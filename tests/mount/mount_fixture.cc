#include "tests/mount/mount_fixture.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sstream>

namespace matterfs::mount_test {

namespace {

// Printable form of data[from, from+len) for failure messages, with its size when cut.
std::string Show(const std::string& data, size_t from = 0, size_t len = 160) {
  std::string out;
  if (from > data.size()) from = data.size();
  if (from > 0) out = "..." + std::to_string(from) + " bytes... ";
  const size_t n = std::min<size_t>(data.size(), from + len);
  for (size_t i = from; i < n; ++i) {
    unsigned char c = static_cast<unsigned char>(data[i]);
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  if (data.size() > n) out += "... (" + std::to_string(data.size()) + " bytes)";
  return out;
}

std::string ShowStep(const Step& s, size_t diff_at) {
  std::string out = s.what + ": rc=" + std::to_string(s.rc) + " errno=" + ErrName(s.err);
  if (!s.data.empty()) {
    const size_t from = diff_at > 40 ? diff_at - 40 : 0;
    out += " data=\"" + Show(s.data, from) + "\"";
  }
  return out;
}

}  // namespace

// ---- traces ----------------------------------------------------------------------

void PrintTo(const Step& s, std::ostream* os) {
  *os << s.what << ": rc=" << s.rc << " errno=" << ErrName(s.err);
  if (!s.data.empty()) *os << " data=\"" << Show(s.data) << "\"";
}

long Trace::Sys(const char* what, long rc) {
  const int err = rc < 0 ? errno : 0;
  steps_.push_back(Step{what, rc, err, ""});
  return rc;
}

int Trace::Fd(const char* what, int fd) {
  const int err = fd < 0 ? errno : 0;
  steps_.push_back(Step{what, fd < 0 ? -1 : 0, err, ""});
  return fd;
}

void Trace::Value(const char* what, std::string data) {
  steps_.push_back(Step{what, 0, 0, std::move(data)});
}

namespace {
std::string Summary(const struct stat& st) {
  std::ostringstream s;
  s << "mode=0" << std::oct << st.st_mode << std::dec << " nlink=" << st.st_nlink
    << " uid=" << st.st_uid << " gid=" << st.st_gid;
  if (!S_ISDIR(st.st_mode)) s << " size=" << st.st_size;  // directory sizes are the backend's
  return s.str();
}
}  // namespace

void Trace::Stat(const char* what, const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    const int err = errno;
    steps_.push_back(Step{what, -1, err, ""});
    return;
  }
  steps_.push_back(Step{what, 0, 0, Summary(st)});
}

void Trace::Fstat(const char* what, int fd) {
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    steps_.push_back(Step{what, -1, err, ""});
    return;
  }
  steps_.push_back(Step{what, 0, 0, Summary(st)});
}

long Trace::Pread(const char* what, int fd, size_t size, off_t off) {
  std::string buf(size, '\0');
  const ssize_t n = ::pread(fd, buf.data(), size, off);
  const int err = n < 0 ? errno : 0;
  buf.resize(n > 0 ? static_cast<size_t>(n) : 0);
  steps_.push_back(Step{what, static_cast<long>(n), err, std::move(buf)});
  return static_cast<long>(n);
}

void Trace::Content(const char* what, int fd) {
  auto data = ReadFd(fd);
  if (!data) {
    const int err = errno;
    steps_.push_back(Step{what, -1, err, ""});
    return;
  }
  steps_.push_back(Step{what, static_cast<long>(data->size()), 0, std::move(*data)});
}

long Trace::OpenClose(const char* what, const std::string& path, int flags, mode_t mode) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  Fd(what, fd);
  if (fd >= 0) ::close(fd);
  return fd;
}

void Trace::List(const char* what, const std::string& dir) {
  auto names = ListDir(dir);
  if (!names) {
    const int err = errno;
    steps_.push_back(Step{what, -1, err, ""});
    return;
  }
  std::string joined;
  for (const std::string& n : *names) joined += n + "\n";
  steps_.push_back(Step{what, static_cast<long>(names->size()), 0, joined});
}

void Trace::File(const char* what, const std::string& path) {
  auto data = ReadFile(path);
  if (!data) {
    const int err = errno;
    steps_.push_back(Step{what, -1, err, ""});
    return;
  }
  steps_.push_back(Step{what, static_cast<long>(data->size()), 0, std::move(*data)});
}

const Step* Trace::Find(const std::string& what) const {
  for (const Step& s : steps_) {
    if (s.what == what) return &s;
  }
  return nullptr;
}

void ExpectSameTrace(const Trace& plain, const Trace& mounted) {
  const auto& a = plain.steps();
  const auto& b = mounted.steps();
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    if (a[i] == b[i]) continue;
    std::string where;
    size_t at = 0;
    if (a[i].data != b[i].data) {
      while (at < a[i].data.size() && at < b[i].data.size() && a[i].data[at] == b[i].data[at]) {
        ++at;
      }
      where = " (data differ first at byte " + std::to_string(at) + ")";
    }
    ADD_FAILURE() << "step " << i << " differs" << where << "\n  plain dir: " << ShowStep(a[i], at)
                  << "\n  mount:     " << ShowStep(b[i], at);
    return;
  }
  EXPECT_EQ(a.size(), b.size()) << "the traces have different lengths";
}

// ---- the fixture ----------------------------------------------------------------

void MountTest::SetUp() {
  ASSERT_NO_FATAL_FAILURE(MountFixture::SetUp());
  plain_ = dir_ + "/plain";
  ASSERT_EQ(::mkdir(plain_.c_str(), 0755), 0) << std::strerror(errno);
  for (const std::string& m : Matters()) {
    ASSERT_EQ(::mkdir((plain_ + "/" + m).c_str(), 0755), 0) << std::strerror(errno);
  }
}

}  // namespace matterfs::mount_test
