#include "fs/vault/crypt_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <vector>

#include "fs/vault/encrypted_file.h"
#include "util/file_io.h"

namespace matterfs::vault {

namespace {
// Per-thread scratch for ciphertext: sized once for the largest request.
std::vector<uint8_t>& Scratch(size_t size) {
  thread_local std::vector<uint8_t> buf;
  if (buf.size() < size) buf.resize(size);
  return buf;
}

// Growing a file rewrites its old partial last block (at a longer length) and appends
// blocks. If the disk fills up midway, the file must be put back as it was: a last block
// cut short reads as tampering and would lose what the file held. The guard keeps the old
// last block's ciphertext and the old length; Undo() cuts what grew and puts the block
// back (it fits where it was). Needs no allocation beyond one block.
class GrowGuard {
 public:
  // `tail_is_hole`: the old last block is a hole (nothing on disk to keep).
  static Result<GrowGuard> Make(int fd, const BlockLayout& L, uint64_t plain_size,
                                bool tail_is_hole) {
    GrowGuard g(fd, L, plain_size);
    const size_t tail_len = static_cast<size_t>(plain_size % kBlockSize);
    if (tail_len != 0 && !tail_is_hole) {
      g.tail_stored_ = tail_len + L.overhead();
      MFS_ASSIGN(size_t got, PreadFull(fd, g.tail_.data(), g.tail_stored_,
                                       static_cast<off_t>(L.BlockOffset(plain_size / kBlockSize))));
      if (got != g.tail_stored_)
        return Error(Code::kCorruption, "file is shorter than its size", EIO);
    }
    return g;
  }
  // Puts the file back; returns `e` (the error that made us undo).
  Error Undo(const Error& e) {
    const uint64_t old_backing = std::max<uint64_t>(L_.header_size(), L_.BackingSize(plain_size_));
    if (::ftruncate(fd_, static_cast<off_t>(old_backing)) == 0 && tail_stored_ != 0) {
      (void)PwriteFull(fd_, tail_.data(), tail_stored_,
                       static_cast<off_t>(L_.BlockOffset(plain_size_ / kBlockSize)));
    }
    return e;
  }

 private:
  GrowGuard(int fd, const BlockLayout& L, uint64_t plain_size)
      : fd_(fd), L_(L), plain_size_(plain_size) {}
  int fd_;
  const BlockLayout& L_;
  uint64_t plain_size_;
  std::array<uint8_t, kBlockSize + 64> tail_{};
  size_t tail_stored_ = 0;
};

Error BlockError(uint64_t index) {
  return Error(Code::kCorruption, "block " + std::to_string(index) + " fails authentication", EIO);
}
}  // namespace

Result<uint64_t> PlainSizeOfFd(int fd, const BlockLayout& layout) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return IoError("fstat");
  return layout.PlainSize(static_cast<uint64_t>(st.st_size));
}

Result<size_t> CryptFile::Read(int fd, uint64_t plain_size, uint64_t off,
                               MutableByteSpan out) const {
  if (off >= plain_size || out.empty()) return size_t{0};
  const BlockLayout& L = fc_.layout();
  const uint64_t end = std::min<uint64_t>(plain_size, off + out.size());
  const uint64_t first = off / kBlockSize;
  const uint64_t last = (end - 1) / kBlockSize;
  const uint64_t cbegin = L.BlockOffset(first);
  const uint64_t cend = L.BackingSize(std::min<uint64_t>(plain_size, (last + 1) * kBlockSize));
  const size_t clen = static_cast<size_t>(cend - cbegin);
  std::vector<uint8_t>& cbuf = Scratch(clen + kBlockSize);
  MFS_ASSIGN(size_t got, PreadFull(fd, cbuf.data(), clen, static_cast<off_t>(cbegin)));
  if (got != clen) return Error(Code::kCorruption, "file is shorter than its size", EIO);
  uint8_t* block_plain = cbuf.data() + clen;  // one block of plaintext scratch
  size_t copied = 0;
  for (uint64_t b = first; b <= last; ++b) {
    const uint64_t bstart = b * kBlockSize;
    const size_t blen = static_cast<size_t>(std::min<uint64_t>(kBlockSize, plain_size - bstart));
    const uint8_t* stored = cbuf.data() + (L.BlockOffset(b) - cbegin);
    const uint64_t from = std::max(off, bstart);
    const uint64_t to = std::min(end, bstart + blen);
    // Decrypt straight into the caller's buffer when the whole block is wanted.
    const bool direct = from == bstart && to == bstart + blen;
    uint8_t* dst = direct ? out.data() + copied : block_plain;
    if (IsHole(b)) {
      std::memset(dst, 0, blen);  // a hole in the table: zeros, whatever the disk holds
    } else if (!fc_.OpenBlock(b, {stored, blen + L.overhead()}, dst)) {
      return BlockError(b);
    }
    if (!direct) std::memcpy(out.data() + copied, block_plain + (from - bstart), to - from);
    copied += static_cast<size_t>(to - from);
  }
  return copied;
}

