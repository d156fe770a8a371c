#include "fs/vault/rotation.h"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>
#include <optional>
#include <thread>

#include "crypto/aead.h"
#include "fs/vault/encrypted_file.h"
#include "fs/vault/matter.h"
#include "fs/vault/reencrypt.h"

namespace matterfs::vault {
namespace {

constexpr size_t kMaxListedFailures = 20;

std::string Where(const WalkItem& item) { return item.path.empty() ? item.position : item.path; }

std::string JoinVersions(const std::vector<uint32_t>& versions) {
  std::string s;
  for (uint32_t v : versions) s += (s.empty() ? "" : ", ") + std::to_string(v);
  return s.empty() ? "none" : s;
}

}  // namespace

std::string RotateSummary(const RotateResult& r) {
  char secs[32];
  if (r.seconds < 100) {
    std::snprintf(secs, sizeof secs, "%.3f", r.seconds);
  } else {
    std::snprintf(secs, sizeof secs, "%.0f", r.seconds);
  }
  std::string s =
      "matter " + r.matter + ": key version " + std::to_string(r.from_version) + " -> " +
      std::to_string(r.to_version) +
      (r.resumed ? (r.reencrypted ? " (an unfinished re-encryption, completed)"
                                  : " (an unfinished rotation, completed)")
                 : "") +
      "; " + std::to_string(r.counts.files) + " files (" + std::to_string(r.counts.rewrapped) +
      (r.reencrypted ? " re-encrypted with new data keys, " : " rewrapped, ") +
      std::to_string(r.counts.already) + " already on version " + std::to_string(r.to_version);
  if (r.counts.failed > 0) s += ", " + std::to_string(r.counts.failed) + " failed";
  s += ")";
  if (r.KeptOldVersions()) {
    s += "; the old key version is kept";
  } else if (!r.destroyed.empty()) {
    s += "; destroyed version(s) " + JoinVersions(r.destroyed);
  }
  return s + "; " + secs + " s";
}

Status RewrapFileHeader(int fd, FileHeader& header, const Keyring& ring) {
  auto old_key = ring.wrap_keys.find(header.key_version);
  if (old_key == ring.wrap_keys.end()) {
    // FileCrypto::Open words the error (a destroyed version, or one never had).
    auto fc = FileCrypto::Open(header, ring);
    return fc.ok() ? Error(Code::kCorruption, "file key version missing") : fc.error();
  }
  auto dek = crypto::UnwrapKey<crypto::KeyPurpose::kData>(*old_key->second, header.wrapped_dek,
                                                          header.WrapAd(ring.matter_id));
  if (!dek.ok()) return Error(Code::kCorruption, "file header does not authenticate", EIO);
  auto new_key = ring.wrap_keys.find(ring.current_version);
  if (new_key == ring.wrap_keys.end()) {
    return Error(Code::kCorruption, "current key version missing");
  }
  FileHeader next = header;
  next.key_version = ring.current_version;
  next.wrapped_dek = crypto::Wrap(*new_key->second, dek->bytes(), next.WrapAd(ring.matter_id));
  MFS_ASSIGN(FileCrypto fc, FileCrypto::FromKey(next, *dek, ring.matter_id));
  MFS_TRY(RewriteHeader(fd, next, fc, false));
  header = std::move(next);
  return {};
}

Result<bool> RewrapFile(int fd, const FileFormat& format, const Keyring& ring) {
  MFS_ASSIGN(std::optional<OpenedFile> opened, OpenFile(fd, format, ring));
  if (!opened || opened->header.key_version == ring.current_version) return false;
  MFS_TRY(RewrapFileHeader(fd, opened->header, ring));
  return true;
}

Result<RotateResult> RotateMatter(Vault& vault, std::string_view matter, const AdminContext& ctx,
                                  const RotateOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  MFS_ASSIGN(MatterInfo info, vault.FindMatter(matter));
  if (ctx.authorize) MFS_TRY(ctx.authorize(info));
  const std::string how = ctx.online ? " (online)" : " (offline, matterctl)";
  RotateResult result;
  result.matter = info.name;
  auto event = [&](const char* name, audit::AuditResult r, audit::AuditSeverity sev,
                   std::string message) {
    audit::AuditEvent ev = AdminEvent(ctx, name, info.name);
    ev.result = r;
    ev.severity = sev;
    ev.message = std::move(message) + how;
    if (ctx.events) ctx.events(std::move(ev));
  };

  // An unfinished re-encryption is finished as one, whatever was asked.
  UniqueFd matter_dir(::openat(vault.data_fd(), info.entry.c_str(),
                               O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!matter_dir.valid()) return IoError("open matter directory");
  MFS_ASSIGN(std::optional<uint32_t> journal, ReadReencryptTarget(matter_dir.get()));
  const bool journal_existed = journal.has_value();
  const bool reencrypt = options.reencrypt || journal.has_value();
  result.reencrypted = reencrypt;
  if (reencrypt && ctx.online) {
    return Error(Code::kInvalidArgument,
                 std::string(journal ? "matter " + info.name + " has an unfinished re-encryption"
                                     : "--reencrypt") +
                     ": it runs offline; unmount the vault and run matterctl rotate --reencrypt "
                     "VAULT " +
                     info.name);
  }
  if (reencrypt && !journal) {
    // The journal first: a crash before the keyring gains the version is resumed by
    // adding it then.
    MFS_ASSIGN(Keyring before, vault.LoadKeyring(info.id));
    journal = before.current_version + 1;
    MFS_TRY(WriteReencryptTarget(matter_dir.get(), *journal));
  }

  // A matter made before the key table moves to it (docs/FORMAT.md §9.6). Offline the
  // caller holds the change lock (LockOffline).
  if (Status moved = vault.MoveToKeyTable(info.id, !ctx.online); !moved.ok()) {
    event(
        audit::audit_events::kMatterRotate, audit::AuditResult::kError,
        audit::AuditSeverity::kWarning,
        "rotation failed to start: moving the matter to the key table: " + moved.error().message());
    return moved.error();
  }

  // (1) A new current version, or the unfinished rotation's target.
  Status st = UpdateKeyringFile(
      vault.keystore_fd(), vault.config().vault_id, info.id, vault.keyring_keys(),
      [&](Keyring& ring) -> Status {
        result.from_version = ring.wrap_keys.begin()->first;  // the oldest left
        if (journal) {
          if (ring.current_version > *journal) {
            return Error(Code::kCorruption, "the re-encryption journal names key version " +
                                                std::to_string(*journal) + ", older than the " +
                                                "current " + std::to_string(ring.current_version));
          }
          result.resumed = journal_existed;
          if (ring.current_version < *journal) {
            ring.wrap_keys.emplace(*journal,
                                   std::make_unique<MatterWrapKey>(MatterWrapKey::Random()));
            ring.current_version = *journal;
          }
        } else if (ring.wrap_keys.size() > 1) {
          result.resumed = true;
        } else {
          const uint32_t next = ring.current_version + 1;
          ring.wrap_keys.emplace(next, std::make_unique<MatterWrapKey>(MatterWrapKey::Random()));
          ring.current_version = next;
        }
        result.to_version = ring.current_version;
        return {};
      });
  if (!st.ok()) {
    event(audit::audit_events::kMatterRotate, audit::AuditResult::kError,
          audit::AuditSeverity::kWarning, "rotation failed to start: " + st.error().message());
    return st.error();
  }
  const std::string what = reencrypt ? "re-encryption" : "rotation";
  event(audit::audit_events::kMatterRotate, audit::AuditResult::kOk, audit::AuditSeverity::kNotice,
        (result.resumed ? "resuming an unfinished " + what + ": version "
                        : what + " started: version ") +
            std::to_string(result.from_version) + " -> " + std::to_string(result.to_version));
  MFS_ASSIGN(std::unique_ptr<Matter> loaded, Matter::Load(vault, info.name));
  const Keyring& ring = loaded->keyring();
  if (options.keyring_changed) options.keyring_changed(ring);
  if (options.settle.count() > 0) std::this_thread::sleep_for(options.settle);
  const FileFormat format = vault.file_format();

  // (2) Every header still on an older version.
  RotateProgress& counts = result.counts;
  uint64_t blocking = 0;  // failures that keep the old versions alive
  auto failed = [&](const WalkItem& item, const Error& why) {
    ++counts.failed;
    // A file wrapped by a version an earlier rotation destroyed is unreadable already
    // (restored from an old backup): keeping today's old version would not help it.
    if (why.code() != Code::kNotFound) ++blocking;
    if (result.failures.size() < kMaxListedFailures) {
      result.failures.push_back(Where(item) + ": " + why.message());
    }
  };
  MatterWalker walker(vault, *loaded);
  // Count first, for progress with a total; re-encryption also needs every name of each
  // hard-linked file before it replaces the first.
  std::map<std::pair<dev_t, ino_t>, LinkGroup> links;
  {
    WalkOptions count;
    count.read_headers = false;
    MFS_TRY(walker.Walk(count, [&](WalkItem& item) {
      if (!S_ISREG(item.st.st_mode)) return WalkAction::kContinue;
      ++counts.total;
      counts.total_bytes += static_cast<uint64_t>(item.st.st_size);
      if (reencrypt && item.st.st_nlink > 1) {
        links[{item.st.st_dev, item.st.st_ino}].push_back(item.position);
      }
      return WalkAction::kContinue;
    }));
  }
  Reencryptor reencryptor(format, ring, matter_dir.get());
  if (options.relinked) reencryptor.set_relinked_hook(options.relinked);
  if (reencrypt && journal_existed) {
    st = reencryptor.Recover();
    if (!st.ok()) {
      event(audit::audit_events::kMatterRotate, audit::AuditResult::kError,
            audit::AuditSeverity::kWarning,
            "re-encryption could not resume: " + st.error().message());
      return st.error();
    }
  }
  WalkOptions wopts;
  wopts.file_flags = reencrypt ? O_RDONLY : O_RDWR;
  // The walker opens each file; OpenFile below picks the current header copy.
  st = walker.Walk(wopts, [&](WalkItem& item) {
    const bool regular = S_ISREG(item.st.st_mode);
    if (item.problem && !regular) {
      // A directory that cannot be entered may hold files on the old version.
      if (S_ISDIR(item.st.st_mode)) failed(item, *item.problem);
      return WalkAction::kContinue;
    }
    if (!regular) return WalkAction::kContinue;
    ++counts.files;
    counts.bytes += static_cast<uint64_t>(item.st.st_size);
    if (item.fd < 0) {
      failed(item, item.problem ? *item.problem : Error(Code::kIo, "cannot open"));
    } else {
      Result<bool> done = false;
      if (!reencrypt) {
        done = options.rewrap_file ? options.rewrap_file(item, ring)
                                   : RewrapFile(item.fd, format, ring);
      } else if (!item.header || item.header->key_version != ring.current_version) {
        // (A file on the target version was re-encrypted, or created, since it began.)
        auto group = links.find({item.st.st_dev, item.st.st_ino});
        done = reencryptor.Reencrypt(item.dirfd, item.entry, item.fd, item.st, item.position,
                                     group == links.end() ? nullptr : &group->second);
      }
      if (!done.ok()) {
        failed(item, done.error());
      } else if (*done) {
        ++counts.rewrapped;
      } else {
        ++counts.already;  // no header yet, or already on the new version
      }
    }
    if (options.progress) options.progress(counts);
    return WalkAction::kContinue;
  });
  if (!st.ok()) {
    event(audit::audit_events::kMatterRotate, audit::AuditResult::kError,
          audit::AuditSeverity::kWarning, what + " stopped: " + st.error().message());
    return st.error();
  }
  if (blocking > 0) {
    result.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    event(audit::audit_events::kMatterRotate, audit::AuditResult::kError,
          audit::AuditSeverity::kWarning,
          what + " incomplete: " + std::to_string(blocking) + " files could not be " +
              (reencrypt ? "re-encrypted" : "rewrapped") + "; the old key versions are kept (" +
              std::to_string(counts.rewrapped) + (reencrypt ? " re-encrypted, " : " rewrapped, ") +
              std::to_string(counts.files) + " files)");
    return result;
  }

  // Other servers: a file one of them created under the old version before it re-read the
  // keyring, after the walk passed its directory.
  if (options.settle.count() > 0 && !reencrypt) {
    MFS_TRY(walker.Walk(wopts, [&](WalkItem& item) {
      if (!S_ISREG(item.st.st_mode) || item.fd < 0 || !item.header ||
          item.header->key_version == ring.current_version) {
        return WalkAction::kContinue;
      }
      Result<bool> done =
          options.rewrap_file ? options.rewrap_file(item, ring) : RewrapFile(item.fd, format, ring);
      if (!done.ok()) {
        failed(item, done.error());
      } else if (*done) {
        ++counts.rewrapped;
      }
      return WalkAction::kContinue;
    }));
    if (blocking > 0) {
      result.seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      return result;
    }
  }

  // (3) Every rewritten header on disk before any key it replaced goes.
  {
    MFS_ASSIGN(UniqueFd dir, loaded->OpenDir(vault));
    if (::syncfs(dir.get()) != 0) return IoError("sync the vault");
  }

  // (4) Destroy every other version, in both keyring copies.
  const auto finished = static_cast<uint64_t>(::time(nullptr));
  for (int pass = 0; pass < 2; ++pass) {
    st = UpdateKeyringFile(vault.keystore_fd(), vault.config().vault_id, info.id,
                           vault.keyring_keys(), [&](Keyring& r) -> Status {
                             if (r.current_version != result.to_version) {
                               return Error(Code::kBusy,
                                            "another rotation of this matter ran meanwhile");
                             }
                             r.rotated = finished;
                             for (auto it = r.wrap_keys.begin(); it != r.wrap_keys.end();) {
                               if (it->first != r.current_version) {
                                 if (pass == 0) result.destroyed.push_back(it->first);
                                 it = r.wrap_keys.erase(it);
                               } else {
                                 ++it;
                               }
                             }
                             return {};
                           });
    if (!st.ok()) {
      event(audit::audit_events::kMatterRotate, audit::AuditResult::kError,
            audit::AuditSeverity::kWarning,
            what + " could not destroy the old key versions: " + st.error().message());
      return st.error();
    }
  }
  if (reencrypt) MFS_TRY(RemoveReencryptJournal(matter_dir.get()));
  if (options.keyring_changed) {
    MFS_ASSIGN(Keyring after, vault.LoadKeyring(info.id));
    options.keyring_changed(after);
  }
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  event(audit::audit_events::kMatterRotate, audit::AuditResult::kOk, audit::AuditSeverity::kNotice,
        what + " finished: every file on key version " + std::to_string(result.to_version) + " (" +
            std::to_string(counts.rewrapped) + (reencrypt ? " re-encrypted, " : " rewrapped, ") +
            std::to_string(counts.already) + " already on it, " + std::to_string(counts.files) +
            " files); destroyed version(s) " + JoinVersions(result.destroyed));
  return result;
}

}  // namespace matterfs::vault
