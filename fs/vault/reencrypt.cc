#include "fs/vault/reencrypt.h"

#include <dirent.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>

#include "fs/vault/crypt_file.h"
#include "fs/vault/encrypted_dir.h"
#include "fs/vault/names.h"
#include "util/file_io.h"

namespace matterfs::vault {
namespace {

constexpr uint64_t kRunBlocks = 256;  // blocks moved per read/write (1 MiB of plaintext)
constexpr size_t kMaxJournal = 1 << 20;
constexpr std::string_view kTargetPrefix = "target ";
constexpr std::string_view kTempKind = "reenc";
constexpr std::string_view kLinkKind = "link";

std::string_view ParentOf(std::string_view position) {
  const size_t slash = position.rfind('/');
  return slash == std::string_view::npos ? std::string_view() : position.substr(0, slash);
}

std::string_view LeafOf(std::string_view position) {
  const size_t slash = position.rfind('/');
  return slash == std::string_view::npos ? position : position.substr(slash + 1);
}

bool IsOurTemp(std::string_view entry) {
  for (std::string_view kind : {kTempKind, kLinkKind}) {
    const std::string prefix = ".tmp." + std::string(kind) + ".";
    if (entry.substr(0, prefix.size()) == prefix) return true;
  }
  return false;
}

bool Exists(int dirfd, const char* name) {
  return ::faccessat(dirfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

// Copies every extended attribute (the sealed user.* values and any other namespace).
Status CopyXattrs(int from, int to) {
  ssize_t n = ::flistxattr(from, nullptr, 0);
  if (n < 0) return errno == ENOTSUP ? Status{} : IoError("list xattrs");
  if (n == 0) return {};
  std::string names(static_cast<size_t>(n), '\0');
  n = ::flistxattr(from, names.data(), names.size());
  if (n < 0) return IoError("list xattrs");
  names.resize(static_cast<size_t>(n));
  Bytes value;
  for (size_t pos = 0; pos < names.size();) {
    const std::string name(names.c_str() + pos);
    pos += name.size() + 1;
    ssize_t len = ::fgetxattr(from, name.c_str(), nullptr, 0);
    if (len < 0) return IoError("read xattr");
    value.resize(static_cast<size_t>(len));
    len = ::fgetxattr(from, name.c_str(), value.data(), value.size());
    if (len < 0) return IoError("read xattr");
    if (::fsetxattr(to, name.c_str(), value.data(), static_cast<size_t>(len), 0) != 0) {
      return IoError("copy xattr " + name);
    }
  }
  return {};
}

}  // namespace

Result<std::optional<uint32_t>> ReadReencryptTarget(int matter_dirfd) {
  auto raw = ReadWholeFile(matter_dirfd, kReencryptJournal, 64);
  if (!raw.ok()) {
    if (raw.error().code() == Code::kNotFound) return std::optional<uint32_t>();
    return raw.error();
  }
  std::string_view text(reinterpret_cast<const char*>(raw->data()), raw->size());
  uint32_t target = 0;
  if (text.substr(0, kTargetPrefix.size()) == kTargetPrefix) {
    text.remove_prefix(kTargetPrefix.size());
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), target);
    if (ec == std::errc() && target > 0 &&
        std::string_view(end, text.data() + text.size()) == "\n") {
      return std::optional<uint32_t>(target);
    }
  }
  return Error(Code::kCorruption, "the re-encryption journal (.reencrypt) does not parse");
}

Status WriteReencryptTarget(int matter_dirfd, uint32_t target) {
  const std::string text = std::string(kTargetPrefix) + std::to_string(target) + "\n";
  return WriteFileAtomic(matter_dirfd, kReencryptJournal,
                         {reinterpret_cast<const uint8_t*>(text.data()), text.size()}, 0600);
}

Status RemoveReencryptJournal(int matter_dirfd) {
  if (::unlinkat(matter_dirfd, kReencryptJournal, 0) != 0 && errno != ENOENT) {
    return IoError("remove .reencrypt");
  }
  return FsyncDir(matter_dirfd);
}

bool ReencryptLinksPending(int matter_dirfd) { return Exists(matter_dirfd, kReencryptLinks); }

Result<bool> Reencryptor::Reencrypt(int dirfd, const std::string& entry, int fd,
                                    const struct stat& st, const std::string& position,
                                    const LinkGroup* links) {
  MFS_ASSIGN(std::optional<std::string> temp, WriteCopy(dirfd, fd, st));
  if (!temp) return false;
  if (links == nullptr || links->size() < 2) {
    if (::renameat(dirfd, temp->c_str(), dirfd, entry.c_str()) != 0) {
      Error e = IoError("rename the new copy over the file");
      ::unlinkat(dirfd, temp->c_str(), 0);
      return e;
    }
    return true;
  }
  const std::string_view parent = ParentOf(position);
  const std::string temp_position = parent.empty() ? *temp : std::string(parent) + "/" + *temp;
  std::string text = temp_position + "\n";
  for (const auto& name : *links) text += name + "\n";
  Status journal =
      WriteFileAtomic(matter_dirfd_, kReencryptLinks,
                      {reinterpret_cast<const uint8_t*>(text.data()), text.size()}, 0600);
  if (!journal.ok()) {
    ::unlinkat(dirfd, temp->c_str(), 0);
    return journal.error();
  }
  MFS_TRY(LinkOver(temp_position, *links));
  return true;
}

Result<std::optional<std::string>> Reencryptor::WriteCopy(int dirfd, int fd,
                                                          const struct stat& st) {
  MFS_ASSIGN(std::optional<OpenedFile> old, OpenFile(fd, format_, ring_));
  if (!old) return std::optional<std::string>();
  struct stat now;
  if (::fstat(fd, &now) != 0) return IoError("fstat");
  MFS_ASSIGN(uint64_t plain, old->crypto.layout().PlainSize(static_cast<uint64_t>(now.st_size)));

  const std::string temp = TempEntryName(kTempKind);
  UniqueFd out(
      ::openat(dirfd, temp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!out.valid()) return IoError("create a temporary file");
  auto written = [&]() -> Status {
    MFS_ASSIGN(auto created, FileCrypto::Create(format_.cipher, ring_, format_.version));
    auto& [fresh, header] = created;
    header.holes = old->header.holes;
    // Format 3: the copy takes the file's place, so its name binding, and its size.
    header.unbound = old->header.unbound || st.st_nlink > 1;
    if (!header.unbound) header.name_tag = old->header.name_tag;
    header.recorded_size = plain;
    MFS_TRY(CopyBlocks(fd, out.get(), *old, fresh, plain));
    if (::ftruncate(out.get(), now.st_size) != 0) return IoError("size the new copy");
    MFS_TRY(RewriteHeader(out.get(), header, fresh, false));
    MFS_TRY(CopyXattrs(fd, out.get()));
    // Owner before mode: a chown clears set-id bits.
    if (::fchown(out.get(), st.st_uid, st.st_gid) != 0) return IoError("keep the owner");
    if (::fchmod(out.get(), st.st_mode & 07777) != 0) return IoError("keep the mode");
    const struct timespec times[2] = {now.st_atim, now.st_mtim};
    if (::futimens(out.get(), times) != 0) return IoError("keep the times");
    // The new copy is on disk before the rename can be.
    if (::fsync(out.get()) != 0) return IoError("fsync the new copy");
    bytes_written_ += static_cast<uint64_t>(now.st_size);
    return {};
  }();
  if (!written.ok()) {
    ::unlinkat(dirfd, temp.c_str(), 0);
    return written.error();
  }
  return std::optional<std::string>(temp);
}

Status Reencryptor::CopyBlocks(int from, int to, const OpenedFile& old, const FileCrypto& fresh,
                               uint64_t plain_size) {
  const BlockLayout& layout = old.crypto.layout();
  const size_t overhead = layout.overhead();
  const size_t stored = layout.stored_block_size();
  const std::vector<HoleRange>& table = old.header.holes;
  const uint64_t nblocks = (plain_size + kBlockSize - 1) / kBlockSize;
  in_.resize(kRunBlocks * stored);
  out_.resize(kRunBlocks * stored);
  uint8_t plain[kBlockSize];
  Status st;
  for (uint64_t i = 0; i < nblocks && st.ok();) {
    if (holes::Contains(table, i)) {  // stays a hole: nothing stored, nothing written
      ++i;
      continue;
    }
    uint64_t n = 1;
    while (n < kRunBlocks && i + n < nblocks && !holes::Contains(table, i + n)) ++n;
    const uint64_t plain_len = std::min(plain_size, (i + n) * kBlockSize) - i * kBlockSize;
    const size_t len = static_cast<size_t>(plain_len + n * overhead);
    const auto off = static_cast<off_t>(layout.BlockOffset(i));
    auto got = PreadFull(from, in_.data(), len, off);
    if (!got.ok()) {
      st = got.error();
      break;
    }
    if (*got != len) {
      st = Error(Code::kCorruption, "file ends inside block " + std::to_string(i), EIO);
      break;
    }
    for (uint64_t k = 0; k < n; ++k) {
      const uint64_t index = i + k;
      const size_t p =
          static_cast<size_t>(std::min<uint64_t>(kBlockSize, plain_size - index * kBlockSize));
      if (!old.crypto.OpenBlock(index, {in_.data() + k * stored, p + overhead}, plain)) {
        st = Error(Code::kCorruption, "block " + std::to_string(index) + " does not authenticate",
                   EIO);
        break;
      }
      fresh.SealBlock(index, {plain, p}, out_.data() + k * stored);
    }
    if (st.ok()) st = PwriteFull(to, out_.data(), len, off);
    i += n;
  }
  sodium_memzero(plain, sizeof plain);
  return st;
}

Status Reencryptor::LinkOver(const std::string& temp_position, const LinkGroup& names) {
  auto open_parent = [&](std::string_view position) -> Result<UniqueFd> {
    const std::string parent(ParentOf(position));
    UniqueFd d(::openat(matter_dirfd_, parent.empty() ? "." : parent.c_str(),
                        O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!d.valid()) return IoError("open directory " + parent);
    return d;
  };
  MFS_ASSIGN(UniqueFd temp_dir, open_parent(temp_position));
  const std::string temp(LeafOf(temp_position));
  struct stat ts;
  if (::fstatat(temp_dir.get(), temp.c_str(), &ts, AT_SYMLINK_NOFOLLOW) == 0) {
    for (const std::string& name : names) {
      MFS_ASSIGN(UniqueFd dir, open_parent(name));
      const std::string leaf(LeafOf(name));
      struct stat ns;
      if (::fstatat(dir.get(), leaf.c_str(), &ns, AT_SYMLINK_NOFOLLOW) != 0) continue;  // gone
      if (ns.st_ino == ts.st_ino && ns.st_dev == ts.st_dev) continue;  // done before a crash
      const std::string link = TempEntryName(kLinkKind);
      if (::linkat(temp_dir.get(), temp.c_str(), dir.get(), link.c_str(), 0) != 0) {
        return IoError("link the new copy");
      }
      if (::renameat(dir.get(), link.c_str(), dir.get(), leaf.c_str()) != 0) {
        Error e = IoError("rename the new copy over a link");
        ::unlinkat(dir.get(), link.c_str(), 0);
        return e;
      }
      MFS_TRY(FsyncDir(dir.get()));
      if (relinked_) relinked_();
    }
    if (::unlinkat(temp_dir.get(), temp.c_str(), 0) != 0) return IoError("remove the temporary");
    MFS_TRY(FsyncDir(temp_dir.get()));
  }
  // No temporary: every name was linked before a crash.
  if (::unlinkat(matter_dirfd_, kReencryptLinks, 0) != 0 && errno != ENOENT) {
    return IoError("remove .reencrypt-links");
  }
  return FsyncDir(matter_dirfd_);
}

Status Reencryptor::Recover() {
  if (ReencryptLinksPending(matter_dirfd_)) {
    MFS_ASSIGN(Bytes raw, ReadWholeFile(matter_dirfd_, kReencryptLinks, kMaxJournal));
    std::string_view text(reinterpret_cast<const char*>(raw.data()), raw.size());
    std::vector<std::string> lines;
    while (!text.empty()) {
      const size_t nl = text.find('\n');
      if (nl == std::string_view::npos) break;  // a torn last line cannot happen (atomic write)
      lines.emplace_back(text.substr(0, nl));
      text.remove_prefix(nl + 1);
    }
    if (lines.size() < 3 || !text.empty()) {
      return Error(Code::kCorruption, "the re-encryption link journal does not parse");
    }
    const std::string temp = lines.front();
    lines.erase(lines.begin());
    MFS_TRY(LinkOver(temp, lines));
  }
  return CleanTemps(matter_dirfd_, 0);
}

Status Reencryptor::CleanTemps(int dirfd, int depth) {
  if (depth > 4096) return Error(Code::kCorruption, "directories nested too deeply");
  UniqueFd scan(::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  DIR* d = scan.valid() ? ::fdopendir(scan.get()) : nullptr;
  if (d == nullptr) return IoError("read directory");
  (void)scan.release();
  std::vector<std::string> temps, dirs;
  while (struct dirent* de = ::readdir(d)) {
    std::string_view n = de->d_name;
    if (n == "." || n == "..") continue;
    if (IsOurTemp(n)) {
      temps.emplace_back(n);
    } else if (NameCodec::Classify(n) != EntryKind::kMeta) {
      struct stat st;
      if (::fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
        dirs.emplace_back(n);
      }
    }
  }
  ::closedir(d);
  for (const auto& t : temps) {
    if (::unlinkat(dirfd, t.c_str(), 0) != 0 && errno != ENOENT) return IoError("remove " + t);
  }
  for (const auto& sub : dirs) {
    UniqueFd fd(::openat(dirfd, sub.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid()) continue;  // reported by the walk
    MFS_TRY(CleanTemps(fd.get(), depth + 1));
  }
  return {};
}

}  // namespace matterfs::vault
