// MatterWalker: every directory, file and link of one matter, with each file's header,
// in a fixed order, resumable from a position. Rotation, wipe and fsck iterate over it.
//
// Order: depth first, a directory before its contents, siblings sorted by backing name.
// An item's `position` is its backing path below the matter directory ("a/b/c", the
// stored names joined with '/'); positions increase strictly in walk order, so a walk
// given `resume_after = P` visits exactly the items that come after P, and a job that
// records the position of the last item it finished can continue after a crash.
//
// Problems never stop the walk: a name that does not decode, a directory whose IV is
// missing or damaged, a header that does not parse are reported in the item's `problem`
// (the directory is then not entered). Hard links are visited once per name (`st`
// tells them apart).
// Thread-safety: one walk per object; the vault and matter are only read.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>

#include <functional>
#include <optional>
#include <string>

#include "fs/vault/file_codec.h"
#include "fs/vault/matter.h"
#include "fs/vault/vault.h"
#include "util/result.h"
#include "util/unique_fd.h"

namespace matterfs::vault {

struct WalkItem {
  std::string path;      // plaintext path below the matter ("" parts undecodable: the entry)
  std::string position;  // backing path below the matter directory
  int dirfd = -1;        // the directory holding it (valid during the callback)
  std::string entry;     // its backing name in dirfd
  struct stat st = {};   // lstat of the entry
  // Regular files: open with WalkOptions::file_flags (-1 if that failed: see problem).
  int fd = -1;
  std::optional<FileHeader> header;  // regular files that have one
  std::optional<Error> problem;      // what is wrong with it, if anything
};

enum class WalkAction { kContinue, kSkipChildren, kStop };

struct WalkOptions {
  std::string resume_after;   // "" = from the start
  bool read_headers = true;   // open regular files and parse their headers
  int file_flags = O_RDONLY;  // how regular files are opened (O_RDWR for a rotation)
};

class MatterWalker {
 public:
  MatterWalker(const Vault& vault, const Matter& matter) : vault_(vault), matter_(matter) {}

  // Calls `visit` for every item after options.resume_after. Returns an error only when
  // the walk cannot start (the matter directory cannot be opened); kStop ends it early.
  Status Walk(const WalkOptions& options, const std::function<WalkAction(WalkItem&)>& visit);

 private:
  // false when the visitor asked to stop.
  bool WalkDir(int dirfd, const std::string& path, const std::string& position,
               const WalkOptions& options, const std::function<WalkAction(WalkItem&)>& visit);
  const Vault& vault_;
  const Matter& matter_;
};

// Whether `position` comes strictly after `after` in walk order (component by component).
bool PositionAfter(std::string_view position, std::string_view after);
// Whether the subtree of directory `position` may hold items after `after`.
bool SubtreeMayFollow(std::string_view position, std::string_view after);

}  // namespace matterfs::vault
