#include "fs/vault/wipe.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <optional>
#include <set>
#include <span>
#include <utility>

#include "fs/vault/encrypted_dir.h"
#include "fs/vault/keytable.h"
#include "fs/vault/names.h"
#include "util/file_io.h"

namespace matterfs::vault {
namespace {

constexpr std::string_view kJournalMagic = "matterfs wipe journal 1";
constexpr size_t kMaxJournal = 8192;
constexpr std::string_view kAsideKind = "wipe";
constexpr size_t kChunk = 1 << 20;  // random bytes written per pwrite

constexpr std::array<std::string_view, 6> kStepNames = {"started",     "aside",   "keys",
                                                        "overwritten", "removed", "done"};

uint64_t Now() { return static_cast<uint64_t>(::time(nullptr)); }

// Printable ASCII only, so that a value never spans lines of the journal.
std::string Printable(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) c = '?';
  }
  return out;
}

// A backing name we may use as a single path component below d/.
bool IsPlainEntry(std::string_view s) {
  return !s.empty() && s.size() <= kMaxBackingName && s != "." && s != ".." &&
         s.find('/') == std::string_view::npos && s.find('\0') == std::string_view::npos;
}

bool IsAsideName(std::string_view s) {
  const std::string prefix = ".tmp." + std::string(kAsideKind) + ".";
  if (s.size() <= prefix.size() || s.substr(0, prefix.size()) != prefix) return false;
  return std::all_of(s.begin() + static_cast<std::ptrdiff_t>(prefix.size()), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
  });
}

template <typename T>
std::optional<T> ParseNumber(std::string_view s) {
  if (s.empty() || s.size() > 20 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  T v{};
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string JoinVersions(const std::vector<uint32_t>& versions, const char* sep) {
  std::string s;
  for (uint32_t v : versions) s += (s.empty() ? "" : sep) + std::to_string(v);
  return s;
}

// Lets us (the owner) write into or write to `name`: a matter's users may have made a
// directory or file read-only. Root needs nothing.
void MakeWritable(int dirfd, const std::string& name, const struct stat& st) {
  if (::geteuid() == 0 || st.st_uid != ::geteuid()) return;
  const mode_t need = S_ISDIR(st.st_mode) ? S_IRWXU : (S_IRUSR | S_IWUSR);
  if ((st.st_mode & need) != need) {
    (void)::fchmodat(dirfd, name.c_str(), (st.st_mode & 07777) | need, 0);
  }
}

Result<UniqueFd> OpenSubdir(int dirfd, const std::string& name, const struct stat& st) {
  MakeWritable(dirfd, name, st);
  UniqueFd fd(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) return IoError("open directory " + name);
  return fd;
}

// What a tree holds: regular files by inode (hard links once).
struct Census {
  uint64_t files = 0;  // regular files with a name entry (not metadata)
  uint64_t bytes = 0;  // their plaintext bytes
  uint64_t backing_files = 0;
  uint64_t backing_bytes = 0;
  std::set<std::pair<dev_t, ino_t>> seen;
};

Status CountTree(int dirfd, const BlockLayout& layout, Census& c) {
  MFS_ASSIGN(std::vector<std::string> names, ListDirNames(dirfd));
  for (const std::string& name : names) {
    struct stat st;
    if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;
      return IoError("stat " + name);
    }
    if (S_ISDIR(st.st_mode)) {
      MFS_ASSIGN(UniqueFd sub, OpenSubdir(dirfd, name, st));
      MFS_TRY(CountTree(sub.get(), layout, c));
    } else if (S_ISREG(st.st_mode) && c.seen.insert({st.st_dev, st.st_ino}).second) {
      const auto size = static_cast<uint64_t>(st.st_size);
      ++c.backing_files;
      c.backing_bytes += size;
      if (NameCodec::Classify(name) != EntryKind::kMeta) {
        ++c.files;
        // A size no file of this format can have (damage) counts as no plaintext.
        auto plain = layout.PlainSize(size);
        if (plain.ok()) c.bytes += *plain;
      }
    }
  }
  return {};
}

// Writes random bytes over every data extent of `fd` (holes stay holes: there is nothing
// in them to destroy), once per pass, with an fdatasync after each pass so that every
// pass reaches the disk rather than only the page cache.
Status OverwriteFile(int fd, uint64_t size, uint32_t passes, Bytes& buf,
                     const std::function<void(uint64_t)>& wrote) {
  for (uint32_t pass = 0; pass < passes; ++pass) {
    uint64_t off = 0;
    while (off < size) {
      off_t data = ::lseek(fd, static_cast<off_t>(off), SEEK_DATA);
      if (data < 0) {
        if (errno == ENXIO) break;  // only a hole is left
        if (errno != EINVAL) return IoError("seek");
        data = static_cast<off_t>(off);  // no SEEK_DATA here: overwrite all of it
      }
      off_t hole = ::lseek(fd, data, SEEK_HOLE);
      if (hole < 0) hole = static_cast<off_t>(size);
      auto end = std::min<uint64_t>(static_cast<uint64_t>(hole), size);
      for (auto at = static_cast<uint64_t>(data); at < end;) {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(kChunk, end - at));
        crypto::RandomBytes(std::span<uint8_t>(buf.data(), n));
        MFS_TRY(PwriteFull(fd, buf.data(), n, static_cast<off_t>(at)));
        at += n;
        if (wrote) wrote(n);
      }
      off = end;
    }
    if (::fdatasync(fd) != 0) return IoError("sync");
  }
  return {};
}

