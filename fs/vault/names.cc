#include "fs/vault/names.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "crypto/kdf.h"
#include "util/file_io.h"

namespace matterfs::vault {

namespace {
constexpr std::string_view kSymlinkAd = "MFS1link";
// The fixed IV of xattr names: they belong to a file, not a directory.
constexpr DirIv kXattrIv = {'M', 'F', 'S', '1', 'x', 'a', 't', 't',
                            'r', 'n', 'a', 'm', 'e', 0,   0,   0};
}  // namespace

std::string Base64UrlEncode(ByteSpan bytes) {
  const int variant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
  std::string out(sodium_base64_encoded_len(bytes.size(), variant), '\0');
  sodium_bin2base64(out.data(), out.size(), bytes.data(), bytes.size(), variant);
  out.resize(std::strlen(out.c_str()));
  return out;
}

std::optional<Bytes> Base64UrlDecode(std::string_view text) {
  // libsodium 1.0.18 decodes bytes 0x80-0xff as if they were alphabet characters (a
  // signed char in its constant-time lookup), so "ab\xbfc" decoded like "ab_c": two
  // entries of one directory would decrypt to the same name. Only the alphabet passes.
  for (const char c : text) {
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '_')) {
      return std::nullopt;
    }
  }
  Bytes out(text.size() * 3 / 4 + 3);
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(out.data(), out.size(), text.data(), text.size(), nullptr, &len, &end,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
      end != text.data() + text.size()) {
    return std::nullopt;
  }
  out.resize(len);
  return out;
}

Result<StoredName> NameCodec::Encode(const DirIv& iv, std::string_view name) const {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string_view::npos ||
      name.find('\0') != std::string_view::npos) {
    return Error(Code::kInvalidArgument, "invalid file name", EINVAL);
  }
  if (name.size() > kMaxPlainName) {
    return Error(Code::kInvalidArgument, "file name too long", ENAMETOOLONG);
  }
  std::string encoded = Base64UrlEncode(cipher_.Encrypt(iv, name));
  if (encoded.size() <= kMaxBackingName) return StoredName{std::move(encoded), std::nullopt};
  Bytes hash = crypto::Blake2b(32, AsBytes(encoded));
  return StoredName{std::string(kLongNamePrefix) + Base64UrlEncode(hash), std::move(encoded)};
}

Result<std::string> NameCodec::Decode(const DirIv& iv, std::string_view encoded) const {
  auto raw = Base64UrlDecode(encoded);
  if (!raw) return Error(Code::kCorruption, "stored name is not base64url");
  Result<std::string> name = cipher_.Decrypt(iv, *raw);
  if (name.ok() && (*name == "." || *name == ".." || name->size() > kMaxPlainName ||
                    name->find('/') != std::string::npos)) {
    return Error(Code::kCorruption, "stored name decrypts to an impossible file name");
  }
  return name;
}

Result<std::string> NameCodec::DecodeLong(const DirIv& iv, std::string_view entry,
                                          std::string_view full) const {
  // The entry is the hash of the full name: a swapped or edited .n file is caught here.
  Bytes hash = crypto::Blake2b(32, AsBytes(full));
  if (entry != std::string(kLongNamePrefix) + Base64UrlEncode(hash)) {
    return Error(Code::kCorruption, "long-name file does not match its entry");
  }
  // Encode writes a side file only for a name too long for an entry: one that fits would
  // be a second entry (an alias) for a name that already has its short one.
  if (full.size() <= kMaxBackingName) {
    return Error(Code::kCorruption, "long-name file holds a name that fits a short entry");
  }
  return Decode(iv, full);
}

EntryKind NameCodec::Classify(std::string_view entry) {
  if (entry.empty() || entry[0] != '.') return EntryKind::kShort;
  if (entry.size() == kLongNamePrefix.size() + 43 && entry.substr(0, 2) == kLongNamePrefix) {
    return EntryKind::kLong;
  }
  return EntryKind::kMeta;
}

Result<std::string> NameCodec::EncryptSymlink(std::string_view target) const {
  if (target.empty()) return Error(Code::kInvalidArgument, "empty symlink target", ENOENT);
  std::string out = Base64UrlEncode(cipher_.SealValue(crypto::NameCipher::ValueKind::kSymlink,
                                                      AsBytes(target), AsBytes(kSymlinkAd)));
  if (out.size() >= 4096)
    return Error(Code::kInvalidArgument, "symlink target too long", ENAMETOOLONG);
  return out;
}

Result<std::string> NameCodec::DecryptSymlink(std::string_view stored) const {
  auto raw = Base64UrlDecode(stored);
  if (!raw) return Error(Code::kCorruption, "stored symlink target is not base64url");
  MFS_ASSIGN(Bytes plain,
             cipher_.OpenValue(crypto::NameCipher::ValueKind::kSymlink, *raw, AsBytes(kSymlinkAd)));
  return std::string(plain.begin(), plain.end());
}

Result<std::string> NameCodec::EncryptXattrName(std::string_view name) const {
  std::string out = Base64UrlEncode(cipher_.Encrypt(kXattrIv, name));
  // "user." + this must fit the backing filesystem's 255-byte xattr name limit.
  if (out.size() > kMaxBackingName - 5) {
    return Error(Code::kInvalidArgument, "extended attribute name too long", ERANGE);
  }
  return out;
}

Result<std::string> NameCodec::DecryptXattrName(std::string_view stored) const {
  auto raw = Base64UrlDecode(stored);
  if (!raw) return Error(Code::kCorruption, "stored xattr name is not base64url");
  return cipher_.Decrypt(kXattrIv, *raw);
}

Bytes NameCodec::EncryptXattrValue(std::string_view stored_name, ByteSpan value) const {
  return cipher_.SealValue(crypto::NameCipher::ValueKind::kXattr, value, AsBytes(stored_name));
}

Result<Bytes> NameCodec::DecryptXattrValue(std::string_view stored_name, ByteSpan sealed) const {
  return cipher_.OpenValue(crypto::NameCipher::ValueKind::kXattr, sealed, AsBytes(stored_name));
}

}  // namespace matterfs::vault
