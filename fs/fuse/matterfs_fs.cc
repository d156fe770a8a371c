#define FUSE_USE_VERSION 312
#include "fs/fuse/matterfs_fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <syslog.h>
#include <unistd.h>

#include <cstring>
#include <iostream>
#include <new>
#include <vector>

#include "crypto/secure_memory.h"
#include "util/file_io.h"

namespace matterfs::fuse {

namespace {

constexpr double kTimeout = 1.0;
constexpr std::string_view kUserPrefix = "user.";

MatterFs* Fs(fuse_req_t req) { return static_cast<MatterFs*>(fuse_req_userdata(req)); }

Inode* In(fuse_req_t req, fuse_ino_t ino) {
  return ino == FUSE_ROOT_ID ? Fs(req)->inodes().root() : reinterpret_cast<Inode*>(ino);
}

fuse_ino_t Id(MatterFs* fs, Inode* inode) {
  return inode == fs->inodes().root() ? FUSE_ROOT_ID : reinterpret_cast<fuse_ino_t>(inode);
}

std::string ProcPath(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

// Every callback body runs in here: exceptions never cross into libfuse.
template <typename F>
void Guard(fuse_req_t req, F&& body) noexcept {
  try {
    body();
  } catch (const std::bad_alloc&) {
    fuse_reply_err(req, ENOMEM);
  } catch (const std::exception& e) {
    syslog(LOG_ERR, "internal error: %s", e.what());
    fuse_reply_err(req, EIO);
  } catch (...) {
    fuse_reply_err(req, EIO);
  }
}

int Errno(const Error& e) { return e.ToErrno(); }

Caller CallerOf(fuse_req_t req) {
  const fuse_ctx* c = fuse_req_ctx(req);
  return {c->uid, c->gid, c->pid};
}

policy::MatterStatus PolicyStatus(vault::MatterStatus s) {
  switch (s) {
    case vault::MatterStatus::kClosed:
      return policy::MatterStatus::kClosed;
    case vault::MatterStatus::kHold:
      return policy::MatterStatus::kHold;
    default:
      return policy::MatterStatus::kOpen;
  }
}

// The policy decision for an operation inside a matter (0 or the errno), audited.
// `inode` is the object or the directory the operation works in; `name` a child, if any.
int Authorize(fuse_req_t req, Inode* inode, const char* name, policy::Action action,
              const char* event, const char* access);

// Open file handle (fi->fh).
struct Handle {
  Inode* inode;
  std::shared_ptr<FileState> state;
  int flags;
};

struct DirEntry {
  std::string name;
  ino_t ino;
  unsigned char type;
};
struct DirHandle {
  std::vector<DirEntry> entries;
};

bool IsRoot(MatterFs* fs, Inode* i) { return i == fs->inodes().root(); }

int Authorize(fuse_req_t req, Inode* inode, const char* name, policy::Action action,
              const char* event, const char* access) {
  MatterFs* fs = Fs(req);
  if (!inode->matter) return 0;  // the root itself: callers decide
  std::string path = fs->inodes().PathOf(inode);
  if (name != nullptr) path += "/" + std::string(name);
  return fs->access().Check(CallerOf(req), inode->matter->name,
                            PolicyStatus(inode->matter->status.load()), action, event, path,
                            access);
}

const vault::NameCodec& CodecOf(MatterFs* fs, Inode* dir) {
  if (IsRoot(fs, dir)) return fs->vault().matter_names();
  return dir->matter->matter->names();
}

Result<vault::DirIv> DirIvOf(MatterFs* fs, Inode* dir, int dirfd) {
  if (IsRoot(fs, dir)) return fs->vault().root_iv();
  {
    std::lock_guard<std::mutex> g(dir->mu);
    if (dir->iv) return *dir->iv;
  }
  MFS_ASSIGN(vault::DirIv iv, vault::ReadDirIv(dirfd));
  std::lock_guard<std::mutex> g(dir->mu);
  dir->iv = iv;
  return iv;
}

Result<vault::StoredName> EncodeIn(MatterFs* fs, Inode* dir, int dirfd, const char* name) {
  MFS_ASSIGN(vault::DirIv iv, DirIvOf(fs, dir, dirfd));
  return CodecOf(fs, dir).Encode(iv, name);
}

// Writes the ".n" file of a long name before its entry appears.
Status WriteLongName(int dirfd, const vault::StoredName& s) {
  if (!s.full) return {};
  return WriteFileAtomic(dirfd, vault::NameCodec::LongNameFile(s.entry), AsBytes(*s.full), 0444);
}

void RemoveLongName(int dirfd, const vault::StoredName& s) {
  if (s.full) ::unlinkat(dirfd, vault::NameCodec::LongNameFile(s.entry).c_str(), 0);
}

// Gives a newly created backing object to the calling user (when we run as root).
void ChownNew(fuse_req_t req, int dirfd, const std::string& entry) {
  if (::geteuid() != 0) return;
  const fuse_ctx* ctx = fuse_req_ctx(req);
  struct stat parent;
  gid_t gid = ctx->gid;
  if (::fstat(dirfd, &parent) == 0 && (parent.st_mode & S_ISGID)) gid = static_cast<gid_t>(-1);
  ::fchownat(dirfd, entry.c_str(), ctx->uid, gid, AT_SYMLINK_NOFOLLOW);
}

// Fills st for an inode: backing attributes with plaintext sizes.
Status AttrOf(MatterFs* fs, Inode* inode, int fd, struct stat* st) {
  if (::fstatat(fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0) return IoError("stat");
  if (S_ISREG(st->st_mode)) {
    std::shared_ptr<FileState> file;
    {
      std::lock_guard<std::mutex> g(inode->mu);
      file = inode->file;
    }
    if (file) {
      st->st_size = static_cast<off_t>(file->size.load());
    } else {
      auto size =
          vault::BlockLayout(fs->vault().cipher()).PlainSize(static_cast<uint64_t>(st->st_size));
      if (!size.ok()) {
        fs->ReportTamper(inode, size.error());
        st->st_size = 0;
      } else {
        st->st_size = static_cast<off_t>(*size);
      }
    }
  } else if (S_ISLNK(st->st_mode) && inode->matter) {
    char buf[4096];
    ssize_t n = ::readlinkat(fd, "", buf, sizeof buf);
    if (n > 0) {
      auto target = inode->matter->matter->names().DecryptSymlink({buf, static_cast<size_t>(n)});
      if (target.ok()) st->st_size = static_cast<off_t>(target->size());
    }
  }
  st->st_blocks = (st->st_size + 511) / 512;
  // The root is open to all: every mkdir, lookup and listing there is the policy's
  // decision (and files, links and renames at the root are refused outright).
  if (inode == fs->inodes().root()) st->st_mode = S_IFDIR | 0777;
  return {};
}

// Metadata reads inside a matter (readlink, getxattr, listxattr) need read access.
int CheckMetaRead(fuse_req_t req, Inode* inode, const char* event) {
  if (!inode->matter) return 0;
  MatterFs* fs = Fs(req);
  return fs->access().Quiet(CallerOf(req), inode->matter->name,
                            PolicyStatus(inode->matter->status.load()), policy::Action::kRead,
                            event, fs->inodes().PathOf(inode));
}

// Looks up `name` in `parent` and fills e (one lookup reference taken on success).
int DoLookup(fuse_req_t req, Inode* parent, const char* name, fuse_entry_param* e,
             bool check_access = true) {
  MatterFs* fs = Fs(req);
  auto pfd = fs->inodes().Fd(parent);
  if (!pfd.ok()) return Errno(pfd.error());
  if (check_access && !IsRoot(fs, parent)) {
    // Inside a matter a lookup tells whether a name exists and what it is, so it needs
    // read access, checked before the name is even looked for (this matters when
    // hide_denied = no lists the matter to everyone).
    int denied =
        fs->access().Quiet(CallerOf(req), parent->matter->name,
                           PolicyStatus(parent->matter->status.load()), policy::Action::kRead,
                           audit::audit_events::kLookup, fs->inodes().PathOf(parent) + "/" + name);
    if (denied != 0) return denied;
  }
  auto stored = EncodeIn(fs, parent, (*pfd)->get(), name);
  if (!stored.ok()) return Errno(stored.error());
  struct stat st;
  if (::fstatat((*pfd)->get(), stored->entry.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return errno;
  std::shared_ptr<MatterCtx> matter = parent->matter;
  UniqueFd fd;
  if (IsRoot(fs, parent)) {
    if (!S_ISDIR(st.st_mode)) return ENOENT;
    fd.reset(::openat((*pfd)->get(), stored->entry.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid()) return errno;
    auto m = fs->LoadMatter(fd.get(), stored->entry, name);
    if (!m.ok()) {
      syslog(LOG_ERR, "matter '%s' cannot be opened: %s", name, m.error().message().c_str());
      return Errno(m.error());
    }
    matter = *m;
    if (check_access) {
      int hidden = fs->access().Quiet(CallerOf(req), name, PolicyStatus(matter->status.load()),
                                      policy::Action::kList, audit::audit_events::kLookup, name);
      if (hidden != 0) return hidden;
    }
  }
  Inode* inode = fs->inodes().Insert(parent, stored->entry, name, st, std::move(fd), matter);
  auto ifd = fs->inodes().Fd(inode);
  if (!ifd.ok()) {
    fs->inodes().Forget(inode, 1);
    return Errno(ifd.error());
  }
  Status a = AttrOf(fs, inode, (*ifd)->get(), &st);
  if (!a.ok()) {
    fs->inodes().Forget(inode, 1);
    return Errno(a.error());
  }
  std::memset(e, 0, sizeof *e);
  e->ino = Id(fs, inode);
  e->attr = st;
  // Matters at the root are looked up again on every path walk, so that one user's
  // lookup never serves another whom the policy does not admit. When the policy lists
  // matters to everyone (hide_denied = no), entries inside matters are not cached either.
  const double timeout = IsRoot(fs, parent) || !fs->access().policy()->hide_denied ? 0.0 : kTimeout;
  e->attr_timeout = IsRoot(fs, parent) ? kTimeout : timeout;
  e->entry_timeout = timeout;
  return 0;
}

void ReplyEntry(fuse_req_t req, Inode* parent, const char* name, bool check_access = true) {
  fuse_entry_param e;
  int err = DoLookup(req, parent, name, &e, check_access);
  if (err != 0) {
    fuse_reply_err(req, err);
  } else {
    fuse_reply_entry(req, &e);
  }
}

// ---- file state ----------------------------------------------------------------

Status LoadCrypto(MatterFs* fs, Inode* inode, FileState& state) {
  struct stat st;
  if (::fstat(state.fd.get(), &st) != 0) return IoError("fstat");
  if (st.st_size == 0) {
    state.crypto.reset();
    state.size = 0;
    return {};
  }
  uint8_t raw[vault::kHeaderSize];
  MFS_ASSIGN(size_t got, PreadFull(state.fd.get(), raw, sizeof raw, 0));
  MFS_ASSIGN(vault::FileHeader header, vault::FileHeader::Parse({raw, got}));
  if (header.cipher != fs->vault().cipher()) {
    return Error(Code::kCorruption, "file header names another cipher than the vault's", EIO);
  }
  MFS_ASSIGN(vault::FileCrypto fc,
             vault::FileCrypto::Open(header, inode->matter->matter->keyring()));
  state.crypto.emplace(std::move(fc));
  MFS_ASSIGN(uint64_t size, state.crypto->layout().PlainSize(static_cast<uint64_t>(st.st_size)));
  state.size = size;
  return {};
}

// Gets (or opens) the inode's shared file state; one more user.
Result<std::shared_ptr<FileState>> AcquireFile(MatterFs* fs, Inode* inode, bool write,
                                               int existing_fd = -1) {
  {
    std::lock_guard<std::mutex> g(inode->mu);
    if (inode->file && (inode->file->writable || !write)) {
      inode->file->users++;
      return inode->file;
    }
  }
  UniqueFd fd;
  bool writable = true;
  if (existing_fd >= 0) {
    fd.reset(existing_fd);
  } else {
    MFS_ASSIGN(SharedFd pfd, fs->inodes().Fd(inode));
    const std::string proc = ProcPath(pfd->get());
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
  Status st = LoadCrypto(fs, inode, *state);
  if (!st.ok()) return st.error();
  state->users = 1;
  inode->file = state;
  return state;
}

void ReleaseFile(Inode* inode) {
  std::shared_ptr<FileState> drop;
  std::lock_guard<std::mutex> g(inode->mu);
  if (inode->file && --inode->file->users == 0) drop = std::move(inode->file);
}

// Writes a header to a file that has none yet (caller holds the exclusive lock).
Status EnsureHeader(MatterFs* fs, Inode* inode, FileState& state) {
  if (state.crypto) return {};
  MFS_ASSIGN(auto created,
             vault::FileCrypto::Create(fs->vault().cipher(), inode->matter->matter->keyring()));
  auto raw = created.second.Serialize();
  MFS_TRY(PwriteFull(state.fd.get(), raw.data(), raw.size(), 0));
  state.crypto.emplace(std::move(created.first));
  state.size = 0;
  return {};
}

Status TruncateState(MatterFs* fs, Inode* inode, FileState& state, uint64_t size) {
  std::unique_lock<std::shared_mutex> wl(state.lock);
  if (!state.crypto && size == 0) return {};
  MFS_TRY(EnsureHeader(fs, inode, state));
  vault::CryptFile file(*state.crypto);
  MFS_ASSIGN(uint64_t now, file.Truncate(state.fd.get(), state.size, size));
  state.size = now;
  return {};
}

// ---- operations -------------------------------------------------------------------

void OpInit(void* userdata, fuse_conn_info* conn) {
  (void)userdata;
  if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC) conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
  if (conn->capable & FUSE_CAP_PARALLEL_DIROPS) conn->want |= FUSE_CAP_PARALLEL_DIROPS;
  if (conn->capable & FUSE_CAP_READDIRPLUS) conn->want |= FUSE_CAP_READDIRPLUS;
  conn->want &= ~static_cast<unsigned>(FUSE_CAP_WRITEBACK_CACHE);
  conn->max_write = vault::kMaxIo;
  conn->max_readahead = vault::kMaxIo;
}

void OpLookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Guard(req, [&] { ReplyEntry(req, In(req, parent), name); });
}

void OpForget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  Guard(req, [&] {
    if (ino != FUSE_ROOT_ID) Fs(req)->inodes().Forget(In(req, ino), nlookup);
    fuse_reply_none(req);
  });
}

void OpForgetMulti(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
  Guard(req, [&] {
    for (size_t i = 0; i < count; ++i) {
      if (forgets[i].ino != FUSE_ROOT_ID) {
        Fs(req)->inodes().Forget(In(req, forgets[i].ino), forgets[i].nlookup);
      }
    }
    fuse_reply_none(req);
  });
}

void OpGetattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  (void)fi;
  Guard(req, [&] {
    MatterFs* fs = Fs(req);
    Inode* inode = In(req, ino);
    auto fd = fs->inodes().Fd(inode);
    if (!fd.ok()) return (void)fuse_reply_err(req, Errno(fd.error()));
    struct stat st;
    Status s = AttrOf(fs, inode, (*fd)->get(), &st);
    if (!s.ok()) return (void)fuse_reply_err(req, Errno(s.error()));
    if (inode->matter) {
      const fuse_ctx* ctx = fuse_req_ctx(req);
      int denied = fs->access().Quiet({ctx->uid, ctx->gid, ctx->pid}, inode->matter->name,
                                      PolicyStatus(inode->matter->status.load()),
                                      policy::Action::kRead, nullptr, "");
      if (denied != 0) return (void)fuse_reply_err(req, denied);
    }
    const double timeout = !inode->matter || fs->access().policy()->hide_denied ? kTimeout : 0.0;
    fuse_reply_attr(req, &st, timeout);
  });
}

void OpSetattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi) {
  Guard(req, [&] {
    MatterFs* fs = Fs(req);
    Inode* inode = In(req, ino);
    auto fdr = fs->inodes().Fd(inode);
    if (!fdr.ok()) return (void)fuse_reply_err(req, Errno(fdr.error()));
    const int fd = (*fdr)->get();
    const std::string proc = ProcPath(fd);
    if (IsRoot(fs, inode)) return (void)fuse_reply_err(req, EPERM);
    if (inode->matter && to_set != 0) {
      policy::Action action = policy::Action::kWrite;
      if ((to_set & FUSE_SET_ATTR_SIZE) && S_ISREG(inode->type)) {
        struct stat now;
        if (AttrOf(fs, inode, fd, &now).ok() && attr->st_size < now.st_size) {
          action = policy::Action::kDelete;  // truncating destroys data
        }
      }
      int denied = Authorize(req, inode, nullptr, action, audit::audit_events::kSetattr,
                             action == policy::Action::kDelete ? "delete" : "write");
      if (denied != 0) return (void)fuse_reply_err(req, denied);
    }
    if (to_set & FUSE_SET_ATTR_MODE) {
      if (::chmod(proc.c_str(), attr->st_mode & 07777) != 0)
        return (void)fuse_reply_err(req, errno);
    }
    if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
      uid_t uid = (to_set & FUSE_SET_ATTR_UID) ? attr->st_uid : static_cast<uid_t>(-1);
      gid_t gid = (to_set & FUSE_SET_ATTR_GID) ? attr->st_gid : static_cast<gid_t>(-1);
      if (::fchownat(fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0) {
        return (void)fuse_reply_err(req, errno);
      }
    }
    if (to_set & FUSE_SET_ATTR_SIZE) {
      if (!S_ISREG(inode->type)) return (void)fuse_reply_err(req, EINVAL);
      std::shared_ptr<FileState> state;
      if (fi != nullptr) {
        state = reinterpret_cast<Handle*>(fi->fh)->state;
        if (!state->writable) {
          auto up = AcquireFile(fs, inode, true);
          if (!up.ok()) return (void)fuse_reply_err(req, Errno(up.error()));
          ReleaseFile(inode);
        }
        state = reinterpret_cast<Handle*>(fi->fh)->state;
      }
      bool temporary = false;
      if (!state) {
        auto acquired = AcquireFile(fs, inode, true);
        if (!acquired.ok()) return (void)fuse_reply_err(req, Errno(acquired.error()));
        state = *acquired;
        temporary = true;
      }
      Status s = TruncateState(fs, inode, *state, static_cast<uint64_t>(attr->st_size));
      if (temporary) ReleaseFile(inode);
      if (!s.ok()) {
        if (s.error().code() == Code::kCorruption) fs->ReportTamper(inode, s.error());
        return (void)fuse_reply_err(req, Errno(s.error()));
      }
    }
    if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) {
      struct timespec ts[2];
      ts[0].tv_nsec = UTIME_OMIT;
      ts[1].tv_nsec = UTIME_OMIT;
      if (to_set & FUSE_SET_ATTR_ATIME_NOW) {
        ts[0].tv_nsec = UTIME_NOW;
      } else if (to_set & FUSE_SET_ATTR_ATIME) {
        ts[0] = attr->st_atim;
      }
      if (to_set & FUSE_SET_ATTR_MTIME_NOW) {
        ts[1].tv_nsec = UTIME_NOW;
      } else if (to_set & FUSE_SET_ATTR_MTIME) {
        ts[1] = attr->st_mtim;
      }
      int rc;
      if (S_ISLNK(inode->type)) {
        rc = ::utimensat(fd, "", ts, AT_EMPTY_PATH);
      } else {
        rc = ::utimensat(AT_FDCWD, proc.c_str(), ts, 0);
      }
      if (rc != 0) return (void)fuse_reply_err(req, errno);
    }
    struct stat st;
    Status s = AttrOf(fs, inode, fd, &st);
    if (!s.ok()) return (void)fuse_reply_err(req, Errno(s.error()));
    fuse_reply_attr(req, &st, kTimeout);
  });
}

void OpReadlink(fuse_req_t req, fuse_ino_t ino) {
  Guard(req, [&] {
    MatterFs* fs = Fs(req);
    Inode* inode = In(req, ino);
    auto fd = fs->inodes().Fd(inode);
    if (!fd.ok()) return (void)fuse_reply_err(req, Errno(fd.error()));
    char buf[4096];
    ssize_t n = ::readlinkat((*fd)->get(), "", buf, sizeof buf);
    if (n < 0) return (void)fuse_reply_err(req, errno);
    if (!inode->matter) return (void)fuse_reply_err(req, EINVAL);
    if (int denied = CheckMetaRead(req, inode, "readlink"); denied != 0) {
      return (void)fuse_reply_err(req, denied);
    }
    auto target = inode->matter->matter->names().DecryptSymlink({buf, static_cast<size_t>(n)});
    if (!target.ok()) {
      fs->ReportTamper(inode, target.error());
      return (void)fuse_reply_err(req, EIO);
    }
    fuse_reply_readlink(req, target->c_str());
  });
}

// Shared prologue of the ops that make a new name in `parent`.
struct NewName {
  SharedFd pfd;
  vault::StoredName stored;
};
int PrepareNew(fuse_req_t req, Inode* parent, const char* name, NewName* out, const char* event) {
  MatterFs* fs = Fs(req);
  if (IsRoot(fs, parent)) return EPERM;  // only matters (mkdir) live at the root
  if (event != nullptr) {
    int denied = Authorize(req, parent, name, policy::Action::kWrite, event, "write");
    if (denied != 0) return denied;
  }
  auto pfd = fs->inodes().Fd(parent);
  if (!pfd.ok()) return Errno(pfd.error());
  auto stored = EncodeIn(fs, parent, (*pfd)->get(), name);
  if (!stored.ok()) return Errno(stored.error());
  Status s = WriteLongName((*pfd)->get(), *stored);
  if (!s.ok()) return Errno(s.error());
  out->pfd = *pfd;
  out->stored = std::move(*stored);
  return 0;
}

void OpMknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
  Guard(req, [&] {
    Inode* p = In(req, parent);
    if (S_ISCHR(mode) || S_ISBLK(mode)) return (void)fuse_reply_err(req, EPERM);
    NewName n;
    int err = PrepareNew(req, p, name, &n, audit::audit_events::kCreate);
    if (err != 0) return (void)fuse_reply_err(req, err);
    if (S_ISREG(mode)) {
      UniqueFd fd(::openat(n.pfd->get(), n.stored.entry.c_str(),
                           O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, mode & 07777));
      if (!fd.valid()) return (void)fuse_reply_err(req, errno);
    } else if (::mknodat(n.pfd->get(), n.stored.entry.c_str(), mode, rdev) != 0) {
      return (void)fuse_reply_err(req, errno);
    }
    ChownNew(req, n.pfd->get(), n.stored.entry);
    ReplyEntry(req, p, name);
  });
}

void OpMkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  Guard(req, [&] {
    MatterFs* fs = Fs(req);
    Inode* p = In(req, parent);
    if (IsRoot(fs, p)) {
      const Caller caller = CallerOf(req);
      int denied = fs->access().Check(caller, name, policy::MatterStatus::kOpen,
                                      policy::Action::kCreateMatter,
                                      audit::audit_events::kMatterCreate, "", "admin");
      if (denied != 0) return (void)fuse_reply_err(req, denied);
      (void)mode;  // matters are 0777: the policy decides who enters them
      auto created = fs->vault().CreateMatter(name);
      if (!created.ok()) return (void)fuse_reply_err(req, Errno(created.error()));
      ChownNew(req, fs->vault().data_fd(), created->entry);
      // The creator may be allowed to create matters without being allowed to read
      // this one: the reply names the new directory regardless; opening it is checked.
      return ReplyEntry(req, p, name, false);
    }
    NewName n;
    int err = PrepareNew(req, p, name, &n, audit::audit_events::kMkdir);
    if (err != 0) return (void)fuse_reply_err(req, err);
    Status s = vault::MakeEncryptedDirImpl(n.pfd->get(), n.stored.entry, mode & 07777, {});
    if (!s.ok()) return (void)fuse_reply_err(req, Errno(s.error()));
    ChownNew(req, n.pfd->get(), n.stored.entry);
    ReplyEntry(req, p, name);
  });
}