Result<uint64_t> CryptFile::WriteRange(int fd, uint64_t plain_size, uint64_t off, uint64_t len,
                                       const uint8_t* data) {
  const BlockLayout& L = fc_.layout();
  const uint64_t end = off + len;
  const uint64_t new_size = std::max(plain_size, end);
  const uint64_t first = off / kBlockSize;
  const uint64_t last = (end - 1) / kBlockSize;
  const size_t nblocks = static_cast<size_t>(last - first + 1);
  // Layout: [sealed output: nblocks stored blocks][plain: one block][old stored block].
  std::vector<uint8_t>& buf =
      Scratch(nblocks * L.stored_block_size() + kBlockSize + L.stored_block_size());
  uint8_t* out = buf.data();
  uint8_t* plain = buf.data() + nblocks * L.stored_block_size();
  size_t out_len = 0;
  for (uint64_t b = first; b <= last; ++b) {
    const uint64_t bstart = b * kBlockSize;
    const size_t new_blen = static_cast<size_t>(std::min<uint64_t>(kBlockSize, new_size - bstart));
    const uint64_t from = std::max(off, bstart);
    const uint64_t to = std::min(end, bstart + new_blen);
    const bool covers = from == bstart && to == bstart + new_blen;
    if (!covers) {
      // Keep the existing bytes of this block (zeros past the old end or in a hole).
      std::memset(plain, 0, kBlockSize);
      if (bstart < plain_size && !IsHole(b)) {
        const size_t old_blen =
            static_cast<size_t>(std::min<uint64_t>(kBlockSize, plain_size - bstart));
        uint8_t* stored = plain + kBlockSize;  // the old block's ciphertext, up to stored size
        const size_t slen = old_blen + L.overhead();
        MFS_ASSIGN(size_t got, PreadFull(fd, stored, slen, static_cast<off_t>(L.BlockOffset(b))));
        if (got != slen || !fc_.OpenBlock(b, {stored, slen}, plain)) return BlockError(b);
      }
    }
    if (data != nullptr) {
      std::memcpy(plain + (from - bstart), data + (from - off), to - from);
    } else {
      std::memset(plain + (from - bstart), 0, to - from);
    }
    fc_.SealBlock(b, {plain, new_blen}, out + out_len);
    out_len += new_blen + L.overhead();
  }
  // A write that grows the file first gives the backing file its new size. The kernel
  // may cut a pwrite short when the process is killed (at a page-cache folio boundary),
  // and a cut inside a block's nonce would leave a size no file can have, which fails
  // the whole file at open; this way a cut leaves only blocks that do not authenticate
  // (EIO), as FORMAT.md §15 says of interrupted block writes.
  if (new_size > plain_size && ::ftruncate(fd, static_cast<off_t>(L.BackingSize(new_size))) != 0) {
    return IoError("ftruncate");
  }
  MFS_TRY(PwriteFull(fd, out, out_len, static_cast<off_t>(L.BlockOffset(first))));
  // The written blocks are data now (the table is written by the caller, after the data).
  if (Sparse() && holes::Overlaps(header_->holes, first, last - first + 1)) {
    holes::Remove(header_->holes, first, last - first + 1);
    holes_dirty_ = true;
  }
  return new_size;
}

Result<uint64_t> CryptFile::Write(int fd, uint64_t plain_size, uint64_t off, ByteSpan data) {
  if (data.empty()) return plain_size;
  if (off > kMaxPlainFileSize || data.size() > kMaxPlainFileSize - off) {
    return Error(Code::kInvalidArgument, "file would exceed the largest size", EFBIG);
  }
  std::optional<GrowGuard> guard;
  if (off + data.size() > plain_size) {
    MFS_ASSIGN(GrowGuard g, GrowGuard::Make(fd, fc_.layout(), plain_size, TailIsHole(plain_size)));
    guard.emplace(std::move(g));
  }
  uint64_t size = plain_size;
  // A gap between the old end and the write: a hole (format 2) or encrypted zeros.
  if (off > size) {
    auto grown = Grow(fd, size, off);
    if (!grown.ok()) return guard->Undo(grown.error());
    size = *grown;
  }
  uint64_t done = 0;
  while (done < data.size()) {
    const uint64_t chunk = std::min<uint64_t>(data.size() - done, kMaxIo);
    auto after = WriteRange(fd, size, off + done, chunk, data.data() + done);
    if (!after.ok()) return guard ? guard->Undo(after.error()) : after.error();
    size = *after;
    done += chunk;
  }
  if (Status st = SaveHoles(fd, size); !st.ok()) return st.error();
  return size;
}

bool CryptFile::IsHole(uint64_t block) const {
  return Sparse() && holes::Contains(header_->holes, block);
}

bool CryptFile::TailIsHole(uint64_t plain_size) const {
  return plain_size % kBlockSize != 0 && IsHole(plain_size / kBlockSize);
}

