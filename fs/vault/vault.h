// Vault: one opened vault directory, its config, and (after Unlock) its keys.
//
// Owns fds on the vault root, its data directory and its keystore, the parsed config,
// and after Unlock the vault master key's subkeys (secure memory), the vault's signing
// key and the name codec for matter names. Used by matterctl and by the daemon.
// Thread-safety: after Open+Unlock, const methods are safe from any thread; mutating
// methods (matters, keyslots) serialise across processes with an fcntl lock on
// `matterfs.lock`, and must not race with each other inside one process.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "crypto/signing.h"
#include "fs/vault/credentials.h"
#include "fs/vault/encrypted_dir.h"
#include "fs/vault/encrypted_file.h"
#include "fs/vault/file_codec.h"
#include "fs/vault/keyring.h"
#include "fs/vault/keytable.h"
#include "fs/vault/names.h"
#include "fs/vault/vault_config.h"
#include "util/unique_fd.h"

namespace matterfs::vault {

struct InitOptions {
  crypto::Cipher cipher = crypto::DefaultCipher();
  crypto::Argon2Params argon = crypto::DefaultArgon2Params();
  // A keystore outside the vault (so ciphertext backups never carry keys).
  std::optional<std::string> keystore;
  // The file format: 3 (authenticated sizes and name binding, docs/FORMAT.md §13.1b) or
  // 2 (the format of vaults made before it; for compatibility tests and older readers).
  uint8_t file_format = 3;
  // The firm's escrow public key: the vault gets an escrow keyslot at init (needs config
  // version 3, so file format 3).
  std::optional<crypto::EscrowPublicKey> escrow;
};

struct OpenOptions {
  // Opens a vault whose master key rotation is unfinished (config feature bit 1), which
  // Open otherwise refuses with kUnfinished. Only for rotate-master (master_rotation.h).
  bool unfinished_master_rotation = false;
  // The config to use instead of the vault's `matterfs.vault` (config restore: a backup
  // that must unlock and open the vault's matters before it replaces the file).
  std::optional<Bytes> config;
};

struct MatterInfo {
  std::string name;
  MatterId id{};
  MatterStatus status = MatterStatus::kOpen;
  std::string entry;         // the matter directory's entry in the data directory
  uint32_t key_version = 0;  // the current matter key version (1 + completed rotations)
  size_t key_versions = 0;   // versions in the keyring: more than 1 = a rotation unfinished
  uint64_t rotated = 0;      // unix seconds the last rotation finished (0: never)
};

class Vault {
 public:
  // Creates a new vault in `path` (which must be missing or an empty directory).
  static Status Create(const std::string& path, const InitOptions& opts, const Credential& cred);
  // Opens a vault and parses its config. `keystore` overrides the default location and
  // is required when the vault was created with an external keystore. kUnfinished ("a
  // master key rotation was interrupted; run matterctl rotate-master ...") while a master
  // key rotation is unfinished, unless `opts` allows it.
  static Result<std::unique_ptr<Vault>> Open(const std::string& path,
                                             const std::optional<std::string>& keystore,
                                             const OpenOptions& opts = {});

  // kWrongKey for a credential that opens no slot; kCorruption for an edited config.
  Status Unlock(const Credential& cred);
  bool unlocked() const { return keys_ != nullptr; }
  // After Unlock: the index of the keyslot the credential opened.
  size_t unlocked_slot() const { return unlocked_slot_; }
  // Re-reads the config (under LockVault or LockOffline: another process may have changed
  // it since Open). Once unlocked, the new config must authenticate with this vault's
  // master key (kBusy if it does not: a master key rotation ran meanwhile).
  Status ReloadConfig();