void OpSymlink(fuse_req_t req, const char* link, fuse_ino_t parent, const char* name) {
  Guard(req, [&] {
    Inode* p = In(req, parent);
    if (IsRoot(Fs(req), p)) return (void)fuse_reply_err(req, EPERM);
    auto target = p->matter->matter->names().EncryptSymlink(link);
    if (!target.ok()) return (void)fuse_reply_err(req, Errno(target.error()));
    NewName n;
    int err = PrepareNew(req, p, name, &n, audit::audit_events::kSymlink);
    if (err != 0) return (void)fuse_reply_err(req, err);
    if (::symlinkat(target->c_str(), n.pfd->get(), n.stored.entry.c_str()) != 0) {
      return (void)fuse_reply_err(req, errno);
    }
    ChownNew(req, n.pfd->get(), n.stored.entry);
    ReplyEntry(req, p, name);
  });
}

// Before a name goes away: keep the inode reachable by fd (open files, other links).
void PinVictim(MatterFs* fs, int dirfd, const std::string& entry) {
  struct stat st;
  if (::fstatat(dirfd, entry.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return;
  Inode* victim = fs->inodes().Find(st.st_dev, st.st_ino);
  if (victim == nullptr) return;
  if (fs->inodes().Fd(victim).ok()) fs->inodes().Pin(victim);
}

void OpUnlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Guard(req, [&] {
    MatterFs* fs = Fs(req);
    Inode* p = In(req, parent);
    if (IsRoot(fs, p)) return (void)fuse_reply_err(req, EPERM);
    int denied =
        Authorize(req, p, name, policy::Action::kDelete, audit::audit_events::kUnlink, "delete");
    if (denied != 0) return (void)fuse_reply_err(req, denied);
    auto pfd = fs->inodes().Fd(p);
    if (!pfd.ok()) return (void)fuse_reply_err(req, Errno(pfd.error()));
    auto stored = EncodeIn(fs, p, (*pfd)->get(), name);
    if (!stored.ok()) return (void)fuse_reply_err(req, Errno(stored.error()));
    PinVictim(fs, (*pfd)->get(), stored->entry);
    if (::unlinkat((*pfd)->get(), stored->entry.c_str(), 0) != 0)
      return (void)fuse_reply_err(req, errno);
    RemoveLongName((*pfd)->get(), *stored);
    fuse_reply_err(req, 0);
  });
}

// A backing directory that is empty in plaintext terms (only .diriv and leftovers),
// moved out of sight under a temporary name so a crash never leaves a visible directory
// without its IV.
struct EmptyDir {
  std::string aside;  // its temporary name in the parent
  UniqueFd fd;
  std::vector<std::string> meta;  // its metadata entries, to remove
};

// Checks that parent/entry is empty (ENOTEMPTY otherwise) and renames it aside.
int MoveEmptyDirAside(int parentfd, const std::string& entry, EmptyDir* out) {
  UniqueFd dfd(::openat(parentfd, entry.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dfd.valid()) return errno;
  std::vector<std::string> meta;
  {
    UniqueFd scan(::openat(dfd.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    DIR* d = ::fdopendir(scan.release());
    if (d == nullptr) return errno;
    bool empty = true;
    while (struct dirent* de = ::readdir(d)) {
      std::string_view n = de->d_name;
      if (n == "." || n == "..") continue;
      if (vault::NameCodec::Classify(n) != vault::EntryKind::kMeta) {
        empty = false;
        break;
      }
      meta.emplace_back(n);
    }
    ::closedir(d);
    if (!empty) return ENOTEMPTY;
  }
  uint8_t rnd[12];
  crypto::RandomBytes(rnd);
  const std::string aside = ".tmp.rm." + vault::Base64UrlEncode(rnd);
  if (::renameat(parentfd, entry.c_str(), parentfd, aside.c_str()) != 0) return errno;
  out->aside = aside;
  out->fd = std::move(dfd);
  out->meta = std::move(meta);
  return 0;
}

// Puts a directory moved aside back (the operation that needed it gone failed).
void RestoreAside(int parentfd, const EmptyDir& dir, const std::string& entry) {
  ::renameat(parentfd, dir.aside.c_str(), parentfd, entry.c_str());
}

void DestroyAside(int parentfd, const EmptyDir& dir) {
  for (const std::string& m : dir.meta) {
    if (::unlinkat(dir.fd.get(), m.c_str(), 0) != 0 && errno == EISDIR) {
      UniqueFd sub(
          ::openat(dir.fd.get(), m.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (sub.valid()) {
        ::unlinkat(sub.get(), std::string(vault::kDirIvName).c_str(), 0);
        ::unlinkat(sub.get(), std::string(vault::kMatterIdName).c_str(), 0);
      }
      ::unlinkat(dir.fd.get(), m.c_str(), AT_REMOVEDIR);
    }
  }
  if (::unlinkat(parentfd, dir.aside.c_str(), AT_REMOVEDIR) != 0) {
    syslog(LOG_WARNING, "could not remove %s: %s", dir.aside.c_str(), std::strerror(errno));
  }
}

void OpRmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Guard(req, [&] {
    MatterFs* fs = Fs(req);
    Inode* p = In(req, parent);
    if (IsRoot(fs, p)) return (void)fuse_reply_err(req, EPERM);  // matters are wiped, not rmdir'ed
    int denied =
        Authorize(req, p, name, policy::Action::kDelete, audit::audit_events::kRmdir, "delete");
    if (denied != 0) return (void)fuse_reply_err(req, denied);
    auto pfd = fs->inodes().Fd(p);
    if (!pfd.ok()) return (void)fuse_reply_err(req, Errno(pfd.error()));
    auto stored = EncodeIn(fs, p, (*pfd)->get(), name);
    if (!stored.ok()) return (void)fuse_reply_err(req, Errno(stored.error()));
    EmptyDir doomed;
    int err = MoveEmptyDirAside((*pfd)->get(), stored->entry, &doomed);
    if (err != 0) return (void)fuse_reply_err(req, err);
    RemoveLongName((*pfd)->get(), *stored);
    DestroyAside((*pfd)->get(), doomed);
    fuse_reply_err(req, 0);
  });
}

void OpRename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
              const char* newname, unsigned int flags) {
  Guard(req, [&] {
    MatterFs* fs = Fs(req);
    Inode* p = In(req, parent);
    Inode* np = In(req, newparent);
    if (IsRoot(fs, p) || IsRoot(fs, np)) return (void)fuse_reply_err(req, EPERM);
    if (p->matter != np->matter) return (void)fuse_reply_err(req, EXDEV);
    if (flags & ~static_cast<unsigned>(RENAME_NOREPLACE | RENAME_EXCHANGE)) {
      return (void)fuse_reply_err(req, EINVAL);
    }
    auto pfd = fs->inodes().Fd(p);
    if (!pfd.ok()) return (void)fuse_reply_err(req, Errno(pfd.error()));
    auto old_name = EncodeIn(fs, p, (*pfd)->get(), name);
    if (!old_name.ok()) return (void)fuse_reply_err(req, Errno(old_name.error()));
    int denied =
        Authorize(req, p, name, policy::Action::kDelete, audit::audit_events::kRename, "delete");
    if (denied != 0) return (void)fuse_reply_err(req, denied);
    NewName n;
    int err = PrepareNew(req, np, newname, &n, nullptr);
    if (err != 0) return (void)fuse_reply_err(req, err);
    struct stat moved;
    if (::fstatat((*pfd)->get(), old_name->entry.c_str(), &moved, AT_SYMLINK_NOFOLLOW) != 0) {
      return (void)fuse_reply_err(req, errno);
    }
    struct stat other;
    bool had_target =
        ::fstatat(n.pfd->get(), n.stored.entry.c_str(), &other, AT_SYMLINK_NOFOLLOW) == 0;
    if (had_target && !(flags & RENAME_EXCHANGE)) PinVictim(fs, n.pfd->get(), n.stored.entry);
    // Replacing an empty directory: the backing one still holds its .diriv, so move it
    // aside first (and back if the rename fails).
    EmptyDir replaced;
    if (had_target && !(flags & (RENAME_EXCHANGE | RENAME_NOREPLACE)) && S_ISDIR(moved.st_mode) &&
        S_ISDIR(other.st_mode) && moved.st_ino != other.st_ino) {
      int e = MoveEmptyDirAside(n.pfd->get(), n.stored.entry, &replaced);
      if (e != 0) return (void)fuse_reply_err(req, e);
    }
    if (::renameat2((*pfd)->get(), old_name->entry.c_str(), n.pfd->get(), n.stored.entry.c_str(),
                    flags) != 0) {
      int e = errno;
      if (!replaced.aside.empty()) RestoreAside(n.pfd->get(), replaced, n.stored.entry);
      return (void)fuse_reply_err(req, e);
    }
    if (!replaced.aside.empty()) DestroyAside(n.pfd->get(), replaced);
    const bool same = p == np && old_name->entry == n.stored.entry;
    if (!same && !(flags & RENAME_EXCHANGE)) RemoveLongName((*pfd)->get(), *old_name);
    if (!same) {
      if (Inode* i = fs->inodes().Find(moved.st_dev, moved.st_ino)) {
        fs->inodes().Move(i, np, n.stored.entry, newname);
      }
      if ((flags & RENAME_EXCHANGE) && had_target) {
        if (Inode* i = fs->inodes().Find(other.st_dev, other.st_ino)) {
          fs->inodes().Move(i, p, old_name->entry, name);
        }
      }
    }
    fuse_reply_err(req, 0);
  });
}

void OpLink(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname) {
  Guard(req, [&] {
    MatterFs* fs = Fs(req);
    Inode* inode = In(req, ino);
    Inode* np = In(req, newparent);
    if (IsRoot(fs, np)) return (void)fuse_reply_err(req, EPERM);
    if (inode->matter != np->matter) return (void)fuse_reply_err(req, EXDEV);
    auto fd = fs->inodes().Fd(inode);
    if (!fd.ok()) return (void)fuse_reply_err(req, Errno(fd.error()));
    NewName n;
    int err = PrepareNew(req, np, newname, &n, audit::audit_events::kLink);
    if (err != 0) return (void)fuse_reply_err(req, err);
    if (::linkat(AT_FDCWD, ProcPath((*fd)->get()).c_str(), n.pfd->get(), n.stored.entry.c_str(),
                 AT_SYMLINK_FOLLOW) != 0) {
      return (void)fuse_reply_err(req, errno);
    }
    ReplyEntry(req, np, newname);
  });
}

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
    fs->access().CountOpen(CallerOf(req), inode->matter->name);
    auto state = AcquireFile(fs, inode, write);
    if (!state.ok()) {
      if (state.error().code() == Code::kCorruption) fs->ReportTamper(inode, state.error());
      return (void)fuse_reply_err(req, Errno(state.error()));
    }
    if (fi->flags & O_TRUNC) {
      Status s = TruncateState(fs, inode, **state, 0);
      if (!s.ok()) {
        ReleaseFile(inode);
        return (void)fuse_reply_err(req, Errno(s.error()));
      }
    }
    auto* h = new Handle{inode, *state, fi->flags};
    fi->fh = reinterpret_cast<uint64_t>(h);
    if (fuse_reply_open(req, fi) == -ENOENT) {  // the caller was interrupted
      ReleaseFile(inode);
      delete h;
    }
  });
}

void OpCreate(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
              fuse_file_info* fi) {
  Guard(req, [&] {
    MatterFs* fs = Fs(req);
    Inode* p = In(req, parent);
    NewName n;
    int err = PrepareNew(req, p, name, &n, audit::audit_events::kCreate);
    if (err != 0) return (void)fuse_reply_err(req, err);
    if (!IsRoot(fs, p)) fs->access().CountOpen(CallerOf(req), p->matter->name);
    UniqueFd fd(::openat(n.pfd->get(), n.stored.entry.c_str(),
                         O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC | O_NOFOLLOW, mode & 07777));
    bool created = fd.valid();
    if (!created) {
      if (errno != EEXIST || (fi->flags & O_EXCL)) return (void)fuse_reply_err(req, errno);
    } else {
      auto made = vault::FileCrypto::Create(fs->vault().cipher(), p->matter->matter->keyring());
      Status s = made.ok()
                     ? PwriteFull(fd.get(), made->second.Serialize().data(), vault::kHeaderSize, 0)
                     : Status(made.error());
      if (!s.ok()) {
        ::unlinkat(n.pfd->get(), n.stored.entry.c_str(), 0);
        return (void)fuse_reply_err(req, Errno(s.error()));
      }
      ChownNew(req, n.pfd->get(), n.stored.entry);
    }
    fuse_entry_param e;
    err = DoLookup(req, p, name, &e);
    if (err != 0) return (void)fuse_reply_err(req, err);
    Inode* inode = In(req, e.ino);
    const bool write = (fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC);
    auto state = AcquireFile(fs, inode, write || created, created ? fd.release() : -1);
    if (!state.ok()) {
      fs->inodes().Forget(inode, 1);
      return (void)fuse_reply_err(req, Errno(state.error()));
    }
    if (!created && (fi->flags & O_TRUNC)) (void)TruncateState(fs, inode, **state, 0);
    auto* h = new Handle{inode, *state, fi->flags};
    fi->fh = reinterpret_cast<uint64_t>(h);
    if (fuse_reply_create(req, &e, fi) == -ENOENT) {
      ReleaseFile(inode);
      delete h;
    }
  });
}

void OpRead(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  (void)ino;
  Guard(req, [&] {
    auto* h = reinterpret_cast<Handle*>(fi->fh);
    FileState& state = *h->state;
    thread_local std::vector<uint8_t> buf;
    if (buf.size() < vault::kMaxIo) buf.resize(vault::kMaxIo);
    size = std::min(size, vault::kMaxIo);
    std::shared_lock<std::shared_mutex> rl(state.lock);
    if (!state.crypto) return (void)fuse_reply_buf(req, nullptr, 0);
    vault::CryptFile file(*state.crypto);
    auto n = file.Read(state.fd.get(), state.size.load(), static_cast<uint64_t>(off),
                       {buf.data(), size});
    rl.unlock();
    if (!n.ok()) {
      if (n.error().code() == Code::kCorruption) Fs(req)->ReportTamper(h->inode, n.error());
      return (void)fuse_reply_err(req, Errno(n.error()));
    }
    fuse_reply_buf(req, reinterpret_cast<const char*>(buf.data()), *n);
  });
}

void OpWrite(fuse_req_t req, fuse_ino_t ino, const char* data, size_t size, off_t off,
             fuse_file_info* fi) {
  (void)ino;
  Guard(req, [&] {
    MatterFs* fs = Fs(req);
    auto* h = reinterpret_cast<Handle*>(fi->fh);
    FileState& state = *h->state;
    std::unique_lock<std::shared_mutex> wl(state.lock);
    if (!state.writable) return (void)fuse_reply_err(req, EBADF);
    Status s = EnsureHeader(fs, h->inode, state);
    if (!s.ok()) return (void)fuse_reply_err(req, Errno(s.error()));
    uint64_t at = (h->flags & O_APPEND) ? state.size.load() : static_cast<uint64_t>(off);
    vault::CryptFile file(*state.crypto);
    auto size_after = file.Write(state.fd.get(), state.size.load(), at,
                                 {reinterpret_cast<const uint8_t*>(data), size});
    if (!size_after.ok()) {
      wl.unlock();
      if (size_after.error().code() == Code::kCorruption)
        fs->ReportTamper(h->inode, size_after.error());
      return (void)fuse_reply_err(req, Errno(size_after.error()));
    }
    state.size = *size_after;
    wl.unlock();
    fuse_reply_write(req, size);
  });
}

void OpFlush(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  (void)ino;
  (void)fi;
  fuse_reply_err(req, 0);
}

void OpRelease(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  (void)ino;
  Guard(req, [&] {
    auto* h = reinterpret_cast<Handle*>(fi->fh);
    Inode* inode = h->inode;
    h->state.reset();
    delete h;
    ReleaseFile(inode);
    fuse_reply_err(req, 0);
  });
}

void OpFsync(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi) {
  (void)ino;
  Guard(req, [&] {
    auto* h = reinterpret_cast<Handle*>(fi->fh);
    int fd = h->state->fd.get();
    int rc = datasync ? ::fdatasync(fd) : ::fsync(fd);
    fuse_reply_err(req, rc == 0 ? 0 : errno);
  });
}

void OpOpendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Guard(req, [&] {
    MatterFs* fs = Fs(req);
    Inode* dir = In(req, ino);
    const bool root = IsRoot(fs, dir);
    if (!root) {
      int denied = Authorize(req, dir, nullptr, policy::Action::kRead,
                             audit::audit_events::kReaddir, "read");
      if (denied != 0) return (void)fuse_reply_err(req, denied);
    }
    auto pfd = fs->inodes().Fd(dir);
    if (!pfd.ok()) return (void)fuse_reply_err(req, Errno(pfd.error()));
    UniqueFd dfd(::openat((*pfd)->get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dfd.valid()) return (void)fuse_reply_err(req, errno);
    auto iv = DirIvOf(fs, dir, dfd.get());
    if (!iv.ok()) {
      fs->ReportTamper(dir, iv.error());
      return (void)fuse_reply_err(req, EIO);
    }
    const vault::NameCodec& codec = CodecOf(fs, dir);
    auto handle = std::make_unique<DirHandle>();
    // glibc skips entries with d_ino 0, so "." and ".." carry real inode numbers.
    ino_t parent_ino = fs->inodes().root()->ino;
    {
      struct stat up;
      if (::fstatat(dfd.get(), "..", &up, 0) == 0) parent_ino = up.st_ino;
    }
    handle->entries.push_back({".", dir->ino, DT_DIR});
    handle->entries.push_back({"..", root ? dir->ino : parent_ino, DT_DIR});
    DIR* d = ::fdopendir(dfd.get());
    if (d == nullptr) return (void)fuse_reply_err(req, errno);
    (void)dfd.release();
    while (struct dirent* de = ::readdir(d)) {
      std::string_view entry = de->d_name;
      vault::EntryKind kind = vault::NameCodec::Classify(entry);
      if (kind == vault::EntryKind::kMeta) continue;
      Result<std::string> name = Error(Code::kCorruption, "");
      if (kind == vault::EntryKind::kShort) {
        name = codec.Decode(*iv, entry);
      } else {
        auto full = ReadWholeFile(dirfd(d), vault::NameCodec::LongNameFile(entry), 4096);
        name = full.ok()
                   ? codec.DecodeLong(*iv, entry,
                                      std::string_view(reinterpret_cast<const char*>(full->data()),
                                                       full->size()))
                   : Result<std::string>(full.error());
      }
      if (!name.ok()) {
        syslog(LOG_WARNING, "tamper: undecodable name in %s: %s", fs->inodes().PathOf(dir).c_str(),
               name.error().message().c_str());
        continue;
      }
      if (root) {
        // Matters the caller may not see are left out of the listing.
        auto m = fs->MatterStatusByName(*name);
        if (!fs->access().Visible(CallerOf(req), *name, PolicyStatus(m))) continue;
      }
      handle->entries.push_back({std::move(*name), de->d_ino, de->d_type});
    }
    ::closedir(d);
    fi->fh = reinterpret_cast<uint64_t>(handle.release());
    fi->cache_readdir = 0;
    if (fuse_reply_open(req, fi) == -ENOENT) delete reinterpret_cast<DirHandle*>(fi->fh);
  });
}

void DoReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi,
               bool plus) {
  Guard(req, [&] {
    auto* h = reinterpret_cast<DirHandle*>(fi->fh);
    Inode* dir = In(req, ino);
    std::vector<char> buf(size);
    size_t pos = 0;
    for (size_t i = static_cast<size_t>(off); i < h->entries.size(); ++i) {
      const DirEntry& e = h->entries[i];
      const off_t next = static_cast<off_t>(i + 1);
      size_t need;
      if (plus) {
        fuse_entry_param ep;
        std::memset(&ep, 0, sizeof ep);
        bool looked_up = false;
        if (e.name == "." || e.name == "..") {
          ep.attr.st_ino = e.ino;
          ep.attr.st_mode = S_IFDIR;
        } else {
          int err = DoLookup(req, dir, e.name.c_str(), &ep);
          if (err != 0) continue;  // vanished or undecodable: skip it
          looked_up = true;
        }
        need = fuse_add_direntry_plus(req, buf.data() + pos, size - pos, e.name.c_str(), &ep, next);
        if (need > size - pos) {
          if (looked_up) Fs(req)->inodes().Forget(In(req, ep.ino), 1);
          break;
        }
      } else {
        struct stat st;
        std::memset(&st, 0, sizeof st);
        st.st_ino = e.ino;
        st.st_mode = static_cast<mode_t>(e.type) << 12;
        need = fuse_add_direntry(req, buf.data() + pos, size - pos, e.name.c_str(), &st, next);
        if (need > size - pos) break;
      }
      pos += need;
    }
    fuse_reply_buf(req, buf.data(), pos);
  });
}

void OpReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  DoReaddir(req, ino, size, off, fi, false);
}
void OpReaddirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  DoReaddir(req, ino, size, off, fi, true);
}

void OpReleasedir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  (void)ino;
  delete reinterpret_cast<DirHandle*>(fi->fh);
  fuse_reply_err(req, 0);
}

void OpFsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi) {
  (void)fi;
  (void)datasync;
  Guard(req, [&] {
    auto fd = Fs(req)->inodes().Fd(In(req, ino));
    if (!fd.ok()) return (void)fuse_reply_err(req, Errno(fd.error()));
    UniqueFd d(::openat((*fd)->get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    fuse_reply_err(req, d.valid() && ::fsync(d.get()) == 0 ? 0 : errno);
  });
}

void OpStatfs(fuse_req_t req, fuse_ino_t ino) {
  (void)ino;
  Guard(req, [&] {
    struct statvfs sv;
    if (::fstatvfs(Fs(req)->vault().data_fd(), &sv) != 0) return (void)fuse_reply_err(req, errno);
    sv.f_namemax = vault::kMaxPlainName;
    fuse_reply_statfs(req, &sv);
  });
}

void OpFallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
                 fuse_file_info* fi) {
  (void)ino;
  Guard(req, [&] {
    if (mode != 0) return (void)fuse_reply_err(req, EOPNOTSUPP);
    auto* h = reinterpret_cast<Handle*>(fi->fh);
    const uint64_t end = static_cast<uint64_t>(offset) + static_cast<uint64_t>(length);
    if (end <= h->state->size.load()) return (void)fuse_reply_err(req, 0);
    Status s = TruncateState(Fs(req), h->inode, *h->state, end);
    fuse_reply_err(req, s.ok() ? 0 : Errno(s.error()));
  });
}

// ---- extended attributes: user.* only, names and values encrypted --------------------

int XattrTarget(fuse_req_t req, fuse_ino_t ino, const char* name, std::string* proc,
                std::string* stored, Inode** out) {
  MatterFs* fs = Fs(req);
  Inode* inode = In(req, ino);
  if (!inode->matter) return ENOTSUP;
  if (name != nullptr) {
    std::string_view n = name;
    if (n.substr(0, kUserPrefix.size()) != kUserPrefix || n.size() == kUserPrefix.size()) {
      return ENOTSUP;
    }
    auto enc = inode->matter->matter->names().EncryptXattrName(n.substr(kUserPrefix.size()));
    if (!enc.ok()) return Errno(enc.error());
    *stored = std::string(kUserPrefix) + *enc;
  }
  auto fd = fs->inodes().Fd(inode);
  if (!fd.ok()) return Errno(fd.error());
  if (S_ISLNK(inode->type)) return ENOTSUP;
  *proc = ProcPath((*fd)->get());
  *out = inode;
  // Keep the fd alive for the caller's syscall: it is owned by the inode, which the kernel
  // keeps while this request runs; a Trim in between is harmless because Fd reopens.
  return 0;
}

void OpSetxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size,
                int flags) {
  Guard(req, [&] {
    std::string proc, stored;
    Inode* inode = nullptr;
    int err = XattrTarget(req, ino, name, &proc, &stored, &inode);
    if (err != 0) return (void)fuse_reply_err(req, err);
    err = Authorize(req, inode, nullptr, policy::Action::kWrite, audit::audit_events::kSetxattr,
                    "write");
    if (err != 0) return (void)fuse_reply_err(req, err);
    Bytes sealed = inode->matter->matter->names().EncryptXattrValue(
        stored.substr(kUserPrefix.size()), {reinterpret_cast<const uint8_t*>(value), size});
    if (::setxattr(proc.c_str(), stored.c_str(), sealed.data(), sealed.size(), flags) != 0) {
      return (void)fuse_reply_err(req, errno);
    }
    fuse_reply_err(req, 0);
  });
}

void OpGetxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  Guard(req, [&] {
    std::string proc, stored;
    Inode* inode = nullptr;
    int err = XattrTarget(req, ino, name, &proc, &stored, &inode);
    if (err != 0) return (void)fuse_reply_err(req, err == ENOTSUP ? ENODATA : err);
    if (int denied = CheckMetaRead(req, inode, "getxattr"); denied != 0) {
      return (void)fuse_reply_err(req, denied);
    }
    std::vector<uint8_t> sealed(65536 + 64);
    ssize_t n = ::getxattr(proc.c_str(), stored.c_str(), sealed.data(), sealed.size());
    if (n < 0) return (void)fuse_reply_err(req, errno);
    auto plain = inode->matter->matter->names().DecryptXattrValue(
        stored.substr(kUserPrefix.size()), {sealed.data(), static_cast<size_t>(n)});
    if (!plain.ok()) {
      Fs(req)->ReportTamper(inode, plain.error());
      return (void)fuse_reply_err(req, EIO);
    }
    if (size == 0) return (void)fuse_reply_xattr(req, plain->size());
    if (size < plain->size()) return (void)fuse_reply_err(req, ERANGE);
    fuse_reply_buf(req, reinterpret_cast<const char*>(plain->data()), plain->size());
  });
}

void OpListxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  Guard(req, [&] {
    std::string proc, stored;
    Inode* inode = nullptr;
    int err = XattrTarget(req, ino, nullptr, &proc, &stored, &inode);
    if (err == ENOTSUP) {
      return (void)(size == 0 ? fuse_reply_xattr(req, 0) : fuse_reply_buf(req, nullptr, 0));
    }
    if (err != 0) return (void)fuse_reply_err(req, err);
    if (int denied = CheckMetaRead(req, inode, "listxattr"); denied != 0) {
      return (void)fuse_reply_err(req, denied);
    }
    std::vector<char> raw(65536);
    ssize_t n = ::listxattr(proc.c_str(), raw.data(), raw.size());
    if (n < 0) return (void)fuse_reply_err(req, errno);
    std::string out;
    for (ssize_t i = 0; i < n;) {
      std::string_view one(raw.data() + i);
      i += static_cast<ssize_t>(one.size()) + 1;
      if (one.substr(0, kUserPrefix.size()) != kUserPrefix) continue;
      auto plain = inode->matter->matter->names().DecryptXattrName(one.substr(kUserPrefix.size()));
      if (!plain.ok()) continue;
      out += std::string(kUserPrefix) + *plain;
      out.push_back('\0');
    }
    if (size == 0) return (void)fuse_reply_xattr(req, out.size());
    if (size < out.size()) return (void)fuse_reply_err(req, ERANGE);
    fuse_reply_buf(req, out.data(), out.size());
  });
}

void OpRemovexattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
  Guard(req, [&] {
    std::string proc, stored;
    Inode* inode = nullptr;
    int err = XattrTarget(req, ino, name, &proc, &stored, &inode);
    if (err != 0) return (void)fuse_reply_err(req, err == ENOTSUP ? ENODATA : err);
    err = Authorize(req, inode, nullptr, policy::Action::kWrite, audit::audit_events::kRemovexattr,
                    "write");
    if (err != 0) return (void)fuse_reply_err(req, err);
    fuse_reply_err(req, ::removexattr(proc.c_str(), stored.c_str()) == 0 ? 0 : errno);
  });
}

fuse_lowlevel_ops MakeOps() {
  fuse_lowlevel_ops ops;
  std::memset(&ops, 0, sizeof ops);
  ops.init = OpInit;
  ops.lookup = OpLookup;
  ops.forget = OpForget;
  ops.forget_multi = OpForgetMulti;
  ops.getattr = OpGetattr;
  ops.setattr = OpSetattr;
  ops.readlink = OpReadlink;
  ops.mknod = OpMknod;
  ops.mkdir = OpMkdir;
  ops.unlink = OpUnlink;
  ops.rmdir = OpRmdir;
  ops.symlink = OpSymlink;
  ops.rename = OpRename;
  ops.link = OpLink;
  ops.open = OpOpen;
  ops.read = OpRead;
  ops.write = OpWrite;
  ops.flush = OpFlush;
  ops.release = OpRelease;
  ops.fsync = OpFsync;
  ops.opendir = OpOpendir;
  ops.readdir = OpReaddir;
  ops.readdirplus = OpReaddirplus;
  ops.releasedir = OpReleasedir;
  ops.fsyncdir = OpFsyncdir;
  ops.statfs = OpStatfs;
  ops.setxattr = OpSetxattr;
  ops.getxattr = OpGetxattr;
  ops.listxattr = OpListxattr;
  ops.removexattr = OpRemovexattr;
  ops.create = OpCreate;
  ops.fallocate = OpFallocate;
  return ops;
}

}  // namespace

