#include "fs/vault/matter_walker.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "fs/vault/encrypted_dir.h"
#include "fs/vault/encrypted_file.h"

namespace matterfs::vault {

namespace {
// Compares two positions component by component; a prefix comes first (a directory
// before its contents). Returns <0, 0, >0.
int ComparePositions(std::string_view a, std::string_view b) {
  while (true) {
    if (a.empty() || b.empty()) return a.empty() == b.empty() ? 0 : (a.empty() ? -1 : 1);
    const size_t sa = a.find('/');
    const size_t sb = b.find('/');
    const std::string_view ca = a.substr(0, sa);
    const std::string_view cb = b.substr(0, sb);
    if (ca != cb) return ca < cb ? -1 : 1;
    a = sa == std::string_view::npos ? std::string_view() : a.substr(sa + 1);
    b = sb == std::string_view::npos ? std::string_view() : b.substr(sb + 1);
  }
}
}  // namespace

bool PositionAfter(std::string_view position, std::string_view after) {
  return after.empty() || ComparePositions(position, after) > 0;
}

bool SubtreeMayFollow(std::string_view position, std::string_view after) {
  if (PositionAfter(position, after)) return true;
  // position <= after: its subtree matters only if `after` is it or lies inside it.
  if (after == position) return true;
  return after.size() > position.size() && after.substr(0, position.size()) == position &&
         after[position.size()] == '/';
}

Status MatterWalker::Walk(const WalkOptions& options,
                          const std::function<WalkAction(WalkItem&)>& visit) {
  MFS_ASSIGN(UniqueFd top, matter_.OpenDir(vault_));
  WalkDir(top.get(), "", "", options, visit);
  return {};
}

bool MatterWalker::WalkDir(int dirfd, const std::string& path, const std::string& position,
                           const WalkOptions& options,
                           const std::function<WalkAction(WalkItem&)>& visit) {
  auto dir = EncryptedDir::Open(dirfd, matter_.names());
  std::vector<std::pair<std::string, Result<std::string>>> entries;
  if (dir.ok()) {
    Status listed = dir->List([&](DirEntry& e) { entries.emplace_back(e.entry, e.name); });
    if (!listed.ok()) return true;  // an unreadable directory: reported by its parent
  } else {
    return true;  // reported by the caller (it checks the IV before descending)
  }
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [entry, name] : entries) {
    const std::string pos = position.empty() ? entry : position + "/" + entry;
    if (!SubtreeMayFollow(pos, options.resume_after)) continue;
    WalkItem item;
    item.position = pos;
    item.dirfd = dirfd;
    item.entry = entry;
    const std::string shown = name.ok() ? *name : "<" + entry + ">";
    item.path = path.empty() ? shown : path + "/" + shown;
    if (!name.ok()) item.problem = name.error();
    if (::fstatat(dirfd, entry.c_str(), &item.st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // gone
    UniqueFd file;
    UniqueFd subdir;
    if (S_ISREG(item.st.st_mode) && options.read_headers) {
      int flags = options.file_flags | O_NOFOLLOW | O_CLOEXEC;
      file.reset(::openat(dirfd, entry.c_str(), flags | O_NOATIME));
      if (!file.valid() && errno == EPERM) file.reset(::openat(dirfd, entry.c_str(), flags));
      if (!file.valid()) {
        if (!item.problem) item.problem = IoError("open " + item.path);
      } else {
        item.fd = file.get();
        auto header = ReadFileHeader(file.get(), vault_.file_format());
        if (header.ok()) {
          item.header = std::move(*header);
        } else if (!item.problem) {
          item.problem = header.error();
        }
      }
    } else if (S_ISDIR(item.st.st_mode)) {
      subdir.reset(::openat(dirfd, entry.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!subdir.valid()) {
        if (!item.problem) item.problem = IoError("open directory " + item.path);
      } else if (auto iv = ReadDirIv(subdir.get()); !iv.ok() && !item.problem) {
        item.problem = iv.error();
      }
    }
    WalkAction action = WalkAction::kContinue;
    if (PositionAfter(pos, options.resume_after)) action = visit(item);
    if (action == WalkAction::kStop) return false;
    if (action == WalkAction::kContinue && subdir.valid() && !item.problem) {
      if (!WalkDir(subdir.get(), item.path, pos, options, visit)) return false;
    }
  }
  return true;
}

}  // namespace matterfs::vault
