#include "fs/vault/matter.h"

#include <fcntl.h>
#include <unistd.h>

#include <vector>

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
    MFS_ASSIGN(DirIv iv, ReadDirIv(dir.get()));
    MFS_ASSIGN(StoredName stored, names_.Encode(iv, comp));
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

Status DecryptFileTo(const Matter& matter, int backing_fd, int out_fd) {
  uint8_t raw[kHeaderSize];
  MFS_ASSIGN(size_t got, PreadFull(backing_fd, raw, sizeof raw, 0));
  if (got == 0) return {};  // empty file: no header yet
  MFS_ASSIGN(FileHeader header, FileHeader::Parse({raw, got}));
  MFS_ASSIGN(FileCrypto fc, FileCrypto::Open(header, matter.keyring()));
  MFS_ASSIGN(uint64_t size, PlainSizeOfFd(backing_fd, fc.layout()));
  CryptFile file(fc);
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
