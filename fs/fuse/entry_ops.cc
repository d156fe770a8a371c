// Entry operations: names, attributes and links (ops.h).
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cstring>

#include "fs/fuse/ops.h"
#include "fs/vault/format.h"
#include "util/unique_fd.h"

namespace matterfs::fuse {

namespace {

// Before a name goes away: keep the inode reachable by fd (open files, other links).
void PinVictim(MatterFs* fs, int dirfd, const std::string& entry) {
  struct stat st;
  if (::fstatat(dirfd, entry.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return;
  Inode* victim = fs->inodes().Find(st.st_dev, st.st_ino);
  if (victim == nullptr) return;
  if (fs->inodes().Fd(victim).ok()) fs->inodes().Pin(victim);
}

}  // namespace

// lookup: ENOENT (missing, or a matter hidden from the caller), EACCES/EROFS/EPERM (the
// policy), ENAMETOOLONG, EIO (a tampered directory IV or name).
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

// getattr: the policy's read decision inside a matter (EACCES ...), ESTALE, EIO.
void OpGetattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  (void)fi;
  Guard(req, [&] {
    MatterFs* fs = Fs(req);
    Inode* inode = In(req, ino);
    auto fd = fs->inodes().Fd(inode);
    if (!fd.ok()) return Reply(req, fd.error(), inode);
    struct stat st;
    Status s = AttrOf(fs, inode, (*fd)->get(), &st);
    if (!s.ok()) return Reply(req, s.error(), inode);
    // A matter's own folder is seen at the root by whoever may list the matter; what
    // is inside needs read access.
    const int denied = inode->matter_root
                           ? fs->access().Quiet(CallerOf(req), inode->matter->name(),
                                                PolicyStatusOf(inode->matter->status()),
                                                policy::Action::kList, nullptr, "")
                           : CheckRead(req, inode, nullptr);
    if (denied != 0) return (void)fuse_reply_err(req, denied);
    fuse_reply_attr(req, &st, AttrTimeout(fs, inode));
  });
}

// setattr: EPERM at the root; the policy (write; shrinking a file is a delete: EPERM
// under hold); EINVAL for a size on a non-file; the backing call's errno; EIO.
void OpSetattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi) {
  Guard(req, [&] {
    MatterFs* fs = Fs(req);
    Inode* inode = In(req, ino);
    auto fdr = fs->inodes().Fd(inode);
    if (!fdr.ok()) return Reply(req, fdr.error(), inode);
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
      if (::chmod(proc.c_str(), attr->st_mode & 07777) != 0) {
        return (void)fuse_reply_err(req, errno);
      }
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
        auto* open = reinterpret_cast<FileState*>(fi->fh);
        if (!open->writable) {
          // Upgrades the shared state's fd to read-write.
          auto up = AcquireFile(fs->files(), inode, true);
          if (!up.ok()) return Reply(req, up.error(), inode);
          ReleaseFile(inode);
        }
        state = open->shared_from_this();
      }
      bool temporary = false;
      if (!state) {
        auto acquired = AcquireFile(fs->files(), inode, true);
        if (!acquired.ok()) return Reply(req, acquired.error(), inode);
        state = *acquired;
        temporary = true;
      }
      Status s = TruncateFile(fs->files(), inode, *state, static_cast<uint64_t>(attr->st_size));
      if (temporary) ReleaseFile(inode);
      if (!s.ok()) return Reply(req, s.error(), inode);
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
    if (!s.ok()) return Reply(req, s.error(), inode);
    fuse_reply_attr(req, &st, AttrTimeout(fs, inode));
  });
}

// readlink: EINVAL outside a matter; the policy's read decision; EIO for a target that
// does not authenticate (tamper event).
void OpReadlink(fuse_req_t req, fuse_ino_t ino) {
  Guard(req, [&] {
    MatterFs* fs = Fs(req);
    Inode* inode = In(req, ino);
    auto fd = fs->inodes().Fd(inode);
    if (!fd.ok()) return Reply(req, fd.error(), inode);
    char buf[4096];
    ssize_t n = ::readlinkat((*fd)->get(), "", buf, sizeof buf);
    if (n < 0) return (void)fuse_reply_err(req, errno);
    if (!inode->matter) return (void)fuse_reply_err(req, EINVAL);
    if (int denied = CheckRead(req, inode, "readlink"); denied != 0) {
      return (void)fuse_reply_err(req, denied);
    }
    auto keys = KeysOf(inode);
    if (!keys.ok()) return Reply(req, keys.error());
    auto target = (*keys)->names().DecryptSymlink({buf, static_cast<size_t>(n)});
    if (!target.ok()) {
      return Reply(req, Error(Code::kCorruption, "symlink target: " + target.error().message()),
                   inode);
    }
    fuse_reply_readlink(req, target->c_str());
  });
}