MatterFs::MatterFs(std::unique_ptr<vault::Vault> vault, std::unique_ptr<AccessControl> access,
                   size_t max_fds)
    : vault_(std::move(vault)),
      access_(std::move(access)),
      inodes_(UniqueFd(::openat(vault_->data_fd(), ".", O_PATH | O_DIRECTORY | O_CLOEXEC)),
              max_fds) {}

MatterFs::~MatterFs() = default;

const fuse_lowlevel_ops& MatterFs::Ops() {
  static const fuse_lowlevel_ops ops = MakeOps();
  return ops;
}

Result<std::shared_ptr<MatterCtx>> MatterFs::LoadMatter(int matter_fd, const std::string& entry,
                                                        const std::string& name) {
  {
    std::lock_guard<std::mutex> g(matters_mu_);
    auto it = matters_.find(entry);
    if (it != matters_.end()) return it->second;
  }
  MFS_ASSIGN(vault::MatterId id, vault_->ReadMatterBinding(matter_fd, name));
  (void)id;
  MFS_ASSIGN(auto matter, vault::Matter::Load(*vault_, name));
  auto ctx = std::make_shared<MatterCtx>();
  ctx->status = matter->keyring().status;
  ctx->matter = std::move(matter);
  ctx->name = name;
  std::lock_guard<std::mutex> g(matters_mu_);
  auto [it, inserted] = matters_.emplace(entry, ctx);
  return it->second;
}