  const std::string& path() const { return path_; }
  const VaultConfig& config() const { return config_; }
  const VaultId& id() const { return config_.vault_id; }
  crypto::Cipher cipher() const { return config_.cipher; }
  // What the vault's files look like: its cipher and its format (fixed at init).
  FileFormat file_format() const {
    // Config version 3 changed the config alone: its files are format 2 or 3.
    return {config_.cipher, (config_.features & kFeatureFileFormat3)
                                ? uint8_t{3}
                                : static_cast<uint8_t>(std::min<uint16_t>(config_.version, 2))};
  }
  int root_fd() const { return root_.get(); }
  int data_fd() const { return data_.get(); }
  int keystore_fd() const { return keystore_.get(); }
  // After Unlock:
  KeyringKeys keyring_keys() const;
  // The vault's matter key table (docs/FORMAT.md §9.6), or null for a vault made before
  // it that has no table yet (CreateMatter and MoveToKeyTable make one). Opened at
  // Unlock, or on first use when another process made it since.
  KeyTable* key_table() const;
  const VaultSubkey& key_table_wrap() const { return keys_->key_table; }
  // Moves a matter whose keyring predates the key table (version 1 or 2) to it: a new
  // table entry, and the keyring rewritten as version 3 under its root key, marked
  // legacy_wrapped (copies of the old keyring still open with this master key). No-op for
  // a matter already there. Takes the change lock unless the caller holds it (LockOffline).
  Status MoveToKeyTable(const MatterId& id, bool change_lock_held);
  const NameCodec& matter_names() const { return *keys_->root_names; }
  const crypto::SigningKey& signing_key() const { return *keys_->signing; }
  const DirIv& root_iv() const { return root_iv_; }
  // The data directory (the mount's root) as an encrypted directory of matter names.
  EncryptedDir root_dir() const { return EncryptedDir(data_.get(), *keys_->root_names, root_iv_); }
  // Keys the keyed hash of paths in audit events (audit_path = hash).
  ByteSpan audit_path_key() const { return keys_->audit_path.bytes(); }

  Result<std::vector<MatterInfo>> ListMatters() const;
  // kExists if a matter of that name exists; kInvalidArgument for a name that breaks
  // util/matter_name.h (the rule the policy needs to name it).
  // A matter folder is rwx for everyone: on a mount, who may enter, read or write a matter
  // is the policy's decision (file modes inside still apply as usual).
  Result<MatterInfo> CreateMatter(std::string_view name, mode_t mode = 0777);
  // kNotFound for an unknown matter; kCorruption if its id file does not authenticate.
  Result<MatterInfo> FindMatter(std::string_view name) const;
  // Reads and authenticates `.matter` in an open matter directory.
  Result<MatterId> ReadMatterBinding(int matter_dirfd, std::string_view name) const;
  Result<Keyring> LoadKeyring(const MatterId& id) const;
  // Changes a matter's status in its keyring (close, reopen, hold, release), so offline
  // tools and every mount see it. kInvalidArgument for a transition that makes no sense
  // (closing a matter under hold, releasing one that is not held). Returns the old status.
  Result<MatterStatus> SetMatterStatus(std::string_view name, MatterStatus status);
  // Decodes one entry of the data directory to a matter name (kMeta entries: kNotFound).
  Result<std::string> DecodeMatterEntry(std::string_view entry) const;

  // Keyslots (config rewritten atomically under the vault lock). Each returns the new
  // slot's index. kInvalidArgument for a kind the config's version cannot hold (kinds 3
  // to 5 need version 3: UpgradeConfig) or when the vault has 8 slots.
  Result<size_t> AddKeyslot(const Credential& cred, const crypto::Argon2Params& argon);
  Result<size_t> AddEscrowSlot(const crypto::EscrowPublicKey& firm_key);
  // kInvalidArgument when it is the last slot.
  Status RemoveKeyslot(size_t index);
  // Config version 2 -> 3 (docs/FORMAT.md §8.8), under the offline lock: the same slots,
  // two copies. False when it already was version 3; kUnsupported for version 1.
  Result<bool> UpgradeConfig();
  // Rewrites the config from the one unlocked (both copies of version 3 identical again:
  // fsck --repair), under the lock the caller holds.
  Status RewriteConfig() const;
  // For a vault opened with OpenOptions::config (a backup) and unlocked with it: checks
  // that the backup belongs to this vault (its id, when the current config parses, and
  // every matter opening under its master key) and makes it the vault's config, under
  // the offline lock. kInvalidArgument when it belongs to another vault or to another
  // master key (a backup from before rotate-master).
  Status RestoreConfig();

