#include "fs/vault/matter.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vector>

#include "fs/vault/encrypted_dir.h"
#include "fs/vault/encrypted_file.h"
#include "util/file_io.h"

namespace matterfs::vault {

Result<std::unique_ptr<Matter>> Matter::Load(const Vault& vault, std::string_view name) {
  MFS_ASSIGN(MatterInfo info, vault.FindMatter(name));
  MFS_ASSIGN(Keyring ring, vault.LoadKeyring(info.id));
  return std::unique_ptr<Matter>(new Matter(std::move(info), std::move(ring)));
}

Result<UniqueFd> Matter::OpenDir(const Vault& vault) const {
  UniqueFd fd(::openat(vault.data_fd(), info_.entry.c_str(),
                       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) return IoError("open matter directory");
  return fd;
}

Result<UniqueFd> Matter::OpenPath(const Vault& vault, std::string_view rel_path, int flags) const {
  MFS_ASSIGN(UniqueFd dir, OpenDir(vault));
  std::string_view rest = rel_path;
  while (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);
  if (rest.empty()) return dir;
  for (;;) {
    size_t slash = rest.find('/');
    std::string_view comp = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    while (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);
    MFS_ASSIGN(EncryptedDir encrypted, EncryptedDir::Open(dir.get(), names_));
    MFS_ASSIGN(StoredName stored, encrypted.Encode(comp));
    const bool last = rest.empty();
    UniqueFd next(::openat(dir.get(), stored.entry.c_str(),
                           (last ? flags : O_RDONLY | O_DIRECTORY) | O_NOFOLLOW | O_CLOEXEC));
    if (!next.valid()) {
      int err = errno;
      if (err == ENOENT) {
        return Error(
            Code::kNotFound,
            "'" + std::string(rel_path) + "' does not exist in matter '" + info_.name + "'", err);
      }
      if (err == ELOOP)
        return Error(Code::kInvalidArgument, "'" + std::string(comp) + "' is a symlink", err);
      return IoError(std::string(comp), err);
    }
    if (last) return next;
    dir = std::move(next);
  }
}

Status DecryptFileTo(const Matter& matter, const FileFormat& format, int backing_fd, int out_fd) {
  struct stat st;
  if (::fstat(backing_fd, &st) != 0) return IoError("stat");
  if (S_ISDIR(st.st_mode))
    return Error(Code::kInvalidArgument, "is a directory, not a file", EISDIR);
  if (!S_ISREG(st.st_mode)) return Error(Code::kInvalidArgument, "is not a regular file", EINVAL);
  MFS_ASSIGN(auto opened, OpenFile(backing_fd, format, matter.keyring()));
  if (!opened) return {};  // empty file: no header yet
  const FileCrypto& fc = opened->crypto;
  MFS_ASSIGN(uint64_t size, PlainSizeOfFd(backing_fd, fc.layout()));
  CryptFile file(fc, &opened->header);
  std::vector<uint8_t> buf(kMaxIo);
  for (uint64_t off = 0; off < size;) {
    MFS_ASSIGN(size_t n, file.Read(backing_fd, size, off, buf));
    size_t done = 0;
    while (done < n) {
      ssize_t w = ::write(out_fd, buf.data() + done, n - done);
      if (w < 0) {
        if (errno == EINTR) continue;
        return IoError("write output");
      }
      done += static_cast<size_t>(w);
    }
    off += n;
  }
  return {};
}

}  // namespace matterfs::vault
