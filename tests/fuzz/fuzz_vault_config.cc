// Fuzzes the vault config decoder: VaultConfig::Parse and VaultConfig::Unlock (a key-file
// credential, so no Argon2). Each input is tried as given and with its checksum and MAC
// recomputed under the fixed master key (fuzz_support.h), so the fields behind them get
// parsed too (in both copies of a version 3 config). Invariants: a config that parses and
// unlocks serialises back to the same bytes (version 3: the copy it was parsed from); an
// input whose MAC was not made with the key never unlocks.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "fs/vault/vault_config.h"
#include "tests/fuzz/fuzz_support.h"

using namespace matterfs;

namespace {
// `fixed` is `raw` with checksums and MACs recomputed under the fixed key.
void Check(ByteSpan raw, ByteSpan fixed) {
  auto config = vault::VaultConfig::Parse(raw);
  if (!config.ok()) return;
  FUZZ_CHECK(!config->slots.empty() && config->slots.size() <= vault::kMaxSlots);
  static const vault::Credential cred = fuzz::FixedCredential();
  size_t slot = 0;
  auto vmk = config->Unlock(raw, cred, &slot);
  if (!vmk.ok()) return;
  // Version 3: the copy parsed (the one that unlocked).
  const size_t off = config->copy_offset;
  const size_t len =
      config->version >= vault::kTwoCopyConfigVersion ? vault::kConfigCopySize : raw.size();
  FUZZ_CHECK(fixed.size() == raw.size());
  // Unfixed bytes unlock only if they are the generator's own.
  FUZZ_CHECK(std::equal(raw.begin() + off, raw.begin() + off + len, fixed.begin() + off));
  FUZZ_CHECK(slot < config->slots.size());
  FUZZ_CHECK(config->slots[slot].kind == vault::SlotKind::kKeyFile);
  const Bytes again = config->Serialize(*vmk);
  FUZZ_CHECK(again.size() == raw.size());
  // Version 3: both copies are written alike; the one parsed must come back unchanged.
  FUZZ_CHECK(std::equal(again.begin() + off, again.begin() + off + len, raw.begin() + off));
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const ByteSpan raw(data, size);
  // As given: only a generator seed (made with the fixed key) may unlock.
  Bytes copy(data, data + size);
  fuzz::FixUpConfig(copy);
  Check(raw, copy);
  Check(copy, copy);
  return 0;
}