struct Overwriter {
  uint32_t passes;
  WipeProgress progress;
  std::set<std::pair<dev_t, ino_t>> done;
  Bytes buf = Bytes(kChunk);
  std::function<void(const WipeProgress&)> on_progress;
  std::function<void()> after_first;

  Status Tree(int dirfd) {
    MFS_ASSIGN(std::vector<std::string> names, ListDirNames(dirfd));
    for (const std::string& name : names) {
      struct stat st;
      if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) continue;
        return IoError("stat " + name);
      }
      if (S_ISDIR(st.st_mode)) {
        MFS_ASSIGN(UniqueFd sub, OpenSubdir(dirfd, name, st));
        MFS_TRY(Tree(sub.get()));
        continue;
      }
      if (!S_ISREG(st.st_mode) || !done.insert({st.st_dev, st.st_ino}).second) continue;
      MakeWritable(dirfd, name, st);
      UniqueFd fd(::openat(dirfd, name.c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC));
      if (!fd.valid()) return IoError("open " + name + " to overwrite it");
      MFS_TRY(OverwriteFile(fd.get(), static_cast<uint64_t>(st.st_size), passes, buf,
                            [&](uint64_t n) { progress.bytes += n; }));
      ++progress.files;
      if (on_progress) on_progress(progress);
      if (progress.files == 1 && after_first) after_first();
    }
    return {};
  }
};

