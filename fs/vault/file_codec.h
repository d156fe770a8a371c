// A file's ciphertext: the 100-byte header and the 4 KiB blocks after it
// (docs/FORMAT.md "File header", "Blocks").
//
//   backing file = header(100) | block 0 | block 1 | ... ; block = nonce | ct | tag
//
// An empty backing file is an empty plaintext file (a crash between create and the
// header write leaves exactly that). FileCrypto is built once per open file (the data key
// unwrapped once) and is then used without locks or allocation by any thread.
#pragma once

#include <array>
#include <memory>

#include "crypto/aead.h"
#include "fs/vault/format.h"
#include "fs/vault/keyring.h"
#include "util/bytes.h"
#include "util/result.h"

namespace matterfs::vault {

using FileId = std::array<uint8_t, kIdSize>;
using DataKey = crypto::SecretKey<crypto::KeyPurpose::kData>;

struct FileHeader {
  crypto::Cipher cipher = crypto::Cipher::kXChaCha20Poly1305;
  uint32_t key_version = 1;
  FileId file_id{};
  Bytes wrapped_dek;  // 72 bytes: nonce | ct | tag

  // The associated data of the DEK wrap: matter id || header bytes 0..27.
  Bytes WrapAd(const MatterId& matter) const;
  std::array<uint8_t, kHeaderSize> Serialize() const;
  // Checks magic, version, cipher, flags; kUnsupported for a newer version.
  static Result<FileHeader> Parse(ByteSpan raw);
};

// Sizes and offsets for one cipher.
class BlockLayout {
 public:
  explicit BlockLayout(crypto::Cipher c)
      : overhead_(crypto::BlockCipher::Overhead(c)), stored_(kBlockSize + overhead_) {}
  size_t overhead() const { return overhead_; }
  size_t stored_block_size() const { return stored_; }
  uint64_t BlockOffset(uint64_t index) const { return kHeaderSize + index * stored_; }
  // Plaintext size from the backing file size; kCorruption for an impossible size.
  Result<uint64_t> PlainSize(uint64_t backing_size) const;
  // Backing size for a plaintext size (0 stays 0: no header).
  uint64_t BackingSize(uint64_t plain_size) const;

 private:
  size_t overhead_;
  size_t stored_;
};

class FileCrypto {
 public:
  // A new file: fresh file id and DEK, wrapped by the matter's current key version.
  static Result<std::pair<FileCrypto, FileHeader>> Create(crypto::Cipher cipher,
                                                          const Keyring& ring);
  // An existing file: unwraps the DEK with MWK_{key_version}. kCorruption if the wrap does
  // not authenticate (altered header, wrong matter) or names a version the matter never
  // had (above its current one); kNotFound (errno EIO) if the version was destroyed by a
  // rotation, which is not tampering (a file restored from a backup older than it).
  static Result<FileCrypto> Open(const FileHeader& header, const Keyring& ring);
  static Result<FileCrypto> FromKey(const FileHeader& header, const DataKey& dek);

  const BlockLayout& layout() const { return layout_; }
  const FileId& file_id() const { return file_id_; }

  // Encrypts plain (at most 4096 bytes) as block `index` into out (plain.size()+overhead).
  void SealBlock(uint64_t index, ByteSpan plain, uint8_t* out) const;
  // Decrypts a stored block; false when it does not authenticate as block `index` of
  // this file (altered, moved, from another file or matter).
  [[nodiscard]] bool OpenBlock(uint64_t index, ByteSpan stored, uint8_t* out) const;
  void SealBlockWithNonce(uint64_t index, ByteSpan plain, ByteSpan nonce, uint8_t* out) const;

 private:
  FileCrypto(crypto::BlockCipher c, const FileId& id)
      : cipher_(std::move(c)), file_id_(id), layout_(cipher_.cipher()) {}
  std::array<uint8_t, kIdSize + 8> Ad(uint64_t index) const;
  crypto::BlockCipher cipher_;
  FileId file_id_;
  BlockLayout layout_;
};

// Rewraps a header's DEK under another key version of the same matter (rotation).
Result<FileHeader> RewrapHeader(const FileHeader& header, const Keyring& ring,
                                uint32_t new_version);

}  // namespace matterfs::vault
