// Reading and writing plaintext ranges of one encrypted backing file (docs/FORMAT.md
// "Blocks"). Used by the daemon's data path and by `matterctl cat`.
//
// The caller passes the backing fd and the current plaintext size and keeps the size
// (the daemon caches it per inode). Writes are read-modify-write per 4 KiB block, so
// concurrent writers to one file must be serialised by the caller (the daemon holds the
// inode's write lock); reads may run concurrently with each other.
// Gaps (a write past EOF, a truncate up) are holes listed in a format 2 file's
// authenticated hole table (no disk space, docs/FORMAT.md §13.5), or encrypted zero blocks
// in format 1; a block of zeros on disk that the table does not list fails
// authentication like any other tampering.
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
  // `header` (may be null for a format 1 file) is the file's current header: a format 2
  // header's hole table is read and changed (and written back) by the operations.
  explicit CryptFile(const FileCrypto& fc, FileHeader* header = nullptr)
      : fc_(fc), header_(header) {}

  // Reads up to out.size() bytes at `off`; returns the count (short only at EOF).
  Result<size_t> Read(int fd, uint64_t plain_size, uint64_t off, MutableByteSpan out) const;
  // Writes data at off (a gap past the end becomes a hole, or encrypted zeros in format
  // 1). Returns the new plaintext size. EFBIG past kMaxPlainFileSize.
  Result<uint64_t> Write(int fd, uint64_t plain_size, uint64_t off, ByteSpan data);
  // Changes the plaintext size; returns it. EFBIG past kMaxPlainFileSize.
  Result<uint64_t> Truncate(int fd, uint64_t plain_size, uint64_t new_size);

 private:
  bool Sparse() const { return header_ != nullptr && header_->version >= 2; }
  bool IsHole(uint64_t block) const;
  bool TailIsHole(uint64_t plain_size) const;
  // Grows to new_size: holes (format 2) or encrypted zeros (no undo: callers guard it).
  Result<uint64_t> Grow(int fd, uint64_t plain_size, uint64_t new_size);
  // Writes the hole table if it changed (after the data it describes), trimming entries
  // past the end and filling the smallest holes when there are more than kMaxHoles.
  Status SaveHoles(int fd, uint64_t plain_size);
  // Re-encrypts the blocks [first, ...] covering plaintext range [off, off+len) where the
  // bytes come from `data`, or zeros when data is empty. plain_size is the size before.
  Result<uint64_t> WriteRange(int fd, uint64_t plain_size, uint64_t off, uint64_t len,
                              const uint8_t* data);
  const FileCrypto& fc_;
  FileHeader* header_;
  bool holes_dirty_ = false;
};

}  // namespace matterfs::vault