// Removes directory `name` in `parentfd` and everything below it, bottom-up. A name
// already gone is fine (a rerun).
Status RemoveTree(int parentfd, const std::string& name, const std::function<void()>& unlinked) {
  struct stat st;
  if (::fstatat(parentfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return errno == ENOENT ? Status{} : IoError("stat " + name);
  }
  {
    MFS_ASSIGN(UniqueFd dir, OpenSubdir(parentfd, name, st));
    MFS_ASSIGN(std::vector<std::string> names, ListDirNames(dir.get()));
    for (const std::string& child : names) {
      struct stat cst;
      if (::fstatat(dir.get(), child.c_str(), &cst, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) continue;
        return IoError("stat " + child);
      }
      if (S_ISDIR(cst.st_mode)) {
        MFS_TRY(RemoveTree(dir.get(), child, unlinked));
      } else if (::unlinkat(dir.get(), child.c_str(), 0) != 0 && errno != ENOENT) {
        return IoError("unlink " + child);
      } else if (unlinked) {
        unlinked();
      }
    }
  }
  if (::unlinkat(parentfd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
    return IoError("remove directory " + name);
  }
  return {};
}

// Overwrites the keyring file with random bytes (under its lock, so that no status
// change writes a copy after it), fdatasync, unlink, keystore fsync. Gone already: fine.
Status DestroyKeyringFile(int keystore_fd, const MatterId& id) {
  auto locked = LockKeyringFile(keystore_fd, id);
  if (!locked.ok()) {
    return locked.error().code() == Code::kNotFound ? Status{} : Status(locked.error());
  }
  struct stat st;
  if (::fstat(locked->get(), &st) != 0) return IoError("stat keyring");
  const auto size = std::max<uint64_t>(static_cast<uint64_t>(st.st_size), kKeyringFileSize);
  Bytes noise(size);
  crypto::RandomBytes(noise);
  MFS_TRY(PwriteFull(locked->get(), noise.data(), noise.size(), 0));
  if (::fdatasync(locked->get()) != 0) return IoError("sync keyring");
  const std::string name = KeyringFileName(id);
  if (::unlinkat(keystore_fd, name.c_str(), 0) != 0 && errno != ENOENT) {
    return IoError("unlink keyring " + name);
  }
  return FsyncDir(keystore_fd);
}

Status WriteJournal(int keystore_fd, const WipeJournal& j) {
  const std::string text = j.Serialize();
  return WriteFileAtomic(keystore_fd, WipeJournalName(j.matter_id), AsBytes(text), 0600);
}

std::string HostName() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return host;
}

}  // namespace

const char* WipeStepName(WipeStep s) { return kStepNames[static_cast<size_t>(s)].data(); }

std::string WipeJournalName(const MatterId& id) { return ToHex(id) + kWipeJournalSuffix; }

std::string WipeJournal::Serialize() const {
  std::string s = std::string(kJournalMagic) + "\n";
  auto line = [&](std::string_view key, const std::string& value) {
    s += std::string(key) + " " + value + "\n";
  };
  line("vault_id", ToHex(vault_id));
  line("matter_id", ToHex(matter_id));
  line("entry", entry);
  line("aside", aside);
  line("table_index", std::to_string(table_index));
  line("legacy_wrapped", legacy_wrapped ? "1" : "0");
  line("key_versions", JoinVersions(key_versions, ","));
  line("files", std::to_string(files));
  line("bytes", std::to_string(bytes));
  line("passes", std::to_string(passes));
  line("started", std::to_string(started));
  line("operator_uid", std::to_string(operator_uid));
  line("operator_name", Printable(operator_name));
  line("host", Printable(host));
  line("step", WipeStepName(step));
  line("finished", std::to_string(finished));
  return s;
}

