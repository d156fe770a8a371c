// MatterFs: the FUSE adapter's state over an unlocked vault, and its operation table.
//
// Owns the vault, the access control (policy and audit trail), the inode table and the
// registry of loaded matters. The operations themselves live by concern in
// entry_ops.cc, file_ops.cc, dir_ops.cc and xattr_ops.cc, all run through the dispatch
// boundary (dispatch.h); their shared helpers are in ops.h. Callbacks run concurrently
// on libfuse's worker threads; locking rules are in inode_table.h, open_file.h and
// matter_registry.h. The daemon (fs/) drives everything else (control socket, signals).
// Thread-safety: every public method may be called from any thread.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "fs/fuse/access.h"
#include "fs/fuse/inode_table.h"
#include "fs/fuse/matter_registry.h"
#include "fs/fuse/open_file.h"
#include "fs/vault/vault.h"

struct fuse_lowlevel_ops;
struct fuse_session;

namespace matterfs::fuse {

struct MountOptions {
  std::string mountpoint;
  bool foreground = false;
  bool debug = false;
  std::string fuse_options;    // passed to libfuse as -o (allow_other, ro, ...)
  size_t max_fds = 0;          // 0: derived from RLIMIT_NOFILE
  AccessOptions access;        // policy, audit
  std::string control_socket;  // "" = control::DefaultSocketPath(mountpoint)
};

class MatterFs {
 public:
  // `shared`: other daemons (file servers) serve the same vault at once (-o shared).
  MatterFs(std::unique_ptr<vault::Vault> vault, std::unique_ptr<AccessControl> access,
           size_t max_fds, bool shared = false);
  ~MatterFs();

  static const fuse_lowlevel_ops& Ops();

  vault::Vault& vault() { return *vault_; }
  InodeTable& inodes() { return inodes_; }
  AccessControl& access() { return *access_; }
  MatterRegistry& matters() { return matters_; }
  // Other daemons may change the vault under us: no caching across requests, and every
  // file access locks the backing file and re-reads its size (docs/MATTERFS.md).
  bool shared() const { return shared_; }
  // Users other than the mounting one reach the mount (-o allow_other or allow_root):
  // the kernel's caches are shared between them, so the matters at the root are looked
  // up afresh on every path walk. Set before the session starts.
  bool multi_user() const { return multi_user_; }
  void set_multi_user(bool on) { multi_user_ = on; }
  // -o noxattr: no extended attributes (every call fails with EOPNOTSUPP).
  bool no_xattr() const { return no_xattr_; }
  void set_no_xattr(bool on) { no_xattr_ = on; }
  // -o require_owner: a new file, directory or link that cannot be given to the user who
  // creates it is removed again and the create fails (ChownNew).
  bool require_owner() const { return require_owner_; }
  void set_require_owner(bool on) { require_owner_ = on; }
  // What the open-file functions need (open_file.h).
  FileContext files() { return {inodes_, matters_, vault_->file_format(), shared_}; }

  // The status of a matter by name (loaded matters from memory, others from the vault);
  // nullopt when the vault cannot open it (no keyring: wiped elsewhere; damaged: a
  // .matter binding or keyring that fails its checks also raises a tamper event).
  std::optional<vault::MatterStatus> MatterStatusByName(const std::string& name);

  // The session, once created (for cache invalidation).
  void set_session(fuse_session* se) { session_.store(se); }
  // Evicts a matter (a wipe): keys dropped, open handles fail, and the kernel forgets
  // every cached page, attribute and name of it, so nothing of it is served from cache.
  void EvictMatter(std::string_view name) { matters_.Evict(name); }
  // After a policy reload: on a mount whose root entries the kernel caches (one user),
  // drops them, so that the next path walk asks the new policy at once.
  void ForgetRootEntries();

  // A tamper or corruption finding: an alert event naming the file (and block) and a
  // log line.
  void ReportTamper(Inode* inode, const Error& error);
  // A tamper finding about an entry of directory `dir` (a name, a side file, an IV).
  void ReportTamperIn(Inode* dir, const std::string& entry, const Error& error);
  // A tamper finding about matter `name` as a whole (its .matter binding, its keyring:
  // damaged or rolled back), found at the root, where no inode of it may exist yet.
  void ReportMatterTamper(const std::string& name, const Error& error);

 private:
  std::unique_ptr<vault::Vault> vault_;
  std::unique_ptr<AccessControl> access_;
  InodeTable inodes_;
  MatterRegistry matters_;
  std::atomic<fuse_session*> session_{nullptr};
  const bool shared_;
  bool multi_user_ = true;  // the safe default until serve.cc has read the mount options
  bool no_xattr_ = false;
  bool require_owner_ = false;
};

}  // namespace matterfs::fuse
