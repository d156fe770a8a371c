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
namespace {
// Recomputes MAC and checksum of one config copy (`size` bytes at `p`); `two_copies`: the
// version 3 layout, whose body also holds the slots' extensions.
void FixUpConfigCopy(uint8_t* p, size_t size, bool two_copies) {
  if (size < vault::kConfigHeaderSize) return;
  const size_t n = p[33];  // slot count
  size_t body = vault::kConfigHeaderSize + n * vault::kSlotSize;
  if (two_copies) {
    for (size_t i = 0; i < n && vault::kConfigHeaderSize + (i + 1) * vault::kSlotSize <= size;
         ++i) {
      body += GetU16(p + vault::kConfigHeaderSize + i * vault::kSlotSize + 116);
    }
    if (body + vault::kConfigTrailerSize > size) return;
  } else if (size != body + vault::kConfigTrailerSize) {
    return;
  }
  const auto vmk = FixedMasterKey();
  const auto mac_key = crypto::DeriveSubkey<crypto::KeyPurpose::kVaultSub>(
      vmk, vault::kSubkeyConfigMac, vault::kVaultKdfContext);
  crypto::Blake2bInto({p + body, 32}, {p, body}, mac_key.bytes());
  crypto::Blake2bInto({p + body + 32, 32}, {p, body + 32}, {});
}
}  // namespace

void FixUpConfig(Bytes& raw) {
  if (raw.size() == 2 * vault::kConfigCopySize) {
    FixUpConfigCopy(raw.data(), vault::kConfigCopySize, true);
    FixUpConfigCopy(raw.data() + vault::kConfigCopySize, vault::kConfigCopySize, true);
    return;
  }
  FixUpConfigCopy(raw.data(), raw.size(), false);
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
