#include "fs/vault/encrypted_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "crypto/kdf.h"
#include "fs/vault/names.h"
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
  std::optional<FileHeader> older;
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
    if (!best) {
      best = std::move(*copy);
    } else if (copy->sequence > best->sequence) {
      std::swap(*best, *copy);
      older = std::move(*copy);
    } else {
      older = std::move(*copy);
    }
  }
  if (!best) return last;
  // Format 3: a rename rebinds the copy that is not current first; until the other copy
  // follows, the older one still names the old entry (docs/FORMAT.md §13.1b).
  if (older && !older->unbound && older->sequence + 1 == best->sequence) {
    best->older_tag = older->name_tag;
  }
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

Result<std::optional<OpenedFile>> OpenFile(int fd, const FileFormat& format, const Keyring& ring,
                                           std::optional<std::string_view> name) {
  uint8_t raw[kHeaderSizeV2];
  MFS_ASSIGN(size_t got, PreadFull(fd, raw, format.header_size(), 0));
  if (got == 0) {
    if (format.version >= 3) {
      return Error(Code::kCorruption,
                   "file has no header: emptied (cut to 0 bytes) by someone outside matterfs", EIO);
    }
    return std::optional<OpenedFile>();
  }
  struct stat backing;
  if (::fstat(fd, &backing) != 0) return IoError("stat backing file");
  const BlockLayout layout = format.layout();
  MFS_ASSIGN(uint64_t plain_size, layout.PlainSize(static_cast<uint64_t>(backing.st_size)));
  if (format.version == 1) {
    MFS_ASSIGN(FileHeader header, FileHeader::Parse({raw, got}));
    MFS_TRY(CheckFormat(header, format));
    MFS_ASSIGN(FileCrypto fc, FileCrypto::Open(header, ring));
    return std::optional<OpenedFile>(OpenedFile{std::move(header), std::move(fc), plain_size});
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
      // A file with several names (or none left) cannot be bound to one of them.
      MFS_TRY(CheckRecord(header, plain_size, backing.st_nlink == 1 ? name : std::nullopt));
      return std::optional<OpenedFile>(OpenedFile{std::move(header), std::move(*fc), plain_size});
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

Status CheckRecord(const FileHeader& header, uint64_t plain_size,
                   std::optional<std::string_view> name) {
  if (header.version < 3) return {};
  if (plain_size < header.recorded_size) {
    return Error(Code::kCorruption,
                 "file is shorter than its header records (" + std::to_string(plain_size) + " of " +
                     std::to_string(header.recorded_size) +
                     " bytes): cut short by someone outside matterfs",
                 EIO);
  }
  if (name && !header.unbound) {
    const NameTag tag = NameTagOf(*name);
    const bool current = crypto::ConstantTimeEqual(tag, header.name_tag);
    const bool older = header.older_tag && crypto::ConstantTimeEqual(tag, *header.older_tag);
    if (!current && !older) {
      return Error(Code::kCorruption,
                   "file header belongs to another name: moved or swapped by someone outside "
                   "matterfs",
                   EIO);
    }
  }
  return {};
}

namespace {
// Puts a backing file's access and modification times back after a header-only write.
class KeepTimes {
 public:
  explicit KeepTimes(int fd) : fd_(fd), ok_(::fstat(fd, &st_) == 0) {}
  ~KeepTimes() {
    if (!ok_) return;
    const struct timespec times[2] = {st_.st_atim, st_.st_mtim};
    (void)::futimens(fd_, times);
  }
  KeepTimes(const KeepTimes&) = delete;
  KeepTimes& operator=(const KeepTimes&) = delete;

 private:
  int fd_;
  struct stat st_;
  bool ok_;
};
}  // namespace

Status RecordSize(int fd, FileHeader& header, const FileCrypto& crypto, uint64_t size) {
  if (header.version < 3 || header.recorded_size == size) return {};
  KeepTimes keep(fd);
  FileHeader next = header;
  next.recorded_size = size;
  MFS_TRY(WriteHoleTable(fd, next, crypto));
  header = std::move(next);
  return {};
}

Status WriteBinding(int fd, FileHeader& header, const FileCrypto& crypto, bool unbound,
                    const NameTag& tag) {
  if (header.version < 3) return {};
  KeepTimes keep(fd);
  FileHeader next = header;
  next.unbound = unbound;
  next.name_tag = unbound ? NameTag{} : tag;
  MFS_TRY(WriteHoleTable(fd, next, crypto));
  header = std::move(next);
  return {};
}

Result<OpenedFile> WriteNewHeader(int fd, const FileFormat& format, const Keyring& ring,
                                  std::optional<std::string_view> name) {
  MFS_ASSIGN(auto created, FileCrypto::Create(format.cipher, ring, format.version));
  FileHeader& h = created.second;
  if (format.version >= 3) {
    h.unbound = !name.has_value();
    if (name) h.name_tag = NameTagOf(*name);
  }
  if (format.version == 1) {
    const auto raw = h.Serialize();
    MFS_TRY(PwriteFull(fd, raw.data(), raw.size(), 0));
  } else {
    MFS_TRY(WriteBothCopies(fd, h, created.first));
  }
  return OpenedFile{std::move(h), std::move(created.first), 0};
}

Result<CreatedFile> CreateWithHeader(int dirfd, const std::string& entry, mode_t mode,
                                     const FileFormat& format, const Keyring& ring,
                                     const std::function<void(int fd)>& prepare) {
  UniqueFd fd(::openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, mode & 07777));
  std::string temp;
  if (!fd.valid()) {
    if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
      return IoError("create a file");
    }
    // No O_TMPFILE here (NFS): a temporary name (metadata: listings never show it).
    uint8_t rnd[12];
    crypto::RandomBytes(rnd);
    temp = ".tmp.new." + Base64UrlEncode({rnd, sizeof rnd});
    fd.reset(::openat(dirfd, temp.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC | O_NOFOLLOW,
                      mode & 07777));
    if (!fd.valid()) return IoError("create a file");
  }
  auto drop_temp = [&] {
    if (!temp.empty()) ::unlinkat(dirfd, temp.c_str(), 0);
  };
  auto made = WriteNewHeader(fd.get(), format, ring, std::string_view(entry));
  if (!made.ok()) {
    drop_temp();
    return made.error();
  }
  if (prepare) prepare(fd.get());
  int rc = temp.empty() ? ::linkat(AT_FDCWD, ("/proc/self/fd/" + std::to_string(fd.get())).c_str(),
                                   dirfd, entry.c_str(), AT_SYMLINK_FOLLOW)
                        : ::linkat(dirfd, temp.c_str(), dirfd, entry.c_str(), 0);
  if (rc != 0) {
    Error e = IoError("link the new file under its name");
    drop_temp();
    return e;
  }
  drop_temp();
  return CreatedFile{std::move(fd), std::move(*made)};
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
