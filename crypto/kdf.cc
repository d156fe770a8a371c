#include "crypto/kdf.h"

#include <sodium.h>

#include <algorithm>
#include <chrono>
#include <cmath>
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

SecretKey<KeyPurpose::kSlot> CombineFactors(const SecretKey<KeyPurpose::kSlot>& passphrase_key,
                                            std::string_view label, ByteSpan second_factor) {
  return SecretKey<KeyPurpose::kSlot>::Make([&](uint8_t* out) {
    crypto_generichash_state st;
    crypto_generichash_init(&st, passphrase_key.data(), SecretKey<KeyPurpose::kSlot>::kSize, 32);
    crypto_generichash_update(&st, reinterpret_cast<const uint8_t*>(label.data()), label.size());
    crypto_generichash_update(&st, second_factor.data(), second_factor.size());
    crypto_generichash_final(&st, out, 32);
    sodium_memzero(&st, sizeof st);
  });
}

uint64_t CalibrateArgon2Ops(double target_seconds, uint64_t memlimit) {
  // A fixed, meaningless input: only the time matters. Runs of 1 and 3 passes separate
  // the cost of a pass from the fixed cost of getting the memory (page faults), which
  // one run alone would count as a pass.
  const uint8_t salt[kSaltSize] = {};
  const uint8_t pw[] = {'c', 'a', 'l', 'i', 'b', 'r', 'a', 't', 'e'};
  auto time = [&](uint64_t ops) {
    const auto start = std::chrono::steady_clock::now();
    auto key = DeriveFromPassphrase(pw, salt, {ops, memlimit});
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return key.ok() ? s : -1.0;
  };
  const double one = time(1);
  const double three = time(3);
  if (one <= 0 || three <= 0) return DefaultArgon2Params().opslimit;
  const double pass = std::max((three - one) / 2, three / 6);  // noise cannot make it ~0
  const double fixed = std::max(0.0, one - pass);
  const double ops = std::round((target_seconds - fixed) / pass);
  return static_cast<uint64_t>(std::clamp(ops, 1.0, 64.0));
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
