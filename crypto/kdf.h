// Key derivation: passphrases (Argon2id), key files (BLAKE2b), purpose subkeys
// (crypto_kdf_derive_from_key, i.e. BLAKE2b with a context and id), and hashing.
// Stateless and thread-safe. Argon2id may take seconds and hundreds of MiB by design.
#pragma once

#include <cstdint>
#include <string_view>

#include "crypto/secure_memory.h"
#include "util/bytes.h"
#include "util/result.h"

namespace matterfs::crypto {

inline constexpr size_t kSaltSize = 16;

struct Argon2Params {
  uint64_t opslimit;  // Argon2id passes
  uint64_t memlimit;  // bytes
};
// What `matterctl init` uses unless told otherwise: libsodium's "moderate" (3, 256 MiB).
Argon2Params DefaultArgon2Params();
// Bounds a stored config may carry; outside them the config is refused as corrupt, so
// a hostile vault cannot make the unlock allocate terabytes.
bool Argon2ParamsSane(const Argon2Params& p);

// kInvalidArgument for an empty passphrase; kIo if memory for Argon2id is unavailable.
Result<SecretKey<KeyPurpose::kSlot>> DeriveFromPassphrase(ByteSpan passphrase, ByteSpan salt,
                                                          const Argon2Params& params);

inline constexpr size_t kMinKeyFileSize = 32;
// BLAKE2b-256(key = salt, message = "matterfs keyfile v1" || contents).
Result<SecretKey<KeyPurpose::kSlot>> DeriveFromKeyFile(ByteSpan contents, ByteSpan salt);

// Two-factor slot keys (docs/FORMAT.md §6.11): BLAKE2b-256(key = the Argon2id output of
// the passphrase, message = label || second factor), so that neither factor alone, nor
// the Argon2id output without the second factor, gives the slot key. `label` is
// "matterfs passphrase+keyfile v1" or "matterfs passphrase+fido2 v1".
SecretKey<KeyPurpose::kSlot> CombineFactors(const SecretKey<KeyPurpose::kSlot>& passphrase_key,
                                            std::string_view label, ByteSpan second_factor);

// The Argon2id opslimit (1..64) that makes one run at `memlimit` take about
// `target_seconds` here: one run with opslimit 1 is timed (docs/FORMAT.md §6.3).
uint64_t CalibrateArgon2Ops(double target_seconds, uint64_t memlimit);

void DeriveSubkeyRaw(ByteSpan master, uint64_t subkey_id, std::string_view context, uint8_t* out);
// crypto_kdf_derive_from_key(subkey_id, context) of a 32-byte key. `context` is 8 chars.
template <KeyPurpose To, KeyPurpose From>
SecretKey<To> DeriveSubkey(const SecretKey<From>& master, uint64_t subkey_id,
                           std::string_view context) {
  return SecretKey<To>::Make(
      [&](uint8_t* out) { DeriveSubkeyRaw(master.bytes(), subkey_id, context, out); });
}

// BLAKE2b of `message`, out_len bytes (16..64), keyed when key is non-empty (16..64 bytes).
Bytes Blake2b(size_t out_len, ByteSpan message, ByteSpan key = {});
void Blake2bInto(std::span<uint8_t> out, ByteSpan message, ByteSpan key);

// Keyed BLAKE2b-256 MAC under a typed key.
template <KeyPurpose P>
Bytes Mac(const SecretKey<P>& key, ByteSpan message) {
  return Blake2b(32, message, key.bytes());
}

}  // namespace matterfs::crypto
