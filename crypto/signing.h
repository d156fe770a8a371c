// Ed25519 signing: the vault's key pair signs wipe certificates and audit checkpoints.
// The 64-byte secret lives in secure memory. Thread-safety: const methods are safe.
#pragma once

#include "crypto/secure_memory.h"
#include "util/bytes.h"
#include "util/result.h"

namespace matterfs::crypto {

inline constexpr size_t kSignPublicKeySize = 32;
inline constexpr size_t kSignSecretKeySize = 64;
inline constexpr size_t kSignatureSize = 64;

class SigningKey {
 public:
  static SigningKey Generate();
  // From a 32-byte seed (known-answer tests).
  static SigningKey FromSeed(ByteSpan seed);
  // Takes ownership of a 64-byte libsodium secret key; the public key is its second half.
  static Result<SigningKey> FromSecret(SecureBuffer secret);

  ByteSpan public_key() const { return {secret_.data() + 32, kSignPublicKeySize}; }
  ByteSpan secret_key() const { return secret_.span(); }
  Bytes Sign(ByteSpan message) const;

 private:
  explicit SigningKey(SecureBuffer secret) : secret_(std::move(secret)) {}
  SecureBuffer secret_;
};

bool VerifySignature(ByteSpan public_key, ByteSpan message, ByteSpan signature);

}  // namespace matterfs::crypto
