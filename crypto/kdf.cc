#include "crypto/kdf.h"

#include <sodium.h>

#include <cstring>
#include <stdexcept>

namespace matterfs::crypto {

Argon2Params DefaultArgon2Params() {
  return {crypto_pwhash_OPSLIMIT_MODERATE, crypto_pwhash_MEMLIMIT_MODERATE};
}

bool Argon2ParamsSane(const Argon2Params& p) {
  return p.opslimit >= 1 && p.opslimit <= 64 && p.memlimit >= 8192 &&
         p.memlimit <= (uint64_t{4} << 30);
}

Result<SecretKey<KeyPurpose::kSlot>> DeriveFromPassphrase(ByteSpan passphrase, ByteSpan salt,
                                                          const Argon2Params& params) {
  if (passphrase.empty()) return Error(Code::kInvalidArgument, "empty passphrase");
  if (salt.size() != kSaltSize) return Error(Code::kInvalidArgument, "salt must be 16 bytes");
  if (!Argon2ParamsSane(params))
    return Error(Code::kCorruption, "Argon2id parameters out of range");
  int rc = 0;
  auto key = SecretKey<KeyPurpose::kSlot>::Make([&](uint8_t* out) {
    rc = crypto_pwhash(out, 32, reinterpret_cast<const char*>(passphrase.data()), passphrase.size(),
                       salt.data(), params.opslimit, static_cast<size_t>(params.memlimit),
                       crypto_pwhash_ALG_ARGON2ID13);
  });
  if (rc != 0) return Error(Code::kIo, "Argon2id failed (not enough memory?)", ENOMEM);
  return key;
}

Result<SecretKey<KeyPurpose::kSlot>> DeriveFromKeyFile(ByteSpan contents, ByteSpan salt) {
  if (contents.size() < kMinKeyFileSize) {
    return Error(Code::kInvalidArgument, "key file is shorter than 32 bytes");
  }
  if (salt.size() != kSaltSize) return Error(Code::kInvalidArgument, "salt must be 16 bytes");
  static constexpr std::string_view kLabel = "matterfs keyfile v1";
  return SecretKey<KeyPurpose::kSlot>::Make([&](uint8_t* out) {
    crypto_generichash_state st;
    crypto_generichash_init(&st, salt.data(), salt.size(), 32);
    crypto_generichash_update(&st, reinterpret_cast<const uint8_t*>(kLabel.data()), kLabel.size());
    crypto_generichash_update(&st, contents.data(), contents.size());
    crypto_generichash_final(&st, out, 32);
    sodium_memzero(&st, sizeof st);
  });
}

void DeriveSubkeyRaw(ByteSpan master, uint64_t subkey_id, std::string_view context, uint8_t* out) {
  if (context.size() != crypto_kdf_CONTEXTBYTES || master.size() != crypto_kdf_KEYBYTES) {
    throw std::invalid_argument("KDF context must be 8 bytes and the key 32");
  }
  char ctx[crypto_kdf_CONTEXTBYTES];
  std::memcpy(ctx, context.data(), sizeof ctx);
  crypto_kdf_derive_from_key(out, 32, subkey_id, ctx, master.data());
}

void Blake2bInto(std::span<uint8_t> out, ByteSpan message, ByteSpan key) {
  crypto_generichash(out.data(), out.size(), message.data(), message.size(),
                     key.empty() ? nullptr : key.data(), key.size());
}

Bytes Blake2b(size_t out_len, ByteSpan message, ByteSpan key) {
  Bytes out(out_len);
  Blake2bInto(out, message, key);
  return out;
}

}  // namespace matterfs::crypto
