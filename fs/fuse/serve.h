// Serve: mounts an unlocked vault and runs the FUSE session until it is unmounted or the
// daemon is signalled (SIGINT/SIGTERM end it cleanly; SIGHUP reloads the policy).
#pragma once

#include <functional>
#include <memory>

#include "fs/fuse/matterfs_fs.h"
#include "util/result.h"

namespace matterfs::fuse {

struct ServeHooks {
  // Once the filesystem object exists, before mounting: the daemon starts its services
  // (the control socket). An error refuses the mount (printed, exit code from it).
  std::function<Status(MatterFs&)> start;
  // Everything is up: the daemon's parent may exit 0 and the child detach (or, under
  // systemd, the daemon says READY=1).
  std::function<void()> ready;
  // The session is ending (unmount, SIGTERM or SIGINT), before the unmount: the daemon
  // tells systemd it is stopping.
  std::function<void()> stopping;
  // The session ended, before the filesystem object goes away.
  std::function<void()> stop;
};

// Loads the policy, starts the audit trail, mounts, and serves. Returns the process exit
// code (util/exit_codes.h); errors before `ready` are logged on stderr.
// `premounted_fd` >= 0: the mount exists already (PreMount, in another process) and this
// is its /dev/fuse descriptor: it is served (libfuse's /dev/fd/N) instead of mounting,
// and detached from opts.mountpoint at the end (the service's ExecStopPost= unmounts it
// where the daemon cannot, outside its mount namespace). Serve takes the descriptor.
int Serve(std::unique_ptr<vault::Vault> vault, const MountOptions& opts, const ServeHooks& hooks,
          int premounted_fd = -1);

// Mounts opts.mountpoint as the mount of `vault_path` with opts.fuse_options, exactly as
// Serve would, without serving it, and calls hand_over with the mount's /dev/fuse
// descriptor (systemd's file descriptor store keeps it for the daemon; see
// docs/OPERATIONS.md). The mount answers nobody until a daemon serves the descriptor:
// whoever looks at it waits. Returns the exit code; on a failed hand_over it unmounts.
int PreMount(const std::string& vault_path, const MountOptions& opts,
             const std::function<bool(int fd)>& hand_over);

}  // namespace matterfs::fuse
