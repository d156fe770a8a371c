// File operations: open files and their data (ops.h, open_file.h).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "fs/fuse/ops.h"
#include "fs/vault/crypt_file.h"
#include "fs/vault/encrypted_file.h"

namespace matterfs::fuse {

namespace {

// fi->fh of a regular file: its shared state, kept alive by the user it counts (one per
// handle: AcquireFile counted it, OpRelease's ReleaseFile drops it). No allocation per open.
FileState* StateOf(fuse_file_info* fi) { return reinterpret_cast<FileState*>(fi->fh); }

// Hands the new handle to the kernel; if the caller was interrupted meanwhile, the kernel
// never sees it and its user is released here.
template <typename ReplyFn>
void PublishHandle(fuse_file_info* fi, Inode* inode, FileState* state, ReplyFn&& reply) {
  fi->fh = reinterpret_cast<uint64_t>(state);
  if (reply() == -ENOENT) ReleaseFile(inode);
}

// Shared mode: the kernel's page cache of one server cannot know what another wrote, and
// it splits a write at page boundaries (an O_APPEND record could then interleave with
// another server's append). Direct I/O sends every read to us and every write whole.
void UncachedIfShared(MatterFs* fs, fuse_file_info* fi) {
  if (fs->shared()) fi->direct_io = 1;
}

Error EvictedError() { return Error(Code::kNotFound, "the matter was wiped", EIO); }

}  // namespace

// open: EISDIR for a non-file or outside a matter; the policy (read or write; O_TRUNC is a
// delete too: EPERM under hold, EROFS closed); EIO for a header that fails
// authentication (tamper event) or whose key version was destroyed.
void OpOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Guard(req, [&] {
    MatterFs* fs = Fs(req);
    Inode* inode = In(req, ino);
    if (!inode->matter || !S_ISREG(inode->type)) return (void)fuse_reply_err(req, EISDIR);
    const bool write = (fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC);
    const int acc = fi->flags & O_ACCMODE;
    int denied =
        Authorize(req, inode, nullptr, write ? policy::Action::kWrite : policy::Action::kRead,
                  audit::audit_events::kOpen,
                  acc == O_RDWR     ? "read-write"
                  : acc == O_WRONLY ? "write"
                                    : "read");
    if (denied == 0 && (fi->flags & O_TRUNC)) {
      denied = Authorize(req, inode, nullptr, policy::Action::kDelete, audit::audit_events::kOpen,
                         "truncate");
    }
    if (denied != 0) return (void)fuse_reply_err(req, denied);
    fs->access().CountOpen(CallerOf(req), inode->matter->name());
    auto state = AcquireFile(fs->files(), inode, write);
    if (!state.ok()) return Reply(req, state.error(), inode);
    if (fi->flags & O_TRUNC) {
      Status s = TruncateFile(fs->files(), inode, **state, 0);
      if (!s.ok()) {
        ReleaseFile(inode);
        return Reply(req, s.error(), inode);
      }
    }
    RememberPathForAudit(inode, **state);
    UncachedIfShared(fs, fi);
    PublishHandle(fi, inode, state->get(), [&] { return fuse_reply_open(req, fi); });
  });
}

// create: EPERM at the root; the policy (write); EEXIST with O_EXCL; ENAMETOOLONG.
void OpCreate(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
              fuse_file_info* fi) {
  Guard(req, [&] {
    MatterFs* fs = Fs(req);
    Inode* p = In(req, parent);
    NameInDir n;
    int err = PrepareNew(req, p, name, &n, audit::audit_events::kCreate);
    if (err != 0) return (void)fuse_reply_err(req, err);
    fs->access().CountOpen(CallerOf(req), p->matter->name());
    UniqueFd fd;
    bool created = false;
    if (fs->vault().file_format().version >= 3) {
      // Format 3: the file appears with its header, owned by the caller (never empty).
      auto made = CreateRegular(req, n, mode);
      created = made.ok();
      if (created) {
        fd = std::move(made->fd);
      } else if (made.error().ToErrno() != EEXIST || (fi->flags & O_EXCL)) {
        return Reply(req, made.error());
      }
    } else {
      fd.reset(::openat(n.pfd->get(), n.stored.entry.c_str(),
                        O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC | O_NOFOLLOW, mode & 07777));
      created = fd.valid();
      if (!created && (errno != EEXIST || (fi->flags & O_EXCL))) {
        return (void)fuse_reply_err(req, errno);
      }
      if (created) {
        auto made =
            vault::WriteNewHeader(fd.get(), fs->vault().file_format(), n.view->keys->keyring());
        if (!made.ok()) {
          ::unlinkat(n.pfd->get(), n.stored.entry.c_str(), 0);
          return Reply(req, made.error());
        }
        if (int refused = ChownNew(req, n.pfd->get(), n.stored.entry); refused != 0) {
          ::unlinkat(n.pfd->get(), n.stored.entry.c_str(), 0);
          return (void)fuse_reply_err(req, refused);
        }
      }
    }
    fuse_entry_param e;
    err = DoLookup(req, p, name, &e);
    if (err != 0) return (void)fuse_reply_err(req, err);
    Inode* inode = In(req, e.ino);
    const bool write = (fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC);
    auto state =
        AcquireFile(fs->files(), inode, write || created, created ? std::move(fd) : UniqueFd());
    if (!state.ok()) {
      fs->inodes().Forget(inode, 1);
      return Reply(req, state.error(), inode);
    }
    if (!created && (fi->flags & O_TRUNC)) {
      // Truncating an existing file destroys data: the same delete decision as open with
      // O_TRUNC (a legal hold refuses it), and its failure is the caller's.
      int denied = Authorize(req, inode, nullptr, policy::Action::kDelete,
                             audit::audit_events::kOpen, "truncate");
      Status s = denied == 0 ? TruncateFile(fs->files(), inode, **state, 0) : Status();
      if (denied != 0 || !s.ok()) {
        ReleaseFile(inode);
        fs->inodes().Forget(inode, 1);
        if (denied != 0) return (void)fuse_reply_err(req, denied);
        return Reply(req, s.error(), inode);
      }
    }
    UncachedIfShared(fs, fi);
    PublishHandle(fi, inode, state->get(), [&] { return fuse_reply_create(req, &e, fi); });
  });
}

