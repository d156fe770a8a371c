// The inode table of the FUSE adapter: one Inode per backing inode the kernel remembers.
//
// Like libfuse's passthrough_hp, an Inode is keyed by the backing (st_dev, st_ino), so
// hard links share one Inode, and it reports the backing st_ino, so inode numbers survive
// the kernel forgetting an inode. Unlike it, an Inode does not pin an O_PATH fd for its
// whole life: fds are opened on demand and closed again by Trim() once more than a limit
// are open, and reopened later through the parent's fd and the stored entry name (checked
// against st_ino). Inodes that cannot be reopened by name (unlinked, or whose name was
// removed while other links remain), open files and directories with live children keep
// their fds.
//
// Lock order: table mutex_, then an Inode::mu, then fd_list_mu_; never the other way
// round; no lock is held across a fuse_reply_*. Parent pointers hold a reference (children) on the
// parent.
#pragma once

#include <sys/stat.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "fs/fuse/matter_registry.h"
#include "fs/vault/names.h"
#include "util/result.h"
#include "util/unique_fd.h"

namespace matterfs::fuse {

struct FileState;  // open_file.h

using SharedFd = std::shared_ptr<UniqueFd>;

struct Inode {
  Inode(dev_t d, ino_t i, mode_t t) : dev(d), ino(i), type(t) {}
  const dev_t dev;
  const ino_t ino;
  const mode_t type;  // S_IFMT bits

  // Guarded by the table mutex:
  Inode* parent = nullptr;
  std::string entry;  // the backing entry name in parent
  std::string name;   // plaintext name, for log lines
  uint64_t nlookup = 0;
  uint32_t children = 0;
  bool pinned = false;  // fd must never be closed (root, matters, unnamed inodes)

  std::shared_ptr<LoadedMatter> matter;  // set at creation, never changes (null: the root)
  bool matter_root = false;              // a matter's top directory (set at creation)

  // Guarded by mu:
  std::mutex mu;
  SharedFd fd;
  std::optional<vault::DirIv> iv;
  std::shared_ptr<FileState> file;
  std::atomic<uint64_t> last_use{0};

  // Guarded by InodeTable::fd_list_mu_: the list of inodes that hold an fd, so that
  // Trim looks at those (a few thousand) rather than every remembered inode (millions).
  Inode* fd_prev = nullptr;
  Inode* fd_next = nullptr;
  bool in_fd_list = false;
};

class InodeTable {
 public:
  InodeTable(UniqueFd root_fd, size_t max_fds);

  Inode* root() { return &root_; }

  // Finds or inserts the inode for `st`, reached as parent/entry; takes one lookup
  // reference (the caller replies with an entry, or calls Forget on failure).
  Inode* Insert(Inode* parent, const std::string& entry, const std::string& name,
                const struct stat& st, UniqueFd fd, std::shared_ptr<LoadedMatter> matter);
  // Looks up an inode by backing identity (no reference taken).
  Inode* Find(dev_t dev, ino_t ino);
  // The open-file state of the inode with this backing identity, if it is open (the
  // state stays valid for as long as the caller holds it, whatever happens to the inode).
  std::shared_ptr<FileState> FileOf(dev_t dev, ino_t ino);
  void Forget(Inode* inode, uint64_t n);

  // The inode's O_PATH fd, reopening it if it was closed.
  Result<SharedFd> Fd(Inode* inode);
  // Records a rename: the inode now lives at new_parent/entry.
  void Move(Inode* inode, Inode* new_parent, const std::string& entry, const std::string& name);
  // The inode's name is gone (unlink, or replaced by a rename): keep its fd for good.
  void Pin(Inode* inode);
  // The inode's backing entry name in its parent (empty for the root); "" once pinned
  // (unlinked: it has no name).
  std::string EntryOf(Inode* inode);
  // A path for log lines: "matter/dir/file".
  std::string PathOf(Inode* inode);
  // The same into `out` (no allocation once `out` has the capacity); returns the names
  // generation it was read in.
  uint64_t PathInto(Inode* inode, std::string& out);
  // Bumped by every change to a parent or a name (rename, a new link's name): a path
  // read in generation g is still the inode's path while names_generation() == g.
  uint64_t names_generation() const { return names_generation_.load(std::memory_order_acquire); }

  // Closes fds of idle inodes when more than max_fds are open.
  void Trim();
  // The inodes that belong to `matter` (no reference taken: use them only to notify the
  // kernel, by value).
  std::vector<Inode*> InodesOf(const LoadedMatter* matter);
  // Backing fds held now and inodes remembered (the root not counted in either).
  size_t open_fds() const { return open_fds_.load(); }
  size_t size();

 private:
  void ReleaseLocked(Inode* inode);
  // Sets or drops an inode's fd (caller holds inode->mu) and keeps the fd list in step.
  void AttachFdLocked(Inode* inode, UniqueFd fd);
  void DetachFdLocked(Inode* inode);
  struct Key {
    dev_t dev;
    ino_t ino;
    bool operator==(const Key& o) const { return dev == o.dev && ino == o.ino; }
  };
  struct KeyHash {
    size_t operator()(const Key& k) const {
      return std::hash<uint64_t>()(k.ino ^ (uint64_t(k.dev) << 48));
    }
  };

  std::mutex mutex_;
  Inode root_;
  std::unordered_map<Key, std::unique_ptr<Inode>, KeyHash> map_;
  std::mutex fd_list_mu_;
  Inode* fd_list_ = nullptr;  // head of the list of inodes holding an fd
  std::atomic<size_t> open_fds_{0};
  std::atomic<uint64_t> clock_{0};
  std::atomic<uint64_t> names_generation_{1};  // changed under mutex_
  const size_t max_fds_;
};

}  // namespace matterfs::fuse
