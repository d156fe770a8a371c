// The daemon under systemd: the notification protocol of Type=notify services
// (sd_notify(3): READY=1, RELOADING=1, STOPPING=1, STATUS=) and the service's credentials
// (systemd.exec(5) "Credentials": $CREDENTIALS_DIRECTORY with LoadCredential= and
// LoadCredentialEncrypted=). Everything goes through libsystemd, never a hand-written
// datagram. Outside systemd ($NOTIFY_SOCKET unset) every Notify* call does nothing.
//
// Thread-safety: the Notify* functions may be called from any thread (sd_notify opens
// its own socket per call); CredentialsFrom reads the environment and is for start-up.
// Errors: a notification that cannot be sent is ignored (systemd then times the start
// out, which is the report); CredentialsFrom returns nothing for "no credential".
#pragma once

#include <optional>
#include <string>

#include "fs/vault/credentials.h"

namespace matterfs::daemon {

// True when the service manager waits for READY=1 ($NOTIFY_SOCKET is set): the daemon
// then stays in the foreground (it must remain the main process; see docs/OPERATIONS.md
// "Running as a service").
bool UnderServiceManager();

// True when systemd runs this machine (sd_booted) or started this process as a service
// ($INVOCATION_ID or $NOTIFY_SOCKET): a passphrase may then be asked through
// systemd-ask-password when there is no terminal. Elsewhere nobody would answer it.
bool UnderSystemd();

// READY=1 with STATUS=status and MAINPID= this process: the mount is live and serving.
void NotifyReady(const std::string& status);
// RELOADING=1 (with MONOTONIC_USEC=, as systemd 253+ asks): a policy reload has begun;
// the next NotifyReady ends it.
void NotifyReloading();
// STOPPING=1: the daemon is unmounting and will exit.
void NotifyStopping();

// The sandboxed-service design (docs/OPERATIONS.md "Hardening"): the pre-mount step
// hands the mount's /dev/fuse descriptor to systemd's file descriptor store
// (FDSTORE=1, FDNAME=fuse; needs NotifyAccess=all); false, logged, when it cannot.
bool StoreFuseFd(int fd);
// The daemon takes it back: the descriptor systemd passed as LISTEN_FDNAMES=fuse (for
// this process, LISTEN_PID), removed from the store at once (FDSTOREREMOVE=1: a
// restarted daemon must not get a descriptor whose INIT is answered), or -1.
int TakeFuseFd();

// The unlock credential that systemd passed the service, when `opts` names none:
// $CREDENTIALS_DIRECTORY/key as a key file if it exists, else
// $CREDENTIALS_DIRECTORY/passphrase as a passphrase file if it exists, else nothing
// (the daemon then prompts: terminal or systemd-ask-password).
std::optional<vault::UnlockOptions> CredentialsFrom(const vault::UnlockOptions& opts);

}  // namespace matterfs::daemon
