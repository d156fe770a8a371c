// Directory operations: listings (ops.h). A listing is read whole at opendir (names
// decrypted once) and served from the handle.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "fs/fuse/ops.h"

namespace matterfs::fuse {

namespace {

struct ListedEntry {
  std::string name;
  ino_t ino;
  unsigned char type;
};
struct DirHandle {
  std::vector<ListedEntry> entries;
};

DirHandle* DirHandleOf(fuse_file_info* fi) { return reinterpret_cast<DirHandle*>(fi->fh); }

void DoReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi,
               bool plus) {
  Guard(req, [&] {
    DirHandle* h = DirHandleOf(fi);
    Inode* dir = In(req, ino);
    std::vector<char> buf(size);
    size_t pos = 0;
    for (size_t i = static_cast<size_t>(off); i < h->entries.size(); ++i) {
      const ListedEntry& e = h->entries[i];
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
          if (err != 0) continue;  // vanished since opendir: skip it
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

}  // namespace

// opendir: the policy's read decision inside a matter; EIO for a directory IV that is
// missing or damaged (tamper event). Names that do not decode are left out of the
// listing, each with a tamper event naming the directory and the entry. At the root,
// matters the caller may not see are left out.
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
    if (!pfd.ok()) return Reply(req, pfd.error(), dir);
    UniqueFd dfd(::openat((*pfd)->get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dfd.valid()) return (void)fuse_reply_err(req, errno);
    auto view = DirOf(fs, dir, dfd.get());
    if (!view.ok()) return Reply(req, view.error(), dir);
    auto handle = std::make_unique<DirHandle>();
    // glibc skips entries with d_ino 0, so "." and ".." carry real inode numbers.
    ino_t parent_ino = fs->inodes().root()->ino;
    {
      struct stat up;
      if (::fstatat(dfd.get(), "..", &up, 0) == 0) parent_ino = up.st_ino;
    }
    handle->entries.push_back({".", dir->ino, DT_DIR});
    handle->entries.push_back({"..", root ? dir->ino : parent_ino, DT_DIR});
    const Caller caller = CallerOf(req);
    Status listed = view->dir.List([&](vault::DirEntry& e) {
      if (!e.name.ok()) {
        fs->ReportTamperIn(dir, e.entry, e.name.error());
        return;
      }
      if (root) {
        // Matters the caller may not see are left out of the listing.
        // Matters the vault cannot open (wiped elsewhere, damaged) are left out too.
        auto status = fs->MatterStatusByName(*e.name);
        if (!status || !fs->access().Visible(caller, *e.name, PolicyStatusOf(*status))) return;
      }
      handle->entries.push_back({std::move(*e.name), e.ino, e.type});
    });
    if (!listed.ok()) return Reply(req, listed.error(), dir);
    fi->cache_readdir = 0;
    fi->fh = reinterpret_cast<uint64_t>(handle.get());
    if (fuse_reply_open(req, fi) != -ENOENT) (void)handle.release();  // OpReleasedir frees it
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
  std::unique_ptr<DirHandle> h(DirHandleOf(fi));
  fuse_reply_err(req, 0);
}

// fsyncdir: the backing fsync's errno.
void OpFsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi) {
  (void)fi;
  (void)datasync;
  Guard(req, [&] {
    auto fd = Fs(req)->inodes().Fd(In(req, ino));
    if (!fd.ok()) return Reply(req, fd.error());
    UniqueFd d(::openat((*fd)->get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    fuse_reply_err(req, d.valid() && ::fsync(d.get()) == 0 ? 0 : errno);
  });
}

}  // namespace matterfs::fuse