// mknod: EPERM at the root and for devices; the policy (write); EEXIST; ENAMETOOLONG.
void OpMknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
  Guard(req, [&] {
    Inode* p = In(req, parent);
    if (S_ISCHR(mode) || S_ISBLK(mode)) return (void)fuse_reply_err(req, EPERM);
    NameInDir n;
    int err = PrepareNew(req, p, name, &n, audit::audit_events::kCreate);
    if (err != 0) return (void)fuse_reply_err(req, err);
    if (S_ISREG(mode) && Fs(req)->vault().file_format().version >= 3) {
      // Format 3: a new file has its header from the start (never an empty backing file).
      auto made = CreateRegular(req, n, mode);
      if (!made.ok()) return Reply(req, made.error());
      return ReplyEntry(req, p, name);
    }
    if (S_ISREG(mode)) {
      UniqueFd fd(::openat(n.pfd->get(), n.stored.entry.c_str(),
                           O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, mode & 07777));
      if (!fd.valid()) return (void)fuse_reply_err(req, errno);
    } else if (::mknodat(n.pfd->get(), n.stored.entry.c_str(), mode, rdev) != 0) {
      return (void)fuse_reply_err(req, errno);
    }
    if (int refused = ChownNew(req, n.pfd->get(), n.stored.entry); refused != 0) {
      ::unlinkat(n.pfd->get(), n.stored.entry.c_str(), 0);
      return (void)fuse_reply_err(req, refused);
    }
    ReplyEntry(req, p, name);
  });
}

// mkdir: at the root a new matter (the policy's create_matters; EEXIST; EINVAL for a
// name `matterctl matter create` would refuse); inside a matter the policy (write),
// EEXIST, ENAMETOOLONG.
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
      if (!created.ok()) return Reply(req, created.error());
      // A matter folder is 0777 whoever owns it (the policy decides): its owner is
      // informative, so -o require_owner does not undo a matter for it.
      (void)ChownNew(req, fs->vault().data_fd(), created->entry);
      // The creator may be allowed to create matters without being allowed to read
      // this one: the reply names the new directory regardless; opening it is checked.
      return ReplyEntry(req, p, name, false);
    }
    NameInDir n;
    int err = PrepareNew(req, p, name, &n, audit::audit_events::kMkdir);
    if (err != 0) return (void)fuse_reply_err(req, err);
    // Not synced to the parent: mkdir(2) is not durable until the program syncs the
    // parent (fsyncdir), which syncs the backing directory.
    Status s = vault::MakeEncryptedDirImpl(n.pfd->get(), n.stored.entry, mode & 07777, {},
                                           /*sync_parent=*/false);
    if (!s.ok()) return Reply(req, s.error());
    if (int refused = ChownNew(req, n.pfd->get(), n.stored.entry); refused != 0) {
      // The new, empty directory holds only its IV: both go again.
      UniqueFd made(::openat(n.pfd->get(), n.stored.entry.c_str(),
                             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (made.valid()) ::unlinkat(made.get(), std::string(vault::kDirIvName).c_str(), 0);
      ::unlinkat(n.pfd->get(), n.stored.entry.c_str(), AT_REMOVEDIR);
      return (void)fuse_reply_err(req, refused);
    }
    ReplyEntry(req, p, name);
  });
}

