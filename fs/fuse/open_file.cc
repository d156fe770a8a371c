#include "fs/fuse/open_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "fs/vault/crypt_file.h"
#include "fs/vault/encrypted_file.h"

namespace matterfs::fuse {

namespace {

Error Evicted() { return Error(Code::kNotFound, "the matter was wiped", EIO); }

// Reads the header and the plaintext size into a new state.
Status LoadCrypto(crypto::Cipher cipher, Inode* inode, FileState& state) {
  auto keys = inode->matter->keys();
  if (!keys) return Evicted();
  MFS_ASSIGN(auto opened, vault::OpenFile(state.fd.get(), cipher, keys->keyring()));
  if (!opened) {
    state.crypto.reset();
    state.size = 0;
    return {};
  }
  state.crypto.emplace(std::move(opened->crypto));
  MFS_ASSIGN(uint64_t size, vault::PlainSizeOfFd(state.fd.get(), state.crypto->layout()));
  state.size = size;
  return {};
}

}  // namespace

Result<std::shared_ptr<FileState>> AcquireFile(InodeTable& inodes, crypto::Cipher cipher,
                                               Inode* inode, bool write, UniqueFd existing) {
  {
    std::lock_guard<std::mutex> g(inode->mu);
    if (inode->file && (inode->file->writable || !write)) {
      inode->file->users++;
      return inode->file;
    }
  }
  UniqueFd fd = std::move(existing);
  bool writable = true;
  if (!fd.valid()) {
    MFS_ASSIGN(SharedFd pfd, inodes.Fd(inode));
    const std::string proc = "/proc/self/fd/" + std::to_string(pfd->get());
    // O_NOATIME: reading our own header must not touch the file's atime (only the
    // caller's reads should); it needs ownership or CAP_FOWNER, so fall back without.
    auto open_backing = [&](int flags) {
      int f = ::open(proc.c_str(), flags | O_CLOEXEC | O_NOATIME);
      if (f < 0 && errno == EPERM) f = ::open(proc.c_str(), flags | O_CLOEXEC);
      return f;
    };
    fd.reset(open_backing(O_RDWR));
    if (!fd.valid() && !write && (errno == EACCES || errno == EROFS || errno == EPERM)) {
      fd.reset(open_backing(O_RDONLY));
      writable = false;
    }
    if (!fd.valid()) return IoError("open backing file");
  }
  std::lock_guard<std::mutex> g(inode->mu);
  if (inode->file) {
    // Someone opened it meanwhile; upgrade its fd if we need to write.
    auto& state = *inode->file;
    if (write && !state.writable) {
      std::unique_lock<std::shared_mutex> wl(state.lock);
      state.fd = std::move(fd);
      state.writable = true;
    }
    state.users++;
    return inode->file;
  }
  auto state = std::make_shared<FileState>();
  state->fd = std::move(fd);
  state->writable = writable;
  MFS_TRY(LoadCrypto(cipher, inode, *state));
  state->users = 1;
  inode->file = state;
  inode->matter->TrackFile(state);
  return state;
}

void ReleaseFile(Inode* inode) {
  std::shared_ptr<FileState> drop;
  std::lock_guard<std::mutex> g(inode->mu);
  if (inode->file && --inode->file->users == 0) drop = std::move(inode->file);
}

Status EnsureHeader(crypto::Cipher cipher, Inode* inode, FileState& state) {
  if (state.evicted) return Evicted();
  if (state.crypto) return {};
  auto keys = inode->matter->keys();
  if (!keys) return Evicted();
  MFS_ASSIGN(vault::FileCrypto fc, vault::WriteNewHeader(state.fd.get(), cipher, keys->keyring()));
  state.crypto.emplace(std::move(fc));
  state.size = 0;
  return {};
}

Status TruncateFile(crypto::Cipher cipher, Inode* inode, FileState& state, uint64_t size) {
  std::unique_lock<std::shared_mutex> wl(state.lock);
  if (state.evicted) return Evicted();
  if (!state.crypto && size == 0) return {};
  MFS_TRY(EnsureHeader(cipher, inode, state));
  vault::CryptFile file(*state.crypto);
  MFS_ASSIGN(uint64_t now, file.Truncate(state.fd.get(), state.size, size));
  state.size = now;
  return {};
}

void DropKeys(FileState& state) {
  std::unique_lock<std::shared_mutex> wl(state.lock);
  state.crypto.reset();
  state.evicted = true;
}

}  // namespace matterfs::fuse
