#include "fs/vault/vault_config.h"

#include <cstring>
#include <string>

namespace matterfs::vault {

namespace {
constexpr std::string_view kMagic = "MFSVAULT";
constexpr size_t kWrappedVmkSize = 32 + crypto::kWrapOverhead;
constexpr size_t kWrappedSignSize = crypto::kSignSecretKeySize + crypto::kWrapOverhead;
static_assert(kConfigHeaderSize == 68 + kWrappedSignSize);

// Offsets in the config header.
constexpr size_t kOffVersion = 8, kOffReserved1 = 10, kOffFeatures = 12, kOffVaultId = 16,
                 kOffCipher = 32, kOffSlotCount = 33, kOffReserved2 = 34, kOffSignPub = 36,
                 kOffSignWrapped = 68;
// Offsets in a slot.
constexpr size_t kSlotOffKind = 0, kSlotOffCreated = 4, kSlotOffOps = 12, kSlotOffMem = 20,
                 kSlotOffSalt = 28, kSlotOffWrapped = 44, kSlotOffReserved = 116;

Error Corrupt(const std::string& what) {
  return Error(Code::kCorruption, "vault config is corrupt: " + what);
}

bool AllZero(const uint8_t* p, size_t n) {
  uint8_t acc = 0;
  for (size_t i = 0; i < n; ++i) acc |= p[i];
  return acc == 0;
}

void SerializeHeader(const VaultConfig& c, uint8_t* h) {
  std::memcpy(h, kMagic.data(), 8);
  PutU16(h + kOffVersion, c.version);
  PutU16(h + kOffReserved1, 0);
  PutU32(h + kOffFeatures, c.features);
  std::memcpy(h + kOffVaultId, c.vault_id.data(), kIdSize);
  h[kOffCipher] = static_cast<uint8_t>(c.cipher);
  h[kOffSlotCount] = static_cast<uint8_t>(c.slots.size());
  PutU16(h + kOffReserved2, 0);
  std::memcpy(h + kOffSignPub, c.sign_public.data(), 32);
  std::memcpy(h + kOffSignWrapped, c.wrapped_sign_secret.data(), kWrappedSignSize);
}

void SerializeSlotPrefix(const Keyslot& s, uint8_t* p) {
  std::memset(p, 0, kSlotOffWrapped);
  p[kSlotOffKind] = static_cast<uint8_t>(s.kind);
  PutU64(p + kSlotOffCreated, s.created);
  PutU64(p + kSlotOffOps, s.argon.opslimit);
  PutU64(p + kSlotOffMem, s.argon.memlimit);
  std::memcpy(p + kSlotOffSalt, s.salt.data(), crypto::kSaltSize);
}
}  // namespace

const char* SlotKindName(SlotKind k) {
  return k == SlotKind::kPassphrase ? "passphrase" : "key-file";
}

Result<VaultConfig> VaultConfig::Parse(ByteSpan raw) {
  if (raw.size() < 12 || std::memcmp(raw.data(), kMagic.data(), 8) != 0) {
    return Error(Code::kCorruption, "not a matterfs vault config (bad magic)");
  }
  VaultConfig c;
  c.version = GetU16(raw.data() + kOffVersion);
  if (c.version > kFormatVersion) {
    return Error(Code::kUnsupported, "vault format version " + std::to_string(c.version) +
                                         " is newer than this matterfs supports (" +
                                         std::to_string(kFormatVersion) + "); upgrade matterfs");
  }
  if (c.version < kOldestFormatVersion) return Corrupt("format version 0");
  if (raw.size() < kConfigHeaderSize) return Corrupt("truncated");
  const size_t n = raw[kOffSlotCount];
  if (n < 1 || n > kMaxSlots) return Corrupt("keyslot count out of range");
  const size_t body = kConfigHeaderSize + n * kSlotSize;
  if (raw.size() != body + kConfigTrailerSize) return Corrupt("wrong size (truncated or extended)");
  uint8_t sum[32];
  crypto::Blake2bInto(sum, raw.first(body + 32), {});
  if (!crypto::ConstantTimeEqual(sum, raw.subspan(body + 32, 32)))
    return Corrupt("checksum mismatch");
  c.features = GetU32(raw.data() + kOffFeatures);
  if ((c.features & ~kKnownFeatures) != 0) {
    return Error(Code::kUnsupported, "vault requires features this matterfs does not know");
  }
  if ((c.features & kFeatureFileFormat3) && c.version < 2) {
    return Corrupt("file format 3 in a vault of format 1");
  }
  if (GetU16(raw.data() + kOffReserved1) != 0 || GetU16(raw.data() + kOffReserved2) != 0) {
    return Corrupt("reserved bytes set");
  }
  std::memcpy(c.vault_id.data(), raw.data() + kOffVaultId, kIdSize);
  const uint8_t cipher = raw[kOffCipher];
  if (cipher != 1 && cipher != 2) return Corrupt("unknown cipher");
  c.cipher = static_cast<crypto::Cipher>(cipher);
  std::memcpy(c.sign_public.data(), raw.data() + kOffSignPub, 32);
  c.wrapped_sign_secret.assign(raw.data() + kOffSignWrapped,
                               raw.data() + kOffSignWrapped + kWrappedSignSize);
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* p = raw.data() + kConfigHeaderSize + i * kSlotSize;
    Keyslot s;
    if (p[kSlotOffKind] != 1 && p[kSlotOffKind] != 2) return Corrupt("unknown keyslot kind");
    s.kind = static_cast<SlotKind>(p[kSlotOffKind]);
    if (!AllZero(p + 1, 3) || !AllZero(p + kSlotOffReserved, kSlotSize - kSlotOffReserved)) {
      return Corrupt("reserved keyslot bytes set");
    }
    s.created = GetU64(p + kSlotOffCreated);
    s.argon = {GetU64(p + kSlotOffOps), GetU64(p + kSlotOffMem)};
    if (s.kind == SlotKind::kPassphrase ? !crypto::Argon2ParamsSane(s.argon)
                                        : (s.argon.opslimit != 0 || s.argon.memlimit != 0)) {
      return Corrupt("keyslot KDF parameters out of range");
    }
    std::memcpy(s.salt.data(), p + kSlotOffSalt, crypto::kSaltSize);
    s.wrapped_vmk.assign(p + kSlotOffWrapped, p + kSlotOffWrapped + kWrappedVmkSize);
    c.slots.push_back(std::move(s));
  }
  return c;
}