// symlink: EPERM at the root; the policy (write); EEXIST; ENAMETOOLONG.
void OpSymlink(fuse_req_t req, const char* link, fuse_ino_t parent, const char* name) {
  Guard(req, [&] {
    Inode* p = In(req, parent);
    if (IsRoot(Fs(req), p)) return (void)fuse_reply_err(req, EPERM);
    auto keys = KeysOf(p);
    if (!keys.ok()) return Reply(req, keys.error());
    auto target = (*keys)->names().EncryptSymlink(link);
    if (!target.ok()) return Reply(req, target.error());
    NameInDir n;
    int err = PrepareNew(req, p, name, &n, audit::audit_events::kSymlink);
    if (err != 0) return (void)fuse_reply_err(req, err);
    if (::symlinkat(target->c_str(), n.pfd->get(), n.stored.entry.c_str()) != 0) {
      return (void)fuse_reply_err(req, errno);
    }
    if (int refused = ChownNew(req, n.pfd->get(), n.stored.entry); refused != 0) {
      ::unlinkat(n.pfd->get(), n.stored.entry.c_str(), 0);
      return (void)fuse_reply_err(req, refused);
    }
    ReplyEntry(req, p, name);
  });
}

// unlink: EPERM at the root; the policy (delete; EPERM under hold, EROFS closed); ENOENT.
void OpUnlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Guard(req, [&] {
    MatterFs* fs = Fs(req);
    Inode* p = In(req, parent);
    NameInDir n;
    int err = PrepareRemove(req, p, name, &n, audit::audit_events::kUnlink);
    if (err != 0) return (void)fuse_reply_err(req, err);
    PinVictim(fs, n.pfd->get(), n.stored.entry);
    if (::unlinkat(n.pfd->get(), n.stored.entry.c_str(), 0) != 0) {
      return (void)fuse_reply_err(req, errno);
    }
    n.view->dir.RemoveLongName(n.stored);
    fuse_reply_err(req, 0);
  });
}

// rmdir: EPERM at the root (matters are wiped, not removed); the policy (delete);
// ENOENT, ENOTDIR, ENOTEMPTY.
void OpRmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Guard(req, [&] {
    MatterFs* fs = Fs(req);
    Inode* p = In(req, parent);
    NameInDir n;
    int err = PrepareRemove(req, p, name, &n, audit::audit_events::kRmdir);
    if (err != 0) return (void)fuse_reply_err(req, err);
    auto doomed = vault::MoveEmptyDirAside(n.pfd->get(), n.stored.entry);
    if (!doomed.ok()) return Reply(req, doomed.error());
    n.view->dir.RemoveLongName(n.stored);
    if (Status s = doomed->Destroy(n.pfd->get()); !s.ok()) {
      log::Warning("rmdir " + log::Path(fs->inodes().PathOf(p) + "/" + name) + ": " +
                   s.error().message());
    }
    fuse_reply_err(req, 0);
  });
}

