// Constants of the on-disk format, versions 1 and 2. docs/FORMAT.md is the
// specification; every number here is named there. Changing any of them is a new format
// version.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace matterfs::vault {

// The newest vault format (the config's version), which new vaults get (3: two copies of
// the config and keyslots of kinds 3 to 5, docs/FORMAT.md §8.7). Older vaults are read
// and written as they are (format 1 file headers; a version 2 config of one copy) until
// upgraded (`matterctl config upgrade`).
inline constexpr uint16_t kFormatVersion = 3;
inline constexpr uint16_t kOldestFormatVersion = 1;
// Keyring copies have their own version, unchanged since format 1.
// Keyring copies: version 2 adds the matter's creation and last rotation times (§9.1);
// version 1 copies are still read, and rewritten as version 2 at their next update.
inline constexpr uint16_t kKeyringVersion = 3;

// Vault layout (relative to the vault directory).
inline constexpr std::string_view kConfigName = "matterfs.vault";
inline constexpr std::string_view kDataDirName = "d";
inline constexpr std::string_view kDefaultKeystoreName = "keys";
inline constexpr std::string_view kLockName = "matterfs.lock";
// Only while a master key rotation runs (docs/FORMAT.md §8.6).
inline constexpr std::string_view kMasterJournalName = "matterfs.master-rotation";
// Inside every encrypted directory.
inline constexpr std::string_view kDirIvName = ".diriv";
// Inside every matter directory.
inline constexpr std::string_view kMatterIdName = ".matter";
inline constexpr std::string_view kLongNamePrefix = ".L";
inline constexpr std::string_view kLongNameSuffix = ".n";
inline constexpr size_t kMaxBackingName = 255;
inline constexpr size_t kMaxPlainName = 255;

// Required feature flags in the vault config; an unknown bit makes the vault unusable.
inline constexpr uint32_t kFeatureExternalKeystore = 1u << 0;
// Set while a master key rotation is unfinished: only rotate-master may open the vault.
// Read as 0 in the slot AD, so that the rotation can clear it without the slots' secrets.
inline constexpr uint32_t kFeatureMasterRotation = 1u << 1;
// File format 3 (docs/FORMAT.md §13.1b): file headers record the size the file had at its
// last close, fsync or truncate and are bound to the file's name; every regular file has a
// header. Set by `matterctl init` from this version on. Read as 0 in the slot AD (like bit
// 1), so that a later upgrade can set it without every slot's secret; the config MAC
// covers it, so it cannot be cleared without the master key.
inline constexpr uint32_t kFeatureFileFormat3 = 1u << 2;
inline constexpr uint32_t kKnownFeatures =
    kFeatureExternalKeystore | kFeatureMasterRotation | kFeatureFileFormat3;
// Feature bits that the slot AD reads as 0.
inline constexpr uint32_t kFeaturesOutsideSlotAd = kFeatureMasterRotation | kFeatureFileFormat3;

inline constexpr size_t kIdSize = 16;

// Vault master key subkeys: crypto_kdf context "MFSvault", these ids.
inline constexpr std::string_view kVaultKdfContext = "MFSvault";
enum VaultSubkeyId : uint64_t {
  kSubkeyConfigMac = 1,
  kSubkeyKeyringWrap = 2,
  kSubkeyKeyringMac = 3,
  kSubkeySigningWrap = 4,
  kSubkeyRootNames = 5,
  kSubkeyMatterBinding = 6,
  kSubkeyAuditPath = 7,      // keys the audit trail's path hashes; never touches the disk
  kSubkeyMasterJournal = 8,  // of the NEW VMK: wraps the old one in the rotation journal
  kSubkeyKeyTable = 9,       // wraps each matter root key in KEYSTORE/keytable (§9.6)
};

// File header and blocks. A format 1 header is kHeaderSize bytes; a format 2 header is
// two copies of kHeaderCopySize bytes whose first kHeaderSize bytes have the format 1
// layout (docs/FORMAT.md §13.1, §13.1a).
inline constexpr size_t kHeaderSize = 100;
inline constexpr size_t kHeaderCopySize = 512;
inline constexpr size_t kHeaderSizeV2 = 2 * kHeaderCopySize;
inline constexpr size_t kMaxHoles = 24;
// File format 3: the same two 512-byte copies, with the recorded size and the name tag in
// place of two hole entries.
inline constexpr size_t kMaxHolesV3 = 22;
inline constexpr size_t MaxHoles(uint8_t file_version) {
  return file_version >= 3 ? kMaxHolesV3 : kMaxHoles;
}
// The newest file header version (the byte at offset 4).
inline constexpr uint8_t kFileFormatVersion = 3;
inline constexpr size_t kBlockSize = 4096;
// The largest plaintext file (EFBIG beyond it).
inline constexpr uint64_t kMaxPlainFileSize = uint64_t{1} << 60;

}  // namespace matterfs::vault
