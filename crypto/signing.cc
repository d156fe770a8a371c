#include "crypto/signing.h"

#include <sodium.h>

#include <stdexcept>

namespace matterfs::crypto {

SigningKey SigningKey::Generate() {
  SecureBuffer sk(crypto_sign_SECRETKEYBYTES);
  uint8_t pk[crypto_sign_PUBLICKEYBYTES];
  crypto_sign_keypair(pk, sk.data());
  sk.ReadOnly();
  return SigningKey(std::move(sk));
}

SigningKey SigningKey::FromSeed(ByteSpan seed) {
  if (seed.size() != crypto_sign_SEEDBYTES) throw std::invalid_argument("seed is 32 bytes");
  SecureBuffer sk(crypto_sign_SECRETKEYBYTES);
  uint8_t pk[crypto_sign_PUBLICKEYBYTES];
  crypto_sign_seed_keypair(pk, sk.data(), seed.data());
  sk.ReadOnly();
  return SigningKey(std::move(sk));
}

Result<SigningKey> SigningKey::FromSecret(SecureBuffer secret) {
  if (secret.size() != crypto_sign_SECRETKEYBYTES) {
    return Error(Code::kCorruption, "signing key has the wrong length");
  }
  // The public half must match the seed, or the stored key was altered.
  uint8_t pk[crypto_sign_PUBLICKEYBYTES];
  crypto_sign_ed25519_sk_to_pk(pk, secret.data());
  SecureBuffer check(crypto_sign_SECRETKEYBYTES);
  uint8_t pk2[crypto_sign_PUBLICKEYBYTES];
  crypto_sign_seed_keypair(pk2, check.data(), secret.data());
  if (sodium_memcmp(pk, pk2, sizeof pk) != 0) {
    return Error(Code::kCorruption, "signing key halves do not match");
  }
  secret.ReadOnly();
  return SigningKey(std::move(secret));
}

Bytes SigningKey::Sign(ByteSpan message) const {
  Bytes sig(crypto_sign_BYTES);
  crypto_sign_detached(sig.data(), nullptr, message.data(), message.size(), secret_.data());
  return sig;
}

bool VerifySignature(ByteSpan public_key, ByteSpan message, ByteSpan signature) {
  if (public_key.size() != crypto_sign_PUBLICKEYBYTES || signature.size() != crypto_sign_BYTES) {
    return false;
  }
  return crypto_sign_verify_detached(signature.data(), message.data(), message.size(),
                                     public_key.data()) == 0;
}

}  // namespace matterfs::crypto
