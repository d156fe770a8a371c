#include "fs/vault/vault_config.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>

namespace matterfs::vault {

namespace {
constexpr std::string_view kMagic = "MFSVAULT";
constexpr size_t kWrappedVmkSize = 32 + crypto::kWrapOverhead;
constexpr size_t kWrappedSignSize = crypto::kSignSecretKeySize + crypto::kWrapOverhead;
static_assert(kConfigHeaderSize == 68 + kWrappedSignSize);
constexpr size_t kEscrowExtSize = crypto::kEscrowPublicKeySize + crypto::kEscrowSealedSize;
constexpr size_t kMaxRpId = 64;
constexpr std::string_view kKeyFileLabel = "matterfs passphrase+keyfile v1";
constexpr std::string_view kFido2Label = "matterfs passphrase+fido2 v1";

// Offsets in the config header.
constexpr size_t kOffVersion = 8, kOffReserved1 = 10, kOffFeatures = 12, kOffVaultId = 16,
                 kOffCipher = 32, kOffSlotCount = 33, kOffReserved2 = 34, kOffSignPub = 36,
                 kOffSignWrapped = 68;
// Offsets in a slot.
constexpr size_t kSlotOffKind = 0, kSlotOffAdVersion = 1, kSlotOffCreated = 4, kSlotOffOps = 12,
                 kSlotOffMem = 20, kSlotOffSalt = 28, kSlotOffWrapped = 44, kSlotOffExtLen = 116,
                 kSlotOffReserved = 116, kSlotOffReserved3 = 118;

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
  p[kSlotOffAdVersion] = s.ad_version;
  PutU64(p + kSlotOffCreated, s.created);
  PutU64(p + kSlotOffOps, s.argon.opslimit);
  PutU64(p + kSlotOffMem, s.argon.memlimit);
  std::memcpy(p + kSlotOffSalt, s.salt.data(), crypto::kSaltSize);
}

// The bytes of the copy `c` was parsed from (the whole file before version 3).
ByteSpan CopyOf(const VaultConfig& c, ByteSpan raw) {
  if (c.version < kTwoCopyConfigVersion) return raw;
  return raw.subspan(c.copy_offset, kConfigCopySize);
}

// A FIDO2 extension: flags (0) || rp length || rp id || u16 credential length ||
// credential id || hmac salt.
std::optional<Keyslot::Fido2Ext> ParseFido2Ext(ByteSpan e) {
  if (e.size() < 2 || e[0] != 0) return std::nullopt;
  const size_t r = e[1];
  if (r < 1 || r > kMaxRpId || e.size() < 2 + r + 2) return std::nullopt;
  const size_t c = GetU16(e.data() + 2 + r);
  if (c < 1 || c > kFido2MaxCredentialId || e.size() != 2 + r + 2 + c + kFido2HmacSaltSize) {
    return std::nullopt;
  }
  Keyslot::Fido2Ext f;
  f.rp_id.assign(reinterpret_cast<const char*>(e.data() + 2), r);
  for (char ch : f.rp_id) {
    if (ch < 0x21 || ch > 0x7e) return std::nullopt;
  }
  f.credential_id.assign(e.data() + 4 + r, e.data() + 4 + r + c);
  std::memcpy(f.hmac_salt.data(), e.data() + 4 + r + c, kFido2HmacSaltSize);
  return f;
}

Bytes SerializeFido2Ext(const Keyslot::Fido2Ext& f) {
  Bytes e;
  e.push_back(0);
  e.push_back(static_cast<uint8_t>(f.rp_id.size()));
  e.insert(e.end(), f.rp_id.begin(), f.rp_id.end());
  uint8_t len[2];
  PutU16(len, static_cast<uint16_t>(f.credential_id.size()));
  e.insert(e.end(), len, len + 2);
  e.insert(e.end(), f.credential_id.begin(), f.credential_id.end());
  e.insert(e.end(), f.hmac_salt.begin(), f.hmac_salt.end());
  return e;
}

// Checks one slot's kind, reserved bytes, KDF parameters and extension; nullopt if fine.
std::optional<std::string> SlotFault(const Keyslot& s, uint16_t version) {
  const bool argon = UsesPassphrase(s.kind);
  if (argon ? !crypto::Argon2ParamsSane(s.argon)
            : (s.argon.opslimit != 0 || s.argon.memlimit != 0)) {
    return "keyslot KDF parameters out of range";
  }
  if (version < kTwoCopyConfigVersion) return std::nullopt;
  if (s.ad_version != 2 && s.ad_version != 3) return "keyslot AD version out of range";
  if (s.ad_version == 2 && s.kind != SlotKind::kPassphrase && s.kind != SlotKind::kKeyFile) {
    return "keyslot of a new kind carried over from version 2";
  }
  switch (s.kind) {
    case SlotKind::kEscrow:
      if (s.ext.size() != kEscrowExtSize) return "escrow keyslot extension has the wrong size";
      break;
    case SlotKind::kPassphraseFido2:
      if (!ParseFido2Ext(s.ext)) return "FIDO2 keyslot extension is malformed";
      break;
    default:
      if (!s.ext.empty()) return "keyslot extension on a kind that has none";
  }
  return std::nullopt;
}

Result<VaultConfig> ParseBody(ByteSpan raw, uint16_t version, size_t copy_offset) {
  VaultConfig c;
  c.version = version;
  c.copy_offset = copy_offset;
  const bool v3 = version >= kTwoCopyConfigVersion;
  if (raw.size() < kConfigHeaderSize) return Corrupt("truncated");
  const size_t n = raw[kOffSlotCount];
  if (n < 1 || n > kMaxSlots) return Corrupt("keyslot count out of range");
  size_t body = kConfigHeaderSize + n * kSlotSize;
  if (v3) {
    for (size_t i = 0; i < n; ++i) {
      body += GetU16(raw.data() + kConfigHeaderSize + i * kSlotSize + kSlotOffExtLen);
    }
    if (body + kConfigTrailerSize > raw.size()) return Corrupt("keyslot extensions too long");
  } else if (raw.size() != body + kConfigTrailerSize) {
    return Corrupt("wrong size (truncated or extended)");
  }
  uint8_t sum[32];
  crypto::Blake2bInto(sum, raw.first(body + 32), {});
  if (!crypto::ConstantTimeEqual(sum, raw.subspan(body + 32, 32)))
    return Corrupt("checksum mismatch");
  if (v3 &&
      !AllZero(raw.data() + body + kConfigTrailerSize, raw.size() - body - kConfigTrailerSize)) {
    return Corrupt("padding after the checksum is not zero");
  }
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
  size_t ext_at = kConfigHeaderSize + n * kSlotSize;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* p = raw.data() + kConfigHeaderSize + i * kSlotSize;
    Keyslot s;
    const uint8_t kind = p[kSlotOffKind];
    if (kind < 1 || kind > (v3 ? 5 : 2)) return Corrupt("unknown keyslot kind");
    s.kind = static_cast<SlotKind>(kind);
    const bool reserved_ok =
        v3 ? AllZero(p + 2, 2) && AllZero(p + kSlotOffReserved3, kSlotSize - kSlotOffReserved3)
           : AllZero(p + 1, 3) && AllZero(p + kSlotOffReserved, kSlotSize - kSlotOffReserved);
    if (!reserved_ok) return Corrupt("reserved keyslot bytes set");
    s.ad_version = v3 ? p[kSlotOffAdVersion] : 0;
    s.created = GetU64(p + kSlotOffCreated);
    s.argon = {GetU64(p + kSlotOffOps), GetU64(p + kSlotOffMem)};
    std::memcpy(s.salt.data(), p + kSlotOffSalt, crypto::kSaltSize);
    s.wrapped_vmk.assign(p + kSlotOffWrapped, p + kSlotOffWrapped + kWrappedVmkSize);
    if (v3) {
      const size_t len = GetU16(p + kSlotOffExtLen);
      s.ext.assign(raw.data() + ext_at, raw.data() + ext_at + len);
      ext_at += len;
    }
    if (auto fault = SlotFault(s, version)) return Corrupt(*fault);
    c.slots.push_back(std::move(s));
  }
  return c;
}