Bytes VaultConfig::Serialize(const MasterKey& vmk) const {
  const size_t body = kConfigHeaderSize + slots.size() * kSlotSize;
  Bytes out(body + kConfigTrailerSize, 0);
  SerializeHeader(*this, out.data());
  for (size_t i = 0; i < slots.size(); ++i) {
    uint8_t* p = out.data() + kConfigHeaderSize + i * kSlotSize;
    SerializeSlotPrefix(slots[i], p);
    std::memcpy(p + kSlotOffWrapped, slots[i].wrapped_vmk.data(), kWrappedVmkSize);
  }
  auto mac_key =
      crypto::DeriveSubkey<crypto::KeyPurpose::kVaultSub>(vmk, kSubkeyConfigMac, kVaultKdfContext);
  crypto::Blake2bInto({out.data() + body, 32}, {out.data(), body}, mac_key.bytes());
  crypto::Blake2bInto({out.data() + body + 32, 32}, {out.data(), body + 32}, {});
  return out;
}

Bytes VaultConfig::SlotAd(const Keyslot& slot) const {
  // "MFS1slot" || config bytes 0..32 (magic, version, reserved, features, vault id, cipher)
  // || slot bytes 0..43 (kind, reserved, created, opslimit, memlimit, salt).
  Bytes ad(8 + 33 + kSlotOffWrapped);
  std::memcpy(ad.data(), "MFS1slot", 8);
  uint8_t h[kConfigHeaderSize];
  VaultConfig copy_shape;  // header fields only; slot count and signing key are excluded
  copy_shape.version = version;
  // Bits 1 (master key rotation unfinished) and 2 (file format 3) are not bound: the
  // rotation clears bit 1 at its end, and an upgrade may set bit 2, without the slots'
  // secrets; the config MAC covers both.
  copy_shape.features = features & ~kFeaturesOutsideSlotAd;
  copy_shape.vault_id = vault_id;
  copy_shape.cipher = cipher;
  copy_shape.wrapped_sign_secret.assign(kWrappedSignSize, 0);
  SerializeHeader(copy_shape, h);
  std::memcpy(ad.data() + 8, h, 33);
  SerializeSlotPrefix(slot, ad.data() + 8 + 33);
  return ad;
}

