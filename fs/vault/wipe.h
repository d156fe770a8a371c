// Secure wipe of a closed matter (docs/FORMAT.md §9.7; issue 10): its keys destroyed
// (crypto-shredding), its ciphertext overwritten, its files and directories removed, and
// a signed certificate of destruction (fs/vault/certificate.h) as the record. Shared by
// matterctl (offline, under LockOffline) and the daemon (online, after it evicted the
// matter).
//
// Refusals come first and change nothing: a --confirm that is not the matter's name, an
// unknown matter, a matter that is not closed (open, or on legal hold). Then, in order:
//
//   0. journal  KEYSTORE/<hex id>.wipe (no secrets, written atomically) records what the
//               certificate needs: the matter's stored (encrypted) name, its id, key
//               table entry, key versions, files and bytes, passes, start, operator;
//   1. aside    the matter's directory leaves the data directory's name space: renamed
//               to d/.tmp.wipe.<random> (never listed), its long-name side file removed;
//   2. keys     the matter's key table entry overwritten in place (what makes a restored
//               keyring useless), then its keyring file overwritten with random bytes,
//               fdatasync, unlinked, keystore fsync. From here nothing of it decrypts;
//   3. overwrite every regular backing file (data extents) with random bytes, `passes`
//               times, fdatasync after each pass;
//   4. remove   files and directories unlinked bottom-up, the aside directory removed,
//               d/ fsynced;
//   5. done     the finish time recorded; the certificate is built from the journal
//               and signed. FinishWipe() removes the journal once the caller has stored
//               the certificate.
// The journal records each step reached. A rerun of the same wipe (the matter's name,
// confirmed) finds the journal by the matter's stored name, skips the status refusals
// (the keyring may be gone) and completes from there; a rerun after step 5 only issues
// the same certificate again (signatures are deterministic).
//
// A matter whose keyring predates the key table (keyring versions 1 and 2, table index
// 0), or was moved to it since the vault master key last changed (legacy_wrapped), is
// wiped too, but its keys were wrapped by a vault-wide subkey: a copy of its keyring file
// from before the wipe (or the move) still opens it with the vault's passphrase until
// `matterctl rotate-master` replaces the vault master key. The result says so
// (legacy_keyring) and so does a caveat in the certificate.
//
// Thread-safety: one wipe per vault at a time (offline: LockOffline; online: the daemon
// serialises). Errors: kInvalidArgument (confirmation, status, passes), kNotFound (no
// such matter), kCorruption (keyring, journal), kIo; a failure leaves the journal, so a
// rerun continues.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fs/vault/admin.h"
#include "fs/vault/certificate.h"
#include "fs/vault/vault.h"
#include "util/result.h"

namespace matterfs::vault {

inline constexpr char kWipeJournalSuffix[] = ".wipe";
inline constexpr uint32_t kMaxWipePasses = 16;

// The steps of a wipe, in order; the journal records the last one completed.
enum class WipeStep : uint8_t { kStarted, kAside, kKeys, kOverwritten, kRemoved, kDone };
const char* WipeStepName(WipeStep s);  // "started", "aside", "keys", ...

// What the journal holds (docs/FORMAT.md §9.7).
struct WipeJournal {
  VaultId vault_id{};
  MatterId matter_id{};
  std::string entry;            // the matter's stored name in d/ (ciphertext)
  std::string aside;            // d/.tmp.wipe.<random>: where its directory is moved
  uint32_t table_index = 0;     // the keyring's key table entry + 1 (0: none)
  bool legacy_wrapped = false;  // the keyring was wrapped by VMK subkey 2 under this VMK
  std::vector<uint32_t> key_versions;
  uint64_t files = 0;
  uint64_t bytes = 0;
  uint32_t passes = 1;
  uint64_t started = 0;
  uint32_t operator_uid = 0;
  std::string operator_name;
  std::string host;
  WipeStep step = WipeStep::kStarted;
  uint64_t finished = 0;  // 0 until kDone

  std::string Serialize() const;
  // kCorruption for anything but what Serialize writes (names checked: no '/', the aside
  // name of the form .tmp.wipe.<base64url>).
  static Result<WipeJournal> Parse(std::string_view text);
};

std::string WipeJournalName(const MatterId& id);

// The journal of an unfinished wipe of the matter called `name` (found by its stored
// name), if there is one.
Result<std::optional<WipeJournal>> FindWipeJournal(const Vault& vault, std::string_view name);

// The wipes of the vault that are not finished (or whose certificate was not stored
// yet): each journal's file name, the matter's name while it can still be decoded ("" once
// a long name's side file is gone), the last step completed. For commands that must not
// run meanwhile (rotate-master: a new master key changes the stored names the journals
// are found by).
struct UnfinishedWipe {
  std::string journal;  // "<hex id>.wipe"
  std::string matter;
  WipeStep step = WipeStep::kStarted;
};
Result<std::vector<UnfinishedWipe>> ListUnfinishedWipes(const Vault& vault);

struct WipeProgress {
  uint64_t total = 0;        // regular backing files to overwrite (metadata included)
  uint64_t total_bytes = 0;  // their backing size, times the passes
  uint64_t files = 0;        // overwritten so far
  uint64_t bytes = 0;
};

struct WipeOptions {
  // Must equal the matter's name (kInvalidArgument otherwise, before anything is looked up).
  std::string confirm;
  uint32_t passes = 1;  // 0: crypto-shredding only, no overwrite
  // Online: take the vault's change lock around the key table write (offline the caller
  // holds LockOffline, which includes it).
  bool change_lock = false;
  // Called once the refusals are past, before the first change (online: the daemon
  // evicts the matter, so it disappears for every user and its handles fail).
  std::function<void(const MatterId& id)> starting;
  // Called after each file overwritten (the caller throttles its display).
  std::function<void(const WipeProgress&)> progress;
  // Crash tests: called at each point ("after-journal", "after-aside", "after-keys",
  // "mid-overwrite", "after-overwrite", "mid-unlink", "after-unlink",
  // "before-certificate"); matterctl raises SIGKILL at the one an environment variable
  // names.
  std::function<void(std::string_view point)> reached;
};

struct WipeResult {
  std::string matter;
  WipeJournal journal;
  DestructionCertificate certificate;  // as signed (public_key set)
  std::string certificate_text;        // the signed file
  bool resumed = false;                // completed (or re-issued) an earlier run's wipe
  WipeStep resumed_from = WipeStep::kStarted;
  bool legacy_keyring = false;  // table index 0 or legacy_wrapped: see the header comment
  double seconds = 0;
};

// One line for people: "matter M wiped: N files (B bytes), key version(s) 1, 2
// destroyed, 1 overwrite pass; 0.2 s" (with "(an unfinished wipe, completed)").
std::string WipeSummary(const WipeResult& r);
// The note for a legacy keyring (stderr of matterctl).
std::string LegacyKeyringNote(const std::string& vault_path, const std::string& matter);

Result<WipeResult> WipeMatter(Vault& vault, std::string_view matter, const AdminContext& ctx,
                              const WipeOptions& options);

// Removes the journal of a finished wipe (zeroed, unlinked, keystore fsync), once the
// certificate is stored. kNotFound if there is none; kInvalidArgument if its wipe is not
// finished.
Status FinishWipe(const Vault& vault, const MatterId& id);

// The caveats a certificate of this wipe carries.
std::vector<std::string> WipeCaveats(const WipeJournal& j);

}  // namespace matterfs::vault