// Serialises one copy (versions 1 and 2: the whole file) into `out`.
void SerializeCopy(const VaultConfig& c, const MasterKey& vmk, uint8_t* out) {
  const size_t body = c.BodySize();
  SerializeHeader(c, out);
  size_t ext_at = kConfigHeaderSize + c.slots.size() * kSlotSize;
  for (size_t i = 0; i < c.slots.size(); ++i) {
    const Keyslot& s = c.slots[i];
    uint8_t* p = out + kConfigHeaderSize + i * kSlotSize;
    SerializeSlotPrefix(s, p);
    std::memcpy(p + kSlotOffWrapped, s.wrapped_vmk.data(), kWrappedVmkSize);
    if (c.version >= kTwoCopyConfigVersion) {
      PutU16(p + kSlotOffExtLen, static_cast<uint16_t>(s.ext.size()));
      if (!s.ext.empty()) std::memcpy(out + ext_at, s.ext.data(), s.ext.size());
      ext_at += s.ext.size();
    }
  }
  auto mac_key =
      crypto::DeriveSubkey<crypto::KeyPurpose::kVaultSub>(vmk, kSubkeyConfigMac, kVaultKdfContext);
  crypto::Blake2bInto({out + body, 32}, {out, body}, mac_key.bytes());
  crypto::Blake2bInto({out + body + 32, 32}, {out, body + 32}, {});
}
}  // namespace

