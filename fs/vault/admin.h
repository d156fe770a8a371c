// Matter administration: each administrative action on a matter is one function here,
// called by matterctl on a vault (offline, under LockOffline) and by the daemon's control
// handler (online, on behalf of a peer the policy has admitted). Each sends its audit
// events through the one EventSink the caller hands in (the daemon's audit queue, or
// syslog for matterctl), built in one place so that an action reads the same in the
// audit trail whoever ran it.
//
// Here: status changes (close, reopen, hold, release). Rotation (rotation.h) and wipe
// (wipe.h) follow the same shape.
// Thread-safety: functions; the vault's own locks serialise changes between processes.
// Errors: kNotFound for an unknown matter, kInvalidArgument for a change that does not
// apply to the matter's status, whatever `authorize` returns, kIo, kCorruption.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "audit/event.h"
#include "fs/vault/keyring.h"
#include "fs/vault/vault.h"
#include "util/result.h"

namespace matterfs::vault {

// Who is doing it, for the audit event.
struct Actor {
  std::string user;  // login name ("" if unknown)
  uint32_t uid = 0;
  int32_t pid = 0;
  std::string process;  // "matterctl", or the peer's /proc/PID/comm
};

// Records one event; false when it could not be recorded (audit = strict).
using EventSink = std::function<bool(audit::AuditEvent)>;

struct AdminContext {
  Actor actor;
  bool online = false;  // through a daemon's control socket
  EventSink events;
  // Called once the matter is found, before anything changes: the policy's decision
  // online (the caller records its own event for it); unset offline.
  std::function<Status(const MatterInfo& matter)> authorize;
};

// The event every admin action starts from: the actor's fields, the matter, "admin".
audit::AuditEvent AdminEvent(const AdminContext& ctx, const char* event, std::string_view matter);

struct StatusChange {
  std::string matter;
  MatterStatus from = MatterStatus::kOpen;
  MatterStatus to = MatterStatus::kOpen;
};

// close | reopen | hold | release: changes the status in the matter's keyring (so every
// mount and every offline tool sees it) and records a matter-<verb> event.
Result<StatusChange> ChangeMatterStatus(Vault& vault, std::string_view matter,
                                        std::string_view verb, const AdminContext& ctx);

// The event name of a status verb ("matter-close", ...); nullptr for an unknown verb.
const char* StatusEventName(std::string_view verb);

}  // namespace matterfs::vault
