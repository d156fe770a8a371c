// Shared by the fuzz targets and the corpus generator (make_corpus.cc): fixed keys and
// ids, so that a seed built by the generator decrypts in the target and the fuzzer
// reaches the authenticated parts of each format; and the "fix-up" helpers that recompute
// a checksum or MAC over mutated bytes, so that mutations behind a MAC get parsed too.
//
// Nothing here is secret: these keys exist only for fuzzing. Header-only; a target may
// abort (FUZZ_CHECK) — that is how libFuzzer learns of a broken invariant.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "crypto/kdf.h"
#include "crypto/secure_memory.h"
#include "crypto/signing.h"
#include "fs/vault/file_codec.h"
#include "fs/vault/format.h"
#include "fs/vault/keyring.h"
#include "fs/vault/vault_config.h"
#include "util/bytes.h"
#include "util/unique_fd.h"

// An invariant of a decoder: a violation is a finding, reported as a crash.
#define FUZZ_CHECK(cond)                                                                     \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      std::fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                          \
    }                                                                                        \
  } while (0)

namespace matterfs::fuzz {

// 32 bytes of `seed` repeated: a fixed key, different per use.
inline std::array<uint8_t, 32> FixedBytes(uint8_t seed) {
  std::array<uint8_t, 32> b{};
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(seed + i * 7);
  return b;
}

template <crypto::KeyPurpose P>
crypto::SecretKey<P> FixedKey(uint8_t seed) {
  const auto b = FixedBytes(seed);
  return crypto::SecretKey<P>::FromBytes(b);
}

inline vault::VaultId FixedVaultId() {
  vault::VaultId id{};
  for (size_t i = 0; i < id.size(); ++i) id[i] = static_cast<uint8_t>(0xA0 + i);
  return id;
}
inline vault::MatterId FixedMatterId() {
  vault::MatterId id{};
  for (size_t i = 0; i < id.size(); ++i) id[i] = static_cast<uint8_t>(0x30 + i);
  return id;
}

// The key file that opens the fuzzed vault configs (key-file slots: no Argon2, so an
// execution stays fast).
inline Bytes FixedKeyFile() { return Bytes(64, 0x5a); }
inline vault::Credential FixedCredential() {
  const Bytes kf = FixedKeyFile();
  vault::Credential c{vault::SlotKind::kKeyFile, crypto::SecureBuffer(kf.size())};
  std::memcpy(c.secret.data(), kf.data(), kf.size());
  return c;
}
inline vault::MasterKey FixedMasterKey() { return FixedKey<crypto::KeyPurpose::kMaster>(1); }

// The two VMK subkeys that wrap and MAC a version 1/2 keyring.
struct FixedKeyringKeys {
  vault::VaultSubkey wrap = FixedKey<crypto::KeyPurpose::kVaultSub>(2);
  vault::VaultSubkey mac = FixedKey<crypto::KeyPurpose::kVaultSub>(3);
  vault::KeyringKeys keys() const { return vault::KeyringKeys{wrap, mac}; }
};

// A keyring of the fixed vault and matter with `versions` key versions 1..versions, all
// keys fixed (so a file header built with it opens in every execution).
inline vault::Keyring FixedKeyring(uint32_t versions = 2) {
  vault::Keyring r;
  r.vault_id = FixedVaultId();
  r.matter_id = FixedMatterId();
  r.sequence = 7;
  r.current_version = versions;
  r.created = 1700000000;
  r.name_key = std::make_unique<vault::NameKey>(FixedKey<crypto::KeyPurpose::kName>(4));
  for (uint32_t v = 1; v <= versions; ++v) {
    r.wrap_keys.emplace(
        v, std::make_unique<vault::MatterWrapKey>(
               FixedKey<crypto::KeyPurpose::kMatterWrap>(static_cast<uint8_t>(10 + v))));
  }
  return r;
}

inline vault::DataKey FixedDataKey() { return FixedKey<crypto::KeyPurpose::kData>(5); }

inline crypto::SigningKey FixedSigningKey() {
  const auto seed = FixedBytes(6);
  return crypto::SigningKey::FromSeed(seed);
}

// The bytes as a file: an in-memory file (memfd) holding `data`, offset 0.
inline UniqueFd MemFile(const uint8_t* data, size_t size) {
  UniqueFd fd(::memfd_create("fuzz", MFD_CLOEXEC));
  FUZZ_CHECK(fd.valid());
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::write(fd.get(), data + done, size - done);
    FUZZ_CHECK(n > 0);
    done += static_cast<size_t>(n);
  }
  return fd;
}

// A private scratch directory for targets that need real directory entries, created once
// per process (under $TMPDIR or /tmp) and removed at exit.
const std::string& ScratchDir();

// ---- fix-ups: what an attacker without the key cannot do, done for the fuzzer --------

// Vault config: recompute the config MAC (keyed by the fixed VMK) and the checksum over
// `raw` as it stands, if its slot count gives it a plausible size.
void FixUpConfig(Bytes& raw);
// Keyring copy (2048 bytes): recompute its MAC with the fixed MAC subkey.
void FixUpKeyringCopy(uint8_t* copy);
// Format 2 file header copy (512 bytes): recompute its MAC with the header MAC subkey of
// the fixed data key, for matter FixedMatterId().
void FixUpHeaderCopy(uint8_t* copy);

}  // namespace matterfs::fuzz