Result<WipeJournal> WipeJournal::Parse(std::string_view text) {
  auto bad = [](const std::string& why) {
    return Error(Code::kCorruption, "wipe journal: " + why, EIO);
  };
  if (text.size() > kMaxJournal) return bad("too large");
  if (text.empty() || text.back() != '\n') return bad("does not end with a newline");
  std::vector<std::string_view> lines;
  for (size_t pos = 0; pos < text.size();) {
    const size_t nl = text.find('\n', pos);
    lines.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  constexpr std::array<std::string_view, 16> kKeys = {
      "vault_id",      "matter_id", "entry", "aside",   "table_index", "legacy_wrapped",
      "key_versions",  "files",     "bytes", "passes",  "started",     "operator_uid",
      "operator_name", "host",      "step",  "finished"};
  if (lines.size() != kKeys.size() + 1 || lines[0] != kJournalMagic) {
    return bad("not a wipe journal of this version");
  }
  std::array<std::string_view, kKeys.size()> v;
  for (size_t i = 0; i < kKeys.size(); ++i) {
    const std::string_view l = lines[i + 1];
    if (l.size() <= kKeys[i].size() || l.substr(0, kKeys[i].size()) != kKeys[i] ||
        l[kKeys[i].size()] != ' ') {
      return bad("line " + std::to_string(i + 2) + " is not \"" + std::string(kKeys[i]) + " ...\"");
    }
    v[i] = l.substr(kKeys[i].size() + 1);
    for (char c : v[i]) {
      if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
        return bad(std::string(kKeys[i]) + " holds a control character");
      }
    }
  }
  WipeJournal j;
  auto id = [&](std::string_view hex, auto& out, const char* what) -> Status {
    auto b = FromHex(hex);
    if (!b || b->size() != out.size() || hex.size() != 2 * out.size()) {
      return bad(std::string(what) + " is not " + std::to_string(2 * out.size()) + " hex digits");
    }
    std::copy(b->begin(), b->end(), out.begin());
    return {};
  };
  MFS_TRY(id(v[0], j.vault_id, "vault_id"));
  MFS_TRY(id(v[1], j.matter_id, "matter_id"));
  j.entry = std::string(v[2]);
  j.aside = std::string(v[3]);
  if (!IsPlainEntry(j.entry)) return bad("entry is not a directory entry name");
  if (!IsAsideName(j.aside)) return bad("aside is not a .tmp.wipe.* name");
  auto number = [&](size_t i, auto& out) -> Status {
    using T = std::remove_reference_t<decltype(out)>;
    auto n = ParseNumber<T>(v[i]);
    if (!n) return bad(std::string(kKeys[i]) + " is not a number");
    out = *n;
    return {};
  };
  MFS_TRY(number(4, j.table_index));
  if (v[5] != "0" && v[5] != "1") return bad("legacy_wrapped is not 0 or 1");
  j.legacy_wrapped = v[5] == "1";
  for (size_t pos = 0; pos <= v[6].size();) {
    size_t comma = v[6].find(',', pos);
    if (comma == std::string_view::npos) comma = v[6].size();
    auto n = ParseNumber<uint32_t>(v[6].substr(pos, comma - pos));
    if (!n) return bad("key_versions is not a list of numbers");
    j.key_versions.push_back(*n);
    pos = comma + 1;
  }
  if (j.key_versions.size() > kMaxKeyVersions) return bad("too many key_versions");
  MFS_TRY(number(7, j.files));
  MFS_TRY(number(8, j.bytes));
  MFS_TRY(number(9, j.passes));
  if (j.passes > kMaxWipePasses) return bad("passes out of range");
  MFS_TRY(number(10, j.started));
  MFS_TRY(number(11, j.operator_uid));
  j.operator_name = std::string(v[12]);
  j.host = std::string(v[13]);
  auto step = std::find(kStepNames.begin(), kStepNames.end(), v[14]);
  if (step == kStepNames.end()) return bad("unknown step '" + std::string(v[14]) + "'");
  j.step = static_cast<WipeStep>(step - kStepNames.begin());
  MFS_TRY(number(15, j.finished));
  if ((j.step == WipeStep::kDone) != (j.finished != 0)) {
    return bad("finished does not match the step");
  }
  return j;
}

namespace {
// Every wipe journal in the keystore, checked against the vault.
Result<std::vector<std::pair<std::string, WipeJournal>>> ReadJournals(const Vault& vault) {
  MFS_ASSIGN(std::vector<std::string> names, ListDirNames(vault.keystore_fd()));
  const std::string suffix = kWipeJournalSuffix;
  std::vector<std::pair<std::string, WipeJournal>> out;
  for (const std::string& file : names) {
    if (file.size() != 2 * kIdSize + suffix.size() ||
        file.compare(2 * kIdSize, suffix.size(), suffix) != 0) {
      continue;
    }
    MFS_ASSIGN(Bytes raw, ReadWholeFile(vault.keystore_fd(), file, kMaxJournal + 1));
    auto j =
        WipeJournal::Parse(std::string_view(reinterpret_cast<const char*>(raw.data()), raw.size()));
    if (!j.ok()) return Error(Code::kCorruption, file + ": " + j.error().message(), EIO);
    if (j->vault_id != vault.id() || WipeJournalName(j->matter_id) != file) {
      return Error(Code::kCorruption, file + ": a wipe journal of another vault or matter", EIO);
    }
    out.emplace_back(file, std::move(*j));
  }
  return out;
}
}  // namespace

