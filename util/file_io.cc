#include "util/file_io.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace matterfs {

Result<Bytes> ReadWholeFile(int dirfd, const std::string& path, size_t max_size) {
  UniqueFd fd(::openat(dirfd, path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    int err = errno;
    if (err == ENOENT) return Error(Code::kNotFound, path + ": no such file", err);
    return IoError(path, err);
  }
  Bytes out;
  uint8_t buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError(path);
    }
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > max_size) {
      return Error(Code::kInvalidArgument, path + ": file too large");
    }
    out.insert(out.end(), buf, buf + n);
  }
  return out;
}

Result<size_t> PreadFull(int fd, void* buf, size_t len, off_t off) {
  size_t done = 0;
  auto* p = static_cast<uint8_t*>(buf);
  while (done < len) {
    ssize_t n = ::pread(fd, p + done, len - done, off + static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError("pread");
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

Status PwriteFull(int fd, const void* buf, size_t len, off_t off) {
  size_t done = 0;
  const auto* p = static_cast<const uint8_t*>(buf);
  while (done < len) {
    ssize_t n = ::pwrite(fd, p + done, len - done, off + static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError("pwrite");
    }
    done += static_cast<size_t>(n);
  }
  return {};
}

Status FsyncDir(int dirfd) {
  if (::fsync(dirfd) == 0) return {};
  if (errno == EBADF) {
    // An O_PATH descriptor cannot be fsynced: open the directory itself.
    UniqueFd dir(::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir.valid() && ::fsync(dir.get()) == 0) return {};
  }
  if (errno == EINVAL) return {};  // the filesystem does not sync directories
  return IoError("fsync directory");
}

namespace {
Status WriteAndSync(int fd, ByteSpan data, const std::string& path) {
  MFS_TRY(PwriteFull(fd, data.data(), data.size(), 0));
  if (::fsync(fd) != 0) return IoError("fsync " + path);
  return {};
}
}  // namespace

Status WriteFileExclusive(int dirfd, const std::string& path, ByteSpan data, mode_t mode) {
  UniqueFd fd(::openat(dirfd, path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
  if (!fd.valid()) {
    int err = errno;
    if (err == EEXIST) return Error(Code::kExists, path + ": already exists", err);
    return IoError(path, err);
  }
  Status st = WriteAndSync(fd.get(), data, path);
  if (!st.ok()) {
    ::unlinkat(dirfd, path.c_str(), 0);
    return st;
  }
  return FsyncDir(dirfd);
}

Status WriteFileAtomic(int dirfd, const std::string& path, ByteSpan data, mode_t mode) {
  std::string tmp = path + ".tmp";
  ::unlinkat(dirfd, tmp.c_str(), 0);  // a leftover from a crash is never the live copy
  MFS_TRY(WriteFileExclusive(dirfd, tmp, data, mode));
  if (::renameat(dirfd, tmp.c_str(), dirfd, path.c_str()) != 0) {
    int err = errno;
    ::unlinkat(dirfd, tmp.c_str(), 0);
    return IoError("rename " + path, err);
  }
  return FsyncDir(dirfd);
}

Result<std::vector<std::string>> ListDirNames(int dirfd) {
  UniqueFd dup(::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dup.valid()) return IoError("open directory");
  DIR* d = ::fdopendir(dup.get());
  if (d == nullptr) return IoError("read directory");
  (void)dup.release();
  std::vector<std::string> out;
  errno = 0;
  while (struct dirent* e = ::readdir(d)) {
    const std::string_view n = e->d_name;
    if (n != "." && n != "..") out.emplace_back(n);
  }
  const int err = errno;
  ::closedir(d);
  if (err != 0) return IoError("read directory", err);
  std::sort(out.begin(), out.end());
  return out;
}

Status WriteNewFile(const std::string& path, ByteSpan data, mode_t mode) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : path.substr(0, slash);
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  if (base.empty()) return Error(Code::kInvalidArgument, "give a file name, not a directory");
  // WriteFileExclusive fsyncs the directory fd it is given: a real one, not AT_FDCWD.
  UniqueFd dirfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dirfd.valid()) return IoError("open directory " + dir);
  Status st = WriteFileExclusive(dirfd.get(), base, data, mode);
  if (!st.ok() && st.error().code() == Code::kExists) {
    return Error(Code::kExists, path + " already exists; not overwriting it", EEXIST);
  }
  return st;
}

}  // namespace matterfs
