// An encrypted directory in the vault (docs/FORMAT.md "Names", "Directories"): its IV,
// its entries and their names, long-name side files, and the temporary and "aside" names
// used to create and remove directories without ever showing one half-made. Every rule
// about a directory's layout lives here; the daemon and the tools only call it.
//
//   dir/.diriv         16 random bytes, the IV of every name in dir
//   dir/<b64 name>     an entry whose encrypted name fits 255 bytes
//   dir/.L<hash>       an entry whose encrypted name is longer; dir/.L<hash>.n holds it
//   dir/.tmp.*         a directory under construction or being removed (never listed)
//   dir/.matter        in a matter's top directory: its authenticated id (vault.h)
//
// EncryptedDir is a view: it borrows the directory's fd and the name codec (the matter's,
// or the vault's for matter names at the root) and holds a copy of the IV.
// Thread-safety: const methods are safe from any thread (they only make *at() calls).
// Errors: kCorruption for a missing or malformed .diriv and for names or side files that
// do not decrypt or authenticate; kInvalidArgument for names that cannot be stored
// (errno ENAMETOOLONG or EINVAL); kIo from the OS.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "fs/vault/names.h"
#include "util/result.h"
#include "util/unique_fd.h"

namespace matterfs::vault {

// Reads the 16-byte IV of an encrypted directory (dirfd is that directory).
Result<DirIv> ReadDirIv(int dirfd);

// Creates directory `name` in parentfd with a fresh .diriv, race-free: the directory is
// built under a temporary name and renamed into place with RENAME_NOREPLACE, so no one
// ever sees it without its IV. `extra` (may be empty) is called with the new directory's
// fd before the rename to add more files. kExists if the name is taken.
// The new directory's IV (and extra files) are synced before the rename, so that a crash
// never leaves the directory in place without them. `sync_parent` also syncs the parent
// after the rename, making the new entry itself durable: the vault's own directories
// (d/, matters) do; a directory made through the mount does not, like mkdir(2) (a
// program that needs it durable syncs the parent, as on any filesystem).
Status MakeEncryptedDirImpl(int parentfd, const std::string& name, mode_t mode,
                            const std::function<Status(int)>& extra, bool sync_parent = true);
template <typename Extra>
Status MakeEncryptedDir(int parentfd, const std::string& name, mode_t mode, Extra&& extra) {
  return MakeEncryptedDirImpl(parentfd, name, mode, std::function<Status(int)>(extra));
}

// A fresh name for a temporary entry: ".tmp.<kind>.<random>" (a kMeta entry).
std::string TempEntryName(std::string_view kind);

// One entry of a directory listing. `name` is the plaintext name, or the error that
// kept it from decoding (a tampered name, .diriv or side file).
struct DirEntry {
  std::string entry;  // the backing name
  Result<std::string> name;
  ino_t ino = 0;
  unsigned char type = 0;  // DT_*
};

class EncryptedDir {
 public:
  EncryptedDir(int dirfd, const NameCodec& codec, const DirIv& iv)
      : fd_(dirfd), codec_(&codec), iv_(iv) {}
  // Reads the IV of dirfd.
  static Result<EncryptedDir> Open(int dirfd, const NameCodec& codec);

  int fd() const { return fd_; }
  const DirIv& iv() const { return iv_; }

  // The stored form of `name` in this directory.
  Result<StoredName> Encode(std::string_view name) const { return codec_->Encode(iv_, name); }
  // The plaintext name of a short or long entry (a long one reads its side file).
  Result<std::string> Decode(std::string_view entry) const;
  // A lookup of an existing long entry: its side file must hold exactly `stored.full`
  // (FORMAT.md §11.4), else kCorruption (missing: "has no side file"; other contents:
  // swapped or edited). No-op for a short name.
  Status CheckLongName(const StoredName& stored) const;
  // Writes the side file of a long name, before its entry is created, so an entry never
  // exists without its full name. No-op for a short name.
  Status WriteLongName(const StoredName& stored) const;
  // Removes the side file of a long name whose entry is gone (best effort).
  void RemoveLongName(const StoredName& stored) const;
  // Every name entry (metadata and temporaries left out), decoded.
  Status List(const std::function<void(DirEntry&)>& each) const;

 private:
  int fd_;
  const NameCodec* codec_;
  DirIv iv_;
};

// A directory that is empty in plaintext terms (only metadata left in it), moved out of
// sight under a temporary name in its parent so that a crash never leaves a visible
// directory without its IV. Made by MoveEmptyDirAside; then either Restore (the
// operation that needed it gone failed) or Destroy.
class AsideDir {
 public:
  AsideDir() = default;
  AsideDir(AsideDir&&) = default;
  AsideDir& operator=(AsideDir&&) = default;

  bool active() const { return !aside_.empty(); }
  // Puts it back under `entry` (best effort).
  void Restore(int parentfd, const std::string& entry);
  // Removes its metadata and then the directory. kIo if the directory cannot go.
  Status Destroy(int parentfd);

 private:
  friend Result<AsideDir> MoveEmptyDirAside(int parentfd, const std::string& entry);
  std::string aside_;  // its temporary name in the parent
  UniqueFd fd_;
  std::vector<std::string> meta_;  // its metadata entries
};

// Checks that parentfd/entry is an empty encrypted directory (kIo with ENOTEMPTY
// otherwise; ENOTDIR for a non-directory) and renames it aside.
Result<AsideDir> MoveEmptyDirAside(int parentfd, const std::string& entry);

}  // namespace matterfs::vault
