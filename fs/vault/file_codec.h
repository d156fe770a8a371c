// A file's ciphertext: its header and the 4 KiB blocks after it (docs/FORMAT.md §13).
//
//   format 1: header(100)            | block 0 | block 1 | ... ; block = nonce | ct | tag
//   format 2: copy A(512) | copy B(512) | block 0 | ...   (each copy: the format 1 fields,
//             a sequence number, the hole table, a MAC keyed from the file's data key)
//
// An empty backing file is an empty plaintext file (a crash between create and the
// header write leaves exactly that). FileCrypto is built once per open file (the data key
// unwrapped once) and is then used without locks or allocation by any thread.
// Holes (format 2): the blocks the table lists read as zeros without the disk being read;
// every other block must authenticate (docs/FORMAT.md §13.5).
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "crypto/aead.h"
#include "fs/vault/format.h"
#include "fs/vault/keyring.h"
#include "util/bytes.h"
#include "util/result.h"

namespace matterfs::vault {

using FileId = std::array<uint8_t, kIdSize>;
using DataKey = crypto::SecretKey<crypto::KeyPurpose::kData>;

// A run of blocks that are holes: [first, first + count).
struct HoleRange {
  uint64_t first = 0;
  uint64_t count = 0;
  bool operator==(const HoleRange&) const = default;
};

// The hole table's rules (sorted, disjoint, not touching, count >= 1). Pure functions.
namespace holes {
bool Contains(const std::vector<HoleRange>& t, uint64_t block);
// Whether any block of [first, first+count) is a hole.
bool Overlaps(const std::vector<HoleRange>& t, uint64_t first, uint64_t count);
// Adds [first, first+count), merging with neighbours.
void Add(std::vector<HoleRange>& t, uint64_t first, uint64_t count);
// Removes [first, first+count) from the table (splitting a range if needed).
void Remove(std::vector<HoleRange>& t, uint64_t first, uint64_t count);
// Drops what lies at or past block `nblocks`.
void Trim(std::vector<HoleRange>& t, uint64_t nblocks);
// kCorruption unless the table follows the rules and has at most `max` entries.
Status Check(const std::vector<HoleRange>& t, size_t max = kMaxHoles);
}  // namespace holes

class FileCrypto;

// Name tags (file format 3): what binds a header to the name it is stored under.
using NameTag = std::array<uint8_t, 16>;
// The tag of a stored name: BLAKE2b-128 of "MFS3name" || the directory entry (the
// base64url name, or ".L" and the hash of it for a long name). docs/FORMAT.md §13.1b.
NameTag NameTagOf(std::string_view entry);

struct FileHeader {
  uint8_t version = 1;  // file format: 1, 2 or 3
  crypto::Cipher cipher = crypto::Cipher::kXChaCha20Poly1305;
  uint32_t key_version = 1;
  FileId file_id{};
  Bytes wrapped_dek;  // 72 bytes: nonce | ct | tag
  // Format 2 only:
  uint64_t sequence = 0;
  std::vector<HoleRange> holes;
  int copy = 0;  // the copy the header was read from (0 = A, 1 = B)
  // Format 3 only: the plaintext size recorded at the last close, fsync or truncate (the
  // backing file must hold at least that much), and the name binding: `unbound` (a file
  // with several names, hard links) or the tag of the one name the file is stored under.
  uint64_t recorded_size = 0;
  bool unbound = false;
  NameTag name_tag{};
  // Read only: the other copy's tag when it is bound and exactly one sequence older (a
  // rename cut short between its two header writes).
  std::optional<NameTag> older_tag;

