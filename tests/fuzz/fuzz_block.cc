// Fuzzes the data path's decoder: a whole backing file (header, then blocks) opened with
// OpenFile and the fixed keyring, its size from PlainSizeOfFd and every byte read with
// CryptFile::Read (FileCrypto::OpenBlock per block, holes from a format 2 header).
// Invariants: a read returns exactly the bytes up to the plaintext size or an error, never
// a short or partial answer; a read of a sub-range returns the same bytes as the whole.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "fs/vault/crypt_file.h"
#include "fs/vault/encrypted_file.h"
#include "tests/fuzz/fuzz_support.h"

using namespace matterfs;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;
  static const vault::Keyring ring = fuzz::FixedKeyring();
  UniqueFd fd = fuzz::MemFile(data, size);
  for (uint8_t version : {uint8_t{1}, uint8_t{2}}) {
    for (crypto::Cipher cipher : {crypto::Cipher::kXChaCha20Poly1305, crypto::Cipher::kAes256Gcm}) {
      const vault::FileFormat format{cipher, version};
      auto opened = vault::OpenFile(fd.get(), format, ring);
      if (!opened.ok() || !*opened) continue;
      vault::OpenedFile& file = **opened;
      auto plain_size = vault::PlainSizeOfFd(fd.get(), file.crypto.layout());
      if (!plain_size.ok()) continue;
      FUZZ_CHECK(*plain_size <= size);
      vault::CryptFile crypt(file.crypto, &file.header);
      Bytes whole(*plain_size + 1);
      auto got = crypt.Read(fd.get(), *plain_size, 0, whole);
      if (!got.ok()) {
        FUZZ_CHECK(got.error().code() == Code::kCorruption);
        continue;
      }
      FUZZ_CHECK(*got == *plain_size);
      if (*plain_size >= 3) {
        // An unaligned sub-range: partial first and last blocks.
        Bytes part(*plain_size - 2);
        auto got_part = crypt.Read(fd.get(), *plain_size, 1, part);
        FUZZ_CHECK(got_part.ok() && *got_part == part.size());
        FUZZ_CHECK(std::memcmp(part.data(), whole.data() + 1, part.size()) == 0);
      }
    }
  }
  return 0;
}
