#include "fs/fuse/matter_registry.h"

#include "fs/fuse/open_file.h"
#include "fs/vault/reencrypt.h"
#include "util/log.h"

namespace matterfs::fuse {

LoadedMatter::LoadedMatter(std::string name, std::string entry,
                           std::shared_ptr<const vault::Matter> keys)
    : name_(std::move(name)),
      entry_(std::move(entry)),
      id_(keys->info().id),
      status_(keys->keyring().status),
      keys_(std::move(keys)) {}

void LoadedMatter::TrackFile(const std::shared_ptr<FileState>& file) {
  std::lock_guard<std::mutex> g(files_mu_);
  // Forget the states that are gone, so the list stays as long as the open files.
  std::erase_if(files_, [](const std::weak_ptr<FileState>& w) { return w.expired(); });
  files_.push_back(file);
  if (evicted_) DropKeys(*file);  // raced with an eviction: it must not keep a key
}

void LoadedMatter::Swap(std::shared_ptr<const vault::Matter> keys) {
  if (evicted_) return;
  status_ = keys->keyring().status;
  keys_.store(std::move(keys));
}

void LoadedMatter::Evict() {
  evicted_ = true;
  keys_.store(nullptr);
  std::vector<std::shared_ptr<FileState>> open;
  {
    std::lock_guard<std::mutex> g(files_mu_);
    for (auto& w : files_) {
      if (auto f = w.lock()) open.push_back(std::move(f));
    }
    files_.clear();
  }
  for (auto& f : open) DropKeys(*f);
}

Result<std::shared_ptr<LoadedMatter>> MatterRegistry::Get(int matter_dirfd,
                                                          const std::string& entry,
                                                          const std::string& name) {
  auto wiped = [&] {
    return Error(Code::kNotFound, "matter '" + name + "' is being wiped", ENOENT);
  };
  {
    std::lock_guard<std::mutex> g(mu_);
    if (barred_.count(name) > 0) return wiped();
    auto it = by_entry_.find(entry);
    if (it != by_entry_.end()) return it->second;
  }
  MFS_ASSIGN(vault::MatterId id, vault_.ReadMatterBinding(matter_dirfd, name));
  if (vault::ReencryptLinksPending(matter_dirfd)) {
    // Its hard-linked names point at two copies: a write through one would be lost.
    return Error(Code::kBusy,
                 "matter '" + name +
                     "': a re-encryption was interrupted while relinking a hard-linked file; "
                     "run matterctl rotate --reencrypt on the vault to finish it",
                 EIO);
  }
  MFS_ASSIGN(vault::Keyring ring, LoadChecked(id, name));
  vault::MatterInfo info{name, id, ring.status, entry};
  std::shared_ptr<const vault::Matter> keys =
      vault::Matter::FromKeyring(std::move(info), std::move(ring));
  auto loaded = std::make_shared<LoadedMatter>(name, entry, std::move(keys));
  std::lock_guard<std::mutex> g(mu_);
  // A wipe may have started while the keyring was read.
  if (barred_.count(name) > 0) return wiped();
  auto [it, inserted] = by_entry_.emplace(entry, std::move(loaded));
  return it->second;
}

std::shared_ptr<LoadedMatter> MatterRegistry::Find(std::string_view name) {
  std::lock_guard<std::mutex> g(mu_);
  for (auto& [entry, m] : by_entry_) {
    if (m->name() == name) return m;
  }
  return nullptr;
}

std::vector<std::shared_ptr<LoadedMatter>> MatterRegistry::All() {
  std::lock_guard<std::mutex> g(mu_);
  std::vector<std::shared_ptr<LoadedMatter>> out;
  out.reserve(by_entry_.size());
  for (auto& [entry, m] : by_entry_) out.push_back(m);
  return out;
}

Result<vault::Keyring> MatterRegistry::LoadChecked(const vault::MatterId& id,
                                                   const std::string& name) {
  auto read = [&]() -> Result<vault::Keyring> {
    auto ring = vault_.LoadKeyring(id);
    if (ring.ok() || ring.error().code() != Code::kCorruption) return ring;
    return Error(Code::kCorruption, "matter '" + name + "': " + ring.error().message(), EIO);
  };
  // Raises the mark to `sequence` and returns true, or returns false and the mark.
  auto witness = [&](uint64_t sequence, uint64_t& high) {
    std::lock_guard<std::mutex> g(mu_);
    uint64_t& seen = seen_[id];
    if (sequence < seen) {
      high = seen;
      return false;
    }
    seen = sequence;
    return true;
  };
  uint64_t high = 0;
  MFS_ASSIGN(vault::Keyring ring, read());
  if (witness(ring.sequence, high)) return ring;
  // Another thread may have read (and marked) a newer keyring between our read and our
  // check: a keyring read now is at least as new, unless it was rolled back.
  MFS_ASSIGN(ring, read());
  if (witness(ring.sequence, high)) return ring;
  return Error(Code::kCorruption,
               "matter '" + name + "': keyring rolled back (sequence " +
                   std::to_string(ring.sequence) + ", this server has read sequence " +
                   std::to_string(high) + ")",
               EIO);
}

Status MatterRegistry::ReloadOne(LoadedMatter& m) {
  auto read = LoadChecked(m.id(), m.name());
  if (!read.ok()) {
    if (read.error().code() == Code::kCorruption && tamper_hook_) {
      tamper_hook_(m.name(), read.error());
    }
    return read.error();
  }
  vault::Keyring ring = std::move(read).value();
  auto current = m.keys();
  if (!current) return {};
  if (ring.sequence == current->keyring().sequence) {
    m.set_status(ring.status);
    return {};
  }
  vault::MatterInfo info = current->info();
  info.status = ring.status;
  m.Swap(vault::Matter::FromKeyring(std::move(info), std::move(ring)));
  return {};
}

void MatterRegistry::Refresh() {
  for (auto& m : All()) {
    Status st = ReloadOne(*m);
    if (!st.ok() && st.error().code() == Code::kNotFound) {
      // The keyring is gone: the matter was wiped (by another server or offline).
      log::Notice("matter '" + m->name() + "': its keyring is gone; evicted");
      Evict(m->name());
    } else if (!st.ok()) {
      log::Warning("matter '" + m->name() + "': keyring not re-read: " + st.error().message());
    }
  }
}

Status MatterRegistry::Reload(std::string_view name) {
  auto m = Find(name);
  if (!m) return {};
  return ReloadOne(*m);
}

void MatterRegistry::Evict(std::string_view name) {
  std::shared_ptr<LoadedMatter> m;
  {
    std::lock_guard<std::mutex> g(mu_);
    for (auto it = by_entry_.begin(); it != by_entry_.end(); ++it) {
      if (it->second->name() == name) {
        m = it->second;
        by_entry_.erase(it);
        break;
      }
    }
  }
  if (!m) return;
  m->Evict();
  if (evict_hook_) evict_hook_(m);
}

void MatterRegistry::Bar(std::string_view name) {
  {
    std::lock_guard<std::mutex> g(mu_);
    barred_.emplace(name);
  }
  Evict(name);
}

void MatterRegistry::Unbar(std::string_view name) {
  std::lock_guard<std::mutex> g(mu_);
  auto it = barred_.find(name);
  if (it != barred_.end()) barred_.erase(it);
}

bool MatterRegistry::Barred(std::string_view name) {
  std::lock_guard<std::mutex> g(mu_);
  return barred_.count(name) > 0;
}

}  // namespace matterfs::fuse
