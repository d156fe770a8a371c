// Reading and writing plaintext ranges of one encrypted backing file (docs/FORMAT.md
// "Blocks"). Used by the daemon's data path and by `matterctl cat`.
//
// The caller passes the backing fd and the current plaintext size and keeps the size
// (the daemon caches it per inode). Writes are read-modify-write per 4 KiB block, so
// concurrent writers to one file must be serialised by the caller (the daemon holds the
// inode's write lock); reads may run concurrently with each other.
// Gaps (a write past EOF, a truncate up) are filled with encrypted zero blocks, never
// left as holes: a block of zeros on disk fails authentication like any other tampering.
// Buffers are thread-local and reused: no allocation per block or per call.
// A write or a truncate that grows the file and fails (a full disk) puts the file back as
// it was before returning the error: it never leaves a block cut short.
// Errors: kCorruption names the block that failed authentication; kIo for the OS.
#pragma once

#include <cstdint>

#include "fs/vault/file_codec.h"
#include "util/bytes.h"
#include "util/result.h"

namespace matterfs::vault {

// Largest read or write the data path handles in one call (the kernel sends <= 1 MiB).
inline constexpr size_t kMaxIo = 1 << 20;

// The plaintext size of an open backing file (fstat); kCorruption for impossible sizes.
Result<uint64_t> PlainSizeOfFd(int fd, const BlockLayout& layout);

class CryptFile {
 public:
  explicit CryptFile(const FileCrypto& fc) : fc_(fc) {}

  // Reads up to out.size() bytes at `off`; returns the count (short only at EOF).
  Result<size_t> Read(int fd, uint64_t plain_size, uint64_t off, MutableByteSpan out) const;
  // Writes data at off (extending with encrypted zeros if off > plain_size).
  // Returns the new plaintext size.
  Result<uint64_t> Write(int fd, uint64_t plain_size, uint64_t off, ByteSpan data) const;
  // Changes the plaintext size; returns it.
  Result<uint64_t> Truncate(int fd, uint64_t plain_size, uint64_t new_size) const;

 private:
  // Appends encrypted zeros up to new_size (no undo: the callers guard it).
  Result<uint64_t> Grow(int fd, uint64_t plain_size, uint64_t new_size) const;
  // Re-encrypts the blocks [first, ...] covering plaintext range [off, off+len) where the
  // bytes come from `data`, or zeros when data is empty. plain_size is the size before.
  Result<uint64_t> WriteRange(int fd, uint64_t plain_size, uint64_t off, uint64_t len,
                              const uint8_t* data) const;
  const FileCrypto& fc_;
};

}  // namespace matterfs::vault
