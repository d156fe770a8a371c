// Constants of the on-disk format, version 1. docs/FORMAT.md is the specification;
// every number here is named there. Changing any of them is a new format version.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace matterfs::vault {

inline constexpr uint16_t kFormatVersion = 1;

// Vault layout (relative to the vault directory).
inline constexpr std::string_view kConfigName = "matterfs.vault";
inline constexpr std::string_view kDataDirName = "d";
inline constexpr std::string_view kDefaultKeystoreName = "keys";
inline constexpr std::string_view kLockName = "matterfs.lock";
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
inline constexpr uint32_t kKnownFeatures = kFeatureExternalKeystore;

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
  kSubkeyAuditPath = 7,  // keys the audit trail's path hashes; never touches the disk
};

// File header and blocks.
inline constexpr size_t kHeaderSize = 100;
inline constexpr size_t kBlockSize = 4096;

}  // namespace matterfs::vault
