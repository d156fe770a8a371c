// Firm escrow (docs/FORMAT.md §6.11): a vault's escrow keyslot holds a random slot key
// sealed to the firm's X25519 recovery public key with a libsodium sealed box, so the
// holder of the private key (kept offline by IT) can recover the vault without any
// user's passphrase. Stateless and thread-safe.
#pragma once

#include <array>

#include "crypto/secure_memory.h"
#include "util/bytes.h"
#include "util/result.h"

namespace matterfs::crypto {

inline constexpr size_t kEscrowPublicKeySize = 32;
inline constexpr size_t kEscrowPrivateKeySize = 32;
inline constexpr size_t kEscrowSealedSize = 32 + 48;  // sealed box of a 32-byte key

using EscrowPublicKey = std::array<uint8_t, kEscrowPublicKeySize>;

struct EscrowKeyPair {
  EscrowPublicKey public_key{};
  SecureBuffer private_key;  // 32 bytes
};
EscrowKeyPair MakeEscrowKeyPair();
// The public half of a private key (kInvalidArgument unless 32 bytes).
Result<EscrowPublicKey> EscrowPublicOf(ByteSpan private_key);
// crypto_box_seal of a 32-byte key to `public_key`: 80 bytes.
Bytes SealToEscrow(const EscrowPublicKey& public_key, ByteSpan key32);
// Opens a sealed key; kWrongKey when it was not sealed to this key pair or was altered.
Result<SecretKey<KeyPurpose::kSlot>> OpenEscrowSeal(ByteSpan sealed, ByteSpan private_key);

}  // namespace matterfs::crypto
