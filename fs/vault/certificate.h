// The certificate of destruction of a wiped matter (docs/FORMAT.md "Certificate of
// destruction"; issue 10, item 3): what a wipe destroyed, when, by whom and with which
// caveats, signed with the vault's Ed25519 key.
//
// The file is JSON, pretty-printed with a 2-space indent and a final newline, members in
// a fixed order, the last one "signature": the hex Ed25519 signature of
//
//   "matterfs destruction certificate v1" 0x00 | the file's JSON without "signature"
//
// (the same layout, so "public_key" is then the last member, and the same final newline).
// VerifyCertificate() reads the facts back, rebuilds the file from them and accepts it only
// if the rebuilt bytes equal the file's bytes and the signature is by the given vault's
// key: so a change of any byte, whitespace included, makes it fail. Verifying needs only
// the vault's id and public signing key, which its config holds in clear (no passphrase).
//
// Thread-safety: a value type and pure functions.
// Errors (VerifyCertificate): kCorruption for anything that is not a certificate of this
// vault exactly as signed, with the first reason found; kUnsupported for a newer version.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/signing.h"
#include "fs/vault/keyring.h"
#include "util/bytes.h"
#include "util/result.h"

namespace matterfs::vault {

inline constexpr char kCertificateFormat[] = "matterfs-destruction-certificate";
inline constexpr uint64_t kCertificateVersion = 1;
// Certificates are small; a verifier reads no more than this.
inline constexpr size_t kMaxCertificateSize = 64 * 1024;

struct DestructionCertificate {
  VaultId vault_id{};
  std::string matter;  // the matter's name
  MatterId matter_id{};
  uint64_t files = 0;  // regular files destroyed
  uint64_t bytes = 0;  // their plaintext bytes
  std::vector<uint32_t> key_versions_destroyed;
  std::string method;     // e.g. "crypto-shred+overwrite"
  uint32_t passes = 0;    // overwrite passes over the ciphertext
  uint64_t started = 0;   // unix seconds (written as UTC RFC 3339, util/unix_time.h)
  uint64_t finished = 0;  // unix seconds
  uint32_t operator_uid = 0;
  std::string operator_name;  // login name of operator_uid ("" if unknown)
  std::string host;
  std::vector<std::string> caveats;  // what the certificate does not prove, in words
  std::array<uint8_t, crypto::kSignPublicKeySize> public_key{};  // the vault's signing key

  bool operator==(const DestructionCertificate&) const = default;
};

// The JSON the signature covers: the certificate without "signature", final newline
// included.
std::string CertificateBody(const DestructionCertificate& c);
// The bytes signed: the context string, a 0 byte, then `body`.
Bytes CertificateMessage(std::string_view body);

// The certificate file for `c`, signed with `key`; c.public_key is set to key's public key.
std::string SignCertificate(DestructionCertificate c, const crypto::SigningKey& key);

// Checks `text` (a certificate file's bytes) against the vault whose id and signing public
// key are given, and returns the facts it certifies.
Result<DestructionCertificate> VerifyCertificate(std::string_view text, const VaultId& vault_id,
                                                 ByteSpan vault_public_key);

}  // namespace matterfs::vault
