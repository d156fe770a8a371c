// The vault's matter key table, KEYSTORE/keytable (docs/FORMAT.md §9.6): one entry per
// matter holding its matter root key MRK (wrapped by VMK subkey 9), in two copies in
// separate 512-byte sectors. The file only grows; a wipe overwrites an entry in place
// with a tombstone, so that putting back a wiped matter's keyring and files from a
// snapshot opens nothing: the key they need is gone from the only place that held it.
//
// Each live entry copy may also record its matter's keyring state (sequence and status,
// bound into the wrap's AD), rewritten in place at every keyring update after the
// keyring itself: a keyring whose best copy has a lower sequence than its entry records
// was rolled back (docs/FORMAT.md §9.6, "Keyring state").
//
// Thread-safety: none inside; callers serialise writers (matter creation and wipes hold
// the vault's change lock; master key rotation the offline lock). Readers may run
// alongside writers: each copy is written by one pwrite of one sector.
// Errors: kNotFound (no table, or the entry was destroyed: "wiped"), kCorruption (a
// header or entry that does not parse or authenticate), kIo.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "crypto/secure_memory.h"
#include "fs/vault/keyring.h"
#include "util/result.h"
#include "util/unique_fd.h"

namespace matterfs::vault {

inline constexpr char kKeyTableName[] = "keytable";
inline constexpr size_t kKeyTableSector = 512;

class KeyTable {
 public:
  // Opens KEYSTORE/keytable, creating it (header only, O_EXCL, fsync of file and
  // directory) when `create` and it is missing. kNotFound when missing and !create;
  // kCorruption for a header of another vault or that does not parse.
  static Result<KeyTable> Open(int keystore_fd, const VaultId& vault, bool create);

  // Appends an entry for `matter` holding a fresh random MRK (both copies, fdatasync).
  // Returns its index and the key.
  struct Added {
    uint32_t index;
    MatterRootKey key;
  };
  Result<Added> Add(const MatterId& matter, const VaultSubkey& wrap);

  // The keyring state an entry records: sequence 0 when none is recorded (an entry
  // written before table version 2, or appended and not yet updated).
  struct EntryState {
    uint64_t sequence = 0;
    MatterStatus status = MatterStatus::kOpen;
  };

  // The MRK of entry `index`, which must belong to `matter`, and (if `state`) the newest
  // state a copy that opens records. kNotFound: destroyed (both copies are tombstones);
  // kCorruption: neither copy opens.
  Result<MatterRootKey> Read(uint32_t index, const MatterId& matter, const VaultSubkey& wrap,
                             EntryState* state = nullptr) const;

  // Records the keyring state of entry `index` (`key` is its MRK, rewrapped with a fresh
  // nonce): copy A, fdatasync, copy B, fdatasync, each one sector in place. Upgrades a
  // version 1 header to 2 first. kNotFound, writing nothing, if either copy is a
  // tombstone. Const: it changes the file, not this object (keyrings hold the table as
  // a const pointer); callers hold the matter's keyring lock.
  Status RecordState(uint32_t index, const MatterId& matter, const VaultSubkey& wrap,
                     const MatterRootKey& key, const EntryState& state) const;

  // Overwrites both copies of entry `index` (which must belong to `matter`) with a
  // tombstone, copy A then copy B, then fdatasync. Idempotent.
  Status Destroy(uint32_t index, const MatterId& matter);

  // Master key rotation: every live entry rewrapped under `to`, read under `to` or
  // `from` (so a rerun after a crash finishes the job). Tombstones stay.
  Status RewrapAll(const VaultSubkey& from, const VaultSubkey& to);

  uint32_t entries() const;

  // fsck: what each copy of entry `index` holds. `matter` comes from a copy that names
  // one (zeros if neither does); a copy is live when it opens under `wrap`, destroyed
  // when it is a tombstone, else damaged. kCorruption past the end of the table.
  enum class CopyCheck { kLive, kDestroyed, kDamaged };
  struct EntryCheck {
    MatterId matter{};
    std::array<CopyCheck, 2> copies{};
    std::array<EntryState, 2> states{};  // of live copies
  };
  Result<EntryCheck> Inspect(uint32_t index, const VaultSubkey& wrap) const;

 private:
  // Header version 1 -> 2 (pwrite, fdatasync) before a copy with state is written.
  Status UpgradeHeader() const;
  KeyTable(UniqueFd fd, const VaultId& vault) : fd_(std::move(fd)), vault_(vault) {}
  UniqueFd fd_;
  VaultId vault_;
};

}  // namespace matterfs::vault