Result<std::optional<WipeJournal>> FindWipeJournal(const Vault& vault, std::string_view name) {
  MFS_ASSIGN(StoredName stored, vault.matter_names().Encode(vault.root_iv(), name));
  MFS_ASSIGN(auto journals, ReadJournals(vault));
  for (auto& [file, j] : journals) {
    if (j.entry == stored.entry) return std::optional<WipeJournal>(std::move(j));
  }
  return std::optional<WipeJournal>();
}

Result<std::vector<UnfinishedWipe>> ListUnfinishedWipes(const Vault& vault) {
  MFS_ASSIGN(auto journals, ReadJournals(vault));
  std::vector<UnfinishedWipe> out;
  for (auto& [file, j] : journals) {
    auto name = vault.DecodeMatterEntry(j.entry);
    out.push_back({file, name.ok() ? *name : "", j.step});
  }
  return out;
}

std::vector<std::string> WipeCaveats(const WipeJournal& j) {
  std::vector<std::string> c;
  c.push_back(
      "A copy of the vault's keystore (its key table and this matter's keyring) or of the "
      "whole vault made before this wipe, in a backup, snapshot or replica, together with a "
      "valid passphrase or key file of the vault, brings the matter back: such copies must be "
      "destroyed or expire for the destruction to be complete.");
  c.push_back(
      "The matter's name (not its contents) is encrypted in the vault's data directory under "
      "the vault master key: a copy of its directory entry from before the wipe (a backup, a "
      "snapshot or an undelete) still reveals the name with a valid passphrase of the vault "
      "until 'matterctl rotate-master' has replaced the vault master key; this certificate "
      "names the matter in clear.");
  if (j.table_index == 0 || j.legacy_wrapped) {
    c.push_back(
        "This matter's keyring predates the vault's key table (or was moved to it since the "
        "vault master key last changed): its keys were wrapped by a key that every matter of "
        "the vault shares, so a copy of its keyring file from before the wipe (a backup, a "
        "snapshot or an undelete on the file system) still opens the matter with a valid "
        "passphrase of the vault until 'matterctl rotate-master' has replaced the vault "
        "master key.");
  }
  if (j.passes > 0) {
    c.push_back(
        "Overwriting proves nothing on SSDs, copy-on-write or log-structured file systems, and "
        "thin-provisioned, snapshotted or deduplicated storage, where old ciphertext blocks can "
        "survive elsewhere; what makes them unreadable is the destruction of the keys "
        "(crypto-shredding).");
  } else {
    c.push_back(
        "The ciphertext was not overwritten (0 passes): it stays unreadable because its keys "
        "are destroyed (crypto-shredding).");
  }
  return c;
}

std::string WipeSummary(const WipeResult& r) {
  const WipeJournal& j = r.journal;
  char secs[32];
  std::snprintf(secs, sizeof secs, r.seconds < 100 ? "%.3f" : "%.0f", r.seconds);
  std::string s = "matter " + r.matter + " wiped";
  if (r.resumed) {
    s += r.resumed_from == WipeStep::kDone
             ? " (finished by an earlier run; certificate issued from its journal)"
             : " (an unfinished wipe, completed)";
  }
  s += ": " + std::to_string(j.files) + (j.files == 1 ? " file (" : " files (") +
       std::to_string(j.bytes) + (j.bytes == 1 ? " byte)" : " bytes)") + ", key version" +
       (j.key_versions.size() == 1 ? " " : "s ") + JoinVersions(j.key_versions, ", ") +
       " destroyed, " + std::to_string(j.passes) +
       (j.passes == 1 ? " overwrite pass" : " overwrite passes") + "; " + secs + " s";
  return s;
}

