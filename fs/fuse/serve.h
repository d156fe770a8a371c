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
int Serve(std::unique_ptr<vault::Vault> vault, const MountOptions& opts, const ServeHooks& hooks);

}  // namespace matterfs::fuse
