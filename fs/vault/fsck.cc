#include "fs/vault/fsck.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <ctime>
#include <functional>
#include <map>
#include <set>

#include "fs/vault/crypt_file.h"
#include "fs/vault/encrypted_dir.h"
#include "fs/vault/encrypted_file.h"
#include "fs/vault/matter.h"
#include "fs/vault/matter_walker.h"
#include "fs/vault/reencrypt.h"
#include "fs/vault/wipe.h"
#include "util/file_io.h"
#include "util/unix_time.h"

namespace matterfs::vault {

size_t FsckReport::Problems() const {
  return static_cast<size_t>(
      std::count_if(problems.begin(), problems.end(), [](const auto& p) { return !p.note; }));
}

size_t FsckReport::Repaired() const {
  return static_cast<size_t>(std::count_if(problems.begin(), problems.end(),
                                           [](const auto& p) { return !p.note && p.repaired; }));
}

namespace {

constexpr size_t kMaxBlocksReported = 16;  // per file; then one line for the rest
constexpr size_t kMaxLostFoundName = 160;  // keeps every lost+found name short (no side file)

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool EndsWith(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

bool IsLongSideFile(std::string_view n) {
  return n.size() == kLongNamePrefix.size() + 43 + kLongNameSuffix.size() &&
         StartsWith(n, kLongNamePrefix) && EndsWith(n, kLongNameSuffix);
}

// A temporary directory of MakeEncryptedDir (or an aside directory of a removal) that
// holds nothing but what those write (.diriv, .matter): the cleanup they describe.
bool OnlyIvAndBinding(int parentfd, const std::string& entry) {
  UniqueFd d(::openat(parentfd, entry.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!d.valid()) return false;
  auto names = ListDirNames(d.get());
  if (!names.ok()) return false;
  for (const std::string& n : *names) {
    if (n != kDirIvName && n != kMatterIdName) return false;
  }
  return true;
}

Status RemoveTempDir(int parentfd, const std::string& entry) {
  UniqueFd d(::openat(parentfd, entry.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!d.valid()) return IoError("open " + entry);
  ::unlinkat(d.get(), std::string(kDirIvName).c_str(), 0);
  ::unlinkat(d.get(), std::string(kMatterIdName).c_str(), 0);
  if (::unlinkat(parentfd, entry.c_str(), AT_REMOVEDIR) != 0) return IoError("remove " + entry);
  return FsyncDir(parentfd);
}

std::string UtcStamp(time_t t) {
  struct tm tm = {};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

class Checker {
 public:
  Checker(const Vault& v, const FsckOptions& o, FsckReport& r) : vault_(v), opts_(o), report_(r) {}

  Status Run() {
    CheckVaultRoot();
    MFS_TRY(CheckKeystore());
    MFS_TRY(CheckMatters());
    if (!opts_.matter) CheckKeyTable();
    return {};
  }

 private:
  // An item moved into lost+found by repair.
  struct Move {
    size_t problem;          // index in report_.problems
    std::string parent;      // backing path of its directory below the matter
    std::string entry;       // its backing name there
    std::string path;        // plaintext path (for the lost+found name)
    bool keep_name = false;  // metadata: moved under its own (hidden) name
    bool recover = false;    // bad blocks: also a copy with them zero-filled
  };

  size_t Add(FsckProblem p) {
    report_.problems.push_back(std::move(p));
    return report_.problems.size() - 1;
  }
  size_t AddVault(std::string path, std::string kind, std::string message, std::string action,
                  bool note = false) {
    FsckProblem p;
    p.path = std::move(path);
    p.kind = std::move(kind);
    p.message = std::move(message);
    p.action = std::move(action);
    p.note = note;
    return Add(std::move(p));
  }

  // ---- the vault root ----
  void CheckVaultRoot() {
    struct stat st;
    const std::string tmp = std::string(kConfigName) + ".tmp";
    if (::fstatat(vault_.root_fd(), tmp.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
      size_t i = AddVault(tmp, "temp", "left by an interrupted config rewrite (harmless)",
                          "removed by the next config rewrite");
      if (opts_.repair && ::unlinkat(vault_.root_fd(), tmp.c_str(), 0) == 0) {
        report_.problems[i].repaired = true;
        report_.problems[i].action = "removed (the cleanup of the next config rewrite)";
      }
    }
    CheckConfigCopies();
    if (::fstatat(vault_.root_fd(), std::string(kMasterJournalName).c_str(), &st,
                  AT_SYMLINK_NOFOLLOW) == 0) {
      AddVault(std::string(kMasterJournalName), "journal", "a master key rotation was interrupted",
               "run matterctl rotate-master " + vault_.path() + " to finish it");
    }
  }

  // A config of version 3 keeps two copies (docs/FORMAT.md §8.7): the vault opened with
  // a good one; a damaged or differing other copy is reported, and rewritten by repair.
  void CheckConfigCopies() {
    auto raw = ReadWholeFile(vault_.root_fd(), std::string(kConfigName), 64 * 1024);
    if (!raw.ok()) return;
    const ConfigCopies copies = InspectConfigCopies(*raw);
    if (!copies.two_copies || (!copies.a_error && !copies.b_error && copies.identical)) return;
    const std::string what =
        copies.a_error   ? "copy A is damaged (" + *copies.a_error + "); copy B is in use"
        : copies.b_error ? "copy B is damaged (" + *copies.b_error + ")"
                         : "the two copies differ (one was edited); the one that authenticates "
                           "is in use";
    size_t i = AddVault(std::string(kConfigName), "config", what,
                        "fsck --repair rewrites both copies from the good one");
    if (opts_.repair) {
      Status st = vault_.RewriteConfig();
      if (st.ok()) {
        report_.problems[i].repaired = true;
        report_.problems[i].action = "both copies rewritten from the one in use";
      } else {
        report_.problems[i].action = "rewrite failed: " + st.error().message();
      }
    }
  }

  // ---- the keystore: keyring files, wipe journals, temporaries ----
  Status CheckKeystore() {
    MFS_ASSIGN(std::vector<std::string> names, ListDirNames(vault_.keystore_fd()));
    for (const std::string& n : names) {
      const std::string shown = "keystore/" + n;
      if (EndsWith(n, ".keyring") && n.size() == 32 + 8) {
        keyring_files_.insert(n);
      } else if (EndsWith(n, kWipeJournalSuffix)) {
        AddVault(shown, "journal", "the wipe of a matter is unfinished",
                 "run the same matterctl wipe " + vault_.path() +
                     " MATTER --confirm MATTER again to finish it");
      } else if (EndsWith(n, ".tmp")) {
        size_t i = AddVault(shown, "temp", "left by an interrupted atomic write (harmless)",
                            "removed by the next write of that file");
        if (opts_.repair && ::unlinkat(vault_.keystore_fd(), n.c_str(), 0) == 0) {
          report_.problems[i].repaired = true;
          report_.problems[i].action = "removed (the cleanup of the next atomic write)";
        }
      }
    }
    return {};
  }

  // ---- the key table: entries of no matter, damaged copies of unreferenced entries ----
  void CheckKeyTable() {
    const KeyTable* table = vault_.key_table();
    if (table == nullptr) return;
    for (uint32_t i = 0; i < table->entries(); ++i) {
      if (referenced_entries_.count(i)) continue;
      auto e = table->Inspect(i, vault_.key_table_wrap());
      if (!e.ok()) continue;
      const bool dead = e->copies[0] == KeyTable::CopyCheck::kDestroyed &&
                        e->copies[1] == KeyTable::CopyCheck::kDestroyed;
      if (dead) continue;  // a wiped matter's tombstone
      const bool live =
          e->copies[0] == KeyTable::CopyCheck::kLive || e->copies[1] == KeyTable::CopyCheck::kLive;
      AddVault("keystore/keytable", "orphan",
               "entry " + std::to_string(i) +
                   (live ? " belongs to no matter (an interrupted matter create): harmless"
                         : " belongs to no matter and does not open (an interrupted wipe, or "
                           "damage)"),
               "left in place (a key table entry is never removed)", /*note=*/true);
    }
  }

  // ---- matters in d/ ----
  Status CheckMatters() {
    const int data = vault_.data_fd();
    MFS_ASSIGN(std::vector<std::string> names, ListDirNames(data));
    bool found = false;
    for (const std::string& n : names) {
      const std::string shown = std::string(kDataDirName) + "/" + n;
      if (NameCodec::Classify(n) == EntryKind::kMeta) {
        if (opts_.matter) continue;  // vault-level leftovers only in a whole-vault check
        CheckDataMeta(n, shown);
        continue;
      }
      auto name = vault_.DecodeMatterEntry(n);
      if (!name.ok()) {
        if (!opts_.matter) {
          AddVault(shown, NameCodec::Classify(n) == EntryKind::kLong ? "long-name" : "name",
                   "a matter directory whose name does not decode: " + name.error().message(),
                   "not repaired (restore the entry, its .diriv or d/.diriv from a backup)");
        }
        continue;
      }
      if (opts_.matter && *name != *opts_.matter) continue;
      found = true;
      CheckMatter(n, *name);
    }
    if (!opts_.matter) {
      for (const std::string& k : keyring_files_) {
        if (matter_keyrings_.count(k)) continue;
        AddVault("keystore/" + k, "orphan",
                 "a keyring of no matter (an interrupted matter create): harmless",
                 "left in place (fsck never removes a keyring)", /*note=*/true);
      }
    }
    if (opts_.matter && !found) {
      return Error(Code::kNotFound, "no matter named '" + *opts_.matter + "'", ENOENT);
    }
    return {};
  }

  void CheckDataMeta(const std::string& n, const std::string& shown) {
    const int data = vault_.data_fd();
    if (n == kDirIvName) return;
    if (StartsWith(n, ".tmp.wipe.")) {
      AddVault(shown, "journal", "the directory of a matter being wiped (a wipe is unfinished)",
               "run the same matterctl wipe again to finish it");
    } else if (StartsWith(n, ".tmp.")) {
      CheckTempDir(data, n, shown, nullptr);
    } else if (EndsWith(n, ".tmp")) {
      CheckTempFile(data, n, shown, nullptr);
    } else if (IsLongSideFile(n)) {
      struct stat st;
      const std::string entry = n.substr(0, n.size() - kLongNameSuffix.size());
      if (::fstatat(data, entry.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        AddVault(shown, "orphan",
                 "a long-name side file without its matter directory (an interrupted matter "
                 "create or master key rotation): harmless, ignored by listings",
                 "left in place", /*note=*/true);
      }
    } else {
      AddVault(shown, "orphan", "an unknown metadata entry", "left alone", /*note=*/true);
    }
  }

  // A `.tmp.*` entry in a directory (`m`: its matter, or null in d/).
  void CheckTempDir(int dirfd, const std::string& n, const std::string& shown,
                    const std::function<size_t(FsckProblem)>* add_matter) {
    FsckProblem p;
    p.path = shown;
    p.kind = "temp";
    struct stat st;
    const bool dir =
        ::fstatat(dirfd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
    const bool ours = dir && OnlyIvAndBinding(dirfd, n);
    if (StartsWith(n, ".tmp.reenc.") || StartsWith(n, ".tmp.link.")) {
      p.kind = "journal";
      p.message = "left by an interrupted re-encryption";
      p.action = "run matterctl rotate " + vault_.path() + " MATTER --reencrypt to finish it";
    } else if (ours) {
      p.message =
          "a directory left half-made by an interrupted mkdir or rmdir (it holds "
          "nothing but its IV): harmless";
      p.action = "removed by fsck --repair";
    } else {
      p.message = dir ? "a temporary directory that holds more than a half-made directory would"
                      : "a temporary entry left by an interrupted operation";
      p.action = "not repaired (look at it, then remove it by hand)";
    }
    const size_t i = add_matter ? (*add_matter)(std::move(p)) : Add(std::move(p));
    if (opts_.repair && ours && report_.problems[i].kind == "temp") {
      if (RemoveTempDir(dirfd, n).ok()) {
        report_.problems[i].repaired = true;
        report_.problems[i].action = "removed (the cleanup of an interrupted directory creation)";
      }
    }
  }

  void CheckTempFile(int dirfd, const std::string& n, const std::string& shown,
                     const std::function<size_t(FsckProblem)>* add_matter) {
    FsckProblem p;
    p.path = shown;
    p.kind = "temp";
    p.message = "left by an interrupted atomic write (harmless)";
    p.action = "removed by the next write of that file";
    const size_t i = add_matter ? (*add_matter)(std::move(p)) : Add(std::move(p));
    if (opts_.repair && ::unlinkat(dirfd, n.c_str(), 0) == 0) {
      report_.problems[i].repaired = true;
      report_.problems[i].action = "removed (the cleanup of the next atomic write)";
    }
  }

  // ---- one matter ----
  void CheckMatter(const std::string& entry, const std::string& name) {
    ++report_.checked.matters;
    matter_ = name;
    moves_.clear();
    auto add = [&](FsckProblem p) {
      p.matter = name;
      return Add(std::move(p));
    };
    auto problem = [&](std::string path, std::string pos, std::string kind, std::string msg,
                       std::string action) {
      FsckProblem p;
      p.path = std::move(path);
      p.entry = std::move(pos);
      p.kind = std::move(kind);
      p.message = std::move(msg);
      p.action = std::move(action);
      return add(std::move(p));
    };
    UniqueFd top(
        ::openat(vault_.data_fd(), entry.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!top.valid()) {
      problem("", "", "io", "the matter directory cannot be opened: " + IoError("").message(),
              "not repaired");
      return;
    }
    auto id = vault_.ReadMatterBinding(top.get(), name);
    if (!id.ok()) {
      problem(".matter", ".matter", "matter", id.error().message(),
              "not repaired (restore .matter from a backup)");
      return;
    }
    auto ring = CheckKeyring(*id, name);
    if (!ring) return;
    auto iv = ReadDirIv(top.get());
    if (!iv.ok()) {
      problem(".diriv", ".diriv", "dir-iv", "the matter directory's IV: " + iv.error().message(),
              "not repaired (restore .diriv from a backup: no name in the matter decodes "
              "without it)");
      return;
    }
    MatterInfo info;
    info.name = name;
    info.id = *id;
    info.entry = entry;
    info.status = ring->status;
    auto matter = Matter::FromKeyring(std::move(info), std::move(*ring));
    auto lf = matter->Encode(*iv, kLostFoundName);
    lost_found_entry_ = lf.ok() ? lf->entry : "";

    std::function<size_t(FsckProblem)> add_fn = add;
    ScanMeta(top.get(), "", "", true, add_fn);

    uint64_t files = 0;
    MatterWalker walker(vault_, *matter);
    const FileFormat format = vault_.file_format();
    Status walked = walker.Walk({}, [&](WalkItem& item) -> WalkAction {
      const bool top_level = item.position.find('/') == std::string::npos;
      if (top_level && item.entry == lost_found_entry_ && S_ISDIR(item.st.st_mode)) {
        CountLostFound(item);
        return WalkAction::kSkipChildren;
      }
      const std::string parent = item.position.substr(
          0, item.position.size() - std::min(item.position.size(), item.entry.size() + 1));
      const bool name_failed = EndsWith(item.path, "<" + item.entry + ">");
      auto move = [&](size_t i) {
        if (report_.problems[i].action.empty()) {
          report_.problems[i].action = "not repaired (fsck --repair moves it into lost+found)";
        }
        moves_.push_back({i, parent, item.entry, item.path});
      };
      if (item.problem) {
        std::string kind =
            name_failed
                ? (NameCodec::Classify(item.entry) == EntryKind::kLong ? "long-name" : "name")
            : S_ISDIR(item.st.st_mode) ? "dir-iv"
            : S_ISREG(item.st.st_mode) ? "header"
                                       : "io";
        if (item.problem->code() == Code::kIo) kind = "io";
        const size_t i = problem(item.path, item.position, kind, item.problem->message(),
                                 kind == "io" ? "not repaired" : "");
        if (kind != "io") move(i);
        if (S_ISDIR(item.st.st_mode)) ++report_.checked.directories;
        if (S_ISREG(item.st.st_mode)) ++report_.checked.files;
        return WalkAction::kSkipChildren;
      }
      if (S_ISDIR(item.st.st_mode)) {
        ++report_.checked.directories;
        UniqueFd sub(::openat(item.dirfd, item.entry.c_str(),
                              O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!sub.valid()) return WalkAction::kSkipChildren;
        auto dir = EncryptedDir::Open(sub.get(), matter->names());
        if (!dir.ok()) return WalkAction::kSkipChildren;
        size_t total = 0, failed = 0;
        (void)dir->List([&](DirEntry& e) {
          ++total;
          if (!e.name.ok()) ++failed;
        });
        if (total >= 2 && failed == total) {
          move(problem(item.path, item.position, "dir-iv",
                       "none of its " + std::to_string(total) +
                           " names decode: its directory IV (.diriv) was changed or replaced",
                       ""));
          return WalkAction::kSkipChildren;
        }
        ScanMeta(sub.get(), item.path, item.position, false, add_fn);
        return WalkAction::kContinue;
      }
      if (S_ISLNK(item.st.st_mode)) {
        ++report_.checked.symlinks;
        std::string target(4096, '\0');
        const ssize_t n =
            ::readlinkat(item.dirfd, item.entry.c_str(), target.data(), target.size());
        if (n < 0) return WalkAction::kContinue;
        target.resize(static_cast<size_t>(n));
        if (auto t = matter->names().DecryptSymlink(target); !t.ok()) {
          move(problem(item.path, item.position, "symlink",
                       "the symlink target does not decrypt: " + t.error().message(), ""));
        }
        return WalkAction::kContinue;
      }
      if (!S_ISREG(item.st.st_mode)) {
        ++report_.checked.other;
        return WalkAction::kContinue;
      }
      ++report_.checked.files;
      CheckFile(item, *matter, format, problem, move);
      if (opts_.progress) opts_.progress(name, ++files);
      return WalkAction::kContinue;
    });
    if (!walked.ok()) {
      problem("", "", "io", walked.error().message(), "not repaired");
      return;
    }
    if (opts_.repair && !moves_.empty()) Repair(top.get(), *iv, *matter);
  }

  template <typename Problem, typename MoveFn>
  void CheckFile(WalkItem& item, const Matter& matter, const FileFormat& format, Problem& problem,
                 MoveFn& move) {
    if (item.fd < 0) return;
    // Format 3: also the recorded size and the binding to this entry.
    auto opened = OpenFile(item.fd, format, matter.keyring(), std::string_view(item.entry));
    if (!opened.ok()) {
      const bool destroyed = opened.error().code() == Code::kNotFound;
      move(problem(item.path, item.position, "header",
                   destroyed ? "its key version was destroyed by a rotation (the file is older "
                               "than the matter's keys: restored from a backup?)"
                             : opened.error().message(),
                   ""));
      return;
    }
    if (!*opened) return;  // an empty file without a header
    OpenedFile& f = **opened;
    if (f.header.version >= 2) CheckHeaderCopies(item, f, problem);
    auto size = PlainSizeOfFd(item.fd, f.crypto.layout());
    if (!size.ok()) {
      move(problem(item.path, item.position, "size",
                   "the backing file has an impossible size (cut or extended inside a block)", ""));
      return;
    }
    CryptFile file(f.crypto, &f.header);
    std::array<uint8_t, kBlockSize> buf;
    std::vector<uint64_t> bad;
    const uint64_t blocks = (*size + kBlockSize - 1) / kBlockSize;
    for (uint64_t b = 0; b < blocks; ++b) {
      const uint64_t off = b * kBlockSize;
      const size_t len = static_cast<size_t>(std::min<uint64_t>(kBlockSize, *size - off));
      auto got = file.Read(item.fd, *size, off, {buf.data(), len});
      ++report_.checked.blocks;
      if (got.ok()) continue;
      if (got.error().code() != Code::kCorruption) {
        problem(item.path, item.position, "io",
                "block " + std::to_string(b) + ": " + got.error().message(), "not repaired");
        return;
      }
      bad.push_back(b);
    }
    if (bad.empty()) return;
    size_t first = report_.problems.size();
    for (size_t k = 0; k < bad.size() && k < kMaxBlocksReported; ++k) {
      FsckProblem p;
      p.matter = matter_;
      p.path = item.path;
      p.entry = item.position;
      p.kind = "block";
      p.block = bad[k];
      p.message = "block " + std::to_string(bad[k]) + " does not authenticate";
      p.action = "not repaired (fsck --repair moves the file into lost+found)";
      Add(std::move(p));
    }
    if (bad.size() > kMaxBlocksReported) {
      report_.problems.back().message +=
          " (and " + std::to_string(bad.size() - kMaxBlocksReported) + " more blocks)";
    }
    move(first);
    moves_.back().recover = true;
    // The other block lines of this file share the first one's fate (see Repair).
    for (size_t i = first + 1; i < report_.problems.size(); ++i) same_as_[i] = first;
  }

  // Format 2: one damaged copy of two (the file still reads). Repair writes both copies
  // from the valid one, which the next hole table change would do for that copy anyway.
  template <typename Problem>
  void CheckHeaderCopies(WalkItem& item, OpenedFile& f, Problem& problem) {
    auto copies = vault::CheckHeaderCopies(item.fd, f.crypto);
    if (!copies.ok()) return;
    for (size_t c = 0; c < 2; ++c) {
      if (!(*copies)[c]) continue;
      const size_t i = problem(item.path, item.position, "header",
                               std::string("header copy ") + (c == 0 ? "A" : "B") +
                                   " does not authenticate (the other copy is used: the file "
                                   "reads): " +
                                   (*copies)[c]->message(),
                               "not repaired (fsck --repair rewrites both copies)");
      if (!opts_.repair) continue;
      UniqueFd rw(::openat(item.dirfd, item.entry.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC));
      FileHeader header = f.header;
      if (rw.valid() && RewriteHeader(rw.get(), header, f.crypto, /*sync=*/true).ok()) {
        report_.problems[i].repaired = true;
        report_.problems[i].action = "both header copies rewritten from the valid one";
      }
      return;  // one rewrite fixes both
    }
  }

  void CountLostFound(const WalkItem& item) {
    UniqueFd d(
        ::openat(item.dirfd, item.entry.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!d.valid()) return;
    auto names = ListDirNames(d.get());
    if (!names.ok()) return;
    uint64_t n = 0;
    for (const std::string& e : *names) {
      if (NameCodec::Classify(e) != EntryKind::kMeta) ++n;
    }
    if (n > 0) report_.lost_found.push_back({matter_, n});
  }

  // The metadata entries of one directory of the matter.
  void ScanMeta(int dirfd, const std::string& path, const std::string& position, bool top,
                std::function<size_t(FsckProblem)>& add) {
    auto names = ListDirNames(dirfd);
    if (!names.ok()) return;
    const std::string prefix = path.empty() ? "" : path + "/";
    const std::string pos_prefix = position.empty() ? "" : position + "/";
    for (const std::string& n : *names) {
      if (NameCodec::Classify(n) != EntryKind::kMeta || n == kDirIvName) continue;
      if (top && n == kMatterIdName) continue;
      const std::string shown = prefix + n;
      FsckProblem p;
      p.path = shown;
      p.entry = pos_prefix + n;
      if (top && (n == kReencryptJournal || n == kReencryptLinks)) {
        p.kind = "journal";
        p.message = "a re-encryption of the matter was interrupted";
        p.action =
            "run matterctl rotate " + vault_.path() + " " + matter_ + " --reencrypt to finish it";
        add(std::move(p));
      } else if (StartsWith(n, ".tmp.")) {
        CheckTempDir(dirfd, n, shown, &add);
        report_.problems.back().entry = pos_prefix + n;
        if (!report_.problems.back().repaired && report_.problems.back().kind == "temp" &&
            report_.problems.back().action.rfind("not repaired", 0) == 0) {
          moves_.push_back({report_.problems.size() - 1, position, n, shown, true});
        }
      } else if (EndsWith(n, ".tmp")) {
        CheckTempFile(dirfd, n, shown, &add);
        report_.problems.back().entry = pos_prefix + n;
      } else if (IsLongSideFile(n)) {
        struct stat st;
        const std::string entry = n.substr(0, n.size() - kLongNameSuffix.size());
        if (::fstatat(dirfd, entry.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) continue;
        p.kind = "orphan";
        p.message = "a long-name side file without its entry";
        const size_t i = add(std::move(p));
        moves_.push_back({i, position, n, shown, true});
      } else {
        p.kind = "orphan";
        p.note = true;
        p.message = "an unknown metadata entry";
        p.action = "left alone";
        add(std::move(p));
      }
    }
  }

  // ---- keyrings ----
  std::optional<Keyring> CheckKeyring(const MatterId& id, const std::string& name) {
    const std::string file = KeyringFileName(id);
    matter_keyrings_.insert(file);
    auto problem = [&](std::string msg, std::string action) {
      FsckProblem p;
      p.matter = name;
      p.path = "keystore/" + file;
      p.kind = "keyring";
      p.message = std::move(msg);
      p.action = std::move(action);
      Add(std::move(p));
    };
    auto raw = ReadWholeFile(vault_.keystore_fd(), file, 2 * kKeyringFileSize);
    if (!raw.ok()) {
      problem(raw.error().code() == Code::kNotFound ? "the matter's keyring is missing"
                                                    : raw.error().message(),
              "not repaired (restore the keystore from a backup)");
      return std::nullopt;
    }
    if (raw->size() != kKeyringFileSize) {
      problem("the keyring file has the wrong size (" + std::to_string(raw->size()) + " bytes)",
              "not repaired (restore the keystore from a backup)");
    }
    const KeyringKeys keys = vault_.keyring_keys();
    std::optional<Keyring> newest;
    for (size_t c = 0; c < 2; ++c) {
      const size_t off = c * kKeyringCopySize;
      if (raw->size() < off + kKeyringCopySize) continue;
      auto copy = Keyring::ParseCopy({raw->data() + off, kKeyringCopySize}, keys, vault_.id(), id);
      if (!copy.ok()) {
        problem(std::string("copy ") + (c == 0 ? "A" : "B") +
                    " does not open: " + copy.error().message(),
                "not repaired: the other copy is used; the next status change or rotation "
                "(matterctl matter close|reopen|hold|release, rotate) rewrites both copies");
        continue;
      }
      if (copy->table_index != 0) CheckTableEntry(copy->table_index - 1, id, name);
      if (!newest || copy->sequence > newest->sequence) newest = std::move(*copy);
    }
    if (!newest) {
      problem("no copy of the keyring opens: nothing in the matter can be read",
              "not repaired (restore the keystore from a backup)");
      return newest;
    }
    // Rollback (FORMAT.md §9.6): the key table records the sequence of the last update.
    if (Status st = CheckAgainstKeyTable(*newest, keys); !st.ok()) {
      if (st.error().code() == Code::kCorruption) {
        problem(st.error().message() + ": an older keyring was put back, or its newer copy damaged",
                "not repaired: the daemon and matterctl refuse the matter (restore the "
                "keyring whose sequence the key table records)");
      }
    } else {
      KeyTable::EntryState recorded;
      const KeyTable* table = vault_.key_table();
      const bool unprotected =
          newest->table_index == 0 || table == nullptr ||
          !table->Read(newest->table_index - 1, id, vault_.key_table_wrap(), &recorded).ok() ||
          recorded.sequence == 0;
      if (unprotected) {
        FsckProblem p;
        p.matter = name;
        p.path = "keystore/" + file;
        p.kind = "keyring";
        p.message = newest->table_index == 0
                        ? "not protected against rollback: a keyring of version 1 or 2 has no "
                          "key table entry"
                        : "not protected against rollback yet: its key table entry records no "
                          "keyring state";
        p.action = newest->table_index == 0
                       ? "protected from its next rotation (matterctl rotate)"
                       : "protected from its next keyring update (a status change or rotation)";
        p.note = true;
        Add(std::move(p));
      }
    }
    return newest;
  }

  void CheckTableEntry(uint32_t index, const MatterId& id, const std::string& name) {
    if (!referenced_entries_.insert(index).second) return;
    const KeyTable* table = vault_.key_table();
    if (table == nullptr) return;  // the keyring copy already failed to open
    auto e = table->Inspect(index, vault_.key_table_wrap());
    if (!e.ok()) return;
    for (size_t c = 0; c < 2; ++c) {
      if (e->copies[c] == KeyTable::CopyCheck::kLive && e->matter == id) continue;
      FsckProblem p;
      p.matter = name;
      p.path = "keystore/keytable";
      p.kind = "key-table";
      p.message = "entry " + std::to_string(index) + " copy " + (c == 0 ? "A" : "B") +
                  (e->copies[c] == KeyTable::CopyCheck::kDestroyed
                       ? " is destroyed (a wipe of this matter was started?)"
                       : " does not open");
      p.action = "not repaired (matterctl rotate-master rewrites both copies of every entry)";
      Add(std::move(p));
    }
  }

  // ---- repair: move what cannot be read into lost+found ----
  Result<UniqueFd> OpenPosition(int top, const std::string& position) {
    UniqueFd cur(::openat(top, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    std::string_view rest = position;
    while (!rest.empty()) {
      const size_t slash = rest.find('/');
      const std::string comp(rest.substr(0, slash));
      rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
      UniqueFd next(
          ::openat(cur.get(), comp.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!next.valid()) return IoError("open " + comp);
      cur = std::move(next);
    }
    return cur;
  }

  void Repair(int top, const DirIv& top_iv, const Matter& matter) {
    EncryptedDir topdir(top, matter.names(), top_iv);
    if (lost_found_entry_.empty()) return;
    struct stat st;
    if (::fstatat(top, lost_found_entry_.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      Status made = MakeEncryptedDirImpl(top, lost_found_entry_, 0755, {});
      if (!made.ok() && made.error().code() != Code::kExists) {
        for (const Move& m : moves_) {
          report_.problems[m.problem].action =
              "not repaired: lost+found cannot be made: " + made.error().message();
        }
        return;
      }
    }
    UniqueFd lf(
        ::openat(top, lost_found_entry_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    auto lfdir = lf.valid() ? EncryptedDir::Open(lf.get(), matter.names())
                            : Result<EncryptedDir>(IoError("open lost+found"));
    if (!lfdir.ok()) return;
    std::string log;
    for (const Move& m : moves_) {
      FsckProblem& p = report_.problems[m.problem];
      auto parent = OpenPosition(top, m.parent);
      if (!parent.ok()) {
        p.action = "not repaired: " + parent.error().message();
        continue;
      }
      std::string target;
      std::string shown;
      if (m.keep_name) {
        target = m.entry;
        shown = m.entry;
      } else {
        std::string base = m.path;
        std::replace(base.begin(), base.end(), '/', '%');
        if (base.size() > kMaxLostFoundName) base.resize(kMaxLostFoundName);
        for (int n = 1; n < 1000; ++n) {
          shown = n == 1 ? base : base + "." + std::to_string(n);
          auto stored = lfdir->Encode(shown);
          if (!stored.ok() || stored->full) continue;
          if (::fstatat(lf.get(), stored->entry.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
            target = stored->entry;
            break;
          }
        }
      }
      if (target.empty() || ::renameat2(parent->get(), m.entry.c_str(), lf.get(), target.c_str(),
                                        RENAME_NOREPLACE) != 0) {
        p.action = "not repaired: could not move it into lost+found";
        continue;
      }
      // A long entry's side file goes with it (hidden there; its name is in the report).
      if (NameCodec::Classify(m.entry) == EntryKind::kLong) {
        const std::string side = NameCodec::LongNameFile(m.entry);
        ::renameat2(parent->get(), side.c_str(), lf.get(), side.c_str(), RENAME_NOREPLACE);
      }
      (void)FsyncDir(parent->get());
      p.repaired = true;
      p.action = std::string("moved to lost+found/") + shown;
      log += "lost+found/" + shown + " <- " + (p.path.empty() ? p.entry : p.path) + " (entry " +
             p.entry + "): " + p.kind + ": " + p.message + "\n";
      if (m.recover) {
        const std::string copy = shown + ".recovered";
        auto zeroed = RecoverCopy(lf.get(), *lfdir, target, copy, matter);
        if (zeroed.ok()) {
          p.action += ", and lost+found/" + copy + " with the readable blocks";
          log += "lost+found/" + copy + ": a copy of it with the readable blocks, " +
                 std::to_string(*zeroed) + " unreadable ones zero-filled\n";
        }
      }
    }
    for (auto [i, first] : same_as_) {
      report_.problems[i].repaired = report_.problems[first].repaired;
      report_.problems[i].action = report_.problems[first].action;
    }
    (void)FsyncDir(lf.get());
    if (!log.empty()) WriteReport(*lfdir, matter, log);
  }

  // A new file `name` in lost+found with every block of `entry` that authenticates and
  // zeros for the others; returns how many were zero-filled.
  Result<uint64_t> RecoverCopy(int lf, const EncryptedDir& lfdir, const std::string& entry,
                               const std::string& name, const Matter& matter) {
    const FileFormat format = vault_.file_format();
    UniqueFd src(::openat(lf, entry.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!src.valid()) return IoError("open " + entry);
    MFS_ASSIGN(auto opened, OpenFile(src.get(), format, matter.keyring()));
    if (!opened) return Error(Code::kNotFound, "empty");
    MFS_ASSIGN(uint64_t size, PlainSizeOfFd(src.get(), opened->crypto.layout()));
    MFS_ASSIGN(StoredName stored, lfdir.Encode(name));
    if (stored.full) return Error(Code::kInvalidArgument, "name too long");
    UniqueFd dst(::openat(lf, stored.entry.c_str(),
                          O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!dst.valid()) return IoError("create " + name);
    MFS_ASSIGN(OpenedFile made,
               WriteNewHeader(dst.get(), format, matter.keyring(), std::string_view(stored.entry)));
    CryptFile in(opened->crypto, &opened->header);
    CryptFile out(made.crypto, &made.header);
    std::array<uint8_t, kBlockSize> buf;
    uint64_t written = 0, zeroed = 0;
    for (uint64_t off = 0; off < size; off += kBlockSize) {
      const size_t len = static_cast<size_t>(std::min<uint64_t>(kBlockSize, size - off));
      if (!in.Read(src.get(), size, off, {buf.data(), len}).ok()) {
        std::fill(buf.begin(), buf.end(), 0);
        ++zeroed;
      }
      MFS_ASSIGN(written, out.Write(dst.get(), written, off, {buf.data(), len}));
    }
    MFS_TRY(RecordSize(dst.get(), made.header, made.crypto, written));
    if (::fsync(dst.get()) != 0) return IoError("fsync " + name);
    return zeroed;
  }

  void WriteReport(const EncryptedDir& lfdir, const Matter& matter, const std::string& log) {
    const time_t now = ::time(nullptr);
    const std::string name = "fsck-" + UtcStamp(now) + ".txt";
    auto stored = lfdir.Encode(name);
    if (!stored.ok()) return;
    UniqueFd fd(::openat(lfdir.fd(), stored->entry.c_str(),
                         O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0644));
    if (!fd.valid()) return;
    const std::string text = "matterfs fsck report\nvault " + ToHex(vault_.id()) + "\nmatter " +
                             matter_ + "\ntime " + FormatUnixTime(static_cast<uint64_t>(now)) +
                             "\n\n" + log;
    auto made = WriteNewHeader(fd.get(), vault_.file_format(), matter.keyring(),
                               std::string_view(stored->entry));
    if (!made.ok()) return;
    CryptFile file(made->crypto, &made->header);
    auto size = file.Write(fd.get(), 0, 0, AsBytes(text));
    if (!size.ok() || !RecordSize(fd.get(), made->header, made->crypto, *size).ok()) return;
    if (::fsync(fd.get()) != 0) return;
    (void)FsyncDir(lfdir.fd());
    report_.reports.push_back(matter_ + "/" + kLostFoundName + "/" + name);
  }

  const Vault& vault_;
  const FsckOptions& opts_;
  FsckReport& report_;
  std::set<std::string> keyring_files_;
  std::set<std::string> matter_keyrings_;
  std::set<uint32_t> referenced_entries_;
  std::string matter_;
  std::string lost_found_entry_;
  std::vector<Move> moves_;
  std::map<size_t, size_t> same_as_;  // block lines of one file -> its first line
};

}  // namespace

Result<FsckStart> FsckOpen(const std::string& path, const std::optional<std::string>& keystore,
                           const Credential& cred) {
  FsckStart out;
  auto config_problem = [&](std::string file, std::string kind, std::string message) {
    FsckProblem p;
    p.path = std::move(file);
    p.kind = std::move(kind);
    p.message = std::move(message);
    p.action = "not repaired (restore it from a backup); nothing else could be checked";
    out.report.problems.push_back(std::move(p));
  };
  auto v = Vault::Open(path, keystore);
  if (!v.ok()) {
    if (v.error().code() != Code::kCorruption) return v.error();
    // The config, or the data directory's IV?
    auto raw = ReadWholeFile(AT_FDCWD, path + "/" + std::string(kConfigName), 64 * 1024);
    if (raw.ok() && VaultConfig::Parse(*raw).ok()) {
      config_problem("d/.diriv", "dir-iv", "the data directory's IV: " + v.error().message());
    } else {
      config_problem(std::string(kConfigName), "config", v.error().message());
    }
    return out;
  }
  Status unlocked = (*v)->Unlock(cred);
  if (!unlocked.ok()) {
    if (unlocked.error().code() != Code::kCorruption) return unlocked.error();
    config_problem(
        std::string(kConfigName), "config",
        "does not authenticate with its master key (edited): " + unlocked.error().message());
    return out;
  }
  out.vault = std::move(v).value();
  return out;
}

Status Fsck(const Vault& vault, const FsckOptions& options, FsckReport& report) {
  Checker checker(vault, options, report);
  return checker.Run();
}

}  // namespace matterfs::vault
