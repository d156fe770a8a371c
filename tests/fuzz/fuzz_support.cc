#include "tests/fuzz/fuzz_support.h"

#include <filesystem>
#include <system_error>

namespace matterfs::fuzz {

namespace {
// libsodium (and the secure memory pool) before any target or generator code runs; this
// object library is linked whole into every target, so the initializer always runs.
[[maybe_unused]] const bool kCryptoReady = [] {
  crypto::Init();
  return true;
}();

std::string MakeScratchDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl =
      std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/mfs-fuzz.XXXXXX";
  FUZZ_CHECK(::mkdtemp(tmpl.data()) != nullptr);
  return tmpl;
}

struct Scratch {
  std::string path = MakeScratchDir();
  ~Scratch() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};
}  // namespace

const std::string& ScratchDir() {
  static Scratch scratch;
  return scratch.path;
}

// These repeat the layouts of docs/FORMAT.md (the offsets are private to the decoders):
// a fix-up that drifts from the format only makes the fuzzer less effective, never hides
// a crash.
void FixUpConfig(Bytes& raw) {
  if (raw.size() < vault::kConfigHeaderSize) return;
  const size_t n = raw[33];  // slot count
  const size_t body = vault::kConfigHeaderSize + n * vault::kSlotSize;
  if (raw.size() != body + vault::kConfigTrailerSize) return;
  const auto vmk = FixedMasterKey();
  const auto mac_key = crypto::DeriveSubkey<crypto::KeyPurpose::kVaultSub>(
      vmk, vault::kSubkeyConfigMac, vault::kVaultKdfContext);
  crypto::Blake2bInto({raw.data() + body, 32}, {raw.data(), body}, mac_key.bytes());
  crypto::Blake2bInto({raw.data() + body + 32, 32}, {raw.data(), body + 32}, {});
}

void FixUpKeyringCopy(uint8_t* copy) {
  constexpr size_t kOffMac = vault::kKeyringCopySize - 32;
  const FixedKeyringKeys k;
  crypto::Blake2bInto({copy + kOffMac, 32}, {copy, kOffMac}, k.mac.bytes());
}

void FixUpHeaderCopy(uint8_t* copy) {
  constexpr size_t kOffCopyMac = 496;
  constexpr std::string_view kFileKdfContext{"MFSfile\0", 8};
  const auto dek = FixedDataKey();
  const auto mac_key = crypto::DeriveSubkey<crypto::KeyPurpose::kFileSub>(
      dek, /*kSubkeyHeaderMac=*/1, kFileKdfContext);
  uint8_t msg[8 + vault::kIdSize + kOffCopyMac];
  std::memcpy(msg, "MFS2fhdr", 8);
  const auto matter = FixedMatterId();
  std::memcpy(msg + 8, matter.data(), vault::kIdSize);
  std::memcpy(msg + 8 + vault::kIdSize, copy, kOffCopyMac);
  crypto::Blake2bInto({copy + kOffCopyMac, 16}, {msg, sizeof msg}, mac_key.bytes());
}

}  // namespace matterfs::fuzz