Bytes VaultConfig::SigningAd() const {
  Bytes ad(8 + kIdSize + 32);
  std::memcpy(ad.data(), "MFS1sign", 8);
  std::memcpy(ad.data() + 8, vault_id.data(), kIdSize);
  std::memcpy(ad.data() + 8 + kIdSize, sign_public.data(), 32);
  return ad;
}

Result<crypto::SecretKey<crypto::KeyPurpose::kSlot>> DeriveSlotKey(const Keyslot& slot,
                                                                   const Credential& cred) {
  if (slot.kind == SlotKind::kPassphrase) {
    return crypto::DeriveFromPassphrase(cred.secret.span(), slot.salt, slot.argon);
  }
  return crypto::DeriveFromKeyFile(cred.secret.span(), slot.salt);
}

Result<MasterKey> VaultConfig::Unlock(ByteSpan raw, const Credential& cred,
                                      size_t* slot_index) const {
  for (size_t index = 0; index < slots.size(); ++index) {
    const Keyslot& slot = slots[index];
    if (slot.kind != cred.kind) continue;
    auto slot_key = DeriveSlotKey(slot, cred);
    if (!slot_key.ok()) return slot_key.error();
    auto vmk =
        crypto::UnwrapKey<crypto::KeyPurpose::kMaster>(*slot_key, slot.wrapped_vmk, SlotAd(slot));
    if (!vmk.ok()) continue;
    // The MAC over the whole config proves nothing else was edited.
    const size_t body = kConfigHeaderSize + slots.size() * kSlotSize;
    auto mac_key = crypto::DeriveSubkey<crypto::KeyPurpose::kVaultSub>(*vmk, kSubkeyConfigMac,
                                                                       kVaultKdfContext);
    uint8_t mac[32];
    crypto::Blake2bInto(mac, raw.first(body), mac_key.bytes());
    if (!crypto::ConstantTimeEqual(mac, raw.subspan(body, 32))) {
      return Corrupt("authentication failed (the file was edited)");
    }
    if (slot_index != nullptr) *slot_index = index;
    return std::move(vmk).value();
  }
  if (cred.kind == SlotKind::kPassphrase) {
    return Error(Code::kWrongKey, "wrong passphrase (no passphrase keyslot opens this vault)");
  }
  return Error(Code::kWrongKey, "this key file does not unlock the vault");
}

Result<Keyslot> VaultConfig::MakeSlot(const MasterKey& vmk, const Credential& cred,
                                      const crypto::Argon2Params& argon, uint64_t now) const {
  Keyslot s;
  s.kind = cred.kind;
  s.created = now;
  if (cred.kind == SlotKind::kPassphrase) {
    if (!crypto::Argon2ParamsSane(argon)) {
      return Error(Code::kInvalidArgument, "Argon2id parameters out of range");
    }
    s.argon = argon;
  }
  crypto::RandomBytes(s.salt);
  MFS_ASSIGN(auto slot_key, DeriveSlotKey(s, cred));
  s.wrapped_vmk = crypto::Wrap(slot_key, vmk.bytes(), SlotAd(s));
  return s;
}

}  // namespace matterfs::vault
