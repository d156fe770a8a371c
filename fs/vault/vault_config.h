// The vault config file `matterfs.vault`: format version, features, vault id, cipher,
// keyslots, and the vault's Ed25519 key pair (docs/FORMAT.md "Vault config").
//
// Parse() checks everything that can be checked without a key (magic, version, features,
// sizes, checksum, reserved bytes, KDF bounds). Unlock() derives a slot key, unwraps the
// vault master key (VMK) and then verifies the config MAC with it, so an edit or a
// downgrade of any field is detected once any key is known.
//
// Version 3 (docs/FORMAT.md §8.7) keeps two authenticated copies of the config in one
// file, so that damage to one copy loses nothing; Parse takes copy A, or B when A is
// damaged, and UnlockConfig falls back to the other copy when the parsed one does not
// authenticate. It adds keyslots of kinds 3 (passphrase + key file), 4 (passphrase +
// FIDO2 token) and 5 (firm escrow), which may carry an extension.
// Thread-safety: a value type; immutable after parse.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "crypto/aead.h"
#include "crypto/escrow.h"
#include "crypto/kdf.h"
#include "crypto/secure_memory.h"
#include "crypto/signing.h"
#include "fs/vault/fido2.h"
#include "fs/vault/format.h"
#include "util/bytes.h"
#include "util/result.h"

namespace matterfs::vault {

enum class SlotKind : uint8_t {
  kPassphrase = 1,
  kKeyFile = 2,
  kPassphraseKeyFile = 3,  // both a passphrase and a key file
  kPassphraseFido2 = 4,    // both a passphrase and a FIDO2 token (hmac-secret)
  kEscrow = 5,             // the firm's recovery key (X25519 sealed box)
};
// "passphrase", "key-file", "passphrase+key-file", "passphrase+fido2", "escrow".
const char* SlotKindName(SlotKind k);
// Kinds whose slot key starts from an Argon2id run of a passphrase.
bool UsesPassphrase(SlotKind k);

// A secret that may open a keyslot.
struct Credential {
  Credential(SlotKind k, crypto::SecureBuffer s, crypto::SecureBuffer second_factor = {},
             std::shared_ptr<Fido2Token> t = nullptr)
      : kind(k), secret(std::move(s)), second(std::move(second_factor)), token(std::move(t)) {}
  SlotKind kind;
  // The passphrase (kinds 1, 3, 4), the key file's contents (2), or the escrow private
  // key (5).
  crypto::SecureBuffer secret;
  // The key file's contents for kind 3.
  crypto::SecureBuffer second;
  // The token for kind 4.
  std::shared_ptr<Fido2Token> token;
};

struct Keyslot {
  SlotKind kind = SlotKind::kPassphrase;
  // Version 3: the config version the wrap was made under (2 for a slot carried over by
  // an upgrade, else 3). 0 in configs of version 1 and 2.
  uint8_t ad_version = 0;
  uint64_t created = 0;              // unix seconds
  crypto::Argon2Params argon{0, 0};  // zero for key-file and escrow slots
  std::array<uint8_t, crypto::kSaltSize> salt{};
  Bytes wrapped_vmk;  // 72 bytes
  Bytes ext;          // the slot's extension (kinds 4 and 5), else empty

  // Kind 5: the firm public key the slot is sealed to.
  std::optional<crypto::EscrowPublicKey> escrow_public_key() const;
  // Kind 4: the token credential the slot names.
  struct Fido2Ext {
    std::string rp_id;
    Bytes credential_id;
    std::array<uint8_t, kFido2HmacSaltSize> hmac_salt{};
  };
  std::optional<Fido2Ext> fido2() const;
};

inline constexpr size_t kConfigHeaderSize = 172;
inline constexpr size_t kSlotSize = 128;
inline constexpr size_t kMaxSlots = 8;
inline constexpr size_t kConfigTrailerSize = 64;  // MAC + checksum
inline constexpr size_t kConfigCopySize = 8192;   // version 3: each of the two copies
inline constexpr uint16_t kTwoCopyConfigVersion = 3;

using MasterKey = crypto::SecretKey<crypto::KeyPurpose::kMaster>;

struct VaultConfig {
  uint16_t version = kFormatVersion;
  uint32_t features = 0;
  std::array<uint8_t, kIdSize> vault_id{};
  crypto::Cipher cipher = crypto::Cipher::kXChaCha20Poly1305;
  std::array<uint8_t, crypto::kSignPublicKeySize> sign_public{};
  Bytes wrapped_sign_secret;  // 104 bytes
  std::vector<Keyslot> slots;
  // Version 3: where in the file the copy this was parsed from starts (0: copy A,
  // kConfigCopySize: copy B).
  size_t copy_offset = 0;

