// Fuzzes the file header decoder: OpenFile (FileHeader::Parse, the data key unwrapped with
// the fixed keyring, FileCrypto::ParseCopy of both format 2 copies, the newer valid one
// chosen) for a vault of format 1, of format 2 and of file format 3 (also with a name to
// check the binding against), and ReadFileHeader. Each input is tried
// as given and, when it is a format 2 header, with both copies' MACs recomputed under the
// fixed data key (fuzz_support.h). Invariants: a header that opens serialises back to the
// bytes it was read from; its hole table follows the rules. (Its key version is not
// checked: the copy that wins may name another version than the one that unwrapped the
// key, as after a torn rewrap, and only a holder of the data key can make such a copy.)
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "fs/vault/encrypted_file.h"
#include "tests/fuzz/fuzz_support.h"

using namespace matterfs;

namespace {
void Check(const uint8_t* data, size_t size) {
  static const vault::Keyring ring = fuzz::FixedKeyring();
  for (uint8_t version : {uint8_t{1}, uint8_t{2}, uint8_t{3}}) {
    for (crypto::Cipher cipher : {crypto::Cipher::kXChaCha20Poly1305, crypto::Cipher::kAes256Gcm}) {
      const vault::FileFormat format{cipher, version};
      UniqueFd fd = fuzz::MemFile(data, size);
      auto peek = vault::ReadFileHeader(fd.get(), format);
      if (peek.ok() && *peek) {
        FUZZ_CHECK((*peek)->version == version && (*peek)->cipher == cipher);
      }
      auto opened = vault::OpenFile(fd.get(), format, ring);
      if (version >= 3) {
        // A check against a name can only refuse more.
        auto named = vault::OpenFile(fd.get(), format, ring, std::string_view("ZW50cnk"));
        FUZZ_CHECK(!named.ok() || opened.ok());
      }
      if (!opened.ok()) continue;
      if (!*opened) {
        FUZZ_CHECK(size == 0);
        continue;
      }
      const vault::FileHeader& h = (*opened)->header;
      FUZZ_CHECK(h.version == version && h.cipher == cipher);
      if (version == 1) {
        const auto raw = h.Serialize();
        FUZZ_CHECK(size >= raw.size() && std::memcmp(raw.data(), data, raw.size()) == 0);
      } else {
        FUZZ_CHECK(vault::holes::Check(h.holes, vault::MaxHoles(version)).ok());
        FUZZ_CHECK(h.copy == 0 || h.copy == 1);
        const auto raw = (*opened)->crypto.SerializeCopy(h);
        const size_t at = static_cast<size_t>(h.copy) * vault::kHeaderCopySize;
        FUZZ_CHECK(size >= at + raw.size() && std::memcmp(raw.data(), data + at, raw.size()) == 0);
      }
    }
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 2 * vault::kHeaderSizeV2) return 0;
  Check(data, size);
  if (size >= vault::kHeaderSizeV2) {
    Bytes fixed(data, data + size);
    fuzz::FixUpHeaderCopy(fixed.data());
    fuzz::FixUpHeaderCopy(fixed.data() + vault::kHeaderCopySize);
    Check(fixed.data(), fixed.size());
  }
  return 0;
}
