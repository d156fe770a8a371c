// Small POSIX file helpers shared by the vault library and the tools.
// Every call retries on EINTR and returns kIo with the errno on failure.
// Thread-safety: stateless; safe from any thread.
#pragma once

#include <string>
#include <vector>

#include "util/bytes.h"
#include "util/result.h"
#include "util/unique_fd.h"

namespace matterfs {

// Reads a whole file (at most max_size bytes; larger is kInvalidArgument).
Result<Bytes> ReadWholeFile(int dirfd, const std::string& path, size_t max_size);

// Writes `data` to dirfd/path atomically: a temporary sibling created with O_EXCL,
// fsynced, renamed over the target, then the directory fsynced. A crash leaves either
// the old or the new file, never a mix.
Status WriteFileAtomic(int dirfd, const std::string& path, ByteSpan data, mode_t mode);

// Creates dirfd/path with O_EXCL and writes data, fsyncing file and directory.
Status WriteFileExclusive(int dirfd, const std::string& path, ByteSpan data, mode_t mode);

// WriteFileExclusive of a path (relative to the working directory): its directory is
// opened (to be fsynced). kExists when the file is there already, kInvalidArgument for a
// path that ends in '/'.
Status WriteNewFile(const std::string& path, ByteSpan data, mode_t mode);

// pread/pwrite that loop until all bytes are moved (short reads stop at EOF).
Result<size_t> PreadFull(int fd, void* buf, size_t len, off_t off);
Status PwriteFull(int fd, const void* buf, size_t len, off_t off);

Status FsyncDir(int dirfd);
// The names in directory `dirfd` ("." and ".." left out), sorted.
Result<std::vector<std::string>> ListDirNames(int dirfd);

}  // namespace matterfs
