// Authenticated encryption: the per-file block cipher and key wrapping.
//
// BlockCipher encrypts one content block under a file's data key. Output layout is
// nonce | ciphertext | tag (docs/FORMAT.md "Blocks"). AES-256-GCM (12-byte random nonce,
// only where the CPU has AES-NI) or XChaCha20-Poly1305 (24-byte random nonce).
// The expanded key schedule lives in secure memory; Seal/Open are const and may run
// on many threads at once; no allocation per call.
//
// Key wrapping is always XChaCha20-Poly1305-IETF with a random 24-byte nonce; the
// associated data binds the wrapped key to what it belongs to.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "crypto/secure_memory.h"
#include "util/bytes.h"
#include "util/result.h"

namespace matterfs::crypto {

enum class Cipher : uint8_t {
  kAes256Gcm = 1,
  kXChaCha20Poly1305 = 2,
};

const char* CipherName(Cipher c);
std::optional<Cipher> ParseCipher(std::string_view name);
// True when this CPU can run AES-256-GCM in libsodium (AES-NI and PCLMUL).
bool AesGcmAvailable();
// The cipher `matterctl init` picks when none is named.
Cipher DefaultCipher();

inline constexpr size_t kTagSize = 16;

class BlockCipher {
 public:
  // kUnsupported if the cipher is AES-GCM and this CPU lacks AES-NI.
  static Result<BlockCipher> Create(Cipher cipher, const SecretKey<KeyPurpose::kData>& key);

  BlockCipher(BlockCipher&&) noexcept = default;
  BlockCipher& operator=(BlockCipher&&) noexcept = default;

  Cipher cipher() const { return cipher_; }
  size_t NonceSize() const { return NonceSize(cipher_); }
  size_t Overhead() const { return NonceSize() + kTagSize; }
  static size_t NonceSize(Cipher c) { return c == Cipher::kAes256Gcm ? 12 : 24; }
  static size_t Overhead(Cipher c) { return NonceSize(c) + kTagSize; }

  // Encrypts `plain` into out[0 .. plain.size() + Overhead()) with a fresh random nonce.
  void Seal(ByteSpan plain, ByteSpan ad, uint8_t* out) const;
  // The same with a caller-chosen nonce: for known-answer tests only.
  void SealWithNonce(ByteSpan plain, ByteSpan ad, ByteSpan nonce, uint8_t* out) const;
  // Decrypts `sealed` (nonce|ct|tag) into out[0 .. sealed.size() - Overhead()).
  // Returns false, writing nothing usable, when authentication fails.
  [[nodiscard]] bool Open(ByteSpan sealed, ByteSpan ad, uint8_t* out) const;

 private:
  BlockCipher(Cipher c, SecureBuffer state) : cipher_(c), state_(std::move(state)) {}
  Cipher cipher_;
  SecureBuffer state_;  // AES-GCM precomputed state, or the raw XChaCha key
};

inline constexpr size_t kWrapNonceSize = 24;
inline constexpr size_t kWrapOverhead = kWrapNonceSize + kTagSize;

// Untyped cores of the typed functions below; `nonce` empty means random (tests pass one).
Bytes WrapRaw(ByteSpan kek, ByteSpan secret, ByteSpan ad, ByteSpan nonce);
Status UnwrapRaw(ByteSpan kek, ByteSpan wrapped, ByteSpan ad, std::span<uint8_t> out);

// Wraps `secret` under `kek`: returns nonce(24) | ciphertext | tag(16).
template <KeyPurpose W>
Bytes Wrap(const SecretKey<W>& kek, ByteSpan secret, ByteSpan ad) {
  return WrapRaw(kek.bytes(), secret, ad, {});
}
// Unwraps into `out` (which must be wrapped.size() - kWrapOverhead long).
// kWrongKey when authentication fails (wrong key, altered bytes or other ad).
template <KeyPurpose W>
Status Unwrap(const SecretKey<W>& kek, ByteSpan wrapped, ByteSpan ad, std::span<uint8_t> out) {
  return UnwrapRaw(kek.bytes(), wrapped, ad, out);
}
// Unwraps a 32-byte key of purpose P.
template <KeyPurpose P, KeyPurpose W>
Result<SecretKey<P>> UnwrapKey(const SecretKey<W>& kek, ByteSpan wrapped, ByteSpan ad) {
  if (wrapped.size() != SecretKey<P>::kSize + kWrapOverhead) {
    return Error(Code::kCorruption, "wrapped key has the wrong length");
  }
  Status st;
  auto key = SecretKey<P>::Make([&](uint8_t* out) {
    st = UnwrapRaw(kek.bytes(), wrapped, ad, {out, SecretKey<P>::kSize});
  });
  if (!st.ok()) return st.error();
  return key;
}

}  // namespace matterfs::crypto