// rename: EPERM at the root; EXDEV across matters; EINVAL for unknown flags; the policy
// (delete on the source); ENOENT, EEXIST (RENAME_NOREPLACE), ENOTEMPTY, EISDIR, ENOTDIR.
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
    NameInDir from;
    int err = PrepareRemove(req, p, name, &from, audit::audit_events::kRename);
    if (err != 0) return (void)fuse_reply_err(req, err);
    const int pfd = from.pfd->get();
    const vault::StoredName& old_name = from.stored;
    NameInDir n;
    err = PrepareNew(req, np, newname, &n, nullptr);
    if (err != 0) return (void)fuse_reply_err(req, err);
    struct stat moved;
    if (::fstatat(pfd, old_name.entry.c_str(), &moved, AT_SYMLINK_NOFOLLOW) != 0) {
      return (void)fuse_reply_err(req, errno);
    }
    struct stat other;
    bool had_target =
        ::fstatat(n.pfd->get(), n.stored.entry.c_str(), &other, AT_SYMLINK_NOFOLLOW) == 0;
    if (had_target && !(flags & RENAME_EXCHANGE)) PinVictim(fs, n.pfd->get(), n.stored.entry);
    // Replacing an empty directory: the backing one still holds its .diriv, so move it
    // aside first (and back if the rename fails).
    vault::AsideDir replaced;
    if (had_target && !(flags & (RENAME_EXCHANGE | RENAME_NOREPLACE)) && S_ISDIR(moved.st_mode) &&
        S_ISDIR(other.st_mode) && moved.st_ino != other.st_ino) {
      auto aside = vault::MoveEmptyDirAside(n.pfd->get(), n.stored.entry);
      if (!aside.ok()) return Reply(req, aside.error());
      replaced = std::move(*aside);
    }
    // Format 3: a file's header names the entry it is stored under; the rename moves the
    // binding with it (both files of an exchange).
    auto do_rename = [&]() -> int {
      return ::renameat2(pfd, old_name.entry.c_str(), n.pfd->get(), n.stored.entry.c_str(),
                         flags) == 0
                 ? 0
                 : errno;
    };
    auto bind_for = [](const struct stat& st, const std::string& entry) {
      return st.st_nlink == 1 ? std::optional<std::string>(entry) : std::nullopt;
    };
    const vault::Keyring& ring = from.view->keys->keyring();
    Result<int> renamed = 0;
    if ((flags & RENAME_EXCHANGE) && had_target) {
      renamed = WithBinding(
          fs->files(), pfd, old_name.entry, moved, bind_for(moved, n.stored.entry), ring, [&] {
            auto inner = WithBinding(fs->files(), n.pfd->get(), n.stored.entry, other,
                                     bind_for(other, old_name.entry), ring, do_rename);
            return inner.ok() ? *inner : inner.error().ToErrno();
          });
    } else {
      renamed = WithBinding(fs->files(), pfd, old_name.entry, moved,
                            bind_for(moved, n.stored.entry), ring, do_rename);
    }
    if (!renamed.ok() || *renamed != 0) {
      replaced.Restore(n.pfd->get(), n.stored.entry);
      if (!renamed.ok()) return Reply(req, renamed.error());
      return (void)fuse_reply_err(req, *renamed);
    }
    if (Status s = replaced.Destroy(n.pfd->get()); !s.ok()) {
      log::Warning("rename over a directory: " + s.error().message());
    }
    const bool same = p == np && old_name.entry == n.stored.entry;
    if (!same && !(flags & RENAME_EXCHANGE)) from.view->dir.RemoveLongName(old_name);
    if (!same) {
      if (Inode* i = fs->inodes().Find(moved.st_dev, moved.st_ino)) {
        fs->inodes().Move(i, np, n.stored.entry, newname);
      }
      if ((flags & RENAME_EXCHANGE) && had_target) {
        if (Inode* i = fs->inodes().Find(other.st_dev, other.st_ino)) {
          fs->inodes().Move(i, p, old_name.entry, name);
        }
      }
    }
    fuse_reply_err(req, 0);
  });
}

// link: EPERM at the root; EXDEV across matters; the policy (write); EEXIST.
void OpLink(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname) {
  Guard(req, [&] {
    MatterFs* fs = Fs(req);
    Inode* inode = In(req, ino);
    Inode* np = In(req, newparent);
    if (IsRoot(fs, np)) return (void)fuse_reply_err(req, EPERM);
    if (inode->matter != np->matter) return (void)fuse_reply_err(req, EXDEV);
    auto fd = fs->inodes().Fd(inode);
    if (!fd.ok()) return Reply(req, fd.error(), inode);
    NameInDir n;
    int err = PrepareNew(req, np, newname, &n, audit::audit_events::kLink);
    if (err != 0) return (void)fuse_reply_err(req, err);
    // Format 3: a file with two names is bound to neither (its header is unbound first).
    struct stat st;
    if (::fstatat((*fd)->get(), "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0) {
      return (void)fuse_reply_err(req, errno);
    }
    auto linked = WithBinding(
        fs->files(), (*fd)->get(), "", st, std::nullopt, n.view->keys->keyring(), [&]() -> int {
          return ::linkat(AT_FDCWD, ProcPath((*fd)->get()).c_str(), n.pfd->get(),
                          n.stored.entry.c_str(), AT_SYMLINK_FOLLOW) == 0
                     ? 0
                     : errno;
        });
    if (!linked.ok()) return Reply(req, linked.error(), inode);
    if (*linked != 0) return (void)fuse_reply_err(req, *linked);
    ReplyEntry(req, np, newname);
  });
}

// statfs: the backing file system's figures, with our longest name.
void OpStatfs(fuse_req_t req, fuse_ino_t ino) {
  (void)ino;
  Guard(req, [&] {
    struct statvfs sv;
    if (::fstatvfs(Fs(req)->vault().data_fd(), &sv) != 0) return (void)fuse_reply_err(req, errno);
    sv.f_namemax = vault::kMaxPlainName;
    fuse_reply_statfs(req, &sv);
  });
}

}  // namespace matterfs::fuse
