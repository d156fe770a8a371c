// Re-encryption of a matter's files (matterctl rotate --reencrypt; docs/FORMAT.md §9.5):
// each file is written again, block by block, under a fresh data key wrapped by the
// matter's new key version, into a temporary sibling (a kMeta entry) that takes the
// file's owner, mode, times and extended attributes and is synced, then renamed over
// the file. A crash leaves each file either old or new, both readable.
//
// Two small journals in the matter directory make it resumable:
// - `.reencrypt` ("target V"): a re-encryption to key version V is under way, so a rerun
//   (of `rotate` with or without --reencrypt) re-encrypts what is left instead of
//   rewrapping it. Removed when the rotation finishes.
// - `.reencrypt-links`: a hard-linked file's new copy exists and is being linked over
//   each of its names; a rerun finishes that first. While it exists the daemon refuses
//   to load the matter (its names point at two inodes, so a write through one would be
//   lost).
// Thread-safety: one Reencryptor per thread; offline only (under the vault lock).
#pragma once

#include <sys/stat.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "fs/vault/encrypted_file.h"
#include "fs/vault/keyring.h"
#include "util/bytes.h"
#include "util/result.h"

namespace matterfs::vault {

inline constexpr char kReencryptJournal[] = ".reencrypt";
inline constexpr char kReencryptLinks[] = ".reencrypt-links";

// The target key version of an unfinished re-encryption (nullopt: none). kCorruption for
// a journal that does not parse.
Result<std::optional<uint32_t>> ReadReencryptTarget(int matter_dirfd);
Status WriteReencryptTarget(int matter_dirfd, uint32_t target);
Status RemoveReencryptJournal(int matter_dirfd);
// Whether a hard-linked file is half linked (the matter must not be served).
bool ReencryptLinksPending(int matter_dirfd);

// The names of one hard-linked file: backing positions below the matter directory.
using LinkGroup = std::vector<std::string>;

class Reencryptor {
 public:
  Reencryptor(const FileFormat& format, const Keyring& ring, int matter_dirfd)
      : format_(format), ring_(ring), matter_dirfd_(matter_dirfd) {}

  // Re-encrypts the file at `position` (its entry `entry` in `dirfd`, open as `fd`, lstat
  // `st`). A file with one name is replaced by rename; one with several names (`links`,
  // every name found in the matter) gets its new copy linked over each of them.
  // false: nothing to do (an empty file has no data key). The old file is left as it was
  // on any error (kCorruption for a block that does not authenticate, kIo).
  Result<bool> Reencrypt(int dirfd, const std::string& entry, int fd, const struct stat& st,
                         const std::string& position, const LinkGroup* links);

  // A rerun: finishes a half-linked hard-linked file (.reencrypt-links), then removes
  // temporary files a crash left in the matter's directories.
  Status Recover();

  uint64_t bytes_written() const { return bytes_written_; }
  // Called after each name of a hard-linked file is relinked (crash tests).
  void set_relinked_hook(std::function<void()> hook) { relinked_ = std::move(hook); }

 private:
  // Writes the new copy of `fd` as a temporary entry of `dirfd`; returns its name.
  Result<std::optional<std::string>> WriteCopy(int dirfd, int fd, const struct stat& st);
  Status CopyBlocks(int from, int to, const OpenedFile& old, const FileCrypto& fresh,
                    uint64_t plain_size);
  // Links the temporary `temp_position` over every name, then removes it and the journal.
  Status LinkOver(const std::string& temp_position, const LinkGroup& names);
  Status CleanTemps(int dirfd, int depth);

  FileFormat format_;
  const Keyring& ring_;
  int matter_dirfd_;
  Bytes in_, out_;  // reused across files
  uint64_t bytes_written_ = 0;
  std::function<void()> relinked_;
};

}  // namespace matterfs::vault
