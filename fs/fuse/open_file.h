// Open-file state of the FUSE adapter: one FileState per regular file that has open
// handles, shared by all its handles (fi->fh points to it; each handle counts one user).
//
// FileState owns the backing fd (O_RDWR when a handle writes), the file's unwrapped
// data key (FileCrypto, absent while the file has no header yet) and the cached
// plaintext size. `lock` is shared for reads and exclusive for writes, truncates and an
// eviction; Inode::mu guards `users` and Inode::file. No lock is held across a reply.
//
// Errors: kCorruption (a header or block that fails authentication; the caller reports
// tampering), kNotFound/EIO for a destroyed key version, kIo from the OS, EIO once the
// matter is evicted.
#pragma once

#include <sys/stat.h>

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <utility>

#include "crypto/aead.h"
#include "fs/fuse/inode_table.h"
#include "fs/vault/encrypted_file.h"
#include "fs/vault/file_codec.h"
#include "fs/vault/matter_walker.h"
#include "util/result.h"
#include "util/unique_fd.h"

namespace matterfs::fuse {

struct FileState : std::enable_shared_from_this<FileState> {
  std::shared_mutex lock;
  UniqueFd fd;  // backing fd, O_RDWR when writable
  bool writable = false;
  std::optional<vault::FileCrypto> crypto;  // absent while the file has no header
  std::optional<vault::FileHeader> header;  // with crypto: its current header (holes)
  std::atomic<uint64_t> size{0};            // plaintext size
  bool evicted = false;                     // the matter was wiped: every call fails (EIO)
  int users = 0;                            // guarded by Inode::mu
  // Guarded by Inode::mu: the file's path for audit events, while the inode table's
  // names generation is still path_generation (PathForAudit in ops.h).
  std::string path;
  uint64_t path_generation = 0;
};

// The header CryptFile needs (null while the file has none).
inline vault::FileHeader* HeaderOf(FileState& state) {
  return state.header ? &*state.header : nullptr;
}

// What the open-file functions need from the daemon.
struct FileContext {
  InodeTable& inodes;
  MatterRegistry& matters;
  vault::FileFormat format;  // the vault's cipher and file format
  bool shared;               // other daemons serve the vault too (-o shared)
};

// Gets (or opens) the inode's shared file state and counts one more user. `existing`:
// the backing fd a create just made (O_RDWR). Loads the header with the matter's keys.
Result<std::shared_ptr<FileState>> AcquireFile(const FileContext& ctx, Inode* inode, bool write,
                                               UniqueFd existing = UniqueFd());
// One user fewer; the state goes when the last one does.
void ReleaseFile(Inode* inode);

// Writes a header to a file that has none yet (caller holds state.lock exclusively, and
// in shared mode the BackingFileLock from CatchUp).
Status EnsureHeader(const FileContext& ctx, Inode* inode, FileState& state);
// Format 3: records the file's plaintext size in its header if it changed since the last
// record (a close of a handle that wrote, fsync), so that a file cut short later is
// detected (docs/FORMAT.md §13.1b). Takes the locks itself.
Status RecordFileSize(const FileContext& ctx, Inode* inode, FileState& state);
// Changes the plaintext size (takes the locks itself).
Status TruncateFile(const FileContext& ctx, Inode* inode, FileState& state, uint64_t size);
// fallocate mode 0: reserves the backing space of plaintext bytes [offset, end) (so later
// writes there cannot fail for want of space, where the backing file system keeps that
// promise) and grows the file to `end` if it is shorter (format 2: the new range is a hole).
Status AllocateFile(const FileContext& ctx, Inode* inode, FileState& state, uint64_t offset,
                    uint64_t end);

// Online key rotation (vault::RotateOptions::rewrap_file): rewraps the backing file
// `item` to `ring`'s current key version, through the file's open state when this daemon
// has it open (so the header it holds in memory stays the one on disk), else on disk;
// both under the backing file's write lock, which an open takes (read) while it loads the
// header. false: nothing to do (no header, or already on the current version).
Result<bool> RewrapForRotation(const FileContext& ctx, const vault::WalkItem& item,
                               const vault::Keyring& ring);

// Format 3 (docs/FORMAT.md §13.1b): runs `op` (a rename or a link; it returns 0 or an
// errno) with the header of the regular file `st`, reached at dirfd/entry (entry empty:
// dirfd is the file's own O_PATH fd), bound to
// `bind_to` (a directory entry; nullopt: unbound, for a file with several names). The copy
// that is not current is rebound before `op`, the other after it; if `op` fails, the
// first copy is bound back. Through the file's open state when this daemon has it open,
// else on disk; under the backing file's write lock. Not format 3, not a regular file, or
// already bound so: just `op`. Returns op's errno, or an error of the header.
Result<int> WithBinding(const FileContext& ctx, int dirfd, const std::string& entry,
                        const struct stat& st, std::optional<std::string> bind_to,
                        const vault::Keyring& ring, const std::function<int()>& op);

// The matter is evicted: drops the data key, every later call on the state fails.
void DropKeys(FileState& state);

// Shared mode (-o shared: other daemons serve the same vault): for the length of one read,
// write or truncate, a lock on the backing file that every server honours (an
// open-file-description lock: NFS and CephFS carry it), so no server reads a block
// another is rewriting (which would look like tampering) and read-modify-writes of one
// block do not interleave. Released on destruction.
class BackingFileLock {
 public:
  static Result<BackingFileLock> Take(int fd, bool write);
  BackingFileLock(BackingFileLock&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  BackingFileLock& operator=(BackingFileLock&&) = delete;
  ~BackingFileLock();

 private:
  explicit BackingFileLock(int fd) : fd_(fd) {}
  int fd_;
};

// In shared mode, under state.lock (exclusive): takes the BackingFileLock and re-reads what
// another server may have changed since we last looked (the size; the header of a file
// that had none). Not shared: nothing to do, nullopt.
Result<std::optional<BackingFileLock>> CatchUp(const FileContext& ctx, Inode* inode,
                                               FileState& state, bool write);

}  // namespace matterfs::fuse
