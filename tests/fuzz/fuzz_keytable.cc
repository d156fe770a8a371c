// Fuzzes the matter key table as read from disk: KeyTable::Open (its header) and
// KeyTable::Read of the first entries (two copies each, live or tombstone), with the
// fixed vault id, matter id and wrapping subkey, the file in a scratch directory.
// Invariants: Read answers a key, kNotFound (destroyed) or kCorruption, nothing else;
// the same entry read twice gives the same answer and key.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "fs/vault/keytable.h"
#include "tests/fuzz/fuzz_support.h"
#include "util/file_io.h"

using namespace matterfs;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 8 * vault::kKeyTableSector) return 0;
  static const vault::VaultSubkey wrap = fuzz::FixedKey<crypto::KeyPurpose::kVaultSub>(9);
  static const std::string dir = fuzz::ScratchDir() + "/keys";
  ::mkdir(dir.c_str(), 0700);
  UniqueFd dirfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  FUZZ_CHECK(dirfd.valid());
  {
    UniqueFd fd(::openat(dirfd.get(), vault::kKeyTableName,
                         O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    FUZZ_CHECK(fd.valid());
    FUZZ_CHECK(PwriteFull(fd.get(), data, size, 0).ok());
  }
  auto table = vault::KeyTable::Open(dirfd.get(), fuzz::FixedVaultId(), /*create=*/false);
  if (table.ok()) {
    const uint32_t n = table->entries();
    FUZZ_CHECK(n <= size / (2 * vault::kKeyTableSector));
    for (uint32_t i = 0; i <= std::min<uint32_t>(n, 3); ++i) {
      auto key = table->Read(i, fuzz::FixedMatterId(), wrap);
      auto again = table->Read(i, fuzz::FixedMatterId(), wrap);
      FUZZ_CHECK(key.ok() == again.ok());
      if (key.ok()) {
        FUZZ_CHECK(i < n);
        FUZZ_CHECK(std::ranges::equal(key->bytes(), again->bytes()));
      } else {
        FUZZ_CHECK(key.error().code() == Code::kNotFound ||
                   key.error().code() == Code::kCorruption);
        FUZZ_CHECK(key.error().code() == again.error().code());
      }
    }
  } else {
    FUZZ_CHECK(table.error().code() == Code::kCorruption ||
               table.error().code() == Code::kUnsupported);
  }
  ::unlinkat(dirfd.get(), vault::kKeyTableName, 0);
  return 0;
}
