#include "fs/vault/file_codec.h"

#include <cstring>

namespace matterfs::vault {

namespace {
constexpr std::string_view kMagic = "MFSF";
constexpr size_t kOffVersion = 4, kOffCipher = 5, kOffFlags = 6, kOffKeyVersion = 8,
                 kOffFileId = 12, kOffWrapped = 28;
constexpr size_t kWrapped = 32 + crypto::kWrapOverhead;
static_assert(kOffWrapped + kWrapped == kHeaderSize);
}  // namespace

std::array<uint8_t, kHeaderSize> FileHeader::Serialize() const {
  std::array<uint8_t, kHeaderSize> h{};
  std::memcpy(h.data(), kMagic.data(), 4);
  h[kOffVersion] = static_cast<uint8_t>(kFormatVersion);
  h[kOffCipher] = static_cast<uint8_t>(cipher);
  PutU16(h.data() + kOffFlags, 0);
  PutU32(h.data() + kOffKeyVersion, key_version);
  std::memcpy(h.data() + kOffFileId, file_id.data(), kIdSize);
  if (wrapped_dek.size() == kWrapped)
    std::memcpy(h.data() + kOffWrapped, wrapped_dek.data(), kWrapped);
  return h;
}

Bytes FileHeader::WrapAd(const MatterId& matter) const {
  auto h = Serialize();
  Bytes ad(kIdSize + kOffWrapped);
  std::memcpy(ad.data(), matter.data(), kIdSize);
  std::memcpy(ad.data() + kIdSize, h.data(), kOffWrapped);
  return ad;
}

Result<FileHeader> FileHeader::Parse(ByteSpan raw) {
  if (raw.size() < kHeaderSize) return Error(Code::kCorruption, "file header truncated");
  if (std::memcmp(raw.data(), kMagic.data(), 4) != 0) {
    return Error(Code::kCorruption, "file header has bad magic");
  }
  if (raw[kOffVersion] != kFormatVersion) {
    if (raw[kOffVersion] > kFormatVersion) {
      return Error(Code::kUnsupported, "file format version " + std::to_string(raw[kOffVersion]) +
                                           " is newer than this matterfs");
    }
    return Error(Code::kCorruption, "file header version 0");
  }
  FileHeader h;
  if (raw[kOffCipher] != 1 && raw[kOffCipher] != 2) {
    return Error(Code::kCorruption, "file header names an unknown cipher");
  }
  h.cipher = static_cast<crypto::Cipher>(raw[kOffCipher]);
  if (GetU16(raw.data() + kOffFlags) != 0) return Error(Code::kCorruption, "file header flags set");
  h.key_version = GetU32(raw.data() + kOffKeyVersion);
  std::memcpy(h.file_id.data(), raw.data() + kOffFileId, kIdSize);
  h.wrapped_dek.assign(raw.data() + kOffWrapped, raw.data() + kHeaderSize);
  return h;
}

Result<uint64_t> BlockLayout::PlainSize(uint64_t backing_size) const {
  if (backing_size == 0) return uint64_t{0};
  if (backing_size < kHeaderSize) return Error(Code::kCorruption, "file shorter than its header");
  const uint64_t body = backing_size - kHeaderSize;
  const uint64_t full = body / stored_;
  const uint64_t rest = body % stored_;
  if (rest != 0 && rest <= overhead_) {
    return Error(Code::kCorruption, "file ends inside a block's nonce or tag");
  }
  return full * kBlockSize + (rest == 0 ? 0 : rest - overhead_);
}

uint64_t BlockLayout::BackingSize(uint64_t plain_size) const {
  if (plain_size == 0) return 0;
  const uint64_t full = plain_size / kBlockSize;
  const uint64_t rest = plain_size % kBlockSize;
  return kHeaderSize + full * stored_ + (rest == 0 ? 0 : rest + overhead_);
}

Result<std::pair<FileCrypto, FileHeader>> FileCrypto::Create(crypto::Cipher cipher,
                                                             const Keyring& ring) {
  FileHeader h;
  h.cipher = cipher;
  h.key_version = ring.current_version;
  crypto::RandomBytes(h.file_id);
  auto it = ring.wrap_keys.find(h.key_version);
  if (it == ring.wrap_keys.end()) return Error(Code::kCorruption, "current key version missing");
  DataKey dek = DataKey::Random();
  h.wrapped_dek = crypto::Wrap(*it->second, dek.bytes(), h.WrapAd(ring.matter_id));
  MFS_ASSIGN(FileCrypto fc, FromKey(h, dek));
  return std::make_pair(std::move(fc), std::move(h));
}

Result<FileCrypto> FileCrypto::Open(const FileHeader& header, const Keyring& ring) {
  auto it = ring.wrap_keys.find(header.key_version);
  if (it == ring.wrap_keys.end()) {
    // Versions are numbered 1, 2, ... up to the current one; an older one that is gone was
    // destroyed by a rotation (a file restored from an old backup): that is not tampering.
    // A version the matter never had is.
    if (header.key_version >= 1 && header.key_version < ring.current_version) {
      return Error(Code::kNotFound,
                   "file is wrapped by key version " + std::to_string(header.key_version) +
                       ", which was destroyed by a key rotation",
                   EIO);
    }
    return Error(Code::kCorruption, "file is wrapped by key version " +
                                        std::to_string(header.key_version) +
                                        ", which this matter never had");
  }
  auto dek = crypto::UnwrapKey<crypto::KeyPurpose::kData>(*it->second, header.wrapped_dek,
                                                          header.WrapAd(ring.matter_id));
  if (!dek.ok()) return Error(Code::kCorruption, "file header does not authenticate");
  return FromKey(header, *dek);
}

Result<FileCrypto> FileCrypto::FromKey(const FileHeader& header, const DataKey& dek) {
  MFS_ASSIGN(crypto::BlockCipher c, crypto::BlockCipher::Create(header.cipher, dek));
  return FileCrypto(std::move(c), header.file_id);
}

std::array<uint8_t, kIdSize + 8> FileCrypto::Ad(uint64_t index) const {
  std::array<uint8_t, kIdSize + 8> ad;
  std::memcpy(ad.data(), file_id_.data(), kIdSize);
  PutU64(ad.data() + kIdSize, index);
  return ad;
}

void FileCrypto::SealBlock(uint64_t index, ByteSpan plain, uint8_t* out) const {
  auto ad = Ad(index);
  cipher_.Seal(plain, ad, out);
}

void FileCrypto::SealBlockWithNonce(uint64_t index, ByteSpan plain, ByteSpan nonce,
                                    uint8_t* out) const {
  auto ad = Ad(index);
  cipher_.SealWithNonce(plain, ad, nonce, out);
}

bool FileCrypto::OpenBlock(uint64_t index, ByteSpan stored, uint8_t* out) const {
  auto ad = Ad(index);
  return cipher_.Open(stored, ad, out);
}

Result<FileHeader> RewrapHeader(const FileHeader& header, const Keyring& ring,
                                uint32_t new_version) {
  auto old_key = ring.wrap_keys.find(header.key_version);
  auto new_key = ring.wrap_keys.find(new_version);
  if (old_key == ring.wrap_keys.end() || new_key == ring.wrap_keys.end()) {
    return Error(Code::kNotFound, "key version not in keyring");
  }
  MFS_ASSIGN(DataKey dek,
             (crypto::UnwrapKey<crypto::KeyPurpose::kData>(*old_key->second, header.wrapped_dek,
                                                           header.WrapAd(ring.matter_id))));
  FileHeader out = header;
  out.key_version = new_version;
  out.wrapped_dek = crypto::Wrap(*new_key->second, dek.bytes(), out.WrapAd(ring.matter_id));
  return out;
}

}  // namespace matterfs::vault