const char* SlotKindName(SlotKind k) {
  switch (k) {
    case SlotKind::kPassphrase:
      return "passphrase";
    case SlotKind::kKeyFile:
      return "key-file";
    case SlotKind::kPassphraseKeyFile:
      return "passphrase+key-file";
    case SlotKind::kPassphraseFido2:
      return "passphrase+fido2";
    case SlotKind::kEscrow:
      return "escrow";
  }
  return "unknown";
}

bool UsesPassphrase(SlotKind k) {
  return k == SlotKind::kPassphrase || k == SlotKind::kPassphraseKeyFile ||
         k == SlotKind::kPassphraseFido2;
}

std::optional<crypto::EscrowPublicKey> Keyslot::escrow_public_key() const {
  if (kind != SlotKind::kEscrow || ext.size() != kEscrowExtSize) return std::nullopt;
  crypto::EscrowPublicKey pk{};
  std::memcpy(pk.data(), ext.data(), pk.size());
  return pk;
}

std::optional<Keyslot::Fido2Ext> Keyslot::fido2() const {
  if (kind != SlotKind::kPassphraseFido2) return std::nullopt;
  return ParseFido2Ext(ext);
}

Result<VaultConfig> VaultConfig::Parse(ByteSpan raw) {
  // Two copies (version 3): copy A, else copy B, so that damage anywhere in copy A, its
  // magic and version included, leaves the vault readable. A version 1 or 2 config is
  // never this long (at most 1260 bytes).
  std::optional<Error> first_error;
  if (raw.size() == 2 * kConfigCopySize) {
    auto a = ParseCopy(raw, 0);
    if (a.ok()) return a;
    auto b = ParseCopy(raw, kConfigCopySize);
    if (b.ok()) return b;
    first_error = a.error();
  }
  if (raw.size() < 12 || std::memcmp(raw.data(), kMagic.data(), 8) != 0) {
    return Error(Code::kCorruption, "not a matterfs vault config (bad magic)");
  }
  const uint16_t version = GetU16(raw.data() + kOffVersion);
  if (version > kFormatVersion) {
    return Error(Code::kUnsupported, "vault format version " + std::to_string(version) +
                                         " is newer than this matterfs supports (" +
                                         std::to_string(kFormatVersion) + "); upgrade matterfs");
  }
  if (version < kOldestFormatVersion) return Corrupt("format version 0");
  if (version < kTwoCopyConfigVersion) return ParseBody(raw, version, 0);
  if (first_error) {
    return Error(first_error->code(), first_error->message() + " (in both copies)");
  }
  return Corrupt("wrong size (truncated or extended)");
}

Result<VaultConfig> VaultConfig::ParseCopy(ByteSpan raw, size_t offset) {
  if (raw.size() != 2 * kConfigCopySize || (offset != 0 && offset != kConfigCopySize)) {
    return Corrupt("wrong size (truncated or extended)");
  }
  ByteSpan copy = raw.subspan(offset, kConfigCopySize);
  if (std::memcmp(copy.data(), kMagic.data(), 8) != 0) return Corrupt("bad magic");
  const uint16_t version = GetU16(copy.data() + kOffVersion);
  if (version != kTwoCopyConfigVersion) return Corrupt("a copy of another format version");
  return ParseBody(copy, version, offset);
}

bool VaultConfig::HasSlot(SlotKind kind) const {
  return std::any_of(slots.begin(), slots.end(),
                     [kind](const Keyslot& s) { return s.kind == kind; });
}

size_t VaultConfig::BodySize() const {
  size_t body = kConfigHeaderSize + slots.size() * kSlotSize;
  for (const auto& s : slots) body += s.ext.size();
  return body;
}