  // The header's size on disk: 100 (format 1) or 1024 (formats 2 and 3).
  size_t size() const { return version == 1 ? kHeaderSize : kHeaderSizeV2; }
  // The associated data of the DEK wrap: matter id || header bytes 0..27.
  Bytes WrapAd(const MatterId& matter) const;
  // The first 100 bytes (the whole format 1 header; the start of a format 2 copy).
  std::array<uint8_t, kHeaderSize> Serialize() const;
  // Parses those 100 bytes: magic, version (1, 2 or 3), cipher, flags; kUnsupported for a
  // newer version.
  static Result<FileHeader> Parse(ByteSpan raw);
};

// Sizes and offsets for one cipher and one header size.
class BlockLayout {
 public:
  explicit BlockLayout(crypto::Cipher c, size_t header_size = kHeaderSize)
      : overhead_(crypto::BlockCipher::Overhead(c)),
        stored_(kBlockSize + overhead_),
        header_(header_size) {}
  size_t overhead() const { return overhead_; }
  size_t stored_block_size() const { return stored_; }
  size_t header_size() const { return header_; }
  uint64_t BlockOffset(uint64_t index) const { return header_ + index * stored_; }
  // Plaintext size from the backing file size; kCorruption for an impossible size.
  Result<uint64_t> PlainSize(uint64_t backing_size) const;
  // Backing size for a plaintext size (0 stays 0: no header).
  uint64_t BackingSize(uint64_t plain_size) const;

 private:
  size_t overhead_;
  size_t stored_;
  size_t header_;
};

class FileCrypto {
 public:
  // A new file of format `version`: fresh file id and DEK, wrapped by the matter's current
  // key version.
  static Result<std::pair<FileCrypto, FileHeader>> Create(crypto::Cipher cipher,
                                                          const Keyring& ring, uint8_t version = 1);
  // An existing file: unwraps the DEK with MWK_{key_version}. kCorruption if the wrap does
  // not authenticate (altered header, wrong matter) or names a version the matter never
  // had (above its current one); kNotFound (errno EIO) if the version was destroyed by a
  // rotation, which is not tampering (a file restored from a backup older than it).
  static Result<FileCrypto> Open(const FileHeader& header, const Keyring& ring);
  static Result<FileCrypto> FromKey(const FileHeader& header, const DataKey& dek,
                                    const MatterId& matter);

  const BlockLayout& layout() const { return layout_; }
  const FileId& file_id() const { return file_id_; }
  uint8_t version() const { return version_; }

  // Encrypts plain (at most 4096 bytes) as block `index` into out (plain.size()+overhead).
  void SealBlock(uint64_t index, ByteSpan plain, uint8_t* out) const;
  // Decrypts a stored block; false when it does not authenticate as block `index` of
  // this file (altered, moved, from another file or matter).
  [[nodiscard]] bool OpenBlock(uint64_t index, ByteSpan stored, uint8_t* out) const;
  void SealBlockWithNonce(uint64_t index, ByteSpan plain, ByteSpan nonce, uint8_t* out) const;

  // Formats 2 and 3: one header copy of `header` (its sequence and holes; format 3 also
  // the recorded size and name binding), MAC'ed.
  std::array<uint8_t, kHeaderCopySize> SerializeCopy(const FileHeader& header) const;
  // Format 2: parses and authenticates one copy (its 100-byte start must carry this file's
  // id and DEK; the caller unwrapped it). kCorruption for anything wrong.
  Result<FileHeader> ParseCopy(ByteSpan copy) const;

 private:
  FileCrypto(crypto::BlockCipher c, const FileId& id, uint8_t version, const MatterId& matter)
      : cipher_(std::move(c)),
        file_id_(id),
        version_(version),
        matter_(matter),
        layout_(cipher_.cipher(), version == 1 ? kHeaderSize : kHeaderSizeV2) {}
  std::array<uint8_t, kIdSize + 8> Ad(uint64_t index) const;
  std::array<uint8_t, 16> CopyMac(ByteSpan copy_body) const;
  crypto::BlockCipher cipher_;
  FileId file_id_;
  uint8_t version_;
  MatterId matter_;
  BlockLayout layout_;
  std::optional<crypto::SecretKey<crypto::KeyPurpose::kFileSub>> header_mac_key_;  // format 2
};

// Rewraps a header's DEK under another key version of the same matter (rotation). The
// sequence and holes are kept; the caller writes the result (both copies for format 2).
Result<FileHeader> RewrapHeader(const FileHeader& header, const Keyring& ring,
                                uint32_t new_version);

}  // namespace matterfs::vault
