// Name codec: plaintext names <-> names stored in the vault (docs/FORMAT.md "Names").
//
//   stored = base64url(NameCipher.Encrypt(dir IV, name)), no padding
//   if that is longer than 255 bytes: stored = ".L" + base64url(BLAKE2b-256(full)) and a
//   sibling file stored + ".n" holds the full encoded name.
// Entries starting with "." are never produced by the base64url alphabet, so metadata
// (".diriv", ".matter", ".L…", ".L….n") cannot collide with an encrypted name.
// Thread-safety: const methods are safe from any thread.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "crypto/name_cipher.h"
#include "fs/vault/format.h"
#include "fs/vault/keyring.h"
#include "util/result.h"

namespace matterfs::vault {

using DirIv = std::array<uint8_t, crypto::kDirIvSize>;

struct StoredName {
  std::string entry;                // the directory entry in the vault
  std::optional<std::string> full;  // for long names: the contents of entry + ".n"
};

enum class EntryKind { kShort, kLong, kMeta };

class NameCodec {
 public:
  explicit NameCodec(const NameKey& key) : cipher_(key) {}

  // kInvalidArgument (ENAMETOOLONG) for names over 255 bytes; "." and ".." are refused.
  Result<StoredName> Encode(const DirIv& iv, std::string_view name) const;
  // Decodes a short entry, or the full name read from a long entry's ".n" file.
  Result<std::string> Decode(const DirIv& iv, std::string_view encoded) const;
  // Decodes a long entry from the contents of its ".n" file, checking it against the entry.
  Result<std::string> DecodeLong(const DirIv& iv, std::string_view entry,
                                 std::string_view full) const;
  static EntryKind Classify(std::string_view entry);
  static std::string LongNameFile(std::string_view entry) {
    return std::string(entry) + std::string(kLongNameSuffix);
  }

  // Symlink targets and xattrs (random nonce; see FORMAT.md).
  Result<std::string> EncryptSymlink(std::string_view target) const;
  Result<std::string> DecryptSymlink(std::string_view stored) const;
  // Without the "user." prefix; ERANGE (kInvalidArgument) when too long to store.
  Result<std::string> EncryptXattrName(std::string_view name) const;
  Result<std::string> DecryptXattrName(std::string_view stored) const;
  Bytes EncryptXattrValue(std::string_view stored_name, ByteSpan value) const;
  Result<Bytes> DecryptXattrValue(std::string_view stored_name, ByteSpan sealed) const;

  const crypto::NameCipher& cipher() const { return cipher_; }

 private:
  crypto::NameCipher cipher_;
};

std::string Base64UrlEncode(ByteSpan bytes);
std::optional<Bytes> Base64UrlDecode(std::string_view text);

}  // namespace matterfs::vault
