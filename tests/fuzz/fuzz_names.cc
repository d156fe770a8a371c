// Fuzzes the name decoders with the fixed name key: NameCodec::Decode (a short entry),
// NameCodec::DecodeLong (a long entry and its side file's contents), NameCodec::Classify,
// Base64UrlDecode, DecryptSymlink, DecryptXattrName and DecryptXattrValue.
// The input: a 16-byte directory IV, then the stored text. Invariants: a decoded name is
// a name Encode accepts and encodes back to the same entry (one name, one entry: no two
// entries decode to the same name); base64url decoding is canonical; a symlink target or
// xattr name that decrypts encrypts back to something that decrypts to it again.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "fs/vault/names.h"
#include "tests/fuzz/fuzz_support.h"

using namespace matterfs;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 16 || size > 4096 + 16) return 0;
  static const vault::NameKey key = fuzz::FixedKey<crypto::KeyPurpose::kName>(4);
  static const vault::NameCodec codec(key);
  vault::DirIv iv;
  std::memcpy(iv.data(), data, iv.size());
  const std::string text(reinterpret_cast<const char*>(data) + 16, size - 16);

  if (auto raw = vault::Base64UrlDecode(text)) {
    FUZZ_CHECK(vault::Base64UrlEncode(*raw) == text);
  }
  (void)vault::NameCodec::Classify(text);

  if (auto name = codec.Decode(iv, text); name.ok()) {
    auto stored = codec.Encode(iv, *name);
    FUZZ_CHECK(stored.ok());
    // A short entry; or the full text of a long one (the side file's contents).
    FUZZ_CHECK(stored->full ? *stored->full == text : stored->entry == text);
  }
  // As the contents of a long name's side file, under the entry it must hash to, and
  // under a wrong entry.
  auto as_long = codec.Encode(iv, "x");  // any entry: a short one never matches
  FUZZ_CHECK(as_long.ok());
  FUZZ_CHECK(!codec.DecodeLong(iv, as_long->entry, text).ok());
  const std::string entry = std::string(vault::kLongNamePrefix) +
                            vault::Base64UrlEncode(crypto::Blake2b(32, AsBytes(text)));
  FUZZ_CHECK(vault::NameCodec::Classify(entry) == vault::EntryKind::kLong);
  if (auto name = codec.DecodeLong(iv, entry, text); name.ok()) {
    auto stored = codec.Encode(iv, *name);
    FUZZ_CHECK(stored.ok() && stored->entry == entry && stored->full && *stored->full == text);
  }

  if (auto target = codec.DecryptSymlink(text); target.ok()) {
    auto again = codec.EncryptSymlink(*target);
    if (again.ok()) FUZZ_CHECK(codec.DecryptSymlink(*again).ok());
  }
  if (auto xname = codec.DecryptXattrName(text); xname.ok()) {
    auto again = codec.EncryptXattrName(*xname);
    FUZZ_CHECK(again.ok() && *again == text);
  }
  if (auto value = codec.DecryptXattrValue("user.x", AsBytes(text)); value.ok()) {
    const Bytes sealed = codec.EncryptXattrValue("user.x", *value);
    auto back = codec.DecryptXattrValue("user.x", sealed);
    FUZZ_CHECK(back.ok() && *back == *value);
  }
  return 0;
}