  // Locks on `matterfs.lock` (docs/FORMAT.md "Several servers"), each released with the
  // returned fd. LockVault: the change lock (config rewrites, matter creation), waited
  // for. LockMounted: held by a daemon while it serves the vault; exclusive unless
  // `shared` (several daemons, e.g. file servers on NFS); kBusy at once if taken.
  // LockOffline: for matterctl working on the vault itself; kBusy when any daemon has it
  // mounted, then waits for the change lock.
  // Once the vault is unlocked, both also check that the config on disk still opens with
  // its master key (kBusy if a master key rotation ran meanwhile, kUnfinished if one is
  // running or was interrupted).
  // Both LockMounted (exclusive) and LockOffline also wait, with a note on stderr, for a
  // daemon that has unmounted but is still finishing (draining its audit queue) to exit:
  // a mount or an offline command right after an unmount works.
  Result<UniqueFd> LockVault() const;
  Result<UniqueFd> LockMounted(bool shared) const;
  Result<UniqueFd> LockOffline() const;
  // LockReadOnly: for a reader that must not run beside a daemon that mounted the vault
  // alone (fsck without repair): the mount byte read-locked like a `-o shared` daemon, so
  // it runs beside shared mounts and keeps an exclusive mount and offline changes out
  // meanwhile. kBusy at once (after the unmount grace) while a daemon has it alone.
  Result<UniqueFd> LockReadOnly() const;
  // The daemon has unmounted: lets new mounts and offline commands in (they still wait
  // until this process, which keeps the rest of the lock, has exited).
  static void LeaveMounted(int mount_lock_fd);
  // How long LockMounted and LockOffline keep trying when the mount lock is held but no
  // mount of the vault is visible here (a daemon just unmounted): 10 s by default.
  static void SetUnmountGraceForTesting(std::chrono::milliseconds grace);

 private:
  friend class MasterRotation;  // master_rotation.cc: replaces the master key
  struct Keys {
    MasterKey vmk;
    VaultSubkey keyring_wrap;
    VaultSubkey keyring_mac;
    VaultSubkey binding;
    VaultSubkey audit_path;
    VaultSubkey key_table;
    std::unique_ptr<NameCodec> root_names;
    std::unique_ptr<crypto::SigningKey> signing;
  };
  Vault() = default;
  // Derives every key from `vmk` and config_ (the signing key checked against its public
  // half) and makes them this vault's keys.
  Status InstallKeys(MasterKey vmk);
  Bytes BindingMac(const MatterId& id, std::string_view name) const;
  Result<UniqueFd> OpenLockFile() const;
  Status WaitForExitingDaemons(int fd, short keep) const;
  // Once unlocked: kBusy unless the config on disk still authenticates with our master key.
  Status CheckConfigKey() const;
  Status WriteConfig(const VaultConfig& c) const;
  // Adds the slot `make` makes from the config as re-read under the change lock.
  Result<size_t> AddSlot(const std::function<Result<Keyslot>(const VaultConfig&)>& make);
  // LockOffline, with or without the check that the config on disk opens with our key.
  Result<UniqueFd> LockOfflineImpl(bool check_config) const;
  // key_table(), creating the file when the vault has none (under the change lock).
  Result<KeyTable*> MakeKeyTable() const;

  std::string path_;
  UniqueFd root_, data_, keystore_;
  Bytes raw_config_;
  VaultConfig config_;
  DirIv root_iv_{};
  std::unique_ptr<Keys> keys_;
  mutable std::mutex table_mutex_;  // guards opening table_ on first use
  mutable std::unique_ptr<KeyTable> table_;
  size_t unlocked_slot_ = 0;
};

// The binding MAC of a matter's `.matter` file (docs/FORMAT.md §10.2) under `key` (VMK
// subkey 6).
Bytes MatterBindingMac(const VaultSubkey& key, const VaultId& vault, const MatterId& id,
                       std::string_view name);

// The message of the kUnfinished refusal of a vault at `path`.
std::string UnfinishedMasterRotationMessage(const std::string& path);

}  // namespace matterfs::vault