std::string LegacyKeyringNote(const std::string& vault_path, const std::string& matter) {
  return "matter " + matter +
         " was created before the vault's key table (or moved to it since the vault master key "
         "last changed): its keyring was wrapped by a key every "
         "matter shares, so a copy of that keyring from before the wipe (a backup, a snapshot, "
         "an undelete) still opens the matter with the vault's passphrase until the vault master "
         "key is replaced: run matterctl rotate-master " +
         vault_path + " (the certificate says so too)";
}

Result<WipeResult> WipeMatter(Vault& vault, std::string_view matter, const AdminContext& ctx,
                              const WipeOptions& options) {
  const auto clock_start = std::chrono::steady_clock::now();
  const std::string name(matter);
  if (options.confirm != matter) {
    return Error(Code::kInvalidArgument, "the confirmation '" + options.confirm +
                                             "' is not the matter's name '" + name +
                                             "'; nothing was changed");
  }
  if (options.passes > kMaxWipePasses) {
    return Error(Code::kInvalidArgument,
                 "at most " + std::to_string(kMaxWipePasses) + " overwrite passes");
  }
  const std::string how = ctx.online ? " (online)" : " (offline, matterctl)";
  auto event = [&](audit::AuditResult r, audit::AuditSeverity sev, const std::string& message) {
    audit::AuditEvent ev = AdminEvent(ctx, audit::audit_events::kMatterWipe, name);
    ev.result = r;
    ev.severity = sev;
    ev.message = message + how;
    if (ctx.events) ctx.events(std::move(ev));
  };

  WipeResult result;
  result.matter = name;
  MFS_ASSIGN(std::optional<WipeJournal> found, FindWipeJournal(vault, name));
  WipeJournal j;
  if (found) {
    j = std::move(*found);
    result.resumed = true;
    result.resumed_from = j.step;
  } else {
    // Refusals, before anything changes.
    MFS_ASSIGN(MatterInfo info, vault.FindMatter(name));
    if (ctx.authorize) MFS_TRY(ctx.authorize(info));
    if (info.status == MatterStatus::kOpen) {
      return Error(Code::kInvalidArgument,
                   "matter '" + name +
                       "' is open: only a closed matter can be wiped (matterctl matter close "
                       "first); nothing was changed");
    }
    if (info.status == MatterStatus::kHold) {
      return Error(Code::kInvalidArgument,
                   "matter '" + name +
                       "' is under legal hold: a held matter cannot be wiped (the hold must be "
                       "released and the matter closed first); nothing was changed");
    }
    MFS_ASSIGN(Keyring ring, vault.LoadKeyring(info.id));
    UniqueFd dir(::openat(vault.data_fd(), info.entry.c_str(),
                          O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dir.valid()) return IoError("open matter directory");
    Census census;
    MFS_TRY(CountTree(dir.get(), vault.file_format().layout(), census));
    j.vault_id = vault.id();
    j.matter_id = info.id;
    j.entry = info.entry;
    j.aside = TempEntryName(kAsideKind);
    j.table_index = ring.table_index;
    j.legacy_wrapped = ring.legacy_wrapped;
    for (const auto& [version, key] : ring.wrap_keys) j.key_versions.push_back(version);
    j.files = census.files;
    j.bytes = census.bytes;
    j.passes = options.passes;
    j.started = Now();
    j.operator_uid = ctx.actor.uid;
    j.operator_name = Printable(ctx.actor.user);
    j.host = Printable(HostName());
  }
  result.legacy_keyring = j.table_index == 0 || j.legacy_wrapped;
  if (options.starting) options.starting(j.matter_id);
  auto reached = [&](std::string_view point) {
    if (options.reached) options.reached(point);
  };
  if (result.resumed) {
    event(audit::AuditResult::kOk, audit::AuditSeverity::kNotice,
          j.step == WipeStep::kDone
              ? "the wipe finished earlier; its certificate is issued again"
              : std::string("resuming an unfinished wipe after step ") + WipeStepName(j.step));
  } else {
    event(audit::AuditResult::kOk, audit::AuditSeverity::kNotice,
          "wipe started: " + std::to_string(j.files) + " files (" + std::to_string(j.bytes) +
              " bytes), key version(s) " + JoinVersions(j.key_versions, ", ") + ", " +
              std::to_string(j.passes) + " overwrite pass(es)" +
              (j.table_index == 0 || j.legacy_wrapped ? ", a keyring from before the key table"
                                                      : ""));
  }
  auto step_done = [&](WipeStep step, std::string_view point) -> Status {
    j.step = step;
    MFS_TRY(WriteJournal(vault.keystore_fd(), j));
    reached(point);
    return {};
  };

  Status st = [&]() -> Status {
    const int data = vault.data_fd();
    if (!result.resumed) {
      MFS_TRY(WriteJournal(vault.keystore_fd(), j));
      reached("after-journal");
    }
    // 1. Out of the name space. The aside name is random, so that a rerun can tell by its
    // existence whether the rename happened (the entry may by then name a new matter).
    if (j.step < WipeStep::kAside) {
      if (::faccessat(data, j.aside.c_str(), F_OK, AT_SYMLINK_NOFOLLOW) != 0) {
        if (::renameat(data, j.entry.c_str(), data, j.aside.c_str()) != 0 && errno != ENOENT) {
          return IoError("move the matter directory aside");
        }
      }
      if (NameCodec::Classify(j.entry) == EntryKind::kLong &&
          ::faccessat(data, j.entry.c_str(), F_OK, AT_SYMLINK_NOFOLLOW) != 0) {
        const std::string side = NameCodec::LongNameFile(j.entry);
        UniqueFd fd(::openat(data, side.c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC));
        if (fd.valid()) {
          Bytes buf(kChunk);
          struct stat sst;
          if (::fstat(fd.get(), &sst) == 0) {
            MFS_TRY(OverwriteFile(fd.get(), static_cast<uint64_t>(sst.st_size), j.passes, buf, {}));
          }
        }
        if (::unlinkat(data, side.c_str(), 0) != 0 && errno != ENOENT) {
          return IoError("unlink the matter's long-name file");
        }
      }
      MFS_TRY(FsyncDir(data));
      MFS_TRY(step_done(WipeStep::kAside, "after-aside"));
    }
    // 2. The keys: the table entry first (a restored keyring opens nothing after it),
    // then the keyring itself.
    if (j.step < WipeStep::kKeys) {
      if (j.table_index != 0) {
        KeyTable* table = vault.key_table();
        if (table == nullptr) {
          return Error(Code::kCorruption,
                       "the matter's keyring names key table entry " +
                           std::to_string(j.table_index - 1) + " but the vault has no key table",
                       EIO);
        }
        std::optional<UniqueFd> lock;
        if (options.change_lock) {
          MFS_ASSIGN(UniqueFd l, vault.LockVault());
          lock = std::move(l);
        }
        MFS_TRY(table->Destroy(j.table_index - 1, j.matter_id));
      }
      MFS_TRY(DestroyKeyringFile(vault.keystore_fd(), j.matter_id));
      MFS_TRY(step_done(WipeStep::kKeys, "after-keys"));
    }
    // 3. The ciphertext.
    if (j.step < WipeStep::kOverwritten) {
      UniqueFd dir(
          ::openat(data, j.aside.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (dir.valid() && j.passes > 0) {
        Census census;
        MFS_TRY(CountTree(dir.get(), vault.file_format().layout(), census));
        Overwriter ow{
            j.passes, {}, {}, Bytes(kChunk), options.progress, [&] { reached("mid-overwrite"); }};
        ow.progress.total = census.backing_files;
        ow.progress.total_bytes = census.backing_bytes * j.passes;
        MFS_TRY(ow.Tree(dir.get()));
      } else if (!dir.valid() && errno != ENOENT) {
        return IoError("open the matter directory");
      }
      MFS_TRY(step_done(WipeStep::kOverwritten, "after-overwrite"));
    }
    // 4. Files and directories, bottom-up, then the matter's directory.
    if (j.step < WipeStep::kRemoved) {
      bool first = true;
      MFS_TRY(RemoveTree(data, j.aside, [&] {
        if (first) reached("mid-unlink");
        first = false;
      }));
      MFS_TRY(FsyncDir(data));
      MFS_TRY(step_done(WipeStep::kRemoved, "after-unlink"));
    }
    if (j.step < WipeStep::kDone) {
      j.finished = std::max(Now(), j.started);
      j.step = WipeStep::kDone;
      MFS_TRY(WriteJournal(vault.keystore_fd(), j));
    }
    return {};
  }();
  if (!st.ok()) {
    event(audit::AuditResult::kError, audit::AuditSeverity::kWarning,
          std::string("wipe stopped after step ") + WipeStepName(j.step) + ": " +
              st.error().message() + "; run the wipe again to complete it");
    return st.error();
  }
  reached("before-certificate");

  result.journal = j;
  DestructionCertificate& c = result.certificate;
  c.vault_id = vault.id();
  c.matter = name;
  c.matter_id = j.matter_id;
  c.files = j.files;
  c.bytes = j.bytes;
  c.key_versions_destroyed = j.key_versions;
  c.method = j.passes > 0 ? "crypto-shred+overwrite" : "crypto-shred";
  c.passes = j.passes;
  c.started = j.started;
  c.finished = j.finished;
  c.operator_uid = j.operator_uid;
  c.operator_name = j.operator_name;
  c.host = j.host;
  c.caveats = WipeCaveats(j);
  result.certificate_text = SignCertificate(c, vault.signing_key());
  const auto& pub = vault.signing_key().public_key();
  std::copy(pub.begin(), pub.end(), c.public_key.begin());
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - clock_start).count();
  if (result.resumed_from != WipeStep::kDone || !result.resumed) {
    event(audit::AuditResult::kOk, audit::AuditSeverity::kNotice,
          "wipe finished: " + std::to_string(j.files) + " files (" + std::to_string(j.bytes) +
              " bytes) destroyed, key version(s) " + JoinVersions(j.key_versions, ", ") +
              " destroyed, " + std::to_string(j.passes) +
              " overwrite pass(es); certificate of destruction signed");
  }
  return result;
}

Status FinishWipe(const Vault& vault, const MatterId& id) {
  const std::string name = WipeJournalName(id);
  UniqueFd fd(::openat(vault.keystore_fd(), name.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return Error(Code::kNotFound, "no wipe journal " + name, ENOENT);
    return IoError("open " + name);
  }
  MFS_ASSIGN(Bytes raw, ReadWholeFile(vault.keystore_fd(), name, kMaxJournal + 1));
  MFS_ASSIGN(WipeJournal j, WipeJournal::Parse(std::string_view(
                                reinterpret_cast<const char*>(raw.data()), raw.size())));
  if (j.step != WipeStep::kDone) {
    return Error(Code::kInvalidArgument, "the wipe of " + name + " is not finished");
  }
  const Bytes zeros(raw.size());
  MFS_TRY(PwriteFull(fd.get(), zeros.data(), zeros.size(), 0));
  if (::fdatasync(fd.get()) != 0) return IoError("sync " + name);
  if (::unlinkat(vault.keystore_fd(), name.c_str(), 0) != 0 && errno != ENOENT) {
    return IoError("unlink " + name);
  }
  return FsyncDir(vault.keystore_fd());
}

}  // namespace matterfs::vault
