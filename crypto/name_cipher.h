// Deterministic authenticated encryption of names (file, directory and matter names).
//
// A synthetic-IV construction over libsodium primitives (libsodium has no AES-SIV):
//   padded = name || 0x00 … to a multiple of 16 bytes (at least 16)
//   tag    = BLAKE2b-128(key = K_mac, diriv(16) || padded)
//   ct     = XChaCha20(key = K_enc, nonce = tag || 0^8) XOR padded
//   output = tag || ct
// K_mac and K_enc are subkeys 1 and 2 (context "MFSnames") of the name key. The same name
// in the same directory always gives the same output (so lookups need no directory scan);
// the per-directory IV makes equal names in different directories look unrelated.
// Decrypt recomputes the tag and compares in constant time. See docs/FORMAT.md "Names".
// Thread-safety: const methods are safe from any number of threads.
#pragma once

#include <string>
#include <string_view>

#include "crypto/secure_memory.h"
#include "util/bytes.h"
#include "util/result.h"

namespace matterfs::crypto {

inline constexpr size_t kDirIvSize = 16;

class NameCipher {
 public:
  explicit NameCipher(const SecretKey<KeyPurpose::kName>& name_key);

  Bytes Encrypt(ByteSpan dir_iv, std::string_view name) const;
  // kCorruption if the bytes were not produced by Encrypt with this key and IV.
  Result<std::string> Decrypt(ByteSpan dir_iv, ByteSpan sealed) const;

  // Random-nonce AEAD for values that must not be deterministic (symlink targets, xattr
  // values): nonce(24) | ct | tag(16) under subkey 3 (symlinks) or 4 (xattr values).
  enum class ValueKind { kSymlink = 3, kXattr = 4 };
  Bytes SealValue(ValueKind kind, ByteSpan value, ByteSpan ad) const;
  Result<Bytes> OpenValue(ValueKind kind, ByteSpan sealed, ByteSpan ad) const;

 private:
  SecretKey<KeyPurpose::kNameSub> mac_key_;
  SecretKey<KeyPurpose::kNameSub> enc_key_;
  SecretKey<KeyPurpose::kNameSub> symlink_key_;
  SecretKey<KeyPurpose::kNameSub> xattr_key_;
};

}  // namespace matterfs::crypto
