// Fuzzes the matter keyring decoder: ReadKeyringFd (both 2048-byte copies of a keyring
// file, the newer valid one wins) and Keyring::ParseCopy, with the fixed vault subkeys.
// Each input is tried as given and with both copies' MACs recomputed (fuzz_support.h), so
// the fields behind the MAC get parsed too. Invariants: a copy that parses has a MAC made
// with the key and holds its current key version; a parsed keyring serialises to a copy
// that parses back to the same fields and keys.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "fs/vault/keyring.h"
#include "tests/fuzz/fuzz_support.h"

using namespace matterfs;

namespace {
void CheckSame(const vault::Keyring& a, const vault::Keyring& b) {
  FUZZ_CHECK(a.vault_id == b.vault_id && a.matter_id == b.matter_id);
  FUZZ_CHECK(a.status == b.status && a.sequence == b.sequence);
  FUZZ_CHECK(a.current_version == b.current_version && a.created == b.created);
  FUZZ_CHECK(a.rotated == b.rotated && a.table_index == b.table_index);
  FUZZ_CHECK(a.legacy_wrapped == b.legacy_wrapped);
  FUZZ_CHECK(a.name_key && b.name_key);
  FUZZ_CHECK(std::ranges::equal(a.name_key->bytes(), b.name_key->bytes()));
  FUZZ_CHECK(a.wrap_keys.size() == b.wrap_keys.size());
  for (const auto& [v, k] : a.wrap_keys) {
    auto it = b.wrap_keys.find(v);
    FUZZ_CHECK(it != b.wrap_keys.end());
    FUZZ_CHECK(std::ranges::equal(k->bytes(), it->second->bytes()));
  }
}

void Check(const uint8_t* file, size_t size) {
  static const fuzz::FixedKeyringKeys keys;
  const auto vault_id = fuzz::FixedVaultId();
  const auto matter = fuzz::FixedMatterId();
  UniqueFd fd = fuzz::MemFile(file, size);
  auto ring = vault::ReadKeyringFd(fd.get(), vault_id, matter, keys.keys());
  if (!ring.ok()) return;
  FUZZ_CHECK(ring->wrap_keys.count(ring->current_version) == 1);
  FUZZ_CHECK(!ring->wrap_keys.empty() && ring->wrap_keys.size() <= vault::kMaxKeyVersions);
  FUZZ_CHECK(static_cast<uint8_t>(ring->status) <= 2);
  const Bytes copy = ring->SerializeCopy(keys.keys());
  auto back = vault::Keyring::ParseCopy(copy, keys.keys(), vault_id, matter);
  FUZZ_CHECK(back.ok());
  CheckSame(*ring, *back);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 2 * vault::kKeyringFileSize) return 0;
  Check(data, size);
  if (size >= vault::kKeyringFileSize) {
    Bytes fixed(data, data + size);
    fuzz::FixUpKeyringCopy(fixed.data());
    fuzz::FixUpKeyringCopy(fixed.data() + vault::kKeyringCopySize);
    Check(fixed.data(), fixed.size());
  }
  return 0;
}
