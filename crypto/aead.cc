#include "crypto/aead.h"

#include <sodium.h>

#include <cstring>
#include <string_view>

namespace matterfs::crypto {

const char* CipherName(Cipher c) {
  return c == Cipher::kAes256Gcm ? "aes-256-gcm" : "xchacha20-poly1305";
}

std::optional<Cipher> ParseCipher(std::string_view name) {
  if (name == "aes-256-gcm" || name == "aes") return Cipher::kAes256Gcm;
  if (name == "xchacha20-poly1305" || name == "xchacha") return Cipher::kXChaCha20Poly1305;
  return std::nullopt;
}

bool AesGcmAvailable() { return crypto_aead_aes256gcm_is_available() == 1; }

Cipher DefaultCipher() {
  return AesGcmAvailable() ? Cipher::kAes256Gcm : Cipher::kXChaCha20Poly1305;
}

Result<BlockCipher> BlockCipher::Create(Cipher cipher, const SecretKey<KeyPurpose::kData>& key) {
  if (cipher == Cipher::kAes256Gcm) {
    if (!AesGcmAvailable()) {
      return Error(Code::kUnsupported, "this CPU has no AES-NI; the vault's cipher is AES-256-GCM");
    }
    // Per-file: from the secure pool, whose slots are aligned for the state (16 bytes).
    static_assert(sizeof(crypto_aead_aes256gcm_state) <= kPoolSlotSize);
    SecureBuffer state(sizeof(crypto_aead_aes256gcm_state), Storage::kPooled);
    crypto_aead_aes256gcm_beforenm(reinterpret_cast<crypto_aead_aes256gcm_state*>(state.data()),
                                   key.data());
    state.ReadOnly();
    return BlockCipher(cipher, std::move(state));
  }
  if (cipher == Cipher::kXChaCha20Poly1305) {
    SecureBuffer state(crypto_aead_xchacha20poly1305_ietf_KEYBYTES, Storage::kPooled);
    std::memcpy(state.data(), key.data(), state.size());
    state.ReadOnly();
    return BlockCipher(cipher, std::move(state));
  }
  return Error(Code::kUnsupported, "unknown cipher");
}

void BlockCipher::Seal(ByteSpan plain, ByteSpan ad, uint8_t* out) const {
  uint8_t nonce[24];
  randombytes_buf(nonce, NonceSize());
  SealWithNonce(plain, ad, {nonce, NonceSize()}, out);
}

void BlockCipher::SealWithNonce(ByteSpan plain, ByteSpan ad, ByteSpan nonce, uint8_t* out) const {
  const size_t ns = NonceSize();
  std::memmove(out, nonce.data(), ns);
  uint8_t* ct = out + ns;
  uint8_t* tag = ct + plain.size();
  if (cipher_ == Cipher::kAes256Gcm) {
    crypto_aead_aes256gcm_encrypt_detached_afternm(
        ct, tag, nullptr, plain.data(), plain.size(), ad.data(), ad.size(), nullptr, out,
        reinterpret_cast<const crypto_aead_aes256gcm_state*>(state_.data()));
  } else {
    crypto_aead_xchacha20poly1305_ietf_encrypt_detached(ct, tag, nullptr, plain.data(),
                                                        plain.size(), ad.data(), ad.size(), nullptr,
                                                        out, state_.data());
  }
}

bool BlockCipher::Open(ByteSpan sealed, ByteSpan ad, uint8_t* out) const {
  const size_t ns = NonceSize();
  if (sealed.size() < ns + kTagSize) return false;
  const uint8_t* nonce = sealed.data();
  const uint8_t* ct = nonce + ns;
  const size_t ct_len = sealed.size() - ns - kTagSize;
  const uint8_t* tag = ct + ct_len;
  int rc;
  if (cipher_ == Cipher::kAes256Gcm) {
    rc = crypto_aead_aes256gcm_decrypt_detached_afternm(
        out, nullptr, ct, ct_len, tag, ad.data(), ad.size(), nonce,
        reinterpret_cast<const crypto_aead_aes256gcm_state*>(state_.data()));
  } else {
    rc = crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
        out, nullptr, ct, ct_len, tag, ad.data(), ad.size(), nonce, state_.data());
  }
  return rc == 0;
}

Bytes WrapRaw(ByteSpan kek, ByteSpan secret, ByteSpan ad, ByteSpan nonce) {
  Bytes out(kWrapNonceSize + secret.size() + kTagSize);
  if (nonce.size() == kWrapNonceSize) {
    std::memcpy(out.data(), nonce.data(), kWrapNonceSize);
  } else {
    randombytes_buf(out.data(), kWrapNonceSize);
  }
  crypto_aead_xchacha20poly1305_ietf_encrypt_detached(
      out.data() + kWrapNonceSize, out.data() + kWrapNonceSize + secret.size(), nullptr,
      secret.data(), secret.size(), ad.data(), ad.size(), nullptr, out.data(), kek.data());
  return out;
}

Status UnwrapRaw(ByteSpan kek, ByteSpan wrapped, ByteSpan ad, std::span<uint8_t> out) {
  if (wrapped.size() != out.size() + kWrapOverhead) {
    return Error(Code::kCorruption, "wrapped key has the wrong length");
  }
  const uint8_t* ct = wrapped.data() + kWrapNonceSize;
  const uint8_t* tag = ct + out.size();
  if (crypto_aead_xchacha20poly1305_ietf_decrypt_detached(out.data(), nullptr, ct, out.size(), tag,
                                                          ad.data(), ad.size(), wrapped.data(),
                                                          kek.data()) != 0) {
    sodium_memzero(out.data(), out.size());
    return Error(Code::kWrongKey, "key unwrap failed (wrong key or altered data)");
  }
  return {};
}

}  // namespace matterfs::crypto
