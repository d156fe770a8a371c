// The FUSE adapter: libfuse low-level operations over an unlocked vault.
//
// MatterFs owns the inode table and the loaded matters and implements every
// fuse_lowlevel_ops callback. Each callback runs inside one noexcept dispatcher that turns
// std::bad_alloc into ENOMEM and any other exception into EIO (and a log line), and
// replies exactly once. Callbacks run concurrently on libfuse's worker threads; see
// inode_table.h for the locking rules. Errors map through Error::ToErrno in one place.
// Only this folder includes <fuse_lowlevel.h>.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "fs/control/protocol.h"
#include "fs/control/server.h"
#include "fs/fuse/access.h"
#include "fs/fuse/inode_table.h"
#include "fs/vault/vault.h"

struct fuse_lowlevel_ops;

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
  MatterFs(std::unique_ptr<vault::Vault> vault, std::unique_ptr<AccessControl> access,
           size_t max_fds);
  ~MatterFs();

  static const fuse_lowlevel_ops& Ops();

  vault::Vault& vault() { return *vault_; }
  InodeTable& inodes() { return inodes_; }
  AccessControl& access() { return *access_; }

  // The status of a matter by name (loaded matters from memory, others from the vault).
  vault::MatterStatus MatterStatusByName(const std::string& name);
  // Re-reads the status of every loaded matter from its keyring.
  void RefreshStatus();
  // The control socket's requests (status, break-glass, matter status, reload).
  control::Response HandleControl(const control::Request& req, const control::Peer& peer);

  // Loads (once) the matter whose directory entry is `entry` in the data directory.
  Result<std::shared_ptr<MatterCtx>> LoadMatter(int matter_fd, const std::string& entry,
                                                const std::string& name);
  // A tamper or corruption event: logged with the file and block.
  void ReportTamper(Inode* inode, const Error& error);

 private:
  std::unique_ptr<vault::Vault> vault_;
  std::unique_ptr<AccessControl> access_;
  InodeTable inodes_;
  std::mutex matters_mu_;
  std::unordered_map<std::string, std::shared_ptr<MatterCtx>> matters_;  // by entry
};

// Loads the policy, starts the audit trail and the control socket, mounts, and serves
// until unmounted or signalled. Returns the process exit code. `ready` is called once
// everything is up (the daemon's parent then exits 0 and the child detaches); errors
// before that are printed on stderr and returned.
int Serve(std::unique_ptr<vault::Vault> vault, const MountOptions& opts,
          const std::function<void()>& ready);

}  // namespace matterfs::fuse
