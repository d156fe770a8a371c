#include "fs/vault/master_rotation.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <memory>
#include <optional>

#include "crypto/aead.h"
#include "crypto/kdf.h"
#include "fs/vault/encrypted_dir.h"
#include "fs/vault/keyring.h"
#include "fs/vault/names.h"
#include "fs/vault/wipe.h"
#include "util/bytes.h"
#include "util/file_io.h"
#include "util/unix_time.h"

namespace matterfs::vault {

namespace {

// The journal (docs/FORMAT.md §8.6): magic, version, reserved, vault id (the AD), then the
// old VMK wrapped under the new VMK's subkey 8.
constexpr std::string_view kJournalMagic = "MFSMROT1";
constexpr uint16_t kJournalVersion = 1;
constexpr size_t kJournalAdSize = 32;
constexpr size_t kJournalSize = kJournalAdSize + MasterKey::kSize + crypto::kWrapOverhead;
constexpr size_t kBindingSize = kIdSize + 32;

Error Corrupt(const std::string& what) { return Error(Code::kCorruption, what, EIO); }

// The VMK subkeys that moving a matter needs, for one VMK (the old one; the vault itself
// holds the new one's).
struct KeySet {
  VaultSubkey keyring_wrap;
  VaultSubkey keyring_mac;
  VaultSubkey binding;
  VaultSubkey key_table;
  std::unique_ptr<NameCodec> names;
  // Version 3 keyrings open through the key table, which is moved to the new key first.
  KeyringKeys keyring(const KeyTable* table, const VaultSubkey& table_wrap) const {
    return {keyring_wrap, keyring_mac, table, &table_wrap};
  }
};

KeySet DeriveKeySet(const MasterKey& vmk) {
  auto sub = [&](uint64_t id) {
    return crypto::DeriveSubkey<crypto::KeyPurpose::kVaultSub>(vmk, id, kVaultKdfContext);
  };
  auto root_names =
      crypto::DeriveSubkey<crypto::KeyPurpose::kName>(vmk, kSubkeyRootNames, kVaultKdfContext);
  return KeySet{sub(kSubkeyKeyringWrap), sub(kSubkeyKeyringMac), sub(kSubkeyMatterBinding),
                sub(kSubkeyKeyTable), std::make_unique<NameCodec>(root_names)};
}

Bytes JournalAd(const VaultId& vault) {
  Bytes ad(kJournalAdSize, 0);
  std::memcpy(ad.data(), kJournalMagic.data(), kJournalMagic.size());
  PutU16(ad.data() + 8, kJournalVersion);
  std::memcpy(ad.data() + 16, vault.data(), kIdSize);
  return ad;
}

VaultSubkey JournalKey(const MasterKey& new_vmk) {
  return crypto::DeriveSubkey<crypto::KeyPurpose::kVaultSub>(new_vmk, kSubkeyMasterJournal,
                                                             kVaultKdfContext);
}

Bytes SerializeJournal(const VaultId& vault, const MasterKey& new_vmk, const MasterKey& old_vmk) {
  Bytes out = JournalAd(vault);
  Bytes wrapped = crypto::Wrap(JournalKey(new_vmk), old_vmk.bytes(), out);
  out.insert(out.end(), wrapped.begin(), wrapped.end());
  return out;
}

// The old VMK, if the journal opens under `vmk` (the new one); kCorruption otherwise.
Result<MasterKey> OpenJournal(ByteSpan raw, const VaultId& vault, const MasterKey& vmk) {
  const Bytes ad = JournalAd(vault);
  if (raw.size() != kJournalSize || std::memcmp(raw.data(), ad.data(), ad.size()) != 0) {
    return Corrupt(
        "the master key rotation journal is malformed (size, magic, version or "
        "vault id)");
  }
  auto old = crypto::UnwrapKey<crypto::KeyPurpose::kMaster>(JournalKey(vmk),
                                                            raw.subspan(kJournalAdSize), ad);
  if (!old.ok()) {
    return Corrupt("the master key rotation journal does not open with the vault's master key");
  }
  return std::move(old).value();
}

Result<std::optional<Bytes>> ReadJournal(int root_fd) {
  auto raw = ReadWholeFile(root_fd, std::string(kMasterJournalName), 4096);
  if (!raw.ok()) {
    if (raw.error().code() == Code::kNotFound) return std::optional<Bytes>();
    return raw.error();
  }
  return std::optional<Bytes>(std::move(raw).value());
}

// Overwrites the journal with zeros (the wrapped old key), syncs, unlinks it and syncs the
// vault directory. In-place overwriting does not reach SSD remapping, copy-on-write file
// systems or backups (docs/SECURITY.md).
Status RemoveJournal(int root_fd) {
  const std::string name(kMasterJournalName);
  UniqueFd fd(::openat(root_fd, name.c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return {};
    return IoError("open " + name);
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return IoError("stat " + name);
  const size_t size = std::min<size_t>(static_cast<size_t>(std::max<off_t>(st.st_size, 0)), 4096);
  const Bytes zeros(size, 0);
  MFS_TRY(PwriteFull(fd.get(), zeros.data(), zeros.size(), 0));
  if (::fdatasync(fd.get()) != 0) return IoError("fdatasync " + name);
  fd.reset();
  if (::unlinkat(root_fd, name.c_str(), 0) != 0 && errno != ENOENT) {
    return IoError("remove " + name);
  }
  return FsyncDir(root_fd);
}

std::string SlotDescription(size_t index, const Keyslot& s) {
  return std::to_string(index) + " (" + SlotKindName(s.kind) + ", created " +
         FormatUnixTime(s.created) + ")";
}

// The slot `cred` opens (one that yields `vmk`), if any.
Result<std::optional<size_t>> FindSlot(const VaultConfig& c, const Credential& cred,
                                       const MasterKey& vmk) {
  for (size_t i = 0; i < c.slots.size(); ++i) {
    const Keyslot& s = c.slots[i];
    if (s.kind != cred.kind) continue;
    MFS_ASSIGN(auto slot_key, DeriveSlotKey(s, cred));
    auto got = crypto::UnwrapKey<crypto::KeyPurpose::kMaster>(slot_key, s.wrapped_vmk, c.SlotAd(s));
    if (got.ok() && crypto::ConstantTimeEqual(got->bytes(), vmk.bytes())) {
      return std::optional<size_t>(i);
    }
  }
  return std::optional<size_t>();
}

// Renames a directory entry without replacing anything (see MakeEncryptedDirImpl for the
// fallback on file systems without RENAME_NOREPLACE: a matter directory is never empty).
Status RenameNoReplace(int dirfd, const std::string& from, const std::string& to) {
  int rc = ::renameat2(dirfd, from.c_str(), dirfd, to.c_str(), RENAME_NOREPLACE);
  if (rc != 0 && errno == EINVAL) {
    rc = ::renameat(dirfd, from.c_str(), dirfd, to.c_str());
    if (rc != 0 && (errno == ENOTEMPTY || errno == ENOTDIR || errno == EISDIR)) errno = EEXIST;
  }
  if (rc != 0) return IoError("rename matter directory " + from);
  return {};
}

}  // namespace

std::string MasterRotationSummary(const MasterRotationResult& r) {
  char secs[32];
  std::snprintf(secs, sizeof secs, "%.1f", r.seconds);
  if (r.kind == MasterRotationResult::Kind::kJournalRemoved) {
    return std::string(
               "the interrupted master key rotation had finished; its journal was "
               "removed; ") +
           secs + " s";
  }
  std::string s = "vault master key replaced";
  if (r.kind == MasterRotationResult::Kind::kResumed) s += " (an interrupted rotation, completed)";
  s += ": " + std::to_string(r.matters) + " matters rewrapped, " + std::to_string(r.slots_kept) +
       " keyslots kept";
  if (r.kind == MasterRotationResult::Kind::kRotated) {
    s += ", " + std::to_string(r.slots_dropped) + " dropped";
  }
  return s + "; " + secs + " s";
}

// The rotation itself; a friend of Vault (it replaces the vault's keys and config).
class MasterRotation {
 public:
  MasterRotation(Vault& vault, const AdminContext& ctx, const MasterRotationOptions& options)
      : v_(vault), ctx_(ctx), options_(options) {}

  Result<MasterRotationResult> Run(const Credential& cred);

 private:
  void Event(audit::AuditResult r, audit::AuditSeverity sev, const std::string& message) {
    audit::AuditEvent ev = AdminEvent(ctx_, audit::audit_events::kMasterRotate, "");
    ev.result = r;
    ev.severity = sev;
    ev.message = message + (ctx_.online ? " (online)" : " (offline, matterctl)");
    if (ctx_.events) ctx_.events(std::move(ev));
  }
  Error Failed(const Error& e) {
    Event(audit::AuditResult::kError, audit::AuditSeverity::kWarning,
          "master key rotation stopped: " + e.message() +
              " (run matterctl rotate-master again to finish it)");
    return e;
  }
  Status Checkpoint(const std::string& point) {
    return options_.checkpoint ? options_.checkpoint(point) : Status();
  }

  // Steps 1 to 3; on success the vault holds the new keys and config. Returns the old
  // VMK's subkeys.
  Result<KeySet> Start(const std::map<size_t, const Credential*>& keep);
  // Step 4: every matter; returns how many.
  Result<size_t> MoveMatters(const KeySet& old);
  Status MoveMatter(size_t k, const std::string& entry, const std::string& name, bool entry_is_new,
                    const KeySet& old);
  Status RewrapKeyring(size_t k, const MatterId& id, const KeySet& old);
  // Step 5.
  Status Finish();

  Vault& v_;
  const AdminContext& ctx_;
  const MasterRotationOptions& options_;
};

Result<MasterRotationResult> MasterRotation::Run(const Credential& cred) {
  MasterRotationResult result;
  // The lock first, then the config as it is now, then the unlock (whose slot is remade).
  MFS_ASSIGN(UniqueFd lock, v_.LockOffline());
  MFS_TRY(v_.ReloadConfig());
  MFS_TRY(v_.Unlock(cred));
  // The time reported is the rotation's own, without the lock wait and the unlock.
  const auto started = std::chrono::steady_clock::now();
  auto seconds = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  };
  const int root = v_.root_fd();
  MFS_ASSIGN(std::optional<Bytes> journal, ReadJournal(root));

  if (v_.config_.features & kFeatureMasterRotation) {
    // Interrupted after its config (step 3): the journal holds the old VMK.
    if (!journal) {
      return Corrupt("vault " + v_.path() +
                     ": its config says a master key rotation is unfinished, but the journal " +
                     std::string(kMasterJournalName) +
                     " is missing: the old master key is lost, and matters not yet moved to the "
                     "new one cannot be opened");
    }
    auto old_vmk = OpenJournal(*journal, v_.config_.vault_id, v_.keys_->vmk);
    if (!old_vmk.ok()) return old_vmk.error();
    result.kind = MasterRotationResult::Kind::kResumed;
    Event(audit::AuditResult::kOk, audit::AuditSeverity::kNotice,
          "resuming an interrupted master key rotation");
    const KeySet old = DeriveKeySet(*old_vmk);
    auto moved = MoveMatters(old);
    if (!moved.ok()) return Failed(moved.error());
    result.matters = *moved;
    if (Status st = Finish(); !st.ok()) return Failed(st.error());
  } else {
    if (journal) {
      if (OpenJournal(*journal, v_.config_.vault_id, v_.keys_->vmk).ok()) {
        // Interrupted in step 5, after the final config: only the journal was left.
        MFS_TRY(RemoveJournal(root));
        result.kind = MasterRotationResult::Kind::kJournalRemoved;
        result.seconds = seconds();
        Event(audit::AuditResult::kOk, audit::AuditSeverity::kNotice,
              "master key rotation finished: the journal of a completed rotation was removed");
        return result;
      }
      // Interrupted between steps 2 and 3: the new VMK it names was never used.
      MFS_TRY(RemoveJournal(root));
      result.discarded_journal = true;
    }
    // A wipe finds its journal by the matter's stored name, which a new master key would
    // change: an unfinished wipe is finished first.
    MFS_ASSIGN(std::vector<UnfinishedWipe> wipes, ListUnfinishedWipes(v_));
    if (!wipes.empty()) {
      const UnfinishedWipe& w = wipes.front();
      return Error(Code::kUnfinished,
                   "vault " + v_.path() + ": the wipe of " +
                       (w.matter.empty() ? "a matter" : "matter " + w.matter) + " is unfinished (" +
                       w.journal + "): run the same matterctl wipe again " +
                       "to finish it before the master key rotation",
                   EAGAIN);
    }
    // Every matter must open with the current keys before anything changes.
    MFS_ASSIGN(std::vector<MatterInfo> matters, v_.ListMatters());
    std::map<size_t, const Credential*> keep{{v_.unlocked_slot(), &cred}};
    // Escrow slots are remade from their public key: kept without a secret (nullptr).
    for (size_t i = 0; i < v_.config_.slots.size(); ++i) {
      if (v_.config_.slots[i].kind == SlotKind::kEscrow) keep.emplace(i, nullptr);
    }
    // A two-factor slot is kept by a passphrase and a key file given together: every
    // pair of the two is tried (a handful at most).
    std::vector<Credential> pairs;
    for (const Credential& p : options_.keep) {
      if (p.kind != SlotKind::kPassphrase) continue;
      for (const Credential& k : options_.keep) {
        if (k.kind != SlotKind::kKeyFile) continue;
        pairs.push_back(Credential{SlotKind::kPassphraseKeyFile, crypto::CopySecure(p.secret),
                                   crypto::CopySecure(k.secret), nullptr});
      }
    }
    std::vector<bool> used(options_.keep.size(), false);
    for (size_t i = 0; i < options_.keep.size(); ++i) {
      MFS_ASSIGN(std::optional<size_t> slot, FindSlot(v_.config_, options_.keep[i], v_.keys_->vmk));
      if (slot) {
        keep.emplace(*slot, &options_.keep[i]);
        used[i] = true;
      }
    }
    for (const Credential& pair : pairs) {
      MFS_ASSIGN(std::optional<size_t> slot, FindSlot(v_.config_, pair, v_.keys_->vmk));
      if (!slot) continue;
      keep.emplace(*slot, &pair);
      for (size_t i = 0; i < options_.keep.size(); ++i) {
        const Credential& k = options_.keep[i];
        if (crypto::ConstantTimeEqual(k.secret.span(), k.kind == SlotKind::kPassphrase
                                                           ? pair.secret.span()
                                                           : pair.second.span())) {
          used[i] = true;
        }
      }
    }
    for (size_t i = 0; i < options_.keep.size(); ++i) {
      if (used[i]) continue;
      return Error(
          Code::kWrongKey,
          std::string("a ") +
              (options_.keep[i].kind == SlotKind::kPassphrase ? "passphrase" : "key file") +
              " to keep opens no keyslot of this vault, alone or with a given " +
              (options_.keep[i].kind == SlotKind::kPassphrase ? "key file" : "passphrase"));
    }
    std::string others;
    size_t dropped = 0;
    for (size_t i = 0; i < v_.config_.slots.size(); ++i) {
      if (keep.count(i)) continue;
      others += (others.empty() ? "" : ", ") + SlotDescription(i, v_.config_.slots[i]);
      ++dropped;
    }
    if (dropped > 0 && !options_.drop_other_slots) {
      return Error(Code::kInvalidArgument,
                   "keyslot" + std::string(dropped > 1 ? "s " : " ") + others +
                       " would stop working (a slot can only be rewrapped with its passphrase "
                       "or key file, or both): give " +
                       (dropped > 1 ? "them" : "it") +
                       " with --keep-passphrase-file F or --keep-key-file F, or remove " +
                       (dropped > 1 ? "them" : "it") + " with --drop-other-slots");
    }
    result.slots_kept = keep.size();
    result.slots_dropped = dropped;
    Event(audit::AuditResult::kOk, audit::AuditSeverity::kNotice,
          "master key rotation started: " + std::to_string(matters.size()) + " matters, " +
              std::to_string(keep.size()) + " keyslots kept, " + std::to_string(dropped) +
              " dropped" + (dropped > 0 ? " (" + others + ")" : ""));
    auto old = Start(keep);
    if (!old.ok()) return Failed(old.error());
    auto moved = MoveMatters(*old);
    if (!moved.ok()) return Failed(moved.error());
    result.matters = *moved;
    if (Status st = Finish(); !st.ok()) return Failed(st.error());
  }
  if (result.kind == MasterRotationResult::Kind::kResumed)
    result.slots_kept = v_.config_.slots.size();
  result.seconds = seconds();
  Event(audit::AuditResult::kOk, audit::AuditSeverity::kNotice,
        "master key rotation finished: " + std::to_string(result.matters) + " matters rewrapped, " +
            std::to_string(v_.config_.slots.size()) + " keyslots");
  return result;
}

Result<KeySet> MasterRotation::Start(const std::map<size_t, const Credential*>& keep) {
  const int root = v_.root_fd();
  const VaultConfig& current = v_.config_;
  // (1)
  MasterKey vmk = MasterKey::Random();
  // (2) Before anything uses the new key, the old one is recoverable with it.
  MFS_TRY(WriteFileExclusive(root, std::string(kMasterJournalName),
                             SerializeJournal(current.vault_id, vmk, v_.keys_->vmk), 0600));
  MFS_TRY(Checkpoint("journal"));
  // (3) Kept slots in their order, each remade (fresh salt) by its own secret; the same
  // signing key pair, rewrapped.
  VaultConfig next = current;
  next.features |= kFeatureMasterRotation;
  next.slots.clear();
  size_t unlocked_slot = 0;
  for (const auto& [index, cred] : keep) {
    const Keyslot& was = current.slots[index];
    // An escrow slot gets a new sealed key for the same firm key; a FIDO2 slot keeps its
    // token credential (a new hmac salt: one more touch).
    auto made = cred == nullptr ? next.MakeEscrowSlot(vmk, *was.escrow_public_key(), was.created)
                                : next.MakeSlot(vmk, *cred, was.argon, was.created, &was);
    MFS_ASSIGN(Keyslot slot, std::move(made));
    if (index == v_.unlocked_slot()) unlocked_slot = next.slots.size();
    next.slots.push_back(std::move(slot));
  }
  auto sign_wrap = crypto::DeriveSubkey<crypto::KeyPurpose::kVaultSub>(vmk, kSubkeySigningWrap,
                                                                       kVaultKdfContext);
  next.wrapped_sign_secret =
      crypto::Wrap(sign_wrap, v_.signing_key().secret_key(), next.SigningAd());
  Bytes raw = next.Serialize(vmk);
  KeySet old = DeriveKeySet(v_.keys_->vmk);
  MFS_TRY(WriteFileAtomic(root, std::string(kConfigName), raw, 0600));
  v_.config_ = std::move(next);
  v_.raw_config_ = std::move(raw);
  MFS_TRY(v_.InstallKeys(std::move(vmk)));
  v_.unlocked_slot_ = unlocked_slot;
  MFS_TRY(Checkpoint("config"));
  return old;
}

Result<size_t> MasterRotation::MoveMatters(const KeySet& old) {
  // The key table first: every version 3 keyring opens through it, under either key.
  if (KeyTable* table = v_.key_table()) {
    MFS_TRY(table->RewrapAll(old.key_table, v_.keys_->key_table));
  }
  MFS_TRY(Checkpoint("keytable"));
  const EncryptedDir old_dir(v_.data_fd(), *old.names, v_.root_iv());
  const EncryptedDir new_dir = v_.root_dir();
  struct Found {
    std::string name;
    std::string entry;
    bool is_new = false;
  };
  std::vector<Found> found;
  std::optional<Error> problem;
  MFS_TRY(old_dir.List([&](DirEntry& e) {
    if (auto name = new_dir.Decode(e.entry); name.ok()) {
      found.push_back({std::move(name).value(), e.entry, true});
    } else if (e.name.ok()) {
      found.push_back({std::move(e.name).value(), e.entry, false});
    } else if (!problem) {
      problem = Corrupt("matter directory " + e.entry +
                        " has a name that opens under neither the old nor the new master key");
    }
  }));
  if (problem) return *problem;
  std::sort(found.begin(), found.end(),
            [](const Found& a, const Found& b) { return a.name < b.name; });
  for (size_t k = 0; k < found.size(); ++k) {
    MFS_TRY(MoveMatter(k + 1, found[k].entry, found[k].name, found[k].is_new, old));
  }
  return found.size();
}

Status MasterRotation::MoveMatter(size_t k, const std::string& entry, const std::string& name,
                                  bool entry_is_new, const KeySet& old) {
  const std::string point = "matter:" + std::to_string(k);
  const std::string what = "matter '" + name + "'";
  UniqueFd mfd(
      ::openat(v_.data_fd(), entry.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!mfd.valid()) return IoError("open the directory of " + what);
  auto raw = ReadWholeFile(mfd.get(), std::string(kMatterIdName), 4096);
  if (!raw.ok()) {
    if (raw.error().code() == Code::kNotFound) return Corrupt(what + " has no .matter file");
    return raw.error();
  }
  if (raw->size() != kBindingSize) return Corrupt(what + ": .matter has the wrong size");
  MatterId id;
  std::memcpy(id.data(), raw->data(), kIdSize);
  const ByteSpan stored_mac = ByteSpan(*raw).subspan(kIdSize);
  const VaultId& vault_id = v_.config_.vault_id;
  const Bytes new_mac = MatterBindingMac(v_.keys_->binding, vault_id, id, name);
  const bool bound_new = crypto::ConstantTimeEqual(new_mac, stored_mac);
  if (!bound_new &&
      !crypto::ConstantTimeEqual(MatterBindingMac(old.binding, vault_id, id, name), stored_mac)) {
    return Corrupt(what + ": .matter authenticates under neither the old nor the new master key");
  }

  // The keyring first: it is what an old config must no longer open.
  MFS_TRY(RewrapKeyring(k, id, old));
  MFS_TRY(Checkpoint(point + ":keyring"));
  if (!bound_new) {
    Bytes binding(id.begin(), id.end());
    binding.insert(binding.end(), new_mac.begin(), new_mac.end());
    MFS_TRY(WriteFileAtomic(mfd.get(), std::string(kMatterIdName), binding, 0444));
  }
  MFS_TRY(Checkpoint(point + ":binding"));
  if (!entry_is_new) {
    const EncryptedDir root = v_.root_dir();
    MFS_ASSIGN(StoredName fresh, root.Encode(name));
    // A long name's full form first, so that the entry never exists without it.
    MFS_TRY(root.WriteLongName(fresh));
    MFS_TRY(RenameNoReplace(v_.data_fd(), entry, fresh.entry));
    MFS_TRY(FsyncDir(v_.data_fd()));
    if (NameCodec::Classify(entry) == EntryKind::kLong) {
      // The old full name; a crash before this leaves an orphan, ignored like any other.
      ::unlinkat(v_.data_fd(), NameCodec::LongNameFile(entry).c_str(), 0);
    }
  }
  return Checkpoint(point);
}

Status MasterRotation::RewrapKeyring(size_t k, const MatterId& id, const KeySet& old) {
  const VaultId& vault_id = v_.config_.vault_id;
  const KeyringKeys fresh = v_.keyring_keys();
  const KeyringKeys old_keys = old.keyring(fresh.table, *fresh.table_wrap);
  MFS_ASSIGN(UniqueFd fd, LockKeyringFile(v_.keystore_fd(), id));
  Bytes file(kKeyringFileSize);
  MFS_ASSIGN(size_t n, PreadFull(fd.get(), file.data(), file.size(), 0));
  if (n != kKeyringFileSize) return Corrupt("matter keyring " + KeyringFileName(id) + " is short");
  bool is_new[2];
  bool is_old[2];
  for (size_t c = 0; c < 2; ++c) {
    const ByteSpan copy(file.data() + c * kKeyringCopySize, kKeyringCopySize);
    is_new[c] = Keyring::ParseCopy(copy, fresh, vault_id, id).ok();
    is_old[c] = Keyring::ParseCopy(copy, old_keys, vault_id, id).ok();
  }
  // The copies not yet under the new keys; one that is valid under neither key first, so
  // that a torn write never hits the only readable copy.
  std::vector<size_t> order;
  for (size_t c = 0; c < 2; ++c) {
    if (!is_new[c] && !is_old[c]) order.push_back(c);
  }
  for (size_t c = 0; c < 2; ++c) {
    if (!is_new[c] && is_old[c]) order.push_back(c);
  }
  if (order.empty()) return {};
  auto ring = ReadKeyringFd(fd.get(), vault_id, id, fresh);
  if (!ring.ok()) ring = ReadKeyringFd(fd.get(), vault_id, id, old_keys);
  if (!ring.ok() && ring.error().code() == Code::kNotFound) {
    return {};  // its key table entry is destroyed: a wipe that has not finished yet
  }
  if (!ring.ok()) {
    return Corrupt(
        "matter keyring " + KeyringFileName(id) +
        " opens under neither the old nor the new master key: " + ring.error().message());
  }
  ring->sequence += 1;
  if (ring->table_index == 0) {
    // A keyring from before the key table moves to it in the same write.
    MFS_ASSIGN(KeyTable * table, v_.MakeKeyTable());
    MFS_ASSIGN(KeyTable::Added added, table->Add(id, v_.keys_->key_table));
    ring->table_index = added.index + 1;
    ring->root_key = std::make_unique<MatterRootKey>(std::move(added.key));
  }
  // No copy under the old master key opens any more without the old config.
  ring->legacy_wrapped = false;
  const Bytes copy = ring->SerializeCopy(v_.keyring_keys());
  for (size_t i = 0; i < order.size(); ++i) {
    MFS_TRY(PwriteFull(fd.get(), copy.data(), copy.size(),
                       static_cast<off_t>(order[i] * kKeyringCopySize)));
    if (::fdatasync(fd.get()) != 0) return IoError("fdatasync keyring");
    if (i == 0 && order.size() == 2) {
      MFS_TRY(Checkpoint("matter:" + std::to_string(k) + ":copy"));
    }
  }
  // The key table records the new sequence after the keyring holds it (§9.6).
  return RecordInKeyTable(*ring, v_.keyring_keys());
}

Status MasterRotation::Finish() {
  VaultConfig done = v_.config_;
  done.features &= ~kFeatureMasterRotation;
  Bytes raw = done.Serialize(v_.keys_->vmk);
  MFS_TRY(WriteFileAtomic(v_.root_fd(), std::string(kConfigName), raw, 0600));
  v_.config_ = std::move(done);
  v_.raw_config_ = std::move(raw);
  MFS_TRY(Checkpoint("final-config"));
  MFS_TRY(RemoveJournal(v_.root_fd()));
  return Checkpoint("done");
}

Result<MasterRotationResult> RotateMasterKey(Vault& vault, const Credential& cred,
                                             const AdminContext& ctx,
                                             const MasterRotationOptions& options) {
  return MasterRotation(vault, ctx, options).Run(cred);
}

}  // namespace matterfs::vault
