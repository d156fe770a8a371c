#include "tests/mount_support/files.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>

#include "tests/mount_support/process.h"
#include "util/unique_fd.h"

namespace matterfs::mount_support {

std::optional<std::string> ReadFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return std::nullopt;
  return ReadFd(fd.get());
}

bool WriteFile(const std::string& path, const std::string& data, mode_t mode) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  if (!fd.valid()) return false;
  return PwriteAll(fd.get(), data, 0);
}

std::optional<std::string> ReadFd(int fd) {
  std::string out;
  char buf[65536];
  off_t off = 0;
  while (true) {
    ssize_t n = ::pread(fd, buf, sizeof buf, off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) return out;
    out.append(buf, static_cast<size_t>(n));
    off += n;
  }
}

bool PwriteAll(int fd, const std::string& data, off_t off) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n =
        ::pwrite(fd, data.data() + done, data.size() - done, off + static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

std::optional<std::vector<std::string>> ListDir(const std::string& path) {
  DIR* d = ::opendir(path.c_str());
  if (d == nullptr) return std::nullopt;
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  const int err = errno;
  ::closedir(d);
  if (err != 0) {
    errno = err;
    return std::nullopt;
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::string> WalkTree(const std::string& root) {
  std::vector<std::string> out;
  auto names = ListDir(root);
  if (!names) return out;
  for (const std::string& n : *names) {
    const std::string p = root + "/" + n;
    out.push_back(p);
    struct stat st;
    if (::lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      auto below = WalkTree(p);
      out.insert(out.end(), below.begin(), below.end());
    }
  }
  return out;
}

std::string Pattern(size_t size, uint64_t seed) {
  std::string out(size, '\0');
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
  for (size_t i = 0; i < size; ++i) {
    // splitmix64, one byte per step: cheap and never all zeros for long.
    x += 0x9E3779B97F4A7C15ull;
    uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    out[i] = static_cast<char>(z >> 56);
  }
  return out;
}

std::string UniqueToken() {
  static std::mt19937_64 rng(
      std::random_device{}() ^
      static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
  char buf[40];
  std::snprintf(buf, sizeof buf, "%016llx%08x", static_cast<unsigned long long>(rng()),
                static_cast<unsigned>(::getpid()));
  return buf;
}

void DropCaches(int level) {
  ::sync();
  std::ofstream out("/proc/sys/vm/drop_caches");
  out << level << "\n";
  out.flush();
  EXPECT_TRUE(out.good()) << "cannot write /proc/sys/vm/drop_caches";
}

std::string MakeTempDir(const std::string& prefix) {
  std::string tmpl = prefix + "XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) return "";
  if (::chmod(tmpl.c_str(), 0755) != 0) return "";
  return tmpl;
}

void RemoveTree(const std::string& path) {
  if (path.empty() || path == "/") return;
  CmdResult r = RunCommand({"rm", "-rf", "--one-file-system", path}, 120);
  if (r.status != 0) std::fprintf(stderr, "warning: rm -rf %s: %s\n", path.c_str(), r.err.c_str());
}

}  // namespace matterfs::mount_support
