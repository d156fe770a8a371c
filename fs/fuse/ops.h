// Internal to fs/fuse/: the operation functions (one file per concern) and the helpers
// they share. Not for use outside the adapter.
//
//   entry_ops.cc  lookup, forget, getattr, setattr, readlink, mknod, mkdir, symlink,
//                 unlink, rmdir, rename, link, statfs
//   file_ops.cc   open, create, read, write, flush, release, fsync, fallocate
//   dir_ops.cc    opendir, readdir, readdirplus, releasedir, fsyncdir
//   xattr_ops.cc  setxattr, getxattr, listxattr, removexattr (user.* only, encrypted)
//
// Every operation runs inside Guard (dispatch.h) and replies exactly once; each lists its
// errnos in a comment where it is defined. Inside a matter, the policy is asked first
// (Authorize / CheckRead): a caller the policy does not admit learns nothing else.
#pragma once

#include <optional>
#include <string>

#include "audit/event.h"
#include "fs/fuse/dispatch.h"
#include "fs/fuse/open_file.h"
#include "fs/vault/encrypted_dir.h"

namespace matterfs::fuse {

// Attribute and entry cache timeout for names inside matters (seconds).
inline constexpr double kTimeout = 1.0;

inline bool IsRoot(MatterFs* fs, Inode* i) { return i == fs->inodes().root(); }

// How long the kernel may cache a name in `parent` / the attributes of `inode`: 0 where
// another user or another server could need a different answer (names at the root,
// which the policy hides per user; everything inside matters when hide_denied = no or
// when the vault is shared with other daemons), else kTimeout.
double EntryTimeout(MatterFs* fs, Inode* parent);
double AttrTimeout(MatterFs* fs, Inode* inode);
inline std::string ProcPath(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

// The path of `inode` (and its child `name`, if any) for an audit event or a log line,
// in a buffer of this thread's (valid until its next call). An open regular file's path
// comes from its FileState while no name has changed since (no inode table lock).
const std::string& PathForAudit(MatterFs* fs, Inode* inode, const char* name = nullptr);
// After an open: keeps the path the last PathForAudit on this thread read from the inode
// table in the file's state, for the next opens.
void RememberPathForAudit(Inode* inode, FileState& state);

// The policy decision for an operation inside a matter, audited: 0 or the errno.
// `inode` is the object or the directory the operation works in; `name` a child, if any.
int Authorize(fuse_req_t req, Inode* inode, const char* name, policy::Action action,
              const char* event, const char* access);
// Read access for lookups and metadata reads inside a matter: an event only on denial
// (event nullptr: none), naming the inode's path, or `name` in it. The path is built only
// for a denial: an allowed check from a thread's decision cache allocates nothing and
// takes no lock shared between threads.
int CheckRead(fuse_req_t req, Inode* inode, const char* event, const char* name = nullptr);

// The keys of the matter an inode belongs to (a snapshot, see matter_registry.h);
// kNotFound (ENOENT) once the matter is evicted.
Result<std::shared_ptr<const vault::Matter>> KeysOf(Inode* inode);

// The directory `dir` (open as dirfd) as an encrypted directory. `keys` holds the
// snapshot whose name codec `dir` uses (null at the root, which uses the vault's). The
// IV is cached on the inode. ENOENT once the matter is evicted; kCorruption for a bad IV.
struct DirView {
  std::shared_ptr<const vault::Matter> keys;
  vault::EncryptedDir dir;
};
Result<DirView> DirOf(MatterFs* fs, Inode* dir, int dirfd);

// Fills st for an inode: backing attributes with plaintext sizes. `fresh`: st already
// holds the backing attributes (fd is then used only to read a symlink's target).
Status AttrOf(MatterFs* fs, Inode* inode, int fd, struct stat* st, bool fresh = false);

// Looks up `name` in `parent` and fills e (one lookup reference taken on success).
// Returns 0 or the errno.
int DoLookup(fuse_req_t req, Inode* parent, const char* name, fuse_entry_param* e,
             bool check_access = true);
void ReplyEntry(fuse_req_t req, Inode* parent, const char* name, bool check_access = true);

// The shared prologue of the operations on a name in `parent`: EPERM at the root, the
// policy's decision (when `event` is given), the directory and the stored name.
// PrepareNew asks for write and writes a long name's side file first; PrepareRemove asks
// for delete. Return 0 or the errno.
struct NameInDir {
  SharedFd pfd;
  std::optional<DirView> view;
  vault::StoredName stored;
};
int PrepareNew(fuse_req_t req, Inode* parent, const char* name, NameInDir* out, const char* event);
int PrepareRemove(fuse_req_t req, Inode* parent, const char* name, NameInDir* out,
                  const char* event);

// Gives a newly created backing object to the calling user (when we run as root).
// Returns 0, or the errno of a failed chown when the mount says -o require_owner: the
// caller then removes the new object again and replies that errno (without the option a
// failure leaves the object to the daemon's user, with a warning).
int ChownNew(fuse_req_t req, int dirfd, const std::string& entry);
// Format 3: creates the regular file n.stored.entry with its header written and owned by
// the caller before its name appears (vault::CreateWithHeader). EEXIST when it exists.
Result<vault::CreatedFile> CreateRegular(fuse_req_t req, const NameInDir& n, mode_t mode);

// The operations.
void OpInit(void* userdata, fuse_conn_info* conn);
void OpLookup(fuse_req_t req, fuse_ino_t parent, const char* name);
void OpForget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void OpForgetMulti(fuse_req_t req, size_t count, fuse_forget_data* forgets);
void OpGetattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
void OpSetattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi);
void OpReadlink(fuse_req_t req, fuse_ino_t ino);
void OpMknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev);
void OpMkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode);
void OpSymlink(fuse_req_t req, const char* link, fuse_ino_t parent, const char* name);
void OpUnlink(fuse_req_t req, fuse_ino_t parent, const char* name);
void OpRmdir(fuse_req_t req, fuse_ino_t parent, const char* name);
void OpRename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
              const char* newname, unsigned int flags);
void OpLink(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname);
void OpStatfs(fuse_req_t req, fuse_ino_t ino);

void OpOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
void OpCreate(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi);
void OpRead(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi);
void OpWrite(fuse_req_t req, fuse_ino_t ino, const char* data, size_t size, off_t off,
             fuse_file_info* fi);
void OpRelease(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
void OpFsync(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi);
void OpFallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
                 fuse_file_info* fi);

void OpOpendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
void OpReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi);
void OpReaddirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi);
void OpReleasedir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
void OpFsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi);

void OpSetxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size,
                int flags);
void OpGetxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size);
void OpListxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void OpRemovexattr(fuse_req_t req, fuse_ino_t ino, const char* name);

}  // namespace matterfs::fuse