Status CryptFile::SaveHoles(int fd, uint64_t plain_size) {
  if (!Sparse()) return {};
  const uint64_t nblocks = (plain_size + kBlockSize - 1) / kBlockSize;
  // Entries past the end are dead weight (checked without copying the table: this runs
  // on every write).
  if (holes::Overlaps(header_->holes, nblocks, UINT64_MAX - nblocks)) {
    holes::Trim(header_->holes, nblocks);
    holes_dirty_ = true;
  }
  // Too many holes for the table: fill the smallest with sealed zeros until it fits.
  while (header_->holes.size() > MaxHoles(header_->version)) {
    auto smallest =
        std::min_element(header_->holes.begin(), header_->holes.end(),
                         [](const HoleRange& a, const HoleRange& b) { return a.count < b.count; });
    const HoleRange fill = *smallest;
    for (uint64_t b = fill.first; b < fill.first + fill.count; ++b) {
      const uint64_t bstart = b * kBlockSize;
      const uint64_t blen = std::min<uint64_t>(kBlockSize, plain_size - bstart);
      MFS_TRY(WriteRange(fd, plain_size, bstart, blen, nullptr));  // removes b from the table
    }
    holes_dirty_ = true;
  }
  if (!holes_dirty_) return {};
  MFS_TRY(WriteHoleTable(fd, *header_, fc_));
  holes_dirty_ = false;
  return {};
}

Result<uint64_t> CryptFile::Grow(int fd, uint64_t plain_size, uint64_t new_size) {
  if (!Sparse()) {
    // Format 1: encrypted zeros, a chunk at a time.
    while (plain_size < new_size) {
      const uint64_t chunk = std::min<uint64_t>(new_size - plain_size, kMaxIo);
      MFS_ASSIGN(plain_size, WriteRange(fd, plain_size, plain_size, chunk, nullptr));
    }
    return plain_size;
  }
  // Format 2: the old partial last block is sealed longer (unless it is a hole itself);
  // every block after it is a hole in the table; the backing file is extended sparsely.
  const BlockLayout& L = fc_.layout();
  uint64_t size = plain_size;
  if (size % kBlockSize != 0) {
    const uint64_t block_end = (size / kBlockSize + 1) * kBlockSize;
    const uint64_t to = std::min(new_size, block_end);
    if (!TailIsHole(size)) {
      MFS_ASSIGN(size, WriteRange(fd, size, size, to - size, nullptr));
    }
    size = to;
  }
  if (new_size > size) {
    const uint64_t first_new = (size + kBlockSize - 1) / kBlockSize;
    const uint64_t last_new = (new_size - 1) / kBlockSize;
    holes::Add(header_->holes, first_new, last_new - first_new + 1);
    holes_dirty_ = true;
  }
  // The table before the size: a crash between them leaves entries past the end, which
  // readers ignore; the other order could leave unlisted zero blocks (a false alarm).
  MFS_TRY(SaveHoles(fd, new_size));
  if (::ftruncate(fd, static_cast<off_t>(L.BackingSize(new_size))) != 0) {
    return IoError("ftruncate");
  }
  return new_size;
}

Result<uint64_t> CryptFile::Truncate(int fd, uint64_t plain_size, uint64_t new_size) {
  const BlockLayout& L = fc_.layout();
  if (new_size > kMaxPlainFileSize) {
    return Error(Code::kInvalidArgument, "file would exceed the largest size", EFBIG);
  }
  if (new_size < plain_size) {
    // Format 3: the smaller size is recorded before anything is cut, so that a crash in
    // between leaves a file longer than its record (accepted), never shorter (tampering).
    if (header_ != nullptr && header_->version >= 3 && header_->recorded_size > new_size) {
      MFS_TRY(RecordSize(fd, *header_, fc_, new_size));
    }
    // The new last block, if partial (and not a hole), is re-encrypted at its shorter length.
    const uint64_t rest = new_size % kBlockSize;
    if (rest != 0 && !IsHole(new_size / kBlockSize)) {
      const uint64_t b = new_size / kBlockSize;
      uint8_t plain[kBlockSize];
      MFS_ASSIGN(size_t got,
                 Read(fd, plain_size, b * kBlockSize, {plain, static_cast<size_t>(rest)}));
      (void)got;
      std::vector<uint8_t>& buf = Scratch(L.stored_block_size());
      fc_.SealBlock(b, {plain, static_cast<size_t>(rest)}, buf.data());
      MFS_TRY(PwriteFull(fd, buf.data(), static_cast<size_t>(rest) + L.overhead(),
                         static_cast<off_t>(L.BlockOffset(b))));
    }
    // An empty file keeps its header (and so its file id and key).
    const uint64_t backing = new_size == 0 ? L.header_size() : L.BackingSize(new_size);
    if (::ftruncate(fd, static_cast<off_t>(backing)) != 0) return IoError("ftruncate");
    // Cut first, then drop the table's entries past the end (readers ignore those).
    MFS_TRY(SaveHoles(fd, new_size));
    return new_size;
  }
  if (new_size == plain_size) return plain_size;
  MFS_ASSIGN(GrowGuard guard, GrowGuard::Make(fd, L, plain_size, TailIsHole(plain_size)));
  auto grown = Grow(fd, plain_size, new_size);
  if (!grown.ok()) return guard.Undo(grown.error());
  return *grown;
}

}  // namespace matterfs::vault