bool VaultConfig::Fits() const {
  return version < kTwoCopyConfigVersion || BodySize() + kConfigTrailerSize <= kConfigCopySize;
}

Bytes VaultConfig::Serialize(const MasterKey& vmk) const {
  if (!Fits()) std::abort();  // callers check Fits(); 8 slots of the largest kind fit
  if (version < kTwoCopyConfigVersion) {
    Bytes out(BodySize() + kConfigTrailerSize, 0);
    SerializeCopy(*this, vmk, out.data());
    return out;
  }
  Bytes out(2 * kConfigCopySize, 0);
  SerializeCopy(*this, vmk, out.data());
  std::memcpy(out.data() + kConfigCopySize, out.data(), kConfigCopySize);
  return out;
}

bool VaultConfig::MacMatches(ByteSpan raw, const MasterKey& vmk) const {
  ByteSpan copy = CopyOf(*this, raw);
  const size_t body = BodySize();
  if (copy.size() < body + 32) return false;
  auto mac_key =
      crypto::DeriveSubkey<crypto::KeyPurpose::kVaultSub>(vmk, kSubkeyConfigMac, kVaultKdfContext);
  uint8_t mac[32];
  crypto::Blake2bInto(mac, copy.first(body), mac_key.bytes());
  return crypto::ConstantTimeEqual(mac, copy.subspan(body, 32));
}

bool VaultConfig::CanHold(SlotKind kind) const {
  return version >= kTwoCopyConfigVersion || kind == SlotKind::kPassphrase ||
         kind == SlotKind::kKeyFile;
}

VaultConfig VaultConfig::UpgradedToVersion3() const {
  VaultConfig next = *this;
  next.version = kTwoCopyConfigVersion;
  next.copy_offset = 0;
  for (Keyslot& s : next.slots) s.ad_version = 2;  // wrapped under a version 2 AD
  return next;
}

Bytes VaultConfig::SlotAd(const Keyslot& slot) const {
  // "MFS1slot" || config bytes 0..32 (magic, version, reserved, features, vault id, cipher)
  // || slot bytes 0..43 (kind, reserved, created, opslimit, memlimit, salt); version 3:
  // the version is the slot's AD version, slot byte 1 reads as 0, and a slot with an
  // extension appends its BLAKE2b-256.
  const bool with_ext = !slot.ext.empty();
  Bytes ad(8 + 33 + kSlotOffWrapped + (with_ext ? 32 : 0));
  std::memcpy(ad.data(), "MFS1slot", 8);
  uint8_t h[kConfigHeaderSize];
  VaultConfig copy_shape;  // header fields only; slot count and signing key are excluded
  copy_shape.version = slot.ad_version != 0 ? slot.ad_version : version;
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
  ad[8 + 33 + kSlotOffAdVersion] = 0;
  if (with_ext) crypto::Blake2bInto({ad.data() + 8 + 33 + kSlotOffWrapped, 32}, slot.ext, {});
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
  switch (slot.kind) {
    case SlotKind::kPassphrase:
      return crypto::DeriveFromPassphrase(cred.secret.span(), slot.salt, slot.argon);
    case SlotKind::kKeyFile:
      return crypto::DeriveFromKeyFile(cred.secret.span(), slot.salt);
    case SlotKind::kPassphraseKeyFile: {
      if (cred.second.size() < crypto::kMinKeyFileSize) {
        return Error(Code::kInvalidArgument, "key file is shorter than 32 bytes");
      }
      MFS_ASSIGN(auto a, crypto::DeriveFromPassphrase(cred.secret.span(), slot.salt, slot.argon));
      return crypto::CombineFactors(a, kKeyFileLabel, cred.second.span());
    }
    case SlotKind::kPassphraseFido2: {
      auto f = slot.fido2();
      if (!f) return Corrupt("FIDO2 keyslot extension is malformed");
      if (!cred.token) return Error(Code::kInvalidArgument, "no FIDO2 token given");
      MFS_ASSIGN(auto a, crypto::DeriveFromPassphrase(cred.secret.span(), slot.salt, slot.argon));
      MFS_ASSIGN(crypto::SecureBuffer h,
                 cred.token->HmacSecret(f->rp_id, f->credential_id, f->hmac_salt));
      return crypto::CombineFactors(a, kFido2Label, h.span());
    }
    case SlotKind::kEscrow: {
      auto pk = slot.escrow_public_key();
      if (!pk) return Corrupt("escrow keyslot extension has the wrong size");
      return crypto::OpenEscrowSeal(ByteSpan(slot.ext).subspan(pk->size()), cred.secret.span());
    }
  }
  return Corrupt("unknown keyslot kind");
}