  // The whole file; version 3: copy A, or copy B when A does not parse.
  static Result<VaultConfig> Parse(ByteSpan raw);
  // Version 3: the copy at `offset` alone.
  static Result<VaultConfig> ParseCopy(ByteSpan raw, size_t offset);
  // The whole file, with MAC (keyed by the VMK's config-MAC subkey) and checksum; version
  // 3: both copies, identical.
  Bytes Serialize(const MasterKey& vmk) const;
  // Whether the copy this config was parsed from, in `raw`, carries `vmk`'s MAC.
  bool MacMatches(ByteSpan raw, const MasterKey& vmk) const;

  // Tries every slot of the credential's kind; kWrongKey if none opens.
  // Then verifies the MAC over this config's copy in `raw` (the bytes Parse was given):
  // kCorruption if altered. `slot_index`, if given, receives the index of the slot that
  // opened. See UnlockConfig for the fallback to the other copy.
  Result<MasterKey> Unlock(ByteSpan raw, const Credential& cred,
                           size_t* slot_index = nullptr) const;

  // Creates a keyslot for `cred` wrapping `vmk` (kinds 1 to 4). A FIDO2 slot makes a new
  // credential on the token, unless `like` (a slot of the same token) names one to reuse.
  // kInvalidArgument for a kind this config's version cannot hold.
  Result<Keyslot> MakeSlot(const MasterKey& vmk, const Credential& cred,
                           const crypto::Argon2Params& argon, uint64_t now,
                           const Keyslot* like = nullptr) const;
  // An escrow slot (kind 5): a new random slot key sealed to `firm_key`.
  Result<Keyslot> MakeEscrowSlot(const MasterKey& vmk, const crypto::EscrowPublicKey& firm_key,
                                 uint64_t now) const;
  // Whether any keyslot is of `kind`.
  bool HasSlot(SlotKind kind) const;
  // header + slots + extensions (the MAC follows).
  size_t BodySize() const;
  // Whether it fits in its layout (version 3: a copy of 8192 bytes). Serialize needs it.
  bool Fits() const;
  // Whether `kind` fits in a config of this version (kinds 3..5 need version 3).
  bool CanHold(SlotKind kind) const;
  // Version 2 -> 3: the same slots (their wraps unchanged, AD version 2); Serialize with
  // the VMK then makes the new file.
  VaultConfig UpgradedToVersion3() const;

  // The fixed bytes a slot's wrap is bound to (docs/FORMAT.md).
  Bytes SlotAd(const Keyslot& slot) const;
  Bytes SigningAd() const;
};

struct UnlockedConfig {
  VaultConfig config;  // the copy that unlocked
  MasterKey vmk;
  size_t slot = 0;
};
// VaultConfig::Parse then Unlock; for version 3, when the parsed copy does not unlock
// (no slot opens, or its MAC fails) and the other copy parses and differs, the other copy.
Result<UnlockedConfig> UnlockConfig(ByteSpan raw, const Credential& cred);
// Re-reading with a known VMK: the first copy that parses and carries its MAC;
// kWrongKey when none does.
Result<VaultConfig> ParseAuthenticated(ByteSpan raw, const MasterKey& vmk);

// fsck: the two copies of a version 3 config (without a key: parse and checksum only).
struct ConfigCopies {
  bool two_copies = false;  // version 3
  std::optional<std::string> a_error, b_error;
  bool identical = true;
};
ConfigCopies InspectConfigCopies(ByteSpan raw);

// Derives a slot key from a credential and a slot's parameters (kinds 1 to 5).
Result<crypto::SecretKey<crypto::KeyPurpose::kSlot>> DeriveSlotKey(const Keyslot& slot,
                                                                   const Credential& cred);

}  // namespace matterfs::vault
