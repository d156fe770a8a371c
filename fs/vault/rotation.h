// Matter key rotation (docs/FORMAT.md §9.4): a new matter wrapping-key version, every
// file's data key rewrapped under it (a header rewrite; the blocks are not touched), then
// the old versions destroyed in both keyring copies.
//
// Crash safety: the order is (1) the keyring gains the new version and makes it current
// (fdatasync), so new files use it at once; (2) each file header still on an older
// version is rewritten with its data key wrapped by the new one; (3) the data is synced
// (syncfs); (4) only then are the older versions removed from the keyring, by two updates
// so that neither copy still holds them. A crash anywhere leaves every file readable
// (until (4) both versions are in the keyring); running the rotation again finds the
// unfinished one (the keyring holds more than one version) and completes it instead of
// starting another. If any file cannot be rewrapped (a damaged header, an I/O error) the
// old versions are kept and the result says which files.
//
// With `reencrypt` (docs/FORMAT.md §9.5) step (2) writes each file again under a fresh
// data key instead (fs/vault/reencrypt.h); a journal in the matter directory makes a
// rerun, with or without --reencrypt, finish the re-encryption.
//
// Thread-safety: one rotation per matter at a time (offline: under LockOffline; online:
// the daemon serialises). Errors: kNotFound (matter), whatever `authorize` returns, kIo,
// kCorruption (keyring).
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "fs/vault/admin.h"
#include "fs/vault/keyring.h"
#include "fs/vault/matter_walker.h"
#include "fs/vault/vault.h"
#include "util/result.h"

namespace matterfs::vault {

struct RotateProgress {
  uint64_t total = 0;        // regular files in the matter (counted before the work starts)
  uint64_t total_bytes = 0;  // their backing size
  uint64_t files = 0;        // regular files seen so far
  uint64_t bytes = 0;        // their backing size
  uint64_t rewrapped = 0;    // headers rewritten by this run (or files re-encrypted)
  uint64_t already = 0;      // already on the new version (new files, an earlier run)
  uint64_t failed = 0;       // could not be rewrapped (re-encrypted)
};

struct RotateOptions {
  // Re-encrypt every file under a fresh data key instead of rewrapping its header
  // (fs/vault/reencrypt.h). Offline only (kInvalidArgument online).
  bool reencrypt = false;
  // Called after every file (the caller throttles its display).
  std::function<void(const RotateProgress&)> progress;
  // How one file is rewrapped (as RewrapFile; unset: RewrapFile). Online, the daemon
  // rewraps through its open-file state so that nothing it holds in memory goes stale.
  std::function<Result<bool>(WalkItem& item, const Keyring& ring)> rewrap_file;
  // Called once the keyring holds the new version (online: the daemon swaps the matter's
  // keys so that new files use it) and again after the old versions are destroyed.
  std::function<void(const Keyring& ring)> keyring_changed;
  // Several servers share the vault (-o shared): wait this long after the new version is
  // written, so that every other server has re-read the keyring and creates its new files
  // under the new version, and walk once more before destroying the old versions, to
  // rewrap a file another server created under the old one meanwhile. 0: no other server.
  std::chrono::milliseconds settle{0};
  // Re-encryption: called after each name of a hard-linked file is relinked (crash tests).
  std::function<void()> relinked;
};

struct RotateResult {
  std::string matter;
  uint32_t from_version = 0;  // the current version before (on a resume: the oldest left)
  uint32_t to_version = 0;    // the version every file is on afterwards
  bool resumed = false;       // completed an unfinished rotation
  bool reencrypted = false;   // files were re-encrypted (fresh data keys), not rewrapped
  RotateProgress counts;
  std::vector<uint32_t> destroyed;    // versions removed from the keyring
  std::vector<std::string> failures;  // "path: reason" for the first 20 failed files
  double seconds = 0;
  // Files could not be rewrapped, so the old versions were kept: run it again later.
  bool KeptOldVersions() const { return destroyed.empty() && counts.failed > 0; }
};

// One line for people: "matter M: key version 1 -> 2; N files (...); destroyed ...; 0.4 s".
std::string RotateSummary(const RotateResult& r);

Result<RotateResult> RotateMatter(Vault& vault, std::string_view matter, const AdminContext& ctx,
                                  const RotateOptions& options = {});

// Rewraps one file's header (`header`, as read from it) to `ring`'s current version
// (format 1: the 100-byte header in place; format 2: both copies in one write of two
// sectors, next sequence). No sync. `header` is updated. kNotFound/kCorruption when the
// header does not open with `ring`.
Status RewrapFileHeader(int fd, FileHeader& header, const Keyring& ring);

// Reads the header of the backing file `fd` and rewraps it if it is on another version
// than `ring`'s current one. false: nothing to do (no header yet, or already current).
Result<bool> RewrapFile(int fd, const FileFormat& format, const Keyring& ring);

}  // namespace matterfs::vault
