#include "fs/vault/encrypted_dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "crypto/secure_memory.h"
#include "util/file_io.h"
#include "util/log.h"

namespace matterfs::vault {

namespace {
constexpr size_t kMaxLongNameFile = 4096;
}  // namespace

std::string TempEntryName(std::string_view kind) {
  uint8_t rnd[12];
  crypto::RandomBytes(rnd);
  std::string out = ".tmp.";
  if (!kind.empty()) out += std::string(kind) + ".";
  return out + Base64UrlEncode(rnd);
}

Result<DirIv> ReadDirIv(int dirfd) {
  UniqueFd fd(::openat(dirfd, std::string(kDirIvName).c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    int err = errno;
    if (err == ENOENT) return Error(Code::kCorruption, "directory IV (.diriv) is missing", EIO);
    return IoError("open .diriv", err);
  }
  DirIv iv;
  uint8_t extra;
  MFS_ASSIGN(size_t n, PreadFull(fd.get(), iv.data(), iv.size(), 0));
  MFS_ASSIGN(size_t more, PreadFull(fd.get(), &extra, 1, static_cast<off_t>(iv.size())));
  if (n != iv.size() || more != 0)
    return Error(Code::kCorruption, "directory IV has the wrong size", EIO);
  return iv;
}

Status MakeEncryptedDirImpl(int parentfd, const std::string& name, mode_t mode,
                            const std::function<Status(int)>& extra, bool sync_parent) {
  const std::string tmp = TempEntryName("");
  // 0700 while under construction; the real mode is set before the rename.
  if (::mkdirat(parentfd, tmp.c_str(), 0700) != 0) return IoError("mkdir");
  auto cleanup = [&](Error e) -> Error {
    UniqueFd d(::openat(parentfd, tmp.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (d.valid()) {
      ::unlinkat(d.get(), std::string(kDirIvName).c_str(), 0);
      ::unlinkat(d.get(), std::string(kMatterIdName).c_str(), 0);
    }
    ::unlinkat(parentfd, tmp.c_str(), AT_REMOVEDIR);
    return e;
  };
  UniqueFd dir(::openat(parentfd, tmp.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) return cleanup(IoError("open new directory"));
  DirIv iv;
  crypto::RandomBytes(iv);
  if (Status st = WriteFileExclusive(dir.get(), std::string(kDirIvName), iv, 0444); !st.ok()) {
    return cleanup(st.error());
  }
  if (extra) {
    if (Status st = extra(dir.get()); !st.ok()) return cleanup(st.error());
  }
  // Keep the set-group-ID bit a setgid parent handed down (as mkdir(2) does).
  struct stat made;
  mode_t final_mode = mode & 07777;
  if (::fstat(dir.get(), &made) == 0 && (made.st_mode & S_ISGID)) final_mode |= S_ISGID;
  if (::fchmod(dir.get(), final_mode) != 0) return cleanup(IoError("chmod new directory"));
  int rc = ::renameat2(parentfd, tmp.c_str(), parentfd, name.c_str(), RENAME_NOREPLACE);
  if (rc != 0 && errno == EINVAL) {
    // NFS and some network filesystems lack RENAME_NOREPLACE. A plain rename is still
    // safe here: the new directory holds .diriv, so it can replace neither a file
    // (ENOTDIR) nor a directory (which is never empty: it has its own .diriv).
    rc = ::renameat(parentfd, tmp.c_str(), parentfd, name.c_str());
    if (rc != 0 && (errno == ENOTEMPTY || errno == ENOTDIR || errno == EISDIR)) errno = EEXIST;
  }
  if (rc != 0) {
    int err = errno;
    if (err == EEXIST) return cleanup(Error(Code::kExists, "already exists", EEXIST));
    return cleanup(IoError("rename new directory", err));
  }
  return sync_parent ? FsyncDir(parentfd) : Status();
}

Result<EncryptedDir> EncryptedDir::Open(int dirfd, const NameCodec& codec) {
  MFS_ASSIGN(DirIv iv, ReadDirIv(dirfd));
  return EncryptedDir(dirfd, codec, iv);
}

Result<std::string> EncryptedDir::Decode(std::string_view entry) const {
  switch (NameCodec::Classify(entry)) {
    case EntryKind::kMeta:
      return Error(Code::kNotFound, "metadata entry");
    case EntryKind::kShort:
      return codec_->Decode(iv_, entry);
    case EntryKind::kLong: {
      auto full = ReadWholeFile(fd_, NameCodec::LongNameFile(entry), kMaxLongNameFile);
      if (!full.ok()) {
        if (full.error().code() == Code::kNotFound) {
          return Error(Code::kCorruption, "long name " + std::string(entry) + " has no side file",
                       EIO);
        }
        return full.error();
      }
      return codec_->DecodeLong(
          iv_, entry, std::string_view(reinterpret_cast<const char*>(full->data()), full->size()));
    }
  }
  return Error(Code::kNotFound, "unknown entry");
}

Status EncryptedDir::CheckLongName(const StoredName& stored) const {
  if (!stored.full) return {};
  auto full = ReadWholeFile(fd_, NameCodec::LongNameFile(stored.entry), kMaxLongNameFile);
  if (!full.ok()) {
    if (full.error().code() == Code::kNotFound) {
      return Error(Code::kCorruption, "long name " + stored.entry + " has no side file", EIO);
    }
    return full.error();
  }
  if (std::string_view(reinterpret_cast<const char*>(full->data()), full->size()) != *stored.full) {
    return Error(Code::kCorruption,
                 "long-name file of " + stored.entry +
                     " does not match its entry (swapped or "
                     "edited)",
                 EIO);
  }
  return {};
}

Status EncryptedDir::WriteLongName(const StoredName& stored) const {
  if (!stored.full) return {};
  return WriteFileAtomic(fd_, NameCodec::LongNameFile(stored.entry), AsBytes(*stored.full), 0444);
}

void EncryptedDir::RemoveLongName(const StoredName& stored) const {
  if (stored.full) ::unlinkat(fd_, NameCodec::LongNameFile(stored.entry).c_str(), 0);
}

Status EncryptedDir::List(const std::function<void(DirEntry&)>& each) const {
  UniqueFd scan(::openat(fd_, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!scan.valid()) return IoError("open directory");
  DIR* d = ::fdopendir(scan.get());
  if (d == nullptr) return IoError("read directory");
  (void)scan.release();
  std::vector<DirEntry> entries;
  errno = 0;
  while (struct dirent* de = ::readdir(d)) {
    std::string_view n = de->d_name;
    if (n == "." || n == ".." || NameCodec::Classify(n) == EntryKind::kMeta) continue;
    entries.push_back({std::string(n), Error(Code::kNotFound, ""), de->d_ino, de->d_type});
  }
  const int err = errno;
  ::closedir(d);
  if (err != 0) return IoError("read directory", err);
  for (DirEntry& e : entries) {
    e.name = Decode(e.entry);
    each(e);
  }
  return {};
}

void AsideDir::Restore(int parentfd, const std::string& entry) {
  if (!active()) return;
  ::renameat(parentfd, aside_.c_str(), parentfd, entry.c_str());
  aside_.clear();
}

Status AsideDir::Destroy(int parentfd) {
  if (!active()) return {};
  for (const std::string& m : meta_) {
    if (::unlinkat(fd_.get(), m.c_str(), 0) != 0 && errno == EISDIR) {
      // A leftover temporary directory (a crashed mkdir) inside: it holds at most its IV
      // and a matter id.
      UniqueFd sub(::openat(fd_.get(), m.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (sub.valid()) {
        ::unlinkat(sub.get(), std::string(kDirIvName).c_str(), 0);
        ::unlinkat(sub.get(), std::string(kMatterIdName).c_str(), 0);
      }
      ::unlinkat(fd_.get(), m.c_str(), AT_REMOVEDIR);
    }
  }
  const std::string aside = std::move(aside_);
  aside_.clear();
  if (::unlinkat(parentfd, aside.c_str(), AT_REMOVEDIR) != 0) {
    return IoError("remove " + aside);
  }
  return {};
}

Result<AsideDir> MoveEmptyDirAside(int parentfd, const std::string& entry) {
  UniqueFd dfd(::openat(parentfd, entry.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dfd.valid()) return IoError("open directory", errno);
  std::vector<std::string> meta;
  {
    UniqueFd scan(::openat(dfd.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    DIR* d = scan.valid() ? ::fdopendir(scan.get()) : nullptr;
    if (d == nullptr) return IoError("read directory");
    (void)scan.release();
    bool empty = true;
    while (struct dirent* de = ::readdir(d)) {
      std::string_view n = de->d_name;
      if (n == "." || n == "..") continue;
      if (NameCodec::Classify(n) != EntryKind::kMeta) {
        empty = false;
        break;
      }
      meta.emplace_back(n);
    }
    ::closedir(d);
    if (!empty) return Error(Code::kIo, "directory not empty", ENOTEMPTY);
  }
  AsideDir out;
  out.aside_ = TempEntryName("rm");
  if (::renameat(parentfd, entry.c_str(), parentfd, out.aside_.c_str()) != 0) {
    return IoError("move directory aside");
  }
  out.fd_ = std::move(dfd);
  out.meta_ = std::move(meta);
  return out;
}

}  // namespace matterfs::vault
