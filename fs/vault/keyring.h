// A matter's keyring: versioned wrapping keys MWK_v, the matter's name key, and the
// matter's status, in one 4096-byte file `<matter-id-hex>.keyring` in the keystore
// (docs/FORMAT.md "Matter keyring").
//
// The file holds two 2048-byte copies. An update writes the older copy in place with a
// higher sequence number and fdatasyncs it; a reader takes the valid copy with the higher
// sequence. So a crash mid-update leaves the previous state readable, and the file never
// moves: a wipe overwrites these same bytes in place. (Restoring an old copy of the
// keystore itself from a backup would bring keys back: keep the keystore out of
// ciphertext backups with --keystore.) Updates hold an fcntl write lock on the file (safe between
// servers).
//
// Keyring (the value) is move-only and holds keys in secure memory. Thread-safety: const
// methods are safe from any thread; the file functions serialise through the lock.
#pragma once

#include <array>
#include <map>
#include <memory>
#include <string>

#include "crypto/secure_memory.h"
#include "fs/vault/format.h"
#include "fs/vault/vault_config.h"
#include "util/result.h"
#include "util/unique_fd.h"

namespace matterfs::vault {

enum class MatterStatus : uint8_t { kOpen = 0, kClosed = 1, kHold = 2 };
const char* MatterStatusName(MatterStatus s);
// The status a verb (close, reopen, hold, release) leads to from `current`;
// kInvalidArgument naming the current status when the verb does not apply to it
// (close an open matter, reopen a closed one, hold one not yet held, release a hold).
Result<MatterStatus> StatusAfter(std::string_view verb, MatterStatus current);

using MatterId = std::array<uint8_t, kIdSize>;
using VaultId = std::array<uint8_t, kIdSize>;
using MatterWrapKey = crypto::SecretKey<crypto::KeyPurpose::kMatterWrap>;
using NameKey = crypto::SecretKey<crypto::KeyPurpose::kName>;
using VaultSubkey = crypto::SecretKey<crypto::KeyPurpose::kVaultSub>;
using MatterRootKey = crypto::SecretKey<crypto::KeyPurpose::kMatterRoot>;
class KeyTable;

inline constexpr size_t kKeyringFileSize = 4096;
inline constexpr size_t kKeyringCopySize = 2048;
inline constexpr size_t kMaxKeyVersions = 16;

// What a keyring needs to open: two VMK subkeys, and for a version 3 keyring (keys
// wrapped by the matter's root key) the vault's key table and the subkey that wraps its
// entries. Without a table a version 3 keyring does not open (kCorruption).
struct KeyringKeys {
  const VaultSubkey& wrap;                  // kSubkeyKeyringWrap (versions 1 and 2)
  const VaultSubkey& mac;                   // kSubkeyKeyringMac
  const KeyTable* table = nullptr;          // KEYSTORE/keytable (version 3)
  const VaultSubkey* table_wrap = nullptr;  // kSubkeyKeyTable (version 3)
};

struct Keyring {
  VaultId vault_id{};
  MatterId matter_id{};
  MatterStatus status = MatterStatus::kOpen;
  uint64_t sequence = 0;
  uint32_t current_version = 1;
  uint64_t created = 0;  // unix seconds the matter was created (0: a version 1 keyring)
  uint64_t rotated = 0;  // unix seconds the last rotation finished (0: never)
  // Version 3: the matter's key table entry + 1, whose root key wraps the name key and
  // MWKs (held here so the keyring can be written again). 0: a keyring of version 1 or 2,
  // wrapped by VMK subkey 2 (a matter created before the key table).
  uint32_t table_index = 0;
  std::unique_ptr<MatterRootKey> root_key;
  // Version 3: the keyring was version 1 or 2 before this vault's master key last changed
  // (Vault::MoveToKeyTable sets it, rotate-master clears it): a copy of it from then
  // opens with the vault's passphrase, so a wipe cannot be undelete-proof (the
  // certificate says so).
  bool legacy_wrapped = false;
  std::unique_ptr<NameKey> name_key;
  std::map<uint32_t, std::unique_ptr<MatterWrapKey>> wrap_keys;  // by version

  // A new keyring with MWK_1, a fresh name key, created now.
  static Keyring Create(const VaultId& vault, const MatterId& matter);

  // One 2048-byte copy, wrapped and MAC'ed. `nonce_source` fixed only in tests.
  Bytes SerializeCopy(const KeyringKeys& keys) const;
  // Parses and authenticates one copy. kCorruption if the MAC or ids do not match.
  static Result<Keyring> ParseCopy(ByteSpan copy, const KeyringKeys& keys, const VaultId& vault,
                                   const MatterId& matter);

 private:
  // ParseCopy: the name key and `count` MWKs of `copy`, unwrapped under `kek`.
  template <crypto::KeyPurpose W>
  Status UnwrapKeys(ByteSpan copy, const crypto::SecretKey<W>& kek, size_t count);
};

std::string KeyringFileName(const MatterId& id);

// Creates the keyring file with O_EXCL (kExists if it is there).
Status CreateKeyringFile(int keystore_fd, const Keyring& ring, const KeyringKeys& keys);
// Reads both copies and returns the newest valid one, checked against the key table
// (CheckAgainstKeyTable).
Result<Keyring> ReadKeyringFile(int keystore_fd, const VaultId& vault, const MatterId& matter,
                                const KeyringKeys& keys);
// Read-modify-write under the file lock: `mutate` changes the keyring; the new state is
// written over the older copy with sequence + 1, then recorded in the key table.
// kInvalidArgument, writing nothing, if the result would hold no key version, more than
// kMaxKeyVersions, or not its current version (a copy the reader would refuse).
template <typename Mutate>
Status UpdateKeyringFile(int keystore_fd, const VaultId& vault, const MatterId& matter,
                         const KeyringKeys& keys, Mutate&& mutate);
Result<UniqueFd> LockKeyringFile(int keystore_fd, const MatterId& matter);
// Rollback check (docs/FORMAT.md §9.6): for a keyring with a key table entry whose state
// is recorded, kCorruption "keyring of matter <hex> rolled back (sequence A, the key table
// records B)" when ring.sequence < B, or a status that differs at the same sequence.
// Every reader below applies it to the copy it returns.
Status CheckAgainstKeyTable(const Keyring& ring, const KeyringKeys& keys);
// Records ring's sequence and status in its key table entry (no-op without one); called
// after the keyring copies are written and synced.
Status RecordInKeyTable(const Keyring& ring, const KeyringKeys& keys);
Status WriteKeyringCopy(int fd, const Keyring& ring, const KeyringKeys& keys);
Result<Keyring> ReadKeyringFd(int fd, const VaultId& vault, const MatterId& matter,
                              const KeyringKeys& keys);

template <typename Mutate>
Status UpdateKeyringFile(int keystore_fd, const VaultId& vault, const MatterId& matter,
                         const KeyringKeys& keys, Mutate&& mutate) {
  MFS_ASSIGN(UniqueFd fd, LockKeyringFile(keystore_fd, matter));
  MFS_ASSIGN(Keyring ring, ReadKeyringFd(fd.get(), vault, matter, keys));
  MFS_TRY(mutate(ring));
  ring.sequence += 1;
  return WriteKeyringCopy(fd.get(), ring, keys);
}

}  // namespace matterfs::vault