Result<MasterKey> VaultConfig::Unlock(ByteSpan raw, const Credential& cred,
                                      size_t* slot_index) const {
  std::optional<crypto::EscrowPublicKey> escrow_pk;
  if (cred.kind == SlotKind::kEscrow) {
    MFS_ASSIGN(escrow_pk, crypto::EscrowPublicOf(cred.secret.span()));
  }
  bool token_refused = false;
  for (size_t index = 0; index < slots.size(); ++index) {
    const Keyslot& slot = slots[index];
    if (slot.kind != cred.kind) continue;
    // An escrow key only tries the slots sealed to it (no guessing at other firms' slots).
    if (escrow_pk && slot.escrow_public_key() != escrow_pk) continue;
    auto slot_key = DeriveSlotKey(slot, cred);
    if (!slot_key.ok()) {
      // A token without this slot's credential, or an escrow seal not ours: the next slot.
      if (slot_key.error().code() == Code::kWrongKey) {
        token_refused = true;
        continue;
      }
      return slot_key.error();
    }
    auto vmk =
        crypto::UnwrapKey<crypto::KeyPurpose::kMaster>(*slot_key, slot.wrapped_vmk, SlotAd(slot));
    if (!vmk.ok()) continue;
    // The MAC over the whole config proves nothing else was edited.
    if (!MacMatches(raw, *vmk)) return Corrupt("authentication failed (the file was edited)");
    if (slot_index != nullptr) *slot_index = index;
    return std::move(vmk).value();
  }
  switch (cred.kind) {
    case SlotKind::kPassphrase: {
      // The passphrase may be right for a two-factor slot: name the factor it lacks.
      const bool key_file = HasSlot(SlotKind::kPassphraseKeyFile);
      const bool fido2 = HasSlot(SlotKind::kPassphraseFido2);
      const char* hint = key_file && fido2 ? "; two-factor keyslots also need --key-file or --fido2"
                         : key_file        ? "; two-factor keyslots also need --key-file"
                         : fido2           ? "; two-factor keyslots also need --fido2"
                                           : "";
      return Error(
          Code::kWrongKey,
          std::string("wrong passphrase (no passphrase keyslot opens this vault") + hint + ")");
    }
    case SlotKind::kKeyFile:
      return Error(Code::kWrongKey, "this key file does not unlock the vault");
    case SlotKind::kPassphraseKeyFile:
      return Error(Code::kWrongKey,
                   "this passphrase and key file together open no keyslot of this vault");
    case SlotKind::kPassphraseFido2:
      return Error(Code::kWrongKey, token_refused
                                        ? "this FIDO2 token holds no keyslot's credential"
                                        : "this passphrase and FIDO2 token together open no "
                                          "keyslot of this vault");
    case SlotKind::kEscrow:
      return Error(Code::kWrongKey, "this escrow key opens no escrow keyslot of this vault");
  }
  return Error(Code::kWrongKey, "no keyslot opens this vault");
}

Result<Keyslot> VaultConfig::MakeSlot(const MasterKey& vmk, const Credential& cred,
                                      const crypto::Argon2Params& argon, uint64_t now,
                                      const Keyslot* like) const {
  if (cred.kind == SlotKind::kEscrow) {
    return Error(Code::kInvalidArgument, "escrow keyslots are made from the firm's public key");
  }
  if (!CanHold(cred.kind)) {
    return Error(Code::kInvalidArgument,
                 std::string("a ") + SlotKindName(cred.kind) +
                     " keyslot needs vault config version 3; run matterctl config upgrade first "
                     "(matterfs releases before it cannot read version 3)");
  }
  Keyslot s;
  s.kind = cred.kind;
  s.ad_version = version >= kTwoCopyConfigVersion ? static_cast<uint8_t>(version) : 0;
  s.created = now;
  if (UsesPassphrase(cred.kind)) {
    if (!crypto::Argon2ParamsSane(argon)) {
      return Error(Code::kInvalidArgument, "Argon2id parameters out of range");
    }
    s.argon = argon;
  }
  crypto::RandomBytes(s.salt);
  if (cred.kind == SlotKind::kPassphraseFido2) {
    if (!cred.token) return Error(Code::kInvalidArgument, "no FIDO2 token given");
    Keyslot::Fido2Ext f;
    if (auto old = like != nullptr ? like->fido2() : std::nullopt) {
      f.rp_id = old->rp_id;
      f.credential_id = old->credential_id;
    } else {
      f.rp_id = kFido2DefaultRpId;
      MFS_ASSIGN(f.credential_id, cred.token->MakeCredential(f.rp_id));
    }
    if (f.credential_id.empty() || f.credential_id.size() > kFido2MaxCredentialId) {
      return Error(Code::kUnsupported, "the FIDO2 token's credential id is too long");
    }
    crypto::RandomBytes(f.hmac_salt);
    s.ext = SerializeFido2Ext(f);
  }
  MFS_ASSIGN(auto slot_key, DeriveSlotKey(s, cred));
  s.wrapped_vmk = crypto::Wrap(slot_key, vmk.bytes(), SlotAd(s));
  return s;
}

