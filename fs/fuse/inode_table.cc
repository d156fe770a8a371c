#include "fs/fuse/inode_table.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <vector>

#include "fs/fuse/open_file.h"

namespace matterfs::fuse {

InodeTable::InodeTable(UniqueFd root_fd, size_t max_fds) : root_(0, 0, S_IFDIR), max_fds_(max_fds) {
  struct stat st;
  if (::fstat(root_fd.get(), &st) == 0) {
    const_cast<dev_t&>(root_.dev) = st.st_dev;
    const_cast<ino_t&>(root_.ino) = st.st_ino;
  }
  root_.fd = std::make_shared<UniqueFd>(std::move(root_fd));
  root_.pinned = true;
  root_.nlookup = 1;
}

void InodeTable::AttachFdLocked(Inode* inode, UniqueFd fd) {
  inode->fd = std::make_shared<UniqueFd>(std::move(fd));
  open_fds_++;
  if (inode == &root_) return;
  std::lock_guard<std::mutex> g(fd_list_mu_);
  inode->fd_prev = nullptr;
  inode->fd_next = fd_list_;
  if (fd_list_ != nullptr) fd_list_->fd_prev = inode;
  fd_list_ = inode;
  inode->in_fd_list = true;
}

void InodeTable::DetachFdLocked(Inode* inode) {
  if (!inode->fd) return;
  inode->fd.reset();  // closes once the last user's copy is dropped
  open_fds_--;
  std::lock_guard<std::mutex> g(fd_list_mu_);
  if (!inode->in_fd_list) return;
  if (inode->fd_prev != nullptr) inode->fd_prev->fd_next = inode->fd_next;
  if (inode->fd_next != nullptr) inode->fd_next->fd_prev = inode->fd_prev;
  if (fd_list_ == inode) fd_list_ = inode->fd_next;
  inode->fd_prev = inode->fd_next = nullptr;
  inode->in_fd_list = false;
}

Inode* InodeTable::Insert(Inode* parent, const std::string& entry, const std::string& name,
                          const struct stat& st, UniqueFd fd,
                          std::shared_ptr<LoadedMatter> matter) {
  Inode* inode = nullptr;
  {
    std::lock_guard<std::mutex> g(mutex_);
    auto it = map_.find({st.st_dev, st.st_ino});
    if (it != map_.end()) {
      inode = it->second.get();
      inode->nlookup++;
      if (inode->parent != parent || inode->entry != entry) {
        // Another hard link, or a name we had not seen: remember the newest.
        parent->children++;
        if (inode->parent != nullptr) ReleaseLocked(inode->parent);
        inode->parent = parent;
        inode->entry = entry;
        inode->name = name;
        names_generation_.fetch_add(1, std::memory_order_release);
      }
    } else {
      auto owned = std::make_unique<Inode>(st.st_dev, st.st_ino, st.st_mode & S_IFMT);
      inode = owned.get();
      inode->parent = parent;
      parent->children++;
      inode->entry = entry;
      inode->name = name;
      inode->nlookup = 1;
      inode->matter = std::move(matter);
      inode->matter_root = parent == &root_;
      map_.emplace(Key{st.st_dev, st.st_ino}, std::move(owned));
    }
    if (fd.valid()) {
      std::lock_guard<std::mutex> ig(inode->mu);
      if (!inode->fd) AttachFdLocked(inode, std::move(fd));
      inode->last_use = ++clock_;
    }
  }
  Trim();
  return inode;
}

Inode* InodeTable::Find(dev_t dev, ino_t ino) {
  std::lock_guard<std::mutex> g(mutex_);
  auto it = map_.find({dev, ino});
  return it == map_.end() ? nullptr : it->second.get();
}

std::shared_ptr<FileState> InodeTable::FileOf(dev_t dev, ino_t ino) {
  std::lock_guard<std::mutex> g(mutex_);
  auto it = map_.find(Key{dev, ino});
  if (it == map_.end()) return nullptr;
  std::lock_guard<std::mutex> ig(it->second->mu);
  return it->second->file;
}

void InodeTable::ReleaseLocked(Inode* inode) {
  // Drops one child reference; frees inodes nobody remembers any more, up the tree.
  while (inode != nullptr && inode != &root_) {
    inode->children--;
    if (inode->nlookup != 0 || inode->children != 0) return;
    Inode* parent = inode->parent;
    {
      std::lock_guard<std::mutex> ig(inode->mu);
      DetachFdLocked(inode);
    }
    map_.erase({inode->dev, inode->ino});
    inode = parent;
  }
  if (inode == &root_) root_.children--;
}

void InodeTable::Forget(Inode* inode, uint64_t n) {
  if (inode == &root_) return;
  std::lock_guard<std::mutex> g(mutex_);
  inode->nlookup -= std::min(n, inode->nlookup);
  if (inode->nlookup != 0 || inode->children != 0) return;
  Inode* parent = inode->parent;
  {
    std::lock_guard<std::mutex> ig(inode->mu);
    DetachFdLocked(inode);
  }
  map_.erase({inode->dev, inode->ino});
  if (parent != nullptr) ReleaseLocked(parent);
}

Result<SharedFd> InodeTable::Fd(Inode* inode) {
  {
    std::lock_guard<std::mutex> ig(inode->mu);
    if (inode->fd) {
      inode->last_use = ++clock_;
      return inode->fd;
    }
  }
  Inode* parent;
  std::string entry;
  {
    std::lock_guard<std::mutex> g(mutex_);
    parent = inode->parent;
    entry = inode->entry;
    if (parent == nullptr) return Error(Code::kIo, "inode has no parent", ESTALE);
    parent->children++;  // keeps the parent alive while we use it
  }
  auto release = [&] {
    std::lock_guard<std::mutex> g(mutex_);
    ReleaseLocked(parent);
  };
  auto pfd = Fd(parent);
  if (!pfd.ok()) {
    release();
    return pfd.error();
  }
  UniqueFd fd(::openat((*pfd)->get(), entry.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) {
    int err = errno;
    release();
    return Error(Code::kIo, "reopen inode", err == ENOENT ? ESTALE : err);
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0 || st.st_ino != inode->ino || st.st_dev != inode->dev) {
    release();
    return Error(Code::kIo, "inode was replaced", ESTALE);
  }
  SharedFd out;
  {
    std::lock_guard<std::mutex> ig(inode->mu);
    if (!inode->fd) AttachFdLocked(inode, std::move(fd));
    inode->last_use = ++clock_;
    out = inode->fd;
  }
  release();
  Trim();
  return out;
}

void InodeTable::Move(Inode* inode, Inode* new_parent, const std::string& entry,
                      const std::string& name) {
  std::lock_guard<std::mutex> g(mutex_);
  new_parent->children++;
  Inode* old = inode->parent;
  inode->parent = new_parent;
  inode->entry = entry;
  inode->name = name;
  names_generation_.fetch_add(1, std::memory_order_release);
  if (old != nullptr) ReleaseLocked(old);
}

void InodeTable::Pin(Inode* inode) {
  std::lock_guard<std::mutex> g(mutex_);
  inode->pinned = true;
}

std::string InodeTable::PathOf(Inode* inode) {
  std::string path;
  PathInto(inode, path);
  return path;
}

std::string InodeTable::EntryOf(Inode* inode) {
  std::lock_guard<std::mutex> g(mutex_);
  return inode->entry;
}

uint64_t InodeTable::PathInto(Inode* inode, std::string& out) {
  std::lock_guard<std::mutex> g(mutex_);
  // The names from the inode up (a path deeper than this is cut at the top, with "./..").
  constexpr size_t kMaxDepth = 256;
  std::array<const std::string*, kMaxDepth> names;
  size_t depth = 0;
  Inode* i = inode;
  for (; i != nullptr && i != &root_ && depth < kMaxDepth; i = i->parent) names[depth++] = &i->name;
  out.clear();
  if (i != nullptr && i != &root_) out = "...";
  for (size_t k = depth; k-- > 0;) {
    if (!out.empty()) out += '/';
    out += *names[k];
  }
  return names_generation_.load(std::memory_order_relaxed);
}

std::vector<Inode*> InodeTable::InodesOf(const LoadedMatter* matter) {
  std::lock_guard<std::mutex> g(mutex_);
  std::vector<Inode*> out;
  for (auto& [key, inode] : map_) {
    if (inode->matter.get() == matter) out.push_back(inode.get());
  }
  return out;
}

size_t InodeTable::size() {
  std::lock_guard<std::mutex> g(mutex_);
  return map_.size();
}

void InodeTable::Trim() {
  if (open_fds_ <= max_fds_) return;
  std::unique_lock<std::mutex> g(mutex_, std::try_to_lock);
  if (!g.owns_lock()) return;  // someone else is trimming
  // Holding the table mutex keeps every listed inode alive (erasure needs it).
  std::vector<std::pair<uint64_t, Inode*>> idle;
  {
    std::lock_guard<std::mutex> lg(fd_list_mu_);
    for (Inode* i = fd_list_; i != nullptr; i = i->fd_next) {
      if (i->pinned || i->children != 0) continue;
      idle.emplace_back(i->last_use.load(), i);
    }
  }
  std::sort(idle.begin(), idle.end());
  const size_t target = max_fds_ * 3 / 4;
  for (auto& [use, inode] : idle) {
    if (open_fds_ <= target) break;
    std::unique_lock<std::mutex> ig(inode->mu, std::try_to_lock);
    if (!ig.owns_lock() || !inode->fd || inode->file) continue;
    DetachFdLocked(inode);
  }
}

}  // namespace matterfs::fuse
