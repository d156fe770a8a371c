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
constexpr uint16_t kTableVersion = 1;
constexpr size_t kOffIndex = 8, kOffMatter = 16, kOffWrapped = 32;
constexpr size_t kWrapped = MatterRootKey::kSize + crypto::kWrapOverhead;  // 72
constexpr size_t kEntrySize = 2 * kKeyTableSector;

using Sector = std::array<uint8_t, kKeyTableSector>;

off_t EntryOffset(uint32_t index) {
  return static_cast<off_t>(kKeyTableSector + static_cast<uint64_t>(index) * kEntrySize);
}

Bytes RootKeyAd(const VaultId& vault, const MatterId& matter, uint32_t index) {
  Bytes ad(8 + 16 + 16 + 4);
  std::memcpy(ad.data(), "MFS1mrk\0", 8);
  std::memcpy(ad.data() + 8, vault.data(), 16);
  std::memcpy(ad.data() + 24, matter.data(), 16);
  PutU32(ad.data() + 40, index);
  return ad;
}

Sector EntryCopy(std::string_view magic, uint32_t index, const MatterId& matter, ByteSpan wrapped) {
  Sector s{};
  std::memcpy(s.data(), magic.data(), 8);
  PutU32(s.data() + kOffIndex, index);
  std::memcpy(s.data() + kOffMatter, matter.data(), 16);
  if (!wrapped.empty()) std::memcpy(s.data() + kOffWrapped, wrapped.data(), wrapped.size());
  return s;
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

// The MRK of one live copy, if it opens under `wrap`.
std::optional<MatterRootKey> OpenCopy(const Sector& s, const VaultId& vault, const MatterId& matter,
                                      uint32_t index, const VaultSubkey& wrap) {
  auto key = crypto::UnwrapKey<crypto::KeyPurpose::kMatterRoot>(
      wrap, {s.data() + kOffWrapped, kWrapped}, RootKeyAd(vault, matter, index));
  if (!key.ok()) return std::nullopt;
  return std::move(key).value();
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
  if (GetU16(header.data() + 8) != kTableVersion) {
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
  const Bytes wrapped = crypto::Wrap(wrap, key.bytes(), RootKeyAd(vault_, matter, index));
  const Sector copy = EntryCopy(kLiveMagic, index, matter, wrapped);
  MFS_TRY(WriteBoth(fd_.get(), index, copy, copy));
  return Added{index, std::move(key)};
}

Result<MatterRootKey> KeyTable::Read(uint32_t index, const MatterId& matter,
                                     const VaultSubkey& wrap) const {
  MFS_ASSIGN(auto copies, ReadEntry(fd_.get(), index));
  bool dead = false;
  for (const Sector& s : copies) {
    const CopyState state = Classify(s, index, matter);
    if (state == CopyState::kLive) {
      if (auto key = OpenCopy(s, vault_, matter, index, wrap)) return std::move(*key);
    }
    dead = dead || state == CopyState::kDead;
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
    const CopyState state = Classify(copies[c], index, out.matter);
    out.copies[c] =
        state == CopyState::kDead ? CopyCheck::kDestroyed
        : state == CopyState::kLive && OpenCopy(copies[c], vault_, out.matter, index, wrap)
            ? CopyCheck::kLive
            : CopyCheck::kDamaged;
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
    for (const Sector& s : copies) {
      const CopyState state = Classify(s, i, matter);
      dead = dead || state == CopyState::kDead;
      if (state != CopyState::kLive) {
        current = false;
        continue;
      }
      if (auto k = OpenCopy(s, vault_, matter, i, to)) {
        if (!key) key = std::move(k);
      } else {
        current = false;
        if (auto old = OpenCopy(s, vault_, matter, i, from); old && !key) key = std::move(old);
      }
    }
    if (dead) {
      // A wipe got as far as one copy: finish it rather than carry the key forward.
      MFS_TRY(Destroy(i, matter));
      continue;
    }
    if (!key) return Corrupt(i, "no copy opens");
    if (current) continue;
    const Bytes wrapped = crypto::Wrap(to, key->bytes(), RootKeyAd(vault_, matter, i));
    const Sector copy = EntryCopy(kLiveMagic, i, matter, wrapped);
    MFS_TRY(WriteBoth(fd_.get(), i, copy, copy));
  }
  return {};
}

}  // namespace matterfs::vault
