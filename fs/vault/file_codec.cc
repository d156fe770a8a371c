#include "fs/vault/file_codec.h"

#include <algorithm>
#include <cstring>

#include "crypto/kdf.h"

namespace matterfs::vault {

namespace {
constexpr std::string_view kMagic = "MFSF";
constexpr size_t kOffVersion = 4, kOffCipher = 5, kOffFlags = 6, kOffKeyVersion = 8,
                 kOffFileId = 12, kOffWrapped = 28;
constexpr size_t kWrapped = 32 + crypto::kWrapOverhead;
static_assert(kOffWrapped + kWrapped == kHeaderSize);
// Format 2 copy fields (docs/FORMAT.md §13.1a).
constexpr size_t kOffSequence = 100, kOffHoleCount = 108, kOffReserved = 110, kOffHoles = 112,
                 kHoleEntry = 16, kOffCopyMac = 496, kCopyMacSize = 16;
static_assert(kOffHoles + kMaxHoles * kHoleEntry == kOffCopyMac);
// Format 3 copy fields (docs/FORMAT.md §13.1b): the u16 at 110 holds the flags.
constexpr size_t kOffFlags3 = 110, kOffRecordedSize = 112, kOffNameTag = 120, kOffHoles3 = 136,
                 kOffReserved3 = 488;
constexpr uint16_t kFlagUnbound = 1;
static_assert(kOffHoles3 + kMaxHolesV3 * kHoleEntry == kOffReserved3);
static_assert(kOffReserved3 + 8 == kOffCopyMac);
constexpr std::string_view kNameTagPrefix = "MFS3name";
static_assert(kOffCopyMac + kCopyMacSize == kHeaderCopySize);
constexpr std::string_view kCopyMacPrefix = "MFS2fhdr";
constexpr std::string_view kFileKdfContext{"MFSfile\0", 8};
constexpr uint64_t kSubkeyHeaderMac = 1;
}  // namespace

// ---- the hole table ------------------------------------------------------------------

namespace holes {

bool Contains(const std::vector<HoleRange>& t, uint64_t block) {
  // The table is small (<= kMaxHoles, or a few more while being changed): a scan.
  for (const HoleRange& r : t) {
    if (block < r.first) return false;
    if (block - r.first < r.count) return true;
  }
  return false;
}

bool Overlaps(const std::vector<HoleRange>& t, uint64_t first, uint64_t count) {
  for (const HoleRange& r : t) {
    if (r.first < first + count && first < r.first + r.count) return true;
  }
  return false;
}

void Add(std::vector<HoleRange>& t, uint64_t first, uint64_t count) {
  if (count == 0) return;
  uint64_t lo = first;
  uint64_t hi = first + count;  // exclusive
  std::vector<HoleRange> out;
  out.reserve(t.size() + 1);
  bool placed = false;
  for (const HoleRange& r : t) {
    const uint64_t r_hi = r.first + r.count;
    if (r_hi < lo) {
      out.push_back(r);
    } else if (r.first > hi) {
      if (!placed) {
        out.push_back({lo, hi - lo});
        placed = true;
      }
      out.push_back(r);
    } else {  // overlaps or touches: merge
      lo = std::min(lo, r.first);
      hi = std::max(hi, r_hi);
    }
  }
  if (!placed) out.push_back({lo, hi - lo});
  t = std::move(out);
}

void Remove(std::vector<HoleRange>& t, uint64_t first, uint64_t count) {
  if (count == 0) return;
  const uint64_t lo = first;
  const uint64_t hi = first + count;
  std::vector<HoleRange> out;
  out.reserve(t.size() + 1);
  for (const HoleRange& r : t) {
    const uint64_t r_hi = r.first + r.count;
    if (r_hi <= lo || r.first >= hi) {
      out.push_back(r);
      continue;
    }
    if (r.first < lo) out.push_back({r.first, lo - r.first});
    if (r_hi > hi) out.push_back({hi, r_hi - hi});
  }
  t = std::move(out);
}

void Trim(std::vector<HoleRange>& t, uint64_t nblocks) { Remove(t, nblocks, UINT64_MAX - nblocks); }

Status Check(const std::vector<HoleRange>& t, size_t max) {
  if (t.size() > max) return Error(Code::kCorruption, "file header: too many holes");
  uint64_t end = 0;
  for (size_t i = 0; i < t.size(); ++i) {
    const HoleRange& r = t[i];
    if (r.count == 0 || r.first > UINT64_MAX - r.count) {
      return Error(Code::kCorruption, "file header: invalid hole entry");
    }
    if (i > 0 && r.first <= end) {  // overlapping, touching or out of order
      return Error(Code::kCorruption, "file header: hole entries out of order");
    }
    end = r.first + r.count;
  }
  return {};
}

}  // namespace holes

// ---- the header ----------------------------------------------------------------------

NameTag NameTagOf(std::string_view encoded) {
  // Encoded names are at most 363 characters (docs/FORMAT.md §11.3).
  uint8_t msg[8 + 512];
  const size_t n = std::min(encoded.size(), sizeof msg - 8);
  std::memcpy(msg, kNameTagPrefix.data(), 8);
  std::memcpy(msg + 8, encoded.data(), n);
  NameTag tag;
  crypto::Blake2bInto(tag, {msg, 8 + n}, {});
  return tag;
}

std::array<uint8_t, kHeaderSize> FileHeader::Serialize() const {
  std::array<uint8_t, kHeaderSize> h{};
  std::memcpy(h.data(), kMagic.data(), 4);
  h[kOffVersion] = version;
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
  const uint8_t version = raw[kOffVersion];
  if (version > kFileFormatVersion) {
    return Error(Code::kUnsupported,
                 "file format version " + std::to_string(version) + " is newer than this matterfs");
  }
  if (version < kOldestFormatVersion) return Error(Code::kCorruption, "file header version 0");
  FileHeader h;
  h.version = version;
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

// ---- sizes ----------------------------------------------------------------------------

Result<uint64_t> BlockLayout::PlainSize(uint64_t backing_size) const {
  if (backing_size == 0) return uint64_t{0};
  if (backing_size < header_) return Error(Code::kCorruption, "file shorter than its header");
  const uint64_t body = backing_size - header_;
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
  return header_ + full * stored_ + (rest == 0 ? 0 : rest + overhead_);
}

// ---- FileCrypto --------------------------------------------------------------------

Result<std::pair<FileCrypto, FileHeader>> FileCrypto::Create(crypto::Cipher cipher,
                                                             const Keyring& ring, uint8_t version) {
  FileHeader h;
  h.version = version;
  h.cipher = cipher;
  h.key_version = ring.current_version;
  h.sequence = version == 1 ? 0 : 1;
  crypto::RandomBytes(h.file_id);
  auto it = ring.wrap_keys.find(h.key_version);
  if (it == ring.wrap_keys.end()) return Error(Code::kCorruption, "current key version missing");
  DataKey dek = DataKey::Random();
  h.wrapped_dek = crypto::Wrap(*it->second, dek.bytes(), h.WrapAd(ring.matter_id));
  MFS_ASSIGN(FileCrypto fc, FromKey(h, dek, ring.matter_id));
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
  return FromKey(header, *dek, ring.matter_id);
}

Result<FileCrypto> FileCrypto::FromKey(const FileHeader& header, const DataKey& dek,
                                       const MatterId& matter) {
  MFS_ASSIGN(crypto::BlockCipher c, crypto::BlockCipher::Create(header.cipher, dek));
  FileCrypto fc(std::move(c), header.file_id, header.version, matter);
  if (header.version >= 2) {
    fc.header_mac_key_.emplace(
        crypto::DeriveSubkey<crypto::KeyPurpose::kFileSub>(dek, kSubkeyHeaderMac, kFileKdfContext));
  }
  return fc;
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

std::array<uint8_t, 16> FileCrypto::CopyMac(ByteSpan copy_body) const {
  uint8_t msg[8 + kIdSize + kOffCopyMac];
  std::memcpy(msg, kCopyMacPrefix.data(), 8);
  std::memcpy(msg + 8, matter_.data(), kIdSize);
  std::memcpy(msg + 8 + kIdSize, copy_body.data(), kOffCopyMac);
  std::array<uint8_t, 16> mac;
  crypto::Blake2bInto(mac, {msg, sizeof msg}, header_mac_key_->bytes());
  return mac;
}

std::array<uint8_t, kHeaderCopySize> FileCrypto::SerializeCopy(const FileHeader& header) const {
  std::array<uint8_t, kHeaderCopySize> c{};
  const auto base = header.Serialize();
  std::memcpy(c.data(), base.data(), kHeaderSize);
  PutU64(c.data() + kOffSequence, header.sequence);
  PutU16(c.data() + kOffHoleCount, static_cast<uint16_t>(header.holes.size()));
  PutU16(c.data() + kOffReserved, 0);
  size_t holes_at = kOffHoles;
  if (header.version >= 3) {
    PutU16(c.data() + kOffFlags3, header.unbound ? kFlagUnbound : 0);
    PutU64(c.data() + kOffRecordedSize, header.recorded_size);
    if (!header.unbound) std::memcpy(c.data() + kOffNameTag, header.name_tag.data(), 16);
    holes_at = kOffHoles3;
  }
  for (size_t i = 0; i < header.holes.size() && i < MaxHoles(header.version); ++i) {
    PutU64(c.data() + holes_at + i * kHoleEntry, header.holes[i].first);
    PutU64(c.data() + holes_at + i * kHoleEntry + 8, header.holes[i].count);
  }
  const auto mac = CopyMac({c.data(), kOffCopyMac});
  std::memcpy(c.data() + kOffCopyMac, mac.data(), kCopyMacSize);
  return c;
}

Result<FileHeader> FileCrypto::ParseCopy(ByteSpan copy) const {
  if (copy.size() != kHeaderCopySize || !header_mac_key_) {
    return Error(Code::kCorruption, "file header copy truncated");
  }
  const auto mac = CopyMac(copy.first(kOffCopyMac));
  if (!crypto::ConstantTimeEqual(mac, copy.subspan(kOffCopyMac, kCopyMacSize))) {
    return Error(Code::kCorruption, "file header copy does not authenticate");
  }
  MFS_ASSIGN(FileHeader h, FileHeader::Parse(copy.first(kHeaderSize)));
  // A copy names the file's own version, id and cipher: a copy that authenticates but
  // names another cipher (only a holder of the data key could make one) would describe
  // blocks this FileCrypto does not decrypt.
  if (h.version != version_ || h.file_id != file_id_ || h.cipher != cipher_.cipher()) {
    return Error(Code::kCorruption, "file header copy belongs to another file");
  }
  h.sequence = GetU64(copy.data() + kOffSequence);
  const size_t n = GetU16(copy.data() + kOffHoleCount);
  const size_t max = MaxHoles(h.version);
  size_t holes_at = kOffHoles;
  if (h.version >= 3) {
    const uint16_t flags = GetU16(copy.data() + kOffFlags3);
    h.unbound = (flags & kFlagUnbound) != 0;
    h.recorded_size = GetU64(copy.data() + kOffRecordedSize);
    std::memcpy(h.name_tag.data(), copy.data() + kOffNameTag, 16);
    const bool tag_zero =
        std::all_of(h.name_tag.begin(), h.name_tag.end(), [](uint8_t b) { return b == 0; });
    if ((flags & ~kFlagUnbound) != 0 || (h.unbound && !tag_zero) ||
        h.recorded_size > kMaxPlainFileSize || GetU64(copy.data() + kOffReserved3) != 0) {
      return Error(Code::kCorruption, "file header copy has invalid fields");
    }
    holes_at = kOffHoles3;
  } else if (GetU16(copy.data() + kOffReserved) != 0) {
    return Error(Code::kCorruption, "file header copy has invalid fields");
  }
  if (n > max || h.sequence == 0) {
    return Error(Code::kCorruption, "file header copy has invalid fields");
  }
  for (size_t i = 0; i < max; ++i) {
    const uint64_t first = GetU64(copy.data() + holes_at + i * kHoleEntry);
    const uint64_t count = GetU64(copy.data() + holes_at + i * kHoleEntry + 8);
    if (i < n) {
      h.holes.push_back({first, count});
    } else if (first != 0 || count != 0) {
      return Error(Code::kCorruption, "file header copy has a stray hole entry");
    }
  }
  MFS_TRY(holes::Check(h.holes, max));
  return h;
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
