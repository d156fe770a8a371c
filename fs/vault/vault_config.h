// The vault config file `matterfs.vault`: format version, features, vault id, cipher,
// keyslots, and the vault's Ed25519 key pair (docs/FORMAT.md "Vault config").
//
// Parse() checks everything that can be checked without a key (magic, version, features,
// sizes, checksum, reserved bytes, KDF bounds). Unlock() derives a slot key, unwraps the
// vault master key (VMK) and then verifies the config MAC with it, so an edit or a
// downgrade of any field is detected once any key is known.
// Thread-safety: a value type; immutable after parse.
#pragma once

#include <array>
#include <optional>
#include <vector>

#include "crypto/aead.h"
#include "crypto/kdf.h"
#include "crypto/secure_memory.h"
#include "crypto/signing.h"
#include "fs/vault/format.h"
#include "util/bytes.h"
#include "util/result.h"

namespace matterfs::vault {

enum class SlotKind : uint8_t { kPassphrase = 1, kKeyFile = 2 };
const char* SlotKindName(SlotKind k);

// A secret that may open a keyslot: passphrase bytes or key file contents.
struct Credential {
  SlotKind kind;
  crypto::SecureBuffer secret;
};

struct Keyslot {
  SlotKind kind = SlotKind::kPassphrase;
  uint64_t created = 0;              // unix seconds
  crypto::Argon2Params argon{0, 0};  // zero for key-file slots
  std::array<uint8_t, crypto::kSaltSize> salt{};
  Bytes wrapped_vmk;  // 72 bytes
};

inline constexpr size_t kConfigHeaderSize = 172;
inline constexpr size_t kSlotSize = 128;
inline constexpr size_t kMaxSlots = 8;
inline constexpr size_t kConfigTrailerSize = 64;  // MAC + checksum

using MasterKey = crypto::SecretKey<crypto::KeyPurpose::kMaster>;

struct VaultConfig {
  uint16_t version = kFormatVersion;
  uint32_t features = 0;
  std::array<uint8_t, kIdSize> vault_id{};
  crypto::Cipher cipher = crypto::Cipher::kXChaCha20Poly1305;
  std::array<uint8_t, crypto::kSignPublicKeySize> sign_public{};
  Bytes wrapped_sign_secret;  // 104 bytes
  std::vector<Keyslot> slots;

  static Result<VaultConfig> Parse(ByteSpan raw);
  // Serialises with MAC (keyed by the VMK's config-MAC subkey) and checksum.
  Bytes Serialize(const MasterKey& vmk) const;

  // Tries every slot of the credential's kind; kWrongKey if none opens.
  // Then verifies the MAC over `raw` (the bytes Parse was given): kCorruption if altered.
  // `slot_index`, if given, receives the index of the slot that opened.
  Result<MasterKey> Unlock(ByteSpan raw, const Credential& cred,
                           size_t* slot_index = nullptr) const;

  // Creates a keyslot for `cred` wrapping `vmk`.
  Result<Keyslot> MakeSlot(const MasterKey& vmk, const Credential& cred,
                           const crypto::Argon2Params& argon, uint64_t now) const;

  // The fixed bytes a slot's wrap is bound to (docs/FORMAT.md).
  Bytes SlotAd(const Keyslot& slot) const;
  Bytes SigningAd() const;
};

// Derives a slot key from a credential and a slot's parameters.
Result<crypto::SecretKey<crypto::KeyPurpose::kSlot>> DeriveSlotKey(const Keyslot& slot,
                                                                   const Credential& cred);

}  // namespace matterfs::vault
