#include "crypto/name_cipher.h"

#include <sodium.h>

#include <cstring>

#include "crypto/aead.h"
#include "crypto/kdf.h"

namespace matterfs::crypto {

namespace {
constexpr std::string_view kNameContext = "MFSnames";
constexpr size_t kNameTagSize = 16;
constexpr size_t kPad = 16;

void ComputeTag(const SecretKey<KeyPurpose::kNameSub>& mac_key, ByteSpan dir_iv, ByteSpan padded,
                uint8_t* tag) {
  crypto_generichash_state st;
  crypto_generichash_init(&st, mac_key.data(), 32, kNameTagSize);
  crypto_generichash_update(&st, dir_iv.data(), dir_iv.size());
  crypto_generichash_update(&st, padded.data(), padded.size());
  crypto_generichash_final(&st, tag, kNameTagSize);
  sodium_memzero(&st, sizeof st);
}
}  // namespace

NameCipher::NameCipher(const SecretKey<KeyPurpose::kName>& name_key)
    : mac_key_(DeriveSubkey<KeyPurpose::kNameSub>(name_key, 1, kNameContext)),
      enc_key_(DeriveSubkey<KeyPurpose::kNameSub>(name_key, 2, kNameContext)),
      symlink_key_(DeriveSubkey<KeyPurpose::kNameSub>(name_key, 3, kNameContext)),
      xattr_key_(DeriveSubkey<KeyPurpose::kNameSub>(name_key, 4, kNameContext)) {}

Bytes NameCipher::Encrypt(ByteSpan dir_iv, std::string_view name) const {
  size_t padded_len = (name.size() + kPad - 1) / kPad * kPad;
  if (padded_len == 0) padded_len = kPad;
  Bytes out(kNameTagSize + padded_len, 0);
  uint8_t* padded = out.data() + kNameTagSize;
  std::memcpy(padded, name.data(), name.size());
  ComputeTag(mac_key_, dir_iv, {padded, padded_len}, out.data());
  uint8_t nonce[crypto_stream_xchacha20_NONCEBYTES] = {};
  std::memcpy(nonce, out.data(), kNameTagSize);
  crypto_stream_xchacha20_xor(padded, padded, padded_len, nonce, enc_key_.data());
  return out;
}

Result<std::string> NameCipher::Decrypt(ByteSpan dir_iv, ByteSpan sealed) const {
  if (sealed.size() < kNameTagSize + kPad || (sealed.size() - kNameTagSize) % kPad != 0) {
    return Error(Code::kCorruption, "encrypted name has an impossible length");
  }
  const size_t padded_len = sealed.size() - kNameTagSize;
  std::string plain(padded_len, '\0');
  auto* p = reinterpret_cast<uint8_t*>(plain.data());
  uint8_t nonce[crypto_stream_xchacha20_NONCEBYTES] = {};
  std::memcpy(nonce, sealed.data(), kNameTagSize);
  crypto_stream_xchacha20_xor(p, sealed.data() + kNameTagSize, padded_len, nonce, enc_key_.data());
  uint8_t tag[kNameTagSize];
  ComputeTag(mac_key_, dir_iv, {p, padded_len}, tag);
  if (crypto_verify_16(tag, sealed.data()) != 0) {
    return Error(Code::kCorruption, "encrypted name failed authentication");
  }
  size_t len = plain.find('\0');
  if (len != std::string::npos) {
    // Padding must be all zero bytes after the first NUL.
    for (size_t i = len; i < padded_len; ++i) {
      if (plain[i] != '\0') return Error(Code::kCorruption, "encrypted name has bad padding");
    }
    plain.resize(len);
  }
  if (plain.empty()) return Error(Code::kCorruption, "encrypted name is empty");
  return plain;
}

Bytes NameCipher::SealValue(ValueKind kind, ByteSpan value, ByteSpan ad) const {
  const auto& key = kind == ValueKind::kSymlink ? symlink_key_ : xattr_key_;
  return WrapRaw(key.bytes(), value, ad, {});
}

Result<Bytes> NameCipher::OpenValue(ValueKind kind, ByteSpan sealed, ByteSpan ad) const {
  if (sealed.size() < kWrapOverhead) return Error(Code::kCorruption, "sealed value too short");
  const auto& key = kind == ValueKind::kSymlink ? symlink_key_ : xattr_key_;
  Bytes out(sealed.size() - kWrapOverhead);
  Status st = UnwrapRaw(key.bytes(), sealed, ad, out);
  if (!st.ok()) return Error(Code::kCorruption, "sealed value failed authentication");
  return out;
}

}  // namespace matterfs::crypto