Result<Keyslot> VaultConfig::MakeEscrowSlot(const MasterKey& vmk,
                                            const crypto::EscrowPublicKey& firm_key,
                                            uint64_t now) const {
  if (!CanHold(SlotKind::kEscrow)) {
    return Error(Code::kInvalidArgument,
                 "an escrow keyslot needs vault config version 3; run matterctl config upgrade "
                 "first (matterfs releases before it cannot read version 3)");
  }
  Keyslot s;
  s.kind = SlotKind::kEscrow;
  s.ad_version = static_cast<uint8_t>(version);
  s.created = now;
  crypto::RandomBytes(s.salt);
  auto ek = crypto::SecretKey<crypto::KeyPurpose::kSlot>::Random();
  s.ext.assign(firm_key.begin(), firm_key.end());
  Bytes sealed = crypto::SealToEscrow(firm_key, ek.bytes());
  s.ext.insert(s.ext.end(), sealed.begin(), sealed.end());
  s.wrapped_vmk = crypto::Wrap(ek, vmk.bytes(), SlotAd(s));
  return s;
}

Result<UnlockedConfig> UnlockConfig(ByteSpan raw, const Credential& cred) {
  MFS_ASSIGN(VaultConfig first, VaultConfig::Parse(raw));
  size_t slot = 0;
  auto vmk = first.Unlock(raw, cred, &slot);
  if (vmk.ok()) return UnlockedConfig{std::move(first), std::move(vmk).value(), slot};
  if (first.version < kTwoCopyConfigVersion || first.copy_offset != 0 ||
      std::memcmp(raw.data(), raw.data() + kConfigCopySize, kConfigCopySize) == 0) {
    return vmk.error();
  }
  // Copy A parsed but does not unlock: it may have been damaged with a valid checksum
  // (an edit), while copy B is intact.
  auto other = VaultConfig::ParseCopy(raw, kConfigCopySize);
  if (!other.ok()) return vmk.error();
  auto vmk_b = other->Unlock(raw, cred, &slot);
  if (!vmk_b.ok()) return vmk.error();
  return UnlockedConfig{std::move(other).value(), std::move(vmk_b).value(), slot};
}

Result<VaultConfig> ParseAuthenticated(ByteSpan raw, const MasterKey& vmk) {
  MFS_ASSIGN(VaultConfig first, VaultConfig::Parse(raw));
  if (first.MacMatches(raw, vmk)) return first;
  if (first.version >= kTwoCopyConfigVersion && first.copy_offset == 0) {
    auto other = VaultConfig::ParseCopy(raw, kConfigCopySize);
    if (other.ok() && other->MacMatches(raw, vmk)) return other;
  }
  return Error(Code::kWrongKey, "the vault config does not authenticate with this master key");
}

ConfigCopies InspectConfigCopies(ByteSpan raw) {
  ConfigCopies c;
  if (raw.size() < 12 || GetU16(raw.data() + kOffVersion) < kTwoCopyConfigVersion) return c;
  c.two_copies = true;
  auto a = VaultConfig::ParseCopy(raw, 0);
  auto b = VaultConfig::ParseCopy(raw, kConfigCopySize);
  if (!a.ok()) c.a_error = a.error().message();
  if (!b.ok()) c.b_error = b.error().message();
  c.identical = raw.size() == 2 * kConfigCopySize &&
                std::memcmp(raw.data(), raw.data() + kConfigCopySize, kConfigCopySize) == 0;
  return c;
}

}  // namespace matterfs::vault
