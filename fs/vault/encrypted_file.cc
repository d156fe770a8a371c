#include "fs/vault/encrypted_file.h"

#include <unistd.h>

#include <cstring>

#include "util/file_io.h"

namespace matterfs::vault {

namespace {

Status CheckFormat(const FileHeader& h, const FileFormat& format) {
  if (h.version != format.version) {
    return Error(Code::kCorruption,
                 "file header of format " + std::to_string(h.version) + " in a vault of format " +
                     std::to_string(format.version),
                 EIO);
  }
  if (h.cipher != format.cipher) {
    return Error(Code::kCorruption, "file header names another cipher than the vault's", EIO);
  }
  return {};
}

// The two copies of a format 2 header, authenticated; the newer valid one wins.
Result<FileHeader> CurrentCopy(ByteSpan raw, const FileCrypto& crypto) {
  std::optional<FileHeader> best;
  Error last(Code::kCorruption, "file header: no valid copy", EIO);
  for (int i = 0; i < 2; ++i) {
    if (raw.size() < static_cast<size_t>(i + 1) * kHeaderCopySize) break;
    auto copy =
        crypto.ParseCopy(raw.subspan(static_cast<size_t>(i) * kHeaderCopySize, kHeaderCopySize));
    if (!copy.ok()) {
      last = copy.error();
      continue;
    }
    copy->copy = i;
    if (!best || copy->sequence > best->sequence) best = std::move(*copy);
  }
  if (!best) return last;
  return std::move(*best);
}

// Format 2: `header` into both copies, in one write of the two 512-byte sectors.
Status WriteBothCopies(int fd, const FileHeader& header, const FileCrypto& crypto) {
  const auto copy = crypto.SerializeCopy(header);
  uint8_t both[kHeaderSizeV2];
  std::memcpy(both, copy.data(), kHeaderCopySize);
  std::memcpy(both + kHeaderCopySize, copy.data(), kHeaderCopySize);
  return PwriteFull(fd, both, sizeof both, 0);
}

}  // namespace

Result<std::optional<FileHeader>> ReadFileHeader(int fd, const FileFormat& format) {
  uint8_t raw[kHeaderSizeV2];
  MFS_ASSIGN(size_t got, PreadFull(fd, raw, format.header_size(), 0));
  if (got == 0) return std::optional<FileHeader>();
  auto h = FileHeader::Parse({raw, got});
  if (!h.ok() && format.version >= 2 && got >= kHeaderSizeV2) {
    h = FileHeader::Parse({raw + kHeaderCopySize, kHeaderSize});  // copy A torn: try B
  }
  if (!h.ok()) return h.error();
  MFS_TRY(CheckFormat(*h, format));
  return std::optional<FileHeader>(std::move(*h));
}

Result<std::optional<OpenedFile>> OpenFile(int fd, const FileFormat& format, const Keyring& ring) {
  uint8_t raw[kHeaderSizeV2];
  MFS_ASSIGN(size_t got, PreadFull(fd, raw, format.header_size(), 0));
  if (got == 0) return std::optional<OpenedFile>();
  if (format.version == 1) {
    MFS_ASSIGN(FileHeader header, FileHeader::Parse({raw, got}));
    MFS_TRY(CheckFormat(header, format));
    MFS_ASSIGN(FileCrypto fc, FileCrypto::Open(header, ring));
    return std::optional<OpenedFile>(OpenedFile{std::move(header), std::move(fc)});
  }
  if (got < kHeaderSizeV2) return Error(Code::kCorruption, "file header truncated", EIO);
  // Either copy may carry the key (a torn rewrap leaves one of each version).
  std::optional<Error> first_error;
  for (int i = 0; i < 2; ++i) {
    auto base = FileHeader::Parse({raw + static_cast<size_t>(i) * kHeaderCopySize, kHeaderSize});
    Result<FileCrypto> fc =
        base.ok() ? FileCrypto::Open(*base, ring) : Result<FileCrypto>(base.error());
    if (base.ok() && fc.ok()) {
      if (Status st = CheckFormat(*base, format); !st.ok()) return st.error();
      MFS_ASSIGN(FileHeader header, CurrentCopy({raw, kHeaderSizeV2}, *fc));
      return std::optional<OpenedFile>(OpenedFile{std::move(header), std::move(*fc)});
    }
    if (!first_error) first_error = fc.error();
  }
  return *first_error;
}

Result<std::array<std::optional<Error>, 2>> CheckHeaderCopies(int fd, const FileCrypto& crypto) {
  uint8_t raw[kHeaderSizeV2];
  MFS_ASSIGN(size_t got, PreadFull(fd, raw, sizeof raw, 0));
  std::array<std::optional<Error>, 2> out;
  for (size_t i = 0; i < 2; ++i) {
    if (got < (i + 1) * kHeaderCopySize) {
      out[i] = Error(Code::kCorruption, "file header truncated", EIO);
      continue;
    }
    auto copy = crypto.ParseCopy({raw + i * kHeaderCopySize, kHeaderCopySize});
    if (!copy.ok()) out[i] = copy.error();
  }
  return out;
}

Result<OpenedFile> WriteNewHeader(int fd, const FileFormat& format, const Keyring& ring) {
  MFS_ASSIGN(auto created, FileCrypto::Create(format.cipher, ring, format.version));
  FileHeader& h = created.second;
  if (format.version == 1) {
    const auto raw = h.Serialize();
    MFS_TRY(PwriteFull(fd, raw.data(), raw.size(), 0));
  } else {
    MFS_TRY(WriteBothCopies(fd, h, created.first));
  }
  return OpenedFile{std::move(h), std::move(created.first)};
}

Status RewriteHeader(int fd, FileHeader& header, const FileCrypto& crypto, bool sync) {
  if (header.version == 1) {
    const auto raw = header.Serialize();
    MFS_TRY(PwriteFull(fd, raw.data(), raw.size(), 0));
  } else {
    header.sequence += 1;
    MFS_TRY(WriteBothCopies(fd, header, crypto));
    header.copy = 0;
  }
  if (sync && ::fdatasync(fd) != 0) return IoError("fdatasync");
  return {};
}

Status WriteHoleTable(int fd, FileHeader& header, const FileCrypto& crypto) {
  if (header.version == 1) return Error(Code::kInvalidArgument, "format 1 files have no holes");
  FileHeader next = header;
  next.sequence += 1;
  next.copy = 1 - header.copy;
  const auto copy = crypto.SerializeCopy(next);
  MFS_TRY(PwriteFull(fd, copy.data(), copy.size(),
                     static_cast<off_t>(static_cast<size_t>(next.copy) * kHeaderCopySize)));
  header = std::move(next);
  return {};
}

Status ReloadHeader(int fd, FileHeader& header, const FileCrypto& crypto) {
  if (header.version == 1) return {};
  uint8_t raw[kHeaderSizeV2];
  MFS_ASSIGN(size_t got, PreadFull(fd, raw, sizeof raw, 0));
  if (got < kHeaderSizeV2) return Error(Code::kCorruption, "file header truncated", EIO);
  MFS_ASSIGN(FileHeader current, CurrentCopy({raw, got}, crypto));
  // The key may have been rewrapped meanwhile; what we keep is the table and sequence.
  header = std::move(current);
  return {};
}

}  // namespace matterfs::vault
