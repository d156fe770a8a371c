// The daemon's loaded matters, and how they change while FUSE operations run on them.
//
// A LoadedMatter is shared (shared_ptr) by the registry, every inode inside the matter
// and every open file. Its keys (keyring and name codec, an immutable vault::Matter) are
// an atomic shared_ptr: an operation takes one snapshot with keys() and uses it to the
// end, so a swap never changes keys under a running operation and a snapshot keeps the
// old keys alive until that operation is done (RCU-like; no lock is held across a reply).
//
//   Swap (after a rotation): new files take the new current key version at once; open
//   files keep their unwrapped data keys (a rewrap does not change them), so no handle
//   breaks.
//   Evict (after a wipe): keys() returns null from then on, every tracked open file drops
//   its data key, lookups inside the matter answer ENOENT and handles EIO; the matter
//   leaves the registry, so a later lookup of its name goes to the vault (and finds
//   nothing once the wipe removed it).
//
// Thread-safety: every method may be called from any thread. Lock order: the registry's
// mu_, then a LoadedMatter's files_mu_, then a FileState's lock (never the reverse).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "fs/vault/matter.h"
#include "fs/vault/vault.h"
#include "util/result.h"

namespace matterfs::fuse {

struct FileState;

class LoadedMatter {
 public:
  LoadedMatter(std::string name, std::string entry, std::shared_ptr<const vault::Matter> keys);

  const std::string& name() const { return name_; }
  const std::string& entry() const { return entry_; }
  const vault::MatterId& id() const { return id_; }
  vault::MatterStatus status() const { return status_.load(); }
  void set_status(vault::MatterStatus s) { status_ = s; }

  // The current keys; null once the matter is evicted.
  std::shared_ptr<const vault::Matter> keys() const { return keys_.load(); }
  bool evicted() const { return evicted_.load(); }

  // An open file of this matter, so that an eviction can drop its data key.
  void TrackFile(const std::shared_ptr<FileState>& file);

 private:
  friend class MatterRegistry;
  void Swap(std::shared_ptr<const vault::Matter> keys);
  void Evict();

  const std::string name_;
  const std::string entry_;
  const vault::MatterId id_;
  std::atomic<vault::MatterStatus> status_;
  std::atomic<std::shared_ptr<const vault::Matter>> keys_;
  std::atomic<bool> evicted_{false};
  std::mutex files_mu_;
  std::vector<std::weak_ptr<FileState>> files_;
};

class MatterRegistry {
 public:
  explicit MatterRegistry(const vault::Vault& vault) : vault_(vault) {}

  // The loaded matter whose directory is `entry` in the data directory (opened as
  // matter_dirfd), loading it on first use: its .matter binding is checked against
  // `name` and its keyring read. kCorruption, kNotFound from the vault.
  Result<std::shared_ptr<LoadedMatter>> Get(int matter_dirfd, const std::string& entry,
                                            const std::string& name);
  // A loaded matter by name (null if not loaded).
  std::shared_ptr<LoadedMatter> Find(std::string_view name);
  std::vector<std::shared_ptr<LoadedMatter>> All();

  // Re-reads the keyring of every loaded matter: a changed status is applied, and a
  // keyring with a new sequence number (a rotation, by this or another process) is
  // swapped in. Keyrings that cannot be read keep the keys and status in memory (and are
  // logged; a corrupt or rolled-back one also goes to the tamper hook).
  //
  // Every keyring read here and by Get is checked against the highest sequence this
  // registry has seen for the matter in the daemon's life (kept across evictions): a
  // lower one is refused, kCorruption "rolled back", even when the vault's key table
  // agrees with it (a whole keystore put back from a backup while the daemon runs).
  void Refresh();
  // Re-reads one matter's keyring now and swaps it in (after an online rotation).
  Status Reload(std::string_view name);
  // Evicts a matter (after a wipe). No-op if it is not loaded.
  void Evict(std::string_view name);
  // A wipe of the matter starts: evicts it and refuses to load it again (Get: kNotFound,
  // ENOENT) until Unbar, so that no lookup loads it back while its keys are still on disk.
  void Bar(std::string_view name);
  void Unbar(std::string_view name);
  bool Barred(std::string_view name);
  // Called (outside the registry's lock) with every matter evicted, by Evict or by
  // Refresh: the daemon drops the kernel's caches of it.
  void SetEvictHook(std::function<void(const std::shared_ptr<LoadedMatter>&)> hook) {
    evict_hook_ = std::move(hook);
  }
  // Called (outside the registry's lock) with a matter name and a kCorruption error
  // found by Refresh or Reload (Get's errors go to its caller): the daemon raises a
  // tamper event.
  void SetTamperHook(std::function<void(const std::string&, const Error&)> hook) {
    tamper_hook_ = std::move(hook);
  }

 private:
  Status ReloadOne(LoadedMatter& m);
  // The keyring of matter `id`, read from the vault and checked against (then raising)
  // the high-water mark in seen_.
  Result<vault::Keyring> LoadChecked(const vault::MatterId& id, const std::string& name);
  const vault::Vault& vault_;
  std::mutex mu_;
  std::map<vault::MatterId, uint64_t> seen_;  // highest keyring sequence read, per matter
  std::map<std::string, std::shared_ptr<LoadedMatter>, std::less<>> by_entry_;
  std::set<std::string, std::less<>> barred_;  // names of matters being wiped
  std::function<void(const std::shared_ptr<LoadedMatter>&)> evict_hook_;  // set before use
  std::function<void(const std::string&, const Error&)> tamper_hook_;     // set before use
};

}  // namespace matterfs::fuse