void MatterFs::ReportTamper(Inode* inode, const Error& error) {
  const std::string path = inodes_.PathOf(inode);
  std::cerr << "matterfs: tamper: " << path << ": " << error.message() << std::endl;
  access_->Notice(audit::audit_events::kTamper, audit::AuditResult::kError,
                  audit::AuditSeverity::kAlert, nullptr, inode->matter ? inode->matter->name : "",
                  error.message(), path);
}

vault::MatterStatus MatterFs::MatterStatusByName(const std::string& name) {
  std::lock_guard<std::mutex> g(matters_mu_);
  for (auto& [entry, ctx] : matters_) {
    if (ctx->name == name) return ctx->status.load();
  }
  auto info = vault_->FindMatter(name);
  return info.ok() ? info->status : vault::MatterStatus::kOpen;
}

void MatterFs::RefreshStatus() {
  std::vector<std::shared_ptr<MatterCtx>> loaded;
  {
    std::lock_guard<std::mutex> g(matters_mu_);
    for (auto& [entry, ctx] : matters_) loaded.push_back(ctx);
  }
  for (auto& ctx : loaded) {
    auto ring = vault_->LoadKeyring(ctx->matter->info().id);
    if (ring.ok()) ctx->status = ring->status;
  }
}

control::Response MatterFs::HandleControl(const control::Request& req, const control::Peer& peer) {
  control::Response r;
  auto fail = [&](const char* code, const std::string& msg) {
    r.ok = false;
    r.code = code;
    r.message = msg;
    return r;
  };
  const Caller caller{peer.uid, peer.gid, peer.pid};
  auto arg = [&](const char* key) -> std::string {
    auto it = req.args.find(key);
    return it == req.args.end() ? "" : it->second;
  };
  if (req.command == "status") {
    auto pol = access_->policy();
    auto stats = access_->audit_stats();
    r.rows.push_back({{"kind", "mount"},
                      {"vault", vault_->path()},
                      {"policy", pol->source.empty() ? "(owner only)" : pol->source},
                      {"audit_queued", std::to_string(stats.queued)},
                      {"audit_dropped", std::to_string(stats.dropped)},
                      {"audit_refused", std::to_string(stats.refused)}});
    auto list = vault_->ListMatters();
    if (list.ok()) {
      for (const auto& m : *list) {
        auto status = MatterStatusByName(m.name);
        if (!access_->Visible(caller, m.name, PolicyStatus(status))) continue;
        r.rows.push_back(
            {{"kind", "matter"}, {"name", m.name}, {"status", vault::MatterStatusName(status)}});
      }
    }
    for (const auto& g : access_->ActiveGrants()) {
      r.rows.push_back({{"kind", "break-glass"},
                        {"user", g.user},
                        {"matter", g.matter},
                        {"until", policy::FormatTime(g.until)},
                        {"reason", g.reason}});
    }
    return r;
  }
  if (req.command == "break-glass") {
    const std::string matter = arg("matter");
    const std::string reason = arg("reason");
    if (matter.empty() || reason.empty())
      return fail("EINVAL", "break-glass needs a matter and a reason");
    auto duration = policy::ParseDuration(arg("duration"));
    if (!duration.ok()) return fail("EINVAL", duration.error().message());
    auto info = vault_->FindMatter(matter);
    if (!info.ok()) return fail("ENOENT", "no matter named '" + matter + "'");
    auto grant = access_->BreakGlass(caller, matter, *duration, reason);
    if (!grant.ok()) return fail("EACCES", grant.error().message());
    r.rows.push_back({{"user", grant->user},
                      {"matter", grant->matter},
                      {"until", policy::FormatTime(grant->until)}});
    return r;
  }
  if (req.command == "matter-status") {
    const std::string matter = arg("matter");
    const std::string verb = arg("verb");
    const char* event = verb == "close"    ? audit::audit_events::kMatterClose
                        : verb == "reopen" ? audit::audit_events::kMatterReopen
                        : verb == "hold"   ? audit::audit_events::kMatterHold
                                           : audit::audit_events::kMatterRelease;
    auto info = vault_->FindMatter(matter);
    if (!info.ok()) return fail("ENOENT", "no matter named '" + matter + "'");
    auto next = vault::StatusAfter(verb, info->status);
    if (!next.ok()) return fail("EINVAL", "matter '" + matter + "': " + next.error().message());
    const vault::MatterStatus target = *next;
    int denied = access_->Check(caller, matter, PolicyStatus(info->status), policy::Action::kAdmin,
                                event, "", "admin");
    if (denied != 0)
      return fail("EACCES", "the policy does not let you administer matter '" + matter + "'");
    auto old = vault_->SetMatterStatus(matter, target);
    if (!old.ok()) return fail("EIO", old.error().message());
    {
      std::lock_guard<std::mutex> g(matters_mu_);
      for (auto& [entry, ctx] : matters_) {
        if (ctx->name == matter) ctx->status = target;
      }
    }
    access_->Notice(event, audit::AuditResult::kOk, audit::AuditSeverity::kNotice, &caller,
                    matter,
                    std::string("matter ") + vault::MatterStatusName(*old) + " -> " +
                        vault::MatterStatusName(target));
    r.rows.push_back({{"matter", matter},
                      {"from", vault::MatterStatusName(*old)},
                      {"to", vault::MatterStatusName(target)}});
    return r;
  }
  if (req.command == "reload") {
    if (peer.uid != 0 && peer.uid != ::geteuid())
      return fail("EACCES", "only root may reload the policy");
    Status s = access_->Reload();
    if (!s.ok()) return fail("EINVAL", s.error().message());
    return r;
  }
  return fail("EINVAL", "unknown command '" + req.command + "'");
}

}  // namespace matterfs::fuse
