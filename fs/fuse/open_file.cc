#include "fs/fuse/open_file.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <optional>
#include <string>

#include "fs/vault/crypt_file.h"
#include "fs/vault/encrypted_file.h"
#include "fs/vault/rotation.h"

namespace matterfs::fuse {

namespace {

Error Evicted() { return Error(Code::kNotFound, "the matter was wiped", EIO); }

// Format 3: the entry an opened file's header must be bound to, the name we reach the
// file by ("" for none). With other servers (-o shared) our record of the name may be
// behind one of their renames, so the binding is left to the servers that rename (and to
// fsck). Takes the inode table's lock: call it before inode->mu (the table's lock comes
// first: InodeTable::FileOf and Forget take inode->mu under it).
std::string BindingName(const FileContext& ctx, Inode* inode) {
  if (ctx.format.version < 3 || ctx.shared) return "";
  return ctx.inodes.EntryOf(inode);
}

// Reads the header and the plaintext size into a state. A header on a key version newer
// than ours was written after another process rotated the matter: the keyring is re-read
// (once) before the header could be called foreign.
// `name`: the entry the header must be bound to (BindingName), or none.
Status LoadCrypto(const FileContext& ctx, Inode* inode, FileState& state,
                  std::optional<std::string_view> name) {
  MatterRegistry& matters = ctx.matters;
  const vault::FileFormat& format = ctx.format;
  auto keys = inode->matter->keys();
  if (!keys) return Evicted();
  auto opened = vault::OpenFile(state.fd.get(), format, keys->keyring(), name);
  if (!opened.ok() && opened.error().code() == Code::kCorruption) {
    auto plain = vault::ReadFileHeader(state.fd.get(), format);
    if (plain.ok() && *plain && (*plain)->key_version > keys->keyring().current_version) {
      MFS_TRY(matters.Reload(inode->matter->name()));
      keys = inode->matter->keys();
      if (!keys) return Evicted();
      opened = vault::OpenFile(state.fd.get(), format, keys->keyring(), name);
    }
  }
  if (!opened.ok()) return opened.error();
  if (!*opened) {
    state.crypto.reset();
    state.header.reset();
    state.size = 0;
    return {};
  }
  state.crypto.emplace(std::move((*opened)->crypto));
  state.header.emplace(std::move((*opened)->header));
  state.size = (*opened)->plain_size;
  return {};
}

// Truncate's and fallocate's common end: the new plaintext size (caller holds state.lock
// exclusively, and in shared mode the backing file lock).
Status ResizeLocked(const FileContext& ctx, Inode* inode, FileState& state, uint64_t size) {
  if (!state.crypto && size == 0) return {};
  MFS_TRY(EnsureHeader(ctx, inode, state));
  vault::CryptFile file(*state.crypto, HeaderOf(state));
  MFS_ASSIGN(uint64_t now, file.Truncate(state.fd.get(), state.size, size));
  state.size = now;
  return {};
}

}  // namespace

Result<std::shared_ptr<FileState>> AcquireFile(const FileContext& ctx, Inode* inode, bool write,
                                               UniqueFd existing) {
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
    MFS_ASSIGN(SharedFd pfd, ctx.inodes.Fd(inode));
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
  // A new state reads the header under the backing file's read lock, taken before
  // inode->mu (the lock order of RewrapForRotation): a rotation never rewrites the header
  // under our feet. Dropped before an existing state's lock is taken (its order there is
  // state.lock, then the backing file).
  std::optional<BackingFileLock> header_lock;
  {
    MFS_ASSIGN(BackingFileLock taken, BackingFileLock::Take(fd.get(), false));
    header_lock.emplace(std::move(taken));
  }
  const std::string entry = BindingName(ctx, inode);
  std::lock_guard<std::mutex> g(inode->mu);
  if (inode->file) {
    header_lock.reset();
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
  MFS_TRY(LoadCrypto(ctx, inode, *state,
                     entry.empty() ? std::nullopt : std::optional<std::string_view>(entry)));
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

Status EnsureHeader(const FileContext& ctx, Inode* inode, FileState& state) {
  if (state.evicted) return Evicted();
  if (state.crypto) return {};
  auto keys = inode->matter->keys();
  if (!keys) return Evicted();
  MFS_ASSIGN(vault::OpenedFile made,
             vault::WriteNewHeader(state.fd.get(), ctx.format, keys->keyring()));
  state.crypto.emplace(std::move(made.crypto));
  state.header.emplace(std::move(made.header));
  state.size = 0;
  return {};
}

Status RecordFileSize(const FileContext& ctx, Inode* inode, FileState& state) {
  if (ctx.format.version < 3) return {};
  std::unique_lock<std::shared_mutex> wl(state.lock);
  if (state.evicted || !state.writable || !state.header) return {};
  if (!ctx.shared && state.header->recorded_size == state.size.load()) return {};
  MFS_ASSIGN(auto backing, CatchUp(ctx, inode, state, true));
  return vault::RecordSize(state.fd.get(), *state.header, *state.crypto, state.size.load());
}

Status TruncateFile(const FileContext& ctx, Inode* inode, FileState& state, uint64_t size) {
  std::unique_lock<std::shared_mutex> wl(state.lock);
  if (state.evicted) return Evicted();
  MFS_ASSIGN(auto backing, CatchUp(ctx, inode, state, true));
  return ResizeLocked(ctx, inode, state, size);
}

Result<bool> RewrapForRotation(const FileContext& ctx, const vault::WalkItem& item,
                               const vault::Keyring& ring) {
  // Lock orders: an open file's state.lock before the backing file's lock (as reads and
  // writes in shared mode); the backing file's lock before inode->mu (as AcquireFile).
  for (;;) {
    if (std::shared_ptr<FileState> state = ctx.inodes.FileOf(item.st.st_dev, item.st.st_ino)) {
      std::unique_lock<std::shared_mutex> wl(state->lock);
      MFS_ASSIGN(BackingFileLock lock, BackingFileLock::Take(item.fd, true));
      if (state->evicted) return Evicted();
      if (ctx.shared && state->header) {
        // Another server may have changed the hole table since we last looked.
        MFS_TRY(vault::ReloadHeader(state->fd.get(), *state->header, *state->crypto));
      }
      if (!state->header) return false;  // nothing written yet: its first header is current
      if (state->header->key_version == ring.current_version) return false;
      MFS_TRY(vault::RewrapFileHeader(item.fd, *state->header, ring));
      return true;
    }
    MFS_ASSIGN(BackingFileLock lock, BackingFileLock::Take(item.fd, true));
    if (ctx.inodes.FileOf(item.st.st_dev, item.st.st_ino)) continue;  // opened meanwhile
    return vault::RewrapFile(item.fd, ctx.format, ring);
  }
}

Result<int> WithBinding(const FileContext& ctx, int dirfd, const std::string& entry,
                        const struct stat& st, std::optional<std::string> bind_to,
                        const vault::Keyring& ring, const std::function<int()>& op) {
  if (ctx.format.version < 3 || !S_ISREG(st.st_mode)) return op();
  // The header and key: the open state's, or read from disk.
  std::shared_ptr<FileState> state = ctx.inodes.FileOf(st.st_dev, st.st_ino);
  std::unique_lock<std::shared_mutex> wl;
  UniqueFd own_fd;
  std::optional<vault::OpenedFile> own;
  vault::FileHeader* header = nullptr;
  const vault::FileCrypto* crypto = nullptr;
  int fd = -1;
  if (state) {
    wl = std::unique_lock<std::shared_mutex>(state->lock);
    if (state->evicted || !state->header) {
      wl.unlock();
      state.reset();
    } else {
      // The state's header stays the one on disk (a read-only state too: its sequence).
      header = &*state->header;
      crypto = &*state->crypto;
      if (state->writable) fd = state->fd.get();
    }
  }
  if (fd < 0) {
    own_fd.reset(entry.empty() ? ::open(("/proc/self/fd/" + std::to_string(dirfd)).c_str(),
                                        O_RDWR | O_CLOEXEC)
                               : ::openat(dirfd, entry.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW));
    if (!own_fd.valid()) return IoError("open the file to bind its header to its new name");
    fd = own_fd.get();
  }
  MFS_ASSIGN(BackingFileLock lock, BackingFileLock::Take(fd, true));
  if (state) {
    if (ctx.shared) MFS_TRY(vault::ReloadHeader(fd, *header, *crypto));
  } else {
    MFS_ASSIGN(auto opened, vault::OpenFile(fd, ctx.format, ring));
    if (!opened) return op();  // cannot happen in format 3 (OpenFile refuses it)
    own.emplace(std::move(*opened));
    header = &own->header;
    crypto = &own->crypto;
  }
  const vault::NameTag tag = bind_to ? vault::NameTagOf(*bind_to) : vault::NameTag{};
  if (header->unbound == !bind_to && header->name_tag == tag) return op();
  const bool old_unbound = header->unbound;
  const vault::NameTag old_tag = header->name_tag;
  MFS_TRY(vault::WriteBinding(fd, *header, *crypto, !bind_to, tag));
  const int err = op();
  if (err != 0) {
    MFS_TRY(vault::WriteBinding(fd, *header, *crypto, old_unbound, old_tag));
    return err;
  }
  MFS_TRY(vault::WriteBinding(fd, *header, *crypto, !bind_to, tag));  // the other copy too
  return 0;
}

Status AllocateFile(const FileContext& ctx, Inode* inode, FileState& state, uint64_t offset,
                    uint64_t end) {
  if (end > vault::kMaxPlainFileSize) {
    return Error(Code::kInvalidArgument, "file would exceed the largest size", EFBIG);
  }
  std::unique_lock<std::shared_mutex> wl(state.lock);
  if (state.evicted) return Evicted();
  MFS_ASSIGN(auto backing, CatchUp(ctx, inode, state, true));
  const vault::BlockLayout layout = ctx.format.layout();
  const uint64_t from = layout.BlockOffset(offset / vault::kBlockSize);
  const uint64_t to = layout.BackingSize(end);
  // KEEP_SIZE: the reservation changes nothing a reader sees; the file grows below, as a
  // truncate does. A backing file system that cannot reserve (EOPNOTSUPP) still grows.
  if (to > from &&
      ::fallocate(state.fd.get(), FALLOC_FL_KEEP_SIZE, static_cast<off_t>(from),
                  static_cast<off_t>(to - from)) != 0 &&
      errno != EOPNOTSUPP) {
    return IoError("reserve space in the backing file");
  }
  if (end <= state.size) return {};
  return ResizeLocked(ctx, inode, state, end);
}

Result<BackingFileLock> BackingFileLock::Take(int fd, bool write) {
  struct flock fl = {};
  fl.l_type = static_cast<short>(write ? F_WRLCK : F_RDLCK);
  fl.l_whence = SEEK_SET;  // the whole file
  while (::fcntl(fd, F_OFD_SETLKW, &fl) != 0) {
    if (errno != EINTR) return IoError("lock the backing file");
  }
  return BackingFileLock(fd);
}

BackingFileLock::~BackingFileLock() {
  if (fd_ < 0) return;
  struct flock fl = {};
  fl.l_type = F_UNLCK;
  fl.l_whence = SEEK_SET;
  (void)::fcntl(fd_, F_OFD_SETLK, &fl);
}

Result<std::optional<BackingFileLock>> CatchUp(const FileContext& ctx, Inode* inode,
                                               FileState& state, bool write) {
  if (!ctx.shared) return std::optional<BackingFileLock>();
  if (state.evicted) return Evicted();
  MFS_ASSIGN(BackingFileLock lock, BackingFileLock::Take(state.fd.get(), write));
  if (!state.crypto) {
    // Another server wrote one? (Shared: no name binding, BindingName.)
    MFS_TRY(LoadCrypto(ctx, inode, state, std::nullopt));
  } else {
    // The hole table may have changed too.
    MFS_TRY(vault::ReloadHeader(state.fd.get(), *state.header, *state.crypto));
    MFS_ASSIGN(uint64_t size, vault::PlainSizeOfFd(state.fd.get(), state.crypto->layout()));
    MFS_TRY(vault::CheckRecord(*state.header, size, std::nullopt));
    state.size = size;
  }
  return std::optional<BackingFileLock>(std::move(lock));
}

void DropKeys(FileState& state) {
  std::unique_lock<std::shared_mutex> wl(state.lock);
  state.crypto.reset();
  state.header.reset();
  state.evicted = true;
}

}  // namespace matterfs::fuse