// read: EIO for a block that fails authentication (tamper event naming the block) or
// once the matter is wiped.
void OpRead(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  Guard(req, [&] {
    FileState& state = *StateOf(fi);
    thread_local std::vector<uint8_t> buf;
    if (buf.size() < vault::kMaxIo) buf.resize(vault::kMaxIo);
    size = std::min(size, vault::kMaxIo);
    MatterFs* fs = Fs(req);
    Result<size_t> n = size_t{0};
    auto read = [&]() -> Result<size_t> {
      if (state.evicted) return EvictedError();
      if (!state.crypto) return size_t{0};
      vault::CryptFile file(*state.crypto, HeaderOf(state));
      return file.Read(state.fd.get(), state.size.load(), static_cast<uint64_t>(off),
                       {buf.data(), size});
    };
    if (fs->shared()) {
      // Another server may have written: lock the backing file and catch up first.
      std::unique_lock<std::shared_mutex> wl(state.lock);
      auto backing = CatchUp(fs->files(), In(req, ino), state, false);
      n = backing.ok() ? read() : Result<size_t>(backing.error());
    } else {
      std::shared_lock<std::shared_mutex> rl(state.lock);
      n = read();
    }
    if (!n.ok()) return Reply(req, n.error(), In(req, ino));
    fuse_reply_buf(req, reinterpret_cast<const char*>(buf.data()), *n);
  });
}

// write: EBADF on a read-only handle; EIO for a block that fails authentication (a
// partial write re-encrypts its block) or once the matter is wiped; ENOSPC, EFBIG.
// O_APPEND: fi->flags are the file's flags at the time of the write (the kernel sends
// them), so fcntl(F_SETFL) counts; a write-back of mmap'd pages (writepage) carries none
// and lands at its own offset.
void OpWrite(fuse_req_t req, fuse_ino_t ino, const char* data, size_t size, off_t off,
             fuse_file_info* fi) {
  Guard(req, [&] {
    MatterFs* fs = Fs(req);
    Inode* inode = In(req, ino);
    FileState& state = *StateOf(fi);
    std::unique_lock<std::shared_mutex> wl(state.lock);
    if (!state.writable) return (void)fuse_reply_err(req, EBADF);
    auto taken = CatchUp(fs->files(), inode, state, true);
    if (!taken.ok()) return Reply(req, taken.error(), inode);
    std::optional<BackingFileLock> backing = std::move(*taken);
    Status s = EnsureHeader(fs->files(), inode, state);
    if (!s.ok()) return Reply(req, s.error(), inode);
    const bool append = (fi->flags & O_APPEND) && !fi->writepage;
    uint64_t at = append ? state.size.load() : static_cast<uint64_t>(off);
    vault::CryptFile file(*state.crypto, HeaderOf(state));
    auto size_after = file.Write(state.fd.get(), state.size.load(), at,
                                 {reinterpret_cast<const uint8_t*>(data), size});
    if (!size_after.ok()) {
      backing.reset();
      wl.unlock();
      return Reply(req, size_after.error(), inode);
    }
    state.size = *size_after;
    backing.reset();
    wl.unlock();
    fuse_reply_write(req, size);
  });
}

// release: a handle that could write records the file's size first (format 3), so that a
// file closed at N bytes and cut shorter later reads as tampered.
void OpRelease(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Guard(req, [&] {
    Inode* inode = In(req, ino);
    if ((fi->flags & O_ACCMODE) != O_RDONLY) {
      if (Status s = RecordFileSize(Fs(req)->files(), inode, *StateOf(fi)); !s.ok()) {
        log::Warning("release: recording the size of " +
                     log::Path(Fs(req)->inodes().PathOf(inode)) + ": " + s.error().message());
      }
    }
    ReleaseFile(inode);
    fuse_reply_err(req, 0);
  });
}

// fsync: records the size (format 3), then the backing fsync/fdatasync's errno.
void OpFsync(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi) {
  Guard(req, [&] {
    Inode* inode = In(req, ino);
    FileState& state = *StateOf(fi);
    if (Status s = RecordFileSize(Fs(req)->files(), inode, state); !s.ok()) {
      return Reply(req, s.error(), inode);
    }
    int fd = state.fd.get();
    int rc = datasync ? ::fdatasync(fd) : ::fsync(fd);
    fuse_reply_err(req, rc == 0 ? 0 : errno);
  });
}

// fallocate: EOPNOTSUPP for any mode but 0; reserves the backing space and grows the file
// as a truncate up does.
void OpFallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
                 fuse_file_info* fi) {
  Guard(req, [&] {
    if (mode != 0) return (void)fuse_reply_err(req, EOPNOTSUPP);
    Inode* inode = In(req, ino);
    const uint64_t end = static_cast<uint64_t>(offset) + static_cast<uint64_t>(length);
    Status s =
        AllocateFile(Fs(req)->files(), inode, *StateOf(fi), static_cast<uint64_t>(offset), end);
    if (!s.ok()) return Reply(req, s.error(), inode);
    fuse_reply_err(req, 0);
  });
}

}  // namespace matterfs::fuse
