#include "fs/vault/keytable.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <optional>

#include "crypto/aead.h"
#include "util/file_io.h"

namespace matterfs::vault {
namespace {

constexpr std::string_view kHeaderMagic = "MFSKTABL";
constexpr std::string_view kLiveMagic = "MFSKTENT";
constexpr std::string_view kDeadMagic = "MFSKTDEL";
// Version 2 entries may carry the matter's keyring state (below); version 1 tables are
// still read, and move to version 2 at their first state write.
constexpr uint16_t kTableVersion = 2;
constexpr size_t kOffIndex = 8, kOffMatter = 16, kOffWrapped = 32;
constexpr size_t kWrapped = MatterRootKey::kSize + crypto::kWrapOverhead;  // 72
// The keyring state of a live copy: le64 sequence (0: none recorded), u8 status, then
// zeros to the end of the sector.
constexpr size_t kOffSequence = kOffWrapped + kWrapped, kOffStatus = kOffSequence + 8,
                 kOffPadding = kOffStatus + 1;  // 104, 112, 113
constexpr size_t kEntrySize = 2 * kKeyTableSector;

using Sector = std::array<uint8_t, kKeyTableSector>;

off_t EntryOffset(uint32_t index) {
  return static_cast<off_t>(kKeyTableSector + static_cast<uint64_t>(index) * kEntrySize);
}

// The AD of the wrapped MRK. A copy that records the keyring's state binds it here
// ("MFS1mrks", with the sequence and status appended): the wrap authenticates the state,
// and a copy stripped of its state no longer opens (its wrap was made under the other AD).
Bytes RootKeyAd(const VaultId& vault, const MatterId& matter, uint32_t index,
                const KeyTable::EntryState& state) {
  const bool stateful = state.sequence != 0;
  Bytes ad(8 + 16 + 16 + 4 + (stateful ? 9 : 0));
  std::memcpy(ad.data(), stateful ? "MFS1mrks" : "MFS1mrk\0", 8);
  std::memcpy(ad.data() + 8, vault.data(), 16);
  std::memcpy(ad.data() + 24, matter.data(), 16);
  PutU32(ad.data() + 40, index);
  if (stateful) {
    PutU64(ad.data() + 44, state.sequence);
    ad[52] = static_cast<uint8_t>(state.status);
  }
  return ad;
}

Sector EntryCopy(std::string_view magic, uint32_t index, const MatterId& matter, ByteSpan wrapped,
                 const KeyTable::EntryState& state = {}) {
  Sector s{};
  std::memcpy(s.data(), magic.data(), 8);
  PutU32(s.data() + kOffIndex, index);
  std::memcpy(s.data() + kOffMatter, matter.data(), 16);
  if (!wrapped.empty()) std::memcpy(s.data() + kOffWrapped, wrapped.data(), wrapped.size());
  if (state.sequence != 0) {
    PutU64(s.data() + kOffSequence, state.sequence);
    s[kOffStatus] = static_cast<uint8_t>(state.status);
  }
  return s;
}

Sector LiveCopy(const VaultId& vault, uint32_t index, const MatterId& matter,
                const VaultSubkey& wrap, const MatterRootKey& key,
                const KeyTable::EntryState& state) {
  const Bytes wrapped = crypto::Wrap(wrap, key.bytes(), RootKeyAd(vault, matter, index, state));
  return EntryCopy(kLiveMagic, index, matter, wrapped, state);
}

Error Corrupt(uint32_t index, const std::string& what) {
  return Error(Code::kCorruption, "key table entry " + std::to_string(index) + ": " + what);
}

enum class CopyState { kLive, kDead, kOther };

// What one copy says about entry `index` of `matter`.
CopyState Classify(const Sector& s, uint32_t index, const MatterId& matter) {
  if (GetU32(s.data() + kOffIndex) != index || GetU32(s.data() + 12) != 0 ||
      std::memcmp(s.data() + kOffMatter, matter.data(), 16) != 0) {
    return CopyState::kOther;
  }
  if (std::memcmp(s.data(), kLiveMagic.data(), 8) == 0) return CopyState::kLive;
  if (std::memcmp(s.data(), kDeadMagic.data(), 8) == 0) return CopyState::kDead;
  return CopyState::kOther;
}

Result<std::array<Sector, 2>> ReadEntry(int fd, uint32_t index) {
  std::array<Sector, 2> copies{};
  uint8_t raw[kEntrySize];
  MFS_ASSIGN(size_t got, PreadFull(fd, raw, sizeof raw, EntryOffset(index)));
  if (got != sizeof raw) return Corrupt(index, "beyond the end of the table");
  std::memcpy(copies[0].data(), raw, kKeyTableSector);
  std::memcpy(copies[1].data(), raw + kKeyTableSector, kKeyTableSector);
  return copies;
}

struct Opened {
  MatterRootKey key;
  KeyTable::EntryState state;
};

// The MRK and recorded state of one live copy, if it opens under `wrap`.
std::optional<Opened> OpenCopy(const Sector& s, const VaultId& vault, const MatterId& matter,
                               uint32_t index, const VaultSubkey& wrap) {
  KeyTable::EntryState state;
  state.sequence = GetU64(s.data() + kOffSequence);
  const uint8_t status = s[kOffStatus];
  if (status > 2 || (state.sequence == 0 && status != 0)) return std::nullopt;
  state.status = static_cast<MatterStatus>(status);
  for (size_t i = kOffPadding; i < s.size(); ++i) {
    if (s[i] != 0) return std::nullopt;
  }
  auto key = crypto::UnwrapKey<crypto::KeyPurpose::kMatterRoot>(
      wrap, {s.data() + kOffWrapped, kWrapped}, RootKeyAd(vault, matter, index, state));
  if (!key.ok()) return std::nullopt;
  return Opened{std::move(key).value(), state};
}

Status WriteBoth(int fd, uint32_t index, const Sector& a, const Sector& b) {
  uint8_t raw[kEntrySize];
  std::memcpy(raw, a.data(), kKeyTableSector);
  std::memcpy(raw + kKeyTableSector, b.data(), kKeyTableSector);
  MFS_TRY(PwriteFull(fd, raw, sizeof raw, EntryOffset(index)));
  if (::fdatasync(fd) != 0) return IoError("fdatasync key table");
  return {};
}

}  // namespace

Result<KeyTable> KeyTable::Open(int keystore_fd, const VaultId& vault, bool create) {
  UniqueFd fd(::openat(keystore_fd, kKeyTableName, O_RDWR | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid() && !create && (errno == EROFS || errno == EACCES)) {
    // Read-only storage (a backup being checked): reading works; a write fails (EBADF).
    fd.reset(::openat(keystore_fd, kKeyTableName, O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  }
  if (!fd.valid() && errno == ENOENT) {
    if (!create) return Error(Code::kNotFound, "the vault has no key table", ENOENT);
    Sector header{};
    std::memcpy(header.data(), kHeaderMagic.data(), 8);
    PutU16(header.data() + 8, kTableVersion);
    std::memcpy(header.data() + 16, vault.data(), 16);
    Status made = WriteFileExclusive(keystore_fd, kKeyTableName, header, 0600);
    if (!made.ok() && made.error().code() != Code::kExists) return made.error();
    fd.reset(::openat(keystore_fd, kKeyTableName, O_RDWR | O_CLOEXEC | O_NOFOLLOW));
  }
  if (!fd.valid()) return IoError("open the key table");
  Sector header{};
  MFS_ASSIGN(size_t got, PreadFull(fd.get(), header.data(), header.size(), 0));
  if (got != header.size() || std::memcmp(header.data(), kHeaderMagic.data(), 8) != 0) {
    return Error(Code::kCorruption, "the key table's header does not parse");
  }
  const uint16_t version = GetU16(header.data() + 8);
  if (version != 1 && version != kTableVersion) {
    return Error(Code::kUnsupported, "key table version " +
                                         std::to_string(GetU16(header.data() + 8)) +
                                         " is not one this matterfs supports");
  }
  if (std::memcmp(header.data() + 16, vault.data(), 16) != 0) {
    return Error(Code::kCorruption, "the key table belongs to another vault");
  }
  return KeyTable(std::move(fd), vault);
}

uint32_t KeyTable::entries() const {
  struct stat st;
  if (::fstat(fd_.get(), &st) != 0 || st.st_size < static_cast<off_t>(kKeyTableSector)) return 0;
  return static_cast<uint32_t>((static_cast<uint64_t>(st.st_size) - kKeyTableSector) / kEntrySize);
}

Result<KeyTable::Added> KeyTable::Add(const MatterId& matter, const VaultSubkey& wrap) {
  const uint32_t index = entries();
  MatterRootKey key = MatterRootKey::Random();
  const Sector copy = LiveCopy(vault_, index, matter, wrap, key, {});
  MFS_TRY(WriteBoth(fd_.get(), index, copy, copy));
  return Added{index, std::move(key)};
}

Result<MatterRootKey> KeyTable::Read(uint32_t index, const MatterId& matter,
                                     const VaultSubkey& wrap, EntryState* state) const {
  MFS_ASSIGN(auto copies, ReadEntry(fd_.get(), index));
  bool dead = false;
  std::optional<Opened> found;
  for (const Sector& s : copies) {
    const CopyState kind = Classify(s, index, matter);
    if (kind == CopyState::kLive) {
      if (auto opened = OpenCopy(s, vault_, matter, index, wrap)) {
        // The state recorded last: copy A is written first, so after a crash between
        // the two copies A may be ahead of B (never behind).
        if (!found || opened->state.sequence > found->state.sequence) found = std::move(opened);
      }
    }
    dead = dead || kind == CopyState::kDead;
  }
  if (found) {
    if (state != nullptr) *state = found->state;
    return std::move(found->key);
  }
  if (dead) {
    return Error(Code::kNotFound, "the matter's key was destroyed (wiped)", ENOENT);
  }
  return Corrupt(index, "no copy opens");
}

Result<KeyTable::EntryCheck> KeyTable::Inspect(uint32_t index, const VaultSubkey& wrap) const {
  MFS_ASSIGN(auto copies, ReadEntry(fd_.get(), index));
  EntryCheck out;
  std::memcpy(out.matter.data(), copies[0].data() + kOffMatter, 16);
  if (Classify(copies[0], index, out.matter) == CopyState::kOther) {
    std::memcpy(out.matter.data(), copies[1].data() + kOffMatter, 16);
    if (Classify(copies[1], index, out.matter) == CopyState::kOther) out.matter = {};
  }
  for (size_t c = 0; c < 2; ++c) {
    const CopyState kind = Classify(copies[c], index, out.matter);
    std::optional<Opened> opened;
    if (kind == CopyState::kLive) opened = OpenCopy(copies[c], vault_, out.matter, index, wrap);
    out.copies[c] = kind == CopyState::kDead ? CopyCheck::kDestroyed
                    : opened                 ? CopyCheck::kLive
                                             : CopyCheck::kDamaged;
    if (opened) out.states[c] = opened->state;
  }
  return out;
}

Status KeyTable::Destroy(uint32_t index, const MatterId& matter) {
  MFS_ASSIGN(auto copies, ReadEntry(fd_.get(), index));
  if (Classify(copies[0], index, matter) == CopyState::kOther &&
      Classify(copies[1], index, matter) == CopyState::kOther) {
    return Corrupt(index, "belongs to no such matter");
  }
  const Sector tomb = EntryCopy(kDeadMagic, index, matter, {});
  for (int c = 0; c < 2; ++c) {
    MFS_TRY(PwriteFull(fd_.get(), tomb.data(), tomb.size(),
                       EntryOffset(index) + static_cast<off_t>(c) * kKeyTableSector));
    if (::fdatasync(fd_.get()) != 0) return IoError("fdatasync key table");
  }
  return {};
}

Status KeyTable::UpgradeHeader() const {
  Sector header{};
  MFS_ASSIGN(size_t got, PreadFull(fd_.get(), header.data(), header.size(), 0));
  if (got != header.size()) return Error(Code::kCorruption, "the key table's header is short");
  if (GetU16(header.data() + 8) >= kTableVersion) return {};
  // Before the first entry that an older matterfs would misread: it refuses the table
  // by this version ("key table version 2 is not one this matterfs supports").
  PutU16(header.data() + 8, kTableVersion);
  MFS_TRY(PwriteFull(fd_.get(), header.data(), header.size(), 0));
  if (::fdatasync(fd_.get()) != 0) return IoError("fdatasync key table");
  return {};
}

Status KeyTable::RecordState(uint32_t index, const MatterId& matter, const VaultSubkey& wrap,
                             const MatterRootKey& key, const EntryState& state) const {
  if (state.sequence == 0) return Error(Code::kInvalidArgument, "keyring sequence 0");
  MFS_ASSIGN(auto copies, ReadEntry(fd_.get(), index));
  // Never bring a destroyed (wiped) entry back to life: a keyring update that raced a
  // wipe writes nothing here.
  for (const Sector& s : copies) {
    if (Classify(s, index, matter) == CopyState::kDead) {
      return Error(Code::kNotFound, "the matter's key was destroyed (wiped)", ENOENT);
    }
  }
  MFS_TRY(UpgradeHeader());
  const Sector copy = LiveCopy(vault_, index, matter, wrap, key, state);
  // Copy A, then copy B, each one sector in place: a torn write damages one copy at most,
  // and the other still holds the MRK (with the old or the new state).
  // Synced one by one, so that copy A is never behind copy B.
  for (int c = 0; c < 2; ++c) {
    MFS_TRY(PwriteFull(fd_.get(), copy.data(), copy.size(),
                       EntryOffset(index) + static_cast<off_t>(c) * kKeyTableSector));
    if (::fdatasync(fd_.get()) != 0) return IoError("fdatasync key table");
  }
  return {};
}

Status KeyTable::RewrapAll(const VaultSubkey& from, const VaultSubkey& to) {
  const uint32_t n = entries();
  for (uint32_t i = 0; i < n; ++i) {
    MFS_ASSIGN(auto copies, ReadEntry(fd_.get(), i));
    // The entry's matter: from whichever copy names one.
    MatterId matter{};
    std::memcpy(matter.data(), copies[0].data() + kOffMatter, 16);
    if (Classify(copies[0], i, matter) == CopyState::kOther) {
      std::memcpy(matter.data(), copies[1].data() + kOffMatter, 16);
    }
    bool dead = false, current = true;
    std::optional<MatterRootKey> key;
    EntryState state;  // the newest state either copy records, carried over
    for (const Sector& s : copies) {
      const CopyState kind = Classify(s, i, matter);
      dead = dead || kind == CopyState::kDead;
      if (kind != CopyState::kLive) {
        current = false;
        continue;
      }
      auto opened = OpenCopy(s, vault_, matter, i, to);
      if (!opened) {
        current = false;
        opened = OpenCopy(s, vault_, matter, i, from);
      }
      if (!opened) continue;
      if (opened->state.sequence > state.sequence) state = opened->state;
      if (!key) key = std::move(opened->key);
    }
    if (dead) {
      // A wipe got as far as one copy: finish it rather than carry the key forward.
      MFS_TRY(Destroy(i, matter));
      continue;
    }
    if (!key) return Corrupt(i, "no copy opens");
    if (current) continue;
    if (state.sequence != 0) MFS_TRY(UpgradeHeader());
    const Sector copy = LiveCopy(vault_, i, matter, to, *key, state);
    MFS_TRY(WriteBoth(fd_.get(), i, copy, copy));
  }
  return {};
}

}  // namespace matterfs::vault
