// Master key rotation (docs/FORMAT.md §8.6): `matterctl rotate-master` replaces the vault
// master key (VMK) and moves everything derived from it to the new one: the config (kept
// keyslots rewrapped, the same Ed25519 key pair rewrapped, MAC), both copies of every
// matter keyring, every matter's name in the data directory and every `.matter` binding.
// Files, blocks, file headers and the names inside matters hang off the matter keys and
// are not touched.
//
// Crash safety: (1) a new VMK; (2) the journal `matterfs.master-rotation`, holding the
// old VMK wrapped under a subkey of the new one; (3) the config for the new VMK with
// feature bit 1 ("unfinished": every other reader refuses the vault); (4) each matter,
// every item read under the new keys first and under the old ones otherwise, so a rerun
// is idempotent; (5) the config without bit 1, then the journal zeroed and removed. Run
// again after a crash at any point, RotateMasterKey completes the job (or, if the crash
// came before the config of (3), starts over).
//
// Keys: the new VMK lives in secure memory only and is written only wrapped (keyslots,
// journal); the old one is read back from the journal on a resume. Nothing is logged.
// Thread-safety: one call per vault at a time; it takes the vault's offline lock (kBusy
// while a daemon has the vault mounted). Errors: kWrongKey (the credential, or a --keep
// credential that opens no slot), kInvalidArgument (slots that would stop working
// without drop_other_slots), kCorruption (a matter that does not open, a damaged
// journal), kIo; and whatever `checkpoint` returns, which stops the rotation there.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "fs/vault/admin.h"
#include "fs/vault/vault.h"
#include "fs/vault/vault_config.h"
#include "util/result.h"

namespace matterfs::vault {

struct MasterRotationOptions {
  // Credentials of further keyslots to keep (rewrapped for the new VMK). Each must open a
  // slot, else nothing changes (kWrongKey).
  std::vector<Credential> keep;
  // Slots neither unlocked with nor kept are removed; without this they are a refusal
  // (kInvalidArgument, naming them) before anything changes.
  bool drop_other_slots = false;
  // Called at each point where a crash leaves a distinct state (fault-injection tests):
  //   "journal"            after step 2
  //   "config"             after step 3
  //   "matter:K:copy"      after the first of the two keyring copies of the K-th matter
  //                        (1-based, by name) was rewritten
  //   "matter:K:keyring"   after its keyring
  //   "matter:K:binding"   after its `.matter`
  //   "matter:K"           after its data-directory entry (the matter is done)
  //   "final-config"       after the config without bit 1 (step 5), journal still there
  //   "done"               after the journal is gone
  // Points of a resumed run come again even when there was nothing left to do there. An
  // error stops the rotation at that point, as a crash would.
  std::function<Status(std::string_view point)> checkpoint;
};

struct MasterRotationResult {
  enum class Kind {
    kRotated,         // a rotation from start to end
    kResumed,         // an interrupted rotation, completed
    kJournalRemoved,  // only the journal of a rotation that had finished otherwise was left
  };
  Kind kind = Kind::kRotated;
  size_t matters = 0;        // matters now under the new key (all of them)
  size_t slots_kept = 0;     // keyslots in the new config (the unlocking one included)
  size_t slots_dropped = 0;  // 0 on a resume (decided by the interrupted run)
  // A journal left by a run that crashed before its config (it opened under no key) was
  // removed before this rotation started.
  bool discarded_journal = false;
  double seconds = 0;  // from the unlock to the end (remaking slots included)
};

// "vault master key replaced: 3 matters rewrapped, 2 keyslots kept, 1 dropped; 0.2 s".
std::string MasterRotationSummary(const MasterRotationResult& r);

// `vault` must be opened with OpenOptions::unfinished_master_rotation and not unlocked;
// `cred` unlocks it and its slot is remade for the new VMK (fresh salt, the same kind,
// Argon2id parameters and creation time). Afterwards `vault` is unlocked with the new
// keys. Audit: a master-rotate event at the start and at the end (error: why it stopped).
Result<MasterRotationResult> RotateMasterKey(Vault& vault, const Credential& cred,
                                             const AdminContext& ctx,
                                             const MasterRotationOptions& options = {});

}  // namespace matterfs::vault
