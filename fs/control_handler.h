// The daemon's answers to the control socket (docs/CONTROL.md): status, break-glass,
// matter status changes, policy reloads, rotations and wipes, for the peer the socket
// identified.
//
// Every request is decided by the policy before anything is looked up, so a caller the
// policy does not admit gets the same answer whether a matter exists or not, and learns
// nothing else; each refusal is an audit event. Status changes go through the vault
// library's matter administration (fs/vault/admin.h), the same function matterctl runs
// offline, and the daemon's registry is updated before the reply.
// Thread-safety: Handle may run on any thread (the control server runs several).
#pragma once
#include <chrono>
#include <mutex>
#include <string>

#include "fs/control/protocol.h"
#include "fs/control/server.h"
#include "fs/fuse/matterfs_fs.h"
#include "fs/vault/rotation.h"
#include "fs/vault/wipe.h"

namespace matterfs::daemon {

class ControlHandler {
 public:
  explicit ControlHandler(fuse::MatterFs& fs) : fs_(fs) {}
  control::Response Handle(const control::Request& req, const control::Peer& peer);

 private:
  control::Response ShowStatus(const fuse::Caller& caller);
  control::Response BreakGlass(const control::Request& req, const fuse::Caller& caller);
  control::Response ChangeStatus(const control::Request& req, const fuse::Caller& caller);
  control::Response Reload(const fuse::Caller& caller);
  control::Response Rotate(const control::Request& req, const fuse::Caller& caller);
  control::Response Wipe(const control::Request& req, const fuse::Caller& caller);
  control::Response WipeFinish(const control::Request& req, const fuse::Caller& caller);
  fuse::MatterFs& fs_;
  std::mutex rotate_mu_;  // one rotation or wipe at a time
  // The rotation under way, for `status` (matterctl rotate polls it for its progress line).
  struct Rotating {
    std::string matter;  // "" when none
    vault::RotateProgress progress;
    std::chrono::steady_clock::time_point started;
  };
  // The wipe under way, likewise (matterctl wipe polls it).
  struct Wiping {
    std::string matter;  // "" when none
    vault::WipeProgress progress;
  };
  std::mutex rotating_mu_;  // guards rotating_ and wiping_
  Rotating rotating_;
  Wiping wiping_;
};

}  // namespace matterfs::daemon
