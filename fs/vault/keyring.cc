#include "fs/vault/keyring.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <ctime>

#include "crypto/aead.h"
#include "crypto/kdf.h"
#include "fs/vault/keytable.h"
#include "util/file_io.h"

namespace matterfs::vault {

namespace {
constexpr std::string_view kMagic = "MFSKEYRG";
constexpr size_t kWrapped = 32 + crypto::kWrapOverhead;  // 72
constexpr size_t kOffVersion = 8, kOffStatus = 10, kOffCount = 11, kOffVault = 12, kOffMatter = 28,
                 kOffSeq = 44, kOffCurrent = 52, kOffTableRef = 56, kOffNameKey = 60,
                 kOffEntries = 132, kEntrySize = 4 + kWrapped, kOffMac = kKeyringCopySize - 32,
                 kOffCreated = kOffMac - 32, kOffRotated = kOffMac - 24,  // version 2
    kOffFlags = kOffMac - 16, kOffReserved2 = kOffMac - 15;  // version 3; version 2: 16 reserved
constexpr uint8_t kFlagLegacyWrapped = 1;
static_assert(kOffEntries + kMaxKeyVersions * kEntrySize <= kOffCreated);

Bytes NameKeyAd(const VaultId& v, const MatterId& m) {
  Bytes ad(8 + 32);
  std::memcpy(ad.data(), "MFS1mnk\0", 8);
  std::memcpy(ad.data() + 8, v.data(), 16);
  std::memcpy(ad.data() + 24, m.data(), 16);
  return ad;
}

Bytes WrapKeyAd(const VaultId& v, const MatterId& m, uint32_t version) {
  Bytes ad(8 + 32 + 4);
  std::memcpy(ad.data(), "MFS1mwk\0", 8);
  std::memcpy(ad.data() + 8, v.data(), 16);
  std::memcpy(ad.data() + 24, m.data(), 16);
  PutU32(ad.data() + 40, version);
  return ad;
}

Error Corrupt(const std::string& what) {
  return Error(Code::kCorruption, "matter keyring is corrupt: " + what);
}

Error Corrupt(const MatterId& matter, const std::string& what) {
  return Error(Code::kCorruption, "keyring of matter " + ToHex(matter) + " " + what);
}

// A copy holds at most kMaxKeyVersions entries (more would overrun it) and ParseCopy
// refuses one without its current version: never write what could not be read back.
Status CheckWritable(const Keyring& ring) {
  if (ring.wrap_keys.empty() || ring.wrap_keys.size() > kMaxKeyVersions) {
    return Error(Code::kInvalidArgument, "a matter keyring holds 1 to " +
                                             std::to_string(kMaxKeyVersions) + " key versions");
  }
  if (ring.wrap_keys.count(ring.current_version) == 0) {
    return Error(Code::kInvalidArgument, "the current key version is not in the keyring");
  }
  return {};
}
}  // namespace

const char* MatterStatusName(MatterStatus s) {
  switch (s) {
    case MatterStatus::kOpen:
      return "open";
    case MatterStatus::kClosed:
      return "closed";
    case MatterStatus::kHold:
      return "hold";
  }
  return "unknown";
}

Result<MatterStatus> StatusAfter(std::string_view verb, MatterStatus current) {
  std::optional<MatterStatus> target;
  if (verb == "close" && current == MatterStatus::kOpen) target = MatterStatus::kClosed;
  if (verb == "reopen" && current == MatterStatus::kClosed) target = MatterStatus::kOpen;
  if (verb == "hold" && current != MatterStatus::kHold) target = MatterStatus::kHold;
  if (verb == "release" && current == MatterStatus::kHold) target = MatterStatus::kOpen;
  if (target) return *target;
  if (verb != "close" && verb != "reopen" && verb != "hold" && verb != "release") {
    return Error(Code::kInvalidArgument,
                 "unknown verb '" + std::string(verb) + "' (close, reopen, hold or release)");
  }
  return Error(Code::kInvalidArgument,
               "cannot " + std::string(verb) + " a matter that is " + MatterStatusName(current));
}

Keyring Keyring::Create(const VaultId& vault, const MatterId& matter) {
  Keyring r;
  r.vault_id = vault;
  r.matter_id = matter;
  r.sequence = 1;
  r.current_version = 1;
  r.created = static_cast<uint64_t>(::time(nullptr));
  r.name_key = std::make_unique<NameKey>(NameKey::Random());
  r.wrap_keys.emplace(1, std::make_unique<MatterWrapKey>(MatterWrapKey::Random()));
  return r;
}

Bytes Keyring::SerializeCopy(const KeyringKeys& keys) const {
  Bytes out(kKeyringCopySize, 0);
  uint8_t* p = out.data();
  std::memcpy(p, kMagic.data(), 8);
  // A keyring without a key table entry (made before the table) stays version 2: its
  // keys are wrapped by VMK subkey 2, which version 3 does not use.
  PutU16(p + kOffVersion, table_index != 0 ? kKeyringVersion : 2);
  p[kOffStatus] = static_cast<uint8_t>(status);
  p[kOffCount] = static_cast<uint8_t>(wrap_keys.size());
  std::memcpy(p + kOffVault, vault_id.data(), 16);
  std::memcpy(p + kOffMatter, matter_id.data(), 16);
  PutU64(p + kOffSeq, sequence);
  PutU32(p + kOffCurrent, current_version);
  PutU64(p + kOffCreated, created);
  PutU64(p + kOffRotated, rotated);
  PutU32(p + kOffTableRef, table_index);
  if (table_index != 0) p[kOffFlags] = legacy_wrapped ? kFlagLegacyWrapped : 0;
  // Version 3: wrapped by the matter's root key; before: by VMK subkey 2.
  const ByteSpan kek = table_index != 0 ? root_key->bytes() : keys.wrap.bytes();
  Bytes nk = crypto::WrapRaw(kek, name_key->bytes(), NameKeyAd(vault_id, matter_id), {});
  std::memcpy(p + kOffNameKey, nk.data(), kWrapped);
  size_t i = 0;
  for (const auto& [version, key] : wrap_keys) {
    uint8_t* e = p + kOffEntries + i * kEntrySize;
    PutU32(e, version);
    Bytes w = crypto::WrapRaw(kek, key->bytes(), WrapKeyAd(vault_id, matter_id, version), {});
    std::memcpy(e + 4, w.data(), kWrapped);
    ++i;
  }
  crypto::Blake2bInto({p + kOffMac, 32}, {p, kOffMac}, keys.mac.bytes());
  return out;
}

template <crypto::KeyPurpose W>
Status Keyring::UnwrapKeys(ByteSpan copy, const crypto::SecretKey<W>& kek, size_t count) {
  const uint8_t* p = copy.data();
  MFS_ASSIGN(NameKey nk,
             (crypto::UnwrapKey<crypto::KeyPurpose::kName>(kek, copy.subspan(kOffNameKey, kWrapped),
                                                           NameKeyAd(vault_id, matter_id))));
  name_key = std::make_unique<NameKey>(std::move(nk));
  for (size_t i = 0; i < count; ++i) {
    const uint8_t* e = p + kOffEntries + i * kEntrySize;
    uint32_t v = GetU32(e);
    MFS_ASSIGN(MatterWrapKey k, (crypto::UnwrapKey<crypto::KeyPurpose::kMatterWrap>(
                                    kek, {e + 4, kWrapped}, WrapKeyAd(vault_id, matter_id, v))));
    if (!wrap_keys.emplace(v, std::make_unique<MatterWrapKey>(std::move(k))).second) {
      return Corrupt("duplicate key version");
    }
  }
  return {};
}

Result<Keyring> Keyring::ParseCopy(ByteSpan copy, const KeyringKeys& keys, const VaultId& vault,
                                   const MatterId& matter) {
  if (copy.size() != kKeyringCopySize) return Corrupt("wrong size");
  const uint8_t* p = copy.data();
  if (std::memcmp(p, kMagic.data(), 8) != 0)
    return Corrupt("bad magic (destroyed or not a keyring)");
  const uint16_t version = GetU16(p + kOffVersion);
  if (version > kKeyringVersion) {
    return Error(Code::kUnsupported, "keyring format version " + std::to_string(version) +
                                         " is newer than this matterfs supports");
  }
  uint8_t mac[32];
  crypto::Blake2bInto(mac, copy.first(kOffMac), keys.mac.bytes());
  if (!crypto::ConstantTimeEqual(mac, copy.subspan(kOffMac, 32))) {
    return Corrupt("authentication failed");
  }
  if (version == 0) return Corrupt("format version 0");
  Keyring r;
  std::memcpy(r.vault_id.data(), p + kOffVault, 16);
  std::memcpy(r.matter_id.data(), p + kOffMatter, 16);
  if (r.vault_id != vault || r.matter_id != matter) {
    return Corrupt("belongs to another vault or matter");
  }
  if (p[kOffStatus] > 2) return Corrupt("unknown status");
  r.status = static_cast<MatterStatus>(p[kOffStatus]);
  const size_t n = p[kOffCount];
  if (n < 1 || n > kMaxKeyVersions) return Corrupt("key count out of range");
  r.table_index = GetU32(p + kOffTableRef);
  if (version < 3 && r.table_index != 0) return Corrupt("reserved bytes set");
  if (version >= 3 && r.table_index == 0) return Corrupt("version 3 without a key table entry");
  r.sequence = GetU64(p + kOffSeq);
  r.current_version = GetU32(p + kOffCurrent);
  if (version >= 2) {
    r.created = GetU64(p + kOffCreated);
    r.rotated = GetU64(p + kOffRotated);
    const uint8_t flags = p[kOffFlags];
    if (flags & ~(version >= 3 ? kFlagLegacyWrapped : 0)) return Corrupt("reserved bytes set");
    r.legacy_wrapped = (flags & kFlagLegacyWrapped) != 0;
    for (size_t i = kOffReserved2; i < kOffMac; ++i) {
      if (p[i] != 0) return Corrupt("reserved bytes set");
    }
  }
  if (r.table_index != 0) {
    if (keys.table == nullptr || keys.table_wrap == nullptr) {
      return Corrupt("it needs the vault's key table (KEYSTORE/keytable), which is missing");
    }
    MFS_ASSIGN(MatterRootKey root, keys.table->Read(r.table_index - 1, matter, *keys.table_wrap));
    r.root_key = std::make_unique<MatterRootKey>(std::move(root));
    MFS_TRY(r.UnwrapKeys(copy, *r.root_key, n));
  } else {
    MFS_TRY(r.UnwrapKeys(copy, keys.wrap, n));
  }
  if (r.wrap_keys.count(r.current_version) == 0) return Corrupt("current key version missing");
  return r;
}

std::string KeyringFileName(const MatterId& id) { return ToHex(id) + ".keyring"; }

Status CreateKeyringFile(int keystore_fd, const Keyring& ring, const KeyringKeys& keys) {
  MFS_TRY(CheckWritable(ring));
  Bytes copy = ring.SerializeCopy(keys);
  Bytes file(kKeyringFileSize);
  std::memcpy(file.data(), copy.data(), kKeyringCopySize);
  std::memcpy(file.data() + kKeyringCopySize, copy.data(), kKeyringCopySize);
  MFS_TRY(WriteFileExclusive(keystore_fd, KeyringFileName(ring.matter_id), file, 0600));
  return RecordInKeyTable(ring, keys);
}

Status CheckAgainstKeyTable(const Keyring& ring, const KeyringKeys& keys) {
  if (ring.table_index == 0 || keys.table == nullptr || keys.table_wrap == nullptr) return {};
  KeyTable::EntryState recorded;
  MFS_TRY(keys.table->Read(ring.table_index - 1, ring.matter_id, *keys.table_wrap, &recorded));
  // An update writes the keyring first and the table after it, so a crash in between
  // leaves the keyring ahead: accepted (the next update records it).
  if (ring.sequence < recorded.sequence) {
    return Corrupt(ring.matter_id, "rolled back (sequence " + std::to_string(ring.sequence) +
                                       ", the key table records " +
                                       std::to_string(recorded.sequence) + ")");
  }
  if (ring.sequence == recorded.sequence && ring.status != recorded.status) {
    return Corrupt(ring.matter_id, "does not match the key table (status " +
                                       std::string(MatterStatusName(ring.status)) +
                                       ", the key table records " +
                                       MatterStatusName(recorded.status) + ")");
  }
  return {};
}

Status RecordInKeyTable(const Keyring& ring, const KeyringKeys& keys) {
  if (ring.table_index == 0 || keys.table == nullptr || keys.table_wrap == nullptr ||
      !ring.root_key) {
    return {};
  }
  return keys.table->RecordState(ring.table_index - 1, ring.matter_id, *keys.table_wrap,
                                 *ring.root_key, {ring.sequence, ring.status});
}

Result<UniqueFd> LockKeyringFile(int keystore_fd, const MatterId& matter) {
  std::string name = KeyringFileName(matter);
  UniqueFd fd(::openat(keystore_fd, name.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd.valid()) {
    int err = errno;
    if (err == ENOENT) return Error(Code::kNotFound, "matter keyring " + name + " is missing", err);
    return IoError("open keyring " + name, err);
  }
  // An open-file-description lock: a process-associated one would be dropped when any
  // other thread of this process closed its own fd of the keyring (a reader), and would
  // not exclude two threads of one process (the daemon's control requests).
  struct flock fl = {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  while (::fcntl(fd.get(), F_OFD_SETLKW, &fl) != 0) {
    if (errno != EINTR) return IoError("lock keyring " + name);
  }
  return fd;
}

namespace {
// The newest valid copy of the file at fd, not yet checked against the key table.
Result<Keyring> ReadNewestCopy(int fd, const VaultId& vault, const MatterId& matter,
                               const KeyringKeys& keys) {
  Bytes file(kKeyringFileSize);
  MFS_ASSIGN(size_t n, PreadFull(fd, file.data(), file.size(), 0));
  if (n != kKeyringFileSize) return Corrupt("truncated");
  auto a = Keyring::ParseCopy({file.data(), kKeyringCopySize}, keys, vault, matter);
  auto b =
      Keyring::ParseCopy({file.data() + kKeyringCopySize, kKeyringCopySize}, keys, vault, matter);
  if (!a.ok() && !b.ok()) return a.error();
  return !b.ok() || (a.ok() && a->sequence >= b->sequence) ? std::move(a).value()
                                                           : std::move(b).value();
}
}  // namespace

Result<Keyring> ReadKeyringFd(int fd, const VaultId& vault, const MatterId& matter,
                              const KeyringKeys& keys) {
  MFS_ASSIGN(Keyring best, ReadNewestCopy(fd, vault, matter, keys));
  Status checked = CheckAgainstKeyTable(best, keys);
  if (!checked.ok() && checked.error().code() == Code::kCorruption) {
    // Readers take no lock: an update may have written the keyring and then the table
    // between our read of the one and of the other. The table is written second, so a
    // keyring read again now holds at least what the table records, unless rolled back.
    MFS_ASSIGN(best, ReadNewestCopy(fd, vault, matter, keys));
    checked = CheckAgainstKeyTable(best, keys);
  }
  MFS_TRY(checked);
  return best;
}

Status WriteKeyringCopy(int fd, const Keyring& ring, const KeyringKeys& keys) {
  MFS_TRY(CheckWritable(ring));
  // Overwrite the copy that does not hold the newest valid state: read both sequences.
  Bytes file(kKeyringFileSize);
  MFS_ASSIGN(size_t n, PreadFull(fd, file.data(), file.size(), 0));
  if (n != kKeyringFileSize) return Corrupt("truncated");
  auto a = Keyring::ParseCopy({file.data(), kKeyringCopySize}, keys, ring.vault_id, ring.matter_id);
  auto b = Keyring::ParseCopy({file.data() + kKeyringCopySize, kKeyringCopySize}, keys,
                              ring.vault_id, ring.matter_id);
  size_t target = 0;
  if (!a.ok()) {
    target = 0;
  } else if (!b.ok()) {
    target = 1;
  } else {
    target = a->sequence <= b->sequence ? 0 : 1;
  }
  // The older copy first, then the other: after a crash at any point one copy holds
  // either the old or the new state intact, and after a completed update both hold the
  // new one, so a damaged copy never rolls the keyring back silently and a destroyed
  // key version does not linger in a stale copy.
  Bytes copy = ring.SerializeCopy(keys);
  for (size_t slot : {target, 1 - target}) {
    MFS_TRY(PwriteFull(fd, copy.data(), copy.size(), static_cast<off_t>(slot * kKeyringCopySize)));
    if (::fdatasync(fd) != 0) return IoError("fdatasync keyring");
  }
  // Then the key table, so that it never records a state the keyring does not hold.
  return RecordInKeyTable(ring, keys);
}

Result<Keyring> ReadKeyringFile(int keystore_fd, const VaultId& vault, const MatterId& matter,
                                const KeyringKeys& keys) {
  std::string name = KeyringFileName(matter);
  UniqueFd fd(::openat(keystore_fd, name.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    int err = errno;
    if (err == ENOENT) {
      return Error(Code::kNotFound,
                   "matter keyring " + name + " is missing (wiped, or wrong --keystore?)", err);
    }
    return IoError("open keyring " + name, err);
  }
  return ReadKeyringFd(fd.get(), vault, matter, keys);
}

}  // namespace matterfs::vault
