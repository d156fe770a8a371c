// Helpers shared by the operation files (ops.h).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "fs/fuse/ops.h"
#include "fs/vault/crypt_file.h"
#include "util/log.h"

namespace matterfs::fuse {

namespace {
// This thread's audit path buffer (its capacity stays), and whether the path in it was
// read from the inode table (the names generation then) or from an open file's copy (0).
thread_local std::string t_path;
thread_local uint64_t t_path_generation = 0;
}  // namespace

const std::string& PathForAudit(MatterFs* fs, Inode* inode, const char* name) {
  std::string& path = t_path;
  t_path_generation = 0;
  bool cached = false;
  if (S_ISREG(inode->type) && name == nullptr) {
    // An open file keeps its path while no name changes: no lock on the inode table.
    std::lock_guard<std::mutex> g(inode->mu);
    if (inode->file && inode->file->path_generation == fs->inodes().names_generation()) {
      path.assign(inode->file->path);
      cached = true;
    }
  }
  if (!cached) t_path_generation = fs->inodes().PathInto(inode, path);
  if (name != nullptr) {
    t_path_generation = 0;  // a child's path: not the inode's
    path += '/';
    path += name;
  }
  return path;
}

void RememberPathForAudit(Inode* inode, FileState& state) {
  if (t_path_generation == 0) return;
  std::lock_guard<std::mutex> g(inode->mu);
  if (state.path_generation >= t_path_generation) return;
  state.path = t_path;
  state.path_generation = t_path_generation;
}

int Authorize(fuse_req_t req, Inode* inode, const char* name, policy::Action action,
              const char* event, const char* access) {
  MatterFs* fs = Fs(req);
  if (!inode->matter) return 0;  // the root itself: callers decide
  return fs->access().Check(CallerOf(req), inode->matter->name(),
                            PolicyStatusOf(inode->matter->status()), action, event,
                            PathForAudit(fs, inode, name), access);
}

int CheckRead(fuse_req_t req, Inode* inode, const char* event, const char* name) {
  if (!inode->matter) return 0;
  MatterFs* fs = Fs(req);
  const Caller caller = CallerOf(req);
  const std::string& matter = inode->matter->name();
  const policy::MatterStatus status = PolicyStatusOf(inode->matter->status());
  if (fs->access().Allowed(caller, matter, status, policy::Action::kRead)) return 0;
  static const std::string kNoPath;
  return fs->access().Quiet(caller, matter, status, policy::Action::kRead, event,
                            event != nullptr ? PathForAudit(fs, inode, name) : kNoPath);
}

Result<std::shared_ptr<const vault::Matter>> KeysOf(Inode* inode) {
  auto keys = inode->matter ? inode->matter->keys() : nullptr;
  if (!keys) return Error(Code::kNotFound, "the matter was wiped", ENOENT);
  return keys;
}

Result<DirView> DirOf(MatterFs* fs, Inode* dir, int dirfd) {
  if (IsRoot(fs, dir)) return DirView{nullptr, fs->vault().root_dir()};
  MFS_ASSIGN(auto keys, KeysOf(dir));
  {
    std::lock_guard<std::mutex> g(dir->mu);
    if (dir->iv) return DirView{keys, vault::EncryptedDir(dirfd, keys->names(), *dir->iv)};
  }
  MFS_ASSIGN(vault::DirIv iv, vault::ReadDirIv(dirfd));
  std::lock_guard<std::mutex> g(dir->mu);
  dir->iv = iv;
  return DirView{keys, vault::EncryptedDir(dirfd, keys->names(), iv)};
}

namespace {
int PrepareName(fuse_req_t req, Inode* parent, const char* name, NameInDir* out,
                policy::Action action, const char* event, bool make_new) {
  MatterFs* fs = Fs(req);
  if (IsRoot(fs, parent)) return EPERM;  // only matters (mkdir) live at the root
  if (event != nullptr) {
    int denied = Authorize(req, parent, name, action, event,
                           action == policy::Action::kDelete ? "delete" : "write");
    if (denied != 0) return denied;
  }
  auto pfd = fs->inodes().Fd(parent);
  if (!pfd.ok()) return Errno(fs, pfd.error(), parent);
  auto view = DirOf(fs, parent, (*pfd)->get());
  if (!view.ok()) return Errno(fs, view.error(), parent);
  auto stored = view->dir.Encode(name);
  if (!stored.ok()) return Errno(fs, stored.error(), parent);
  if (make_new) {
    Status s = view->dir.WriteLongName(*stored);
    if (!s.ok()) return Errno(fs, s.error(), parent);
  }
  out->pfd = *pfd;
  out->stored = std::move(*stored);
  out->view = std::move(*view);
  return 0;
}
}  // namespace

int PrepareNew(fuse_req_t req, Inode* parent, const char* name, NameInDir* out, const char* event) {
  return PrepareName(req, parent, name, out, policy::Action::kWrite, event, true);
}

int PrepareRemove(fuse_req_t req, Inode* parent, const char* name, NameInDir* out,
                  const char* event) {
  return PrepareName(req, parent, name, out, policy::Action::kDelete, event, false);
}

double EntryTimeout(MatterFs* fs, Inode* parent) {
  if (fs->shared()) return 0.0;
  // With several users on the mount, the root is the gate: its entries are looked up
  // again on every path walk, so that one user's lookup never serves another; a mount
  // only its owner can reach needs no gate.
  if (IsRoot(fs, parent)) return fs->multi_user() ? 0.0 : kTimeout;
  // Matters listed to everyone (hide_denied = no): the gate moves inside them.
  if (fs->multi_user() && !fs->access().policy()->hide_denied) return 0.0;
  return kTimeout;
}

double AttrTimeout(MatterFs* fs, Inode* inode) {
  if (IsRoot(fs, inode) || !inode->matter) return kTimeout;
  if (fs->shared()) return 0.0;
  if (fs->multi_user() && !fs->access().policy()->hide_denied) return 0.0;
  return kTimeout;
}

namespace {
// The owner a new object gets: the caller's uid, and its gid unless the directory is
// set-group-id (then the directory's group, which the backing file system already gave).
std::pair<uid_t, gid_t> NewOwner(fuse_req_t req, int dirfd) {
  const fuse_ctx* ctx = fuse_req_ctx(req);
  struct stat parent;
  gid_t gid = ctx->gid;
  if (::fstat(dirfd, &parent) == 0 && (parent.st_mode & S_ISGID)) gid = static_cast<gid_t>(-1);
  return {ctx->uid, gid};
}
}  // namespace

namespace {
// What a failed chown of a new object means: 0 (go on, with a warning) or, under
// -o require_owner, the errno to refuse the create with.
int OwnerFailure(fuse_req_t req, const std::string& entry, int err) {
  log::Warning("cannot give new entry " + entry + " to uid " +
               std::to_string(fuse_req_ctx(req)->uid) + ": " + std::strerror(err));
  return Fs(req)->require_owner() ? err : 0;
}
}  // namespace

int ChownNew(fuse_req_t req, int dirfd, const std::string& entry) {
  if (::geteuid() != 0) return 0;
  const auto [uid, gid] = NewOwner(req, dirfd);
  if (::fchownat(dirfd, entry.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) == 0) return 0;
  return OwnerFailure(req, entry, errno);
}

Result<vault::CreatedFile> CreateRegular(fuse_req_t req, const NameInDir& n, mode_t mode) {
  MatterFs* fs = Fs(req);
  const bool root = ::geteuid() == 0;
  const auto [uid, gid] = root ? NewOwner(req, n.pfd->get()) : std::pair<uid_t, gid_t>{0, 0};
  int chown_err = 0;
  auto made = vault::CreateWithHeader(n.pfd->get(), n.stored.entry, mode, fs->vault().file_format(),
                                      n.view->keys->keyring(), [&, uid = uid, gid = gid](int fd) {
                                        if (root && ::fchown(fd, uid, gid) != 0) chown_err = errno;
                                      });
  if (made.ok() && chown_err != 0) {
    if (int refuse = OwnerFailure(req, n.stored.entry, chown_err); refuse != 0) {
      ::unlinkat(n.pfd->get(), n.stored.entry.c_str(), 0);
      return Error(Code::kPermissionDenied, "the new file cannot be given to its creator", refuse);
    }
  }
  return made;
}

Status AttrOf(MatterFs* fs, Inode* inode, int fd, struct stat* st, bool fresh) {
  if (!fresh && ::fstatat(fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0) {
    return IoError("stat");
  }
  if (S_ISREG(st->st_mode)) {
    std::shared_ptr<FileState> file;
    {
      std::lock_guard<std::mutex> g(inode->mu);
      file = inode->file;
    }
    if (file) {
      st->st_size = static_cast<off_t>(file->size.load());
    } else {
      auto size = fs->vault().file_format().layout().PlainSize(static_cast<uint64_t>(st->st_size));
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
    auto keys = inode->matter->keys();
    if (n > 0 && keys) {
      auto target = keys->names().DecryptSymlink({buf, static_cast<size_t>(n)});
      if (target.ok()) st->st_size = static_cast<off_t>(target->size());
    }
  }
  st->st_blocks = (st->st_size + 511) / 512;
  // The root is open to all: every mkdir, lookup and listing there is the policy's
  // decision (and files, links and renames at the root are refused outright).
  if (inode == fs->inodes().root()) st->st_mode = S_IFDIR | 0777;
  return {};
}

int DoLookup(fuse_req_t req, Inode* parent, const char* name, fuse_entry_param* e,
             bool check_access) {
  MatterFs* fs = Fs(req);
  auto pfd = fs->inodes().Fd(parent);
  if (!pfd.ok()) return Errno(fs, pfd.error(), parent);
  if (check_access && !IsRoot(fs, parent)) {
    // Inside a matter a lookup tells whether a name exists and what it is, so it needs
    // read access, checked before the name is even looked for (this matters when
    // hide_denied = no lists the matter to everyone).
    int denied = CheckRead(req, parent, audit::audit_events::kLookup, name);
    if (denied != 0) return denied;
  }
  auto view = DirOf(fs, parent, (*pfd)->get());
  if (!view.ok()) return Errno(fs, view.error(), parent);
  auto stored = view->dir.Encode(name);
  if (!stored.ok()) return Errno(fs, stored.error(), parent);
  struct stat st;
  if (::fstatat((*pfd)->get(), stored->entry.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return errno;
  if (Status side = view->dir.CheckLongName(*stored); !side.ok()) {
    // A long entry whose side file is gone or is another entry's: the listing would not
    // show this name either.
    if (!IsRoot(fs, parent)) return Errno(fs, side.error(), parent);
    if (side.error().code() == Code::kCorruption) fs->ReportMatterTamper(name, side.error());
    return side.error().ToErrno();
  }
  std::shared_ptr<LoadedMatter> matter = parent->matter;
  UniqueFd fd;
  if (IsRoot(fs, parent)) {
    if (!S_ISDIR(st.st_mode)) return ENOENT;
    fd.reset(::openat((*pfd)->get(), stored->entry.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid()) return errno;
    auto m = fs->matters().Get(fd.get(), stored->entry, name);
    if (!m.ok()) {
      if (m.error().code() == Code::kCorruption) {
        // A .matter binding or keyring that fails its checks: damaged or tampered with.
        fs->ReportMatterTamper(name, m.error());
      } else {
        log::Error("matter '" + std::string(name) + "' cannot be opened: " + m.error().message());
      }
      return m.error().ToErrno();
    }
    matter = *m;
    if (check_access) {
      int hidden = fs->access().Quiet(CallerOf(req), name, PolicyStatusOf(matter->status()),
                                      policy::Action::kList, audit::audit_events::kLookup, name);
      if (hidden != 0) return hidden;
    }
  }
  Inode* inode = fs->inodes().Insert(parent, stored->entry, name, st, std::move(fd), matter);
  // `st` is the backing entry's, just read: no need to stat it again. The inode's own
  // fd is opened when an operation needs it (a listing's entries mostly never do), but
  // a symlink's size comes from its target, read through it.
  int attr_fd = -1;
  SharedFd held;
  if (S_ISLNK(st.st_mode)) {
    auto ifd = fs->inodes().Fd(inode);
    if (!ifd.ok()) {
      fs->inodes().Forget(inode, 1);
      return ifd.error().ToErrno();
    }
    held = *ifd;
    attr_fd = held->get();
  }
  Status a = AttrOf(fs, inode, attr_fd, &st, /*fresh=*/true);
  if (!a.ok()) {
    fs->inodes().Forget(inode, 1);
    return a.error().ToErrno();
  }
  std::memset(e, 0, sizeof *e);
  e->ino = Id(fs, inode);
  e->attr = st;
  // Matters at the root are looked up again on every path walk, so that one user's
  // lookup never serves another whom the policy does not admit. When the policy lists
  // matters to everyone (hide_denied = no), entries inside matters are not cached either.
  e->attr_timeout = AttrTimeout(fs, inode);
  e->entry_timeout = EntryTimeout(fs, parent);
  return 0;
}

void ReplyEntry(fuse_req_t req, Inode* parent, const char* name, bool check_access) {
  fuse_entry_param e;
  int err = DoLookup(req, parent, name, &e, check_access);
  if (err != 0) {
    fuse_reply_err(req, err);
  } else {
    fuse_reply_entry(req, &e);
  }
}

}  // namespace matterfs::fuse
