#include "fs/vault/vault.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "util/file_io.h"
#include "util/log.h"
#include "util/matter_name.h"
#include "util/mountinfo.h"

namespace matterfs::vault {

namespace {
constexpr size_t kMaxConfigSize = 64 * 1024;
constexpr size_t kBindingSize = kIdSize + 32;

Result<UniqueFd> OpenDir(int at, const std::string& path, const std::string& what) {
  UniqueFd fd(::openat(at, path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) {
    int err = errno;
    if (err == ENOENT) return Error(Code::kNotFound, what + " " + path + " does not exist", err);
    if (err == ENOTDIR)
      return Error(Code::kInvalidArgument, what + " " + path + " is not a directory", err);
    return IoError(what + " " + path, err);
  }
  return fd;
}

Result<bool> IsEmptyDir(int fd) {
  UniqueFd dup(::openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dup.valid()) return IoError("open directory");
  DIR* d = ::fdopendir(dup.release());
  if (d == nullptr) return IoError("read directory");
  bool empty = true;
  while (struct dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
      empty = false;
      break;
    }
  }
  ::closedir(d);
  return empty;
}

uint64_t Now() { return static_cast<uint64_t>(::time(nullptr)); }
}  // namespace

Status Vault::Create(const std::string& path, const InitOptions& opts, const Credential& cred) {
  // Missing parents are made too (0755), like mkdir -p; the vault itself is 0700.
  for (size_t slash = path.find('/', 1); slash != std::string::npos;
       slash = path.find('/', slash + 1)) {
    const std::string parent = path.substr(0, slash);
    if (::mkdir(parent.c_str(), 0755) != 0 && errno != EEXIST) {
      return IoError("create directory " + parent);
    }
  }
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) return IoError("create vault " + path);
  MFS_ASSIGN(UniqueFd root, OpenDir(AT_FDCWD, path, "vault"));
  if (::faccessat(root.get(), std::string(kConfigName).c_str(), F_OK, 0) == 0) {
    return Error(Code::kExists, path + " is already a matterfs vault");
  }
  MFS_ASSIGN(bool empty, IsEmptyDir(root.get()));
  if (!empty) return Error(Code::kExists, path + " is not empty; a vault needs an empty directory");
  if (opts.cipher == crypto::Cipher::kAes256Gcm && !crypto::AesGcmAvailable()) {
    return Error(Code::kUnsupported, "this CPU has no AES-NI; use --cipher xchacha20-poly1305");
  }

  if (opts.file_format != 2 && opts.file_format != 3) {
    return Error(Code::kInvalidArgument, "file format must be 2 or 3");
  }
  VaultConfig c;
  // A vault of file format 2 is for older readers: they know config version 2 only.
  c.version = opts.file_format == 2 ? 2 : kFormatVersion;
  if (opts.escrow && !c.CanHold(SlotKind::kEscrow)) {
    return Error(Code::kInvalidArgument, "an escrow keyslot needs file format 3");
  }
  c.cipher = opts.cipher;
  c.features = (opts.keystore ? kFeatureExternalKeystore : 0) |
               (opts.file_format == 3 ? kFeatureFileFormat3 : 0);
  crypto::RandomBytes(c.vault_id);
  MasterKey vmk = MasterKey::Random();
  crypto::SigningKey sign = crypto::SigningKey::Generate();
  std::memcpy(c.sign_public.data(), sign.public_key().data(), crypto::kSignPublicKeySize);
  auto sign_wrap = crypto::DeriveSubkey<crypto::KeyPurpose::kVaultSub>(vmk, kSubkeySigningWrap,
                                                                       kVaultKdfContext);
  c.wrapped_sign_secret = crypto::Wrap(sign_wrap, sign.secret_key(), c.SigningAd());
  MFS_ASSIGN(Keyslot slot, c.MakeSlot(vmk, cred, opts.argon, Now()));
  c.slots.push_back(std::move(slot));
  if (opts.escrow) {
    MFS_ASSIGN(Keyslot escrow, c.MakeEscrowSlot(vmk, *opts.escrow, Now()));
    c.slots.push_back(std::move(escrow));
  }

  // Data directory (with the IV for matter names) and keystore first, config last: a
  // crash before the config is written leaves no vault rather than half of one.
  // The data directory is the root of the mount (0755: users list it; the policy hides
  // the matters they may not see). The vault directory itself stays 0700.
  MFS_TRY(MakeEncryptedDirImpl(root.get(), std::string(kDataDirName), 0755, {}));
  UniqueFd ks;
  if (opts.keystore) {
    if (::mkdir(opts.keystore->c_str(), 0700) != 0 && errno != EEXIST) {
      return IoError("create keystore " + *opts.keystore);
    }
    MFS_ASSIGN(ks, OpenDir(AT_FDCWD, *opts.keystore, "keystore"));
  } else if (::mkdirat(root.get(), std::string(kDefaultKeystoreName).c_str(), 0700) != 0) {
    return IoError("create keystore");
  } else {
    MFS_ASSIGN(ks, OpenDir(root.get(), std::string(kDefaultKeystoreName), "keystore"));
  }
  // The matter key table (docs/FORMAT.md §9.6): every matter gets its root key there.
  MFS_TRY(KeyTable::Open(ks.get(), c.vault_id, /*create=*/true));
  return WriteFileExclusive(root.get(), std::string(kConfigName), c.Serialize(vmk), 0600);
}

std::string UnfinishedMasterRotationMessage(const std::string& path) {
  return "vault " + path + ": a master key rotation was interrupted; run matterctl rotate-master " +
         path + " to finish it";
}

Result<std::unique_ptr<Vault>> Vault::Open(const std::string& path,
                                           const std::optional<std::string>& keystore,
                                           const OpenOptions& opts) {
  std::unique_ptr<Vault> v(new Vault());
  char real[PATH_MAX];
  v->path_ = ::realpath(path.c_str(), real) != nullptr ? std::string(real) : path;
  MFS_ASSIGN(v->root_, OpenDir(AT_FDCWD, path, "vault"));
  auto raw = opts.config ? Result<Bytes>(*opts.config)
                         : ReadWholeFile(v->root_.get(), std::string(kConfigName), kMaxConfigSize);
  if (!raw.ok()) {
    if (raw.error().code() == Code::kNotFound) {
      return Error(Code::kNotFound,
                   path + " is not a matterfs vault (no " + std::string(kConfigName) + ")");
    }
    return raw.error();
  }
  v->raw_config_ = std::move(raw).value();
  MFS_ASSIGN(v->config_, VaultConfig::Parse(v->raw_config_));
  if ((v->config_.features & kFeatureMasterRotation) && !opts.unfinished_master_rotation) {
    return Error(Code::kUnfinished, UnfinishedMasterRotationMessage(path), EAGAIN);
  }
  if ((v->config_.features & kFeatureExternalKeystore) && !keystore) {
    return Error(Code::kInvalidArgument,
                 "this vault keeps its keys in an external keystore; give --keystore DIR");
  }
  MFS_ASSIGN(v->data_, OpenDir(v->root_.get(), std::string(kDataDirName), "vault data directory"));
  if (keystore) {
    MFS_ASSIGN(v->keystore_, OpenDir(AT_FDCWD, *keystore, "keystore"));
  } else {
    MFS_ASSIGN(v->keystore_,
               OpenDir(v->root_.get(), std::string(kDefaultKeystoreName), "keystore"));
  }
  MFS_ASSIGN(v->root_iv_, ReadDirIv(v->data_.get()));
  return v;
}

Status Vault::Unlock(const Credential& cred) {
  MFS_ASSIGN(UnlockedConfig unlocked, UnlockConfig(raw_config_, cred));
  // Version 3: the copy that unlocked (copy B when A was damaged) is the config.
  VaultConfig was = std::move(config_);
  config_ = std::move(unlocked.config);
  Status installed = InstallKeys(std::move(unlocked.vmk));
  if (!installed.ok()) {
    config_ = std::move(was);
    return installed;
  }
  unlocked_slot_ = unlocked.slot;
  return {};
}

Status Vault::InstallKeys(MasterKey vmk) {
  auto sub = [&](uint64_t id) {
    return crypto::DeriveSubkey<crypto::KeyPurpose::kVaultSub>(vmk, id, kVaultKdfContext);
  };
  auto sign_wrap = sub(kSubkeySigningWrap);
  crypto::SecureBuffer secret(crypto::kSignSecretKeySize);
  MFS_TRY(crypto::Unwrap(sign_wrap, config_.wrapped_sign_secret, config_.SigningAd(),
                         secret.mutable_span()));
  MFS_ASSIGN(crypto::SigningKey sign, crypto::SigningKey::FromSecret(std::move(secret)));
  if (!crypto::ConstantTimeEqual(sign.public_key(), config_.sign_public)) {
    return Error(Code::kCorruption, "vault signing key does not match its public key");
  }
  auto root_name_key =
      crypto::DeriveSubkey<crypto::KeyPurpose::kName>(vmk, kSubkeyRootNames, kVaultKdfContext);
  // Derive before vmk is moved into Keys (braced initialisers run left to right).
  auto keyring_wrap = sub(kSubkeyKeyringWrap);
  auto keyring_mac = sub(kSubkeyKeyringMac);
  auto binding = sub(kSubkeyMatterBinding);
  auto audit_path = sub(kSubkeyAuditPath);
  auto key_table = sub(kSubkeyKeyTable);
  auto keys = std::unique_ptr<Keys>(new Keys{
      std::move(vmk), std::move(keyring_wrap), std::move(keyring_mac), std::move(binding),
      std::move(audit_path), std::move(key_table), std::make_unique<NameCodec>(root_name_key),
      std::make_unique<crypto::SigningKey>(std::move(sign))});
  keys_ = std::move(keys);
  return {};
}

namespace {
// Byte ranges of matterfs.lock (open-file-description locks, so closing another fd on the
// file never drops them, and NFS and CephFS carry them between servers).
constexpr off_t kMountByte = 0;   // held by every mounted daemon (shared or exclusive)
constexpr off_t kChangeByte = 1;  // held while the config, a matter or a keyring set changes
constexpr off_t kAliveByte = 2;   // read-held by every daemon until it exits, also while it
                                  // finishes after its unmount (drains the audit queue)

Status OfdLock(int fd, short type, off_t byte, bool wait) {
  struct flock fl = {};
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = byte;
  fl.l_len = 1;
  while (::fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl) != 0) {
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EACCES) return Error(Code::kBusy, "locked", EBUSY);
    return IoError("lock vault");
  }
  return {};
}

// Whether a matterfs mount of the vault at `path` is in this mount namespace (the daemon
// names its mounts fsname=<vault path, ',' as '_'>).
bool MountedHere(const std::string& path) {
  std::string fsname = path;
  std::replace(fsname.begin(), fsname.end(), ',', '_');
  for (const MountEntry& m : ReadMountInfo()) {
    if (m.fstype == "fuse.matterfs" && m.source == fsname) return true;
  }
  return false;
}

std::atomic<int> g_unmount_grace_ms{10000};

// The mount byte is taken, but no mount of this vault is to be seen here: a daemon that
// has just been unmounted (fusermount3 -u returns before the daemon notices). Tries again
// for up to the grace period; a daemon on another server of a shared storage, or in
// another mount namespace, keeps it busy.
Status OfdLockAfterUnmount(int fd, short type, const std::string& path) {
  Status st = OfdLock(fd, type, kMountByte, false);
  if (st.ok() || st.error().code() != Code::kBusy || MountedHere(path)) return st;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(g_unmount_grace_ms.load());
  while (!st.ok() && st.error().code() == Code::kBusy &&
         std::chrono::steady_clock::now() < deadline) {
    ::usleep(20 * 1000);
    st = OfdLock(fd, type, kMountByte, false);
  }
  return st;
}
}  // namespace

Result<UniqueFd> Vault::OpenLockFile() const {
  UniqueFd fd(
      ::openat(root_.get(), std::string(kLockName).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd.valid()) return IoError("open vault lock");
  return fd;
}

Result<UniqueFd> Vault::LockVault() const {
  MFS_ASSIGN(UniqueFd fd, OpenLockFile());
  MFS_TRY(OfdLock(fd.get(), F_WRLCK, kChangeByte, true));
  return fd;
}

// Waits until no daemon of this vault is alive (one that has unmounted may still be
// draining its audit queue and holds its signed local log), then keeps `type` on the
// alive byte.
Status Vault::WaitForExitingDaemons(int fd, short keep) const {
  Status st = OfdLock(fd, F_WRLCK, kAliveByte, false);
  if (!st.ok() && st.error().code() == Code::kBusy) {
    log::Notice("waiting for the previous matterfs of vault " + path_ + " to finish its shutdown");
    st = OfdLock(fd, F_WRLCK, kAliveByte, true);
  }
  MFS_TRY(st);
  if (keep == F_RDLCK) MFS_TRY(OfdLock(fd, F_RDLCK, kAliveByte, true));  // downgrade
  return {};
}

Result<UniqueFd> Vault::LockMounted(bool shared) const {
  MFS_ASSIGN(UniqueFd fd, OpenLockFile());
  Status st = OfdLockAfterUnmount(fd.get(), shared ? F_RDLCK : F_WRLCK, path_);
  if (!st.ok() && st.error().code() == Code::kBusy) {
    return Error(Code::kBusy,
                 "vault " + path_ + " is already mounted" +
                     (shared ? " by a daemon that did not allow sharing it"
                             : " (a second mount of one vault needs -o shared on every mount)"),
                 EBUSY);
  }
  MFS_TRY(st);
  if (shared) {
    // Other shared daemons are alive for as long as they serve: only share the byte.
    MFS_TRY(OfdLock(fd.get(), F_RDLCK, kAliveByte, true));
  } else {
    MFS_TRY(WaitForExitingDaemons(fd.get(), F_RDLCK));
  }
  // Unlocking took a while (Argon2id): the config must still be the one we unlocked.
  MFS_TRY(CheckConfigKey());
  return fd;
}

void Vault::SetUnmountGraceForTesting(std::chrono::milliseconds grace) {
  g_unmount_grace_ms = static_cast<int>(grace.count());
}

void Vault::LeaveMounted(int mount_lock_fd) {
  struct flock fl = {};
  fl.l_type = F_UNLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = kMountByte;
  fl.l_len = 1;
  (void)::fcntl(mount_lock_fd, F_OFD_SETLK, &fl);
}

Result<UniqueFd> Vault::LockOffline() const { return LockOfflineImpl(true); }

Result<UniqueFd> Vault::LockOfflineImpl(bool check_config) const {
  MFS_ASSIGN(UniqueFd fd, OpenLockFile());
  Status st = OfdLockAfterUnmount(fd.get(), F_WRLCK, path_);
  if (!st.ok() && st.error().code() == Code::kBusy) {
    return Error(Code::kBusy,
                 "vault " + path_ +
                     " is mounted by a running matterfs: run the command against the mount "
                     "point, or unmount first",
                 EBUSY);
  }
  MFS_TRY(st);
  MFS_TRY(WaitForExitingDaemons(fd.get(), F_WRLCK));
  MFS_TRY(OfdLock(fd.get(), F_WRLCK, kChangeByte, true));
  // Once unlocked, the config must still be the one we unlocked (no master key rotation
  // ran between our unlock and this lock).
  if (check_config) MFS_TRY(CheckConfigKey());
  return fd;
}

Result<UniqueFd> Vault::LockReadOnly() const {
  MFS_ASSIGN(UniqueFd fd, OpenLockFile());
  Status st = OfdLockAfterUnmount(fd.get(), F_RDLCK, path_);
  if (!st.ok() && st.error().code() == Code::kBusy) {
    return Error(Code::kBusy,
                 "vault " + path_ +
                     " is mounted by a running matterfs that has it alone (not -o shared): "
                     "unmount first",
                 EBUSY);
  }
  MFS_TRY(st);
  MFS_TRY(CheckConfigKey());
  return fd;
}

Bytes MatterBindingMac(const VaultSubkey& key, const VaultId& vault, const MatterId& id,
                       std::string_view name) {
  Bytes msg(8 + kIdSize + kIdSize);
  std::memcpy(msg.data(), "MFS1mbnd", 8);
  std::memcpy(msg.data() + 8, vault.data(), kIdSize);
  std::memcpy(msg.data() + 8 + kIdSize, id.data(), kIdSize);
  msg.insert(msg.end(), name.begin(), name.end());
  return crypto::Mac(key, msg);
}

Bytes Vault::BindingMac(const MatterId& id, std::string_view name) const {
  return MatterBindingMac(keys_->binding, config_.vault_id, id, name);
}

Result<MatterId> Vault::ReadMatterBinding(int matter_dirfd, std::string_view name) const {
  auto raw = ReadWholeFile(matter_dirfd, std::string(kMatterIdName), 4096);
  if (!raw.ok()) {
    if (raw.error().code() == Code::kNotFound) {
      return Error(Code::kCorruption, "matter '" + std::string(name) + "' has no .matter file",
                   EIO);
    }
    return raw.error();
  }
  if (raw->size() != kBindingSize) {
    return Error(Code::kCorruption,
                 "matter '" + std::string(name) + "': .matter has the wrong size", EIO);
  }
  MatterId id;
  std::memcpy(id.data(), raw->data(), kIdSize);
  Bytes mac = BindingMac(id, name);
  if (!crypto::ConstantTimeEqual(mac, ByteSpan(*raw).subspan(kIdSize))) {
    return Error(Code::kCorruption,
                 "matter '" + std::string(name) + "': .matter does not authenticate", EIO);
  }
  return id;
}

Result<std::string> Vault::DecodeMatterEntry(std::string_view entry) const {
  return root_dir().Decode(entry);
}

Result<std::vector<MatterInfo>> Vault::ListMatters() const {
  UniqueFd dup(::openat(data_.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dup.valid()) return IoError("open data directory");
  DIR* d = ::fdopendir(dup.release());
  if (d == nullptr) return IoError("read data directory");
  std::vector<std::string> entries;
  while (struct dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.' && NameCodec::Classify(e->d_name) != EntryKind::kLong) continue;
    entries.emplace_back(e->d_name);
  }
  ::closedir(d);
  std::vector<MatterInfo> out;
  for (const std::string& entry : entries) {
    MFS_ASSIGN(std::string name, DecodeMatterEntry(entry));
    MFS_ASSIGN(UniqueFd mfd, OpenDir(data_.get(), entry, "matter directory"));
    MFS_ASSIGN(MatterId id, ReadMatterBinding(mfd.get(), name));
    MFS_ASSIGN(Keyring ring, LoadKeyring(id));
    out.push_back({std::move(name), id, ring.status, entry, ring.current_version,
                   ring.wrap_keys.size(), ring.rotated});
  }
  return out;
}

Result<MatterInfo> Vault::FindMatter(std::string_view name) const {
  MFS_ASSIGN(StoredName stored, matter_names().Encode(root_iv_, name));
  UniqueFd mfd(::openat(data_.get(), stored.entry.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!mfd.valid()) {
    if (errno == ENOENT)
      return Error(Code::kNotFound, "no matter named '" + std::string(name) + "'", ENOENT);
    return IoError("open matter directory");
  }
  MFS_ASSIGN(MatterId id, ReadMatterBinding(mfd.get(), name));
  auto ring = LoadKeyring(id);
  if (!ring.ok()) {
    if (ring.error().code() != Code::kCorruption) return ring.error();
    return Error(Code::kCorruption, "matter '" + std::string(name) + "': " + ring.error().message(),
                 EIO);
  }
  return MatterInfo{
      std::string(name),      id,           ring->status, stored.entry, ring->current_version,
      ring->wrap_keys.size(), ring->rotated};
}

KeyringKeys Vault::keyring_keys() const {
  return {keys_->keyring_wrap, keys_->keyring_mac, key_table(), &keys_->key_table};
}

KeyTable* Vault::key_table() const {
  std::lock_guard<std::mutex> guard(table_mutex_);
  if (!table_) {
    // Missing in a vault made before the key table, until a matter needs it.
    if (auto t = KeyTable::Open(keystore_.get(), config_.vault_id, /*create=*/false); t.ok()) {
      table_ = std::make_unique<KeyTable>(std::move(t).value());
    }
  }
  return table_.get();
}

Result<KeyTable*> Vault::MakeKeyTable() const {
  if (KeyTable* t = key_table()) return t;
  MFS_ASSIGN(KeyTable t, KeyTable::Open(keystore_.get(), config_.vault_id, /*create=*/true));
  std::lock_guard<std::mutex> guard(table_mutex_);
  if (!table_) table_ = std::make_unique<KeyTable>(std::move(t));
  return table_.get();
}

Status Vault::MoveToKeyTable(const MatterId& id, bool change_lock_held) {
  MFS_ASSIGN(Keyring current, LoadKeyring(id));
  if (current.table_index != 0) return {};
  UniqueFd lock;
  if (!change_lock_held) {
    MFS_ASSIGN(lock, LockVault());
  }
  MFS_TRY(CheckConfigKey());
  MFS_ASSIGN(KeyTable * table, MakeKeyTable());
  MFS_ASSIGN(KeyTable::Added added, table->Add(id, keys_->key_table));
  return UpdateKeyringFile(keystore_.get(), config_.vault_id, id, keyring_keys(),
                           [&](Keyring& ring) -> Status {
                             if (ring.table_index != 0) return {};  // moved meanwhile
                             ring.table_index = added.index + 1;
                             ring.root_key = std::make_unique<MatterRootKey>(std::move(added.key));
                             ring.legacy_wrapped = true;
                             return {};
                           });
}

Result<Keyring> Vault::LoadKeyring(const MatterId& id) const {
  return ReadKeyringFile(keystore_.get(), config_.vault_id, id, keyring_keys());
}

Result<MatterStatus> Vault::SetMatterStatus(std::string_view name, MatterStatus status) {
  MFS_ASSIGN(MatterInfo info, FindMatter(name));
  MatterStatus old = info.status;
  MFS_TRY(UpdateKeyringFile(
      keystore_.get(), config_.vault_id, info.id, keyring_keys(), [&](Keyring& ring) -> Status {
        old = ring.status;
        if (old == MatterStatus::kHold && status != MatterStatus::kOpen &&
            status != MatterStatus::kHold) {
          return Error(Code::kInvalidArgument,
                       "matter '" + std::string(name) + "' is under legal hold; release it first");
        }
        ring.status = status;
        return {};
      }));
  return old;
}

Result<MatterInfo> Vault::CreateMatter(std::string_view name, mode_t mode) {
  if (!IsValidMatterName(name)) {
    const bool too_long = name.size() > kMaxPlainName;
    return Error(Code::kInvalidArgument,
                 too_long ? "matter name too long (at most 255 bytes)"
                          : "invalid matter name '" + std::string(name) +
                                "': 1 to 255 bytes, no '/', ']' or control characters, "
                                "not '.' or '..'",
                 too_long ? ENAMETOOLONG : EINVAL);
  }
  MFS_ASSIGN(StoredName stored, matter_names().Encode(root_iv_, name));
  MFS_ASSIGN(UniqueFd lock, LockVault());
  // A master key rotation may have run since we unlocked: a matter made with stale keys
  // would open under none of the vault's keys.
  MFS_TRY(CheckConfigKey());
  MatterId id;
  crypto::RandomBytes(id);
  // A duplicate is refused before the key table grows (its entry would stay, destroyed).
  struct stat existing;
  if (::fstatat(data_.get(), stored.entry.c_str(), &existing, AT_SYMLINK_NOFOLLOW) == 0) {
    return Error(Code::kExists, "matter '" + std::string(name) + "' already exists", EEXIST);
  }
  // The root key first (under the change lock, which orders appends to the table): a
  // crash before the keyring exists leaves an entry no keyring names, which is harmless.
  MFS_ASSIGN(KeyTable * table, MakeKeyTable());
  MFS_ASSIGN(KeyTable::Added root, table->Add(id, keys_->key_table));
  Keyring ring = Keyring::Create(config_.vault_id, id);
  ring.table_index = root.index + 1;
  ring.root_key = std::make_unique<MatterRootKey>(std::move(root.key));
  auto undo_entry = [&](Error e) -> Error {
    (void)table->Destroy(ring.table_index - 1, id);
    return e;
  };
  if (Status made = CreateKeyringFile(keystore_.get(), ring, keyring_keys()); !made.ok()) {
    return undo_entry(made.error());
  }
  auto undo_keyring = [&](Error e) -> Error {
    ::unlinkat(keystore_.get(), KeyringFileName(id).c_str(), 0);
    return undo_entry(std::move(e));
  };
  if (stored.full) {
    Status st = WriteFileAtomic(data_.get(), NameCodec::LongNameFile(stored.entry),
                                AsBytes(*stored.full), 0600);
    if (!st.ok()) return undo_keyring(st.error());
  }
  Bytes binding(id.begin(), id.end());
  Bytes mac = BindingMac(id, name);
  binding.insert(binding.end(), mac.begin(), mac.end());
  Status st = MakeEncryptedDirImpl(data_.get(), stored.entry, mode, [&](int dirfd) {
    return WriteFileExclusive(dirfd, std::string(kMatterIdName), binding, 0444);
  });
  if (!st.ok()) {
    if (st.error().code() == Code::kExists) {
      return undo_keyring(
          Error(Code::kExists, "matter '" + std::string(name) + "' already exists", EEXIST));
    }
    return undo_keyring(st.error());
  }
  return MatterInfo{std::string(name), id, MatterStatus::kOpen, stored.entry};
}

Status Vault::WriteConfig(const VaultConfig& c) const {
  return WriteFileAtomic(root_.get(), std::string(kConfigName), c.Serialize(keys_->vmk), 0600);
}

namespace {
Error ConfigChanged() {
  return Error(Code::kBusy,
               "the vault config changed meanwhile and no longer opens with the key this command "
               "unlocked (a master key rotation ran?); run the command again",
               EBUSY);
}
}  // namespace

Status Vault::ReloadConfig() {
  // Another process may have changed the keyslots since we opened the vault.
  MFS_ASSIGN(Bytes raw, ReadWholeFile(root_.get(), std::string(kConfigName), kMaxConfigSize));
  MFS_ASSIGN(VaultConfig fresh, VaultConfig::Parse(raw));
  if (fresh.vault_id != config_.vault_id) {
    return Error(Code::kCorruption, "vault config changed under us: another vault id");
  }
  if (keys_ != nullptr) {
    auto authentic = ParseAuthenticated(raw, keys_->vmk);
    if (!authentic.ok()) return ConfigChanged();
    fresh = std::move(authentic).value();
  }
  config_ = std::move(fresh);
  raw_config_ = std::move(raw);
  return {};
}

Status Vault::CheckConfigKey() const {
  if (keys_ == nullptr) return {};
  MFS_ASSIGN(Bytes raw, ReadWholeFile(root_.get(), std::string(kConfigName), kMaxConfigSize));
  MFS_ASSIGN(VaultConfig fresh, VaultConfig::Parse(raw));
  if (fresh.features & kFeatureMasterRotation) {
    return Error(Code::kUnfinished, UnfinishedMasterRotationMessage(path_), EAGAIN);
  }
  if (fresh.vault_id != config_.vault_id || !ParseAuthenticated(raw, keys_->vmk).ok()) {
    return ConfigChanged();
  }
  return {};
}

Result<size_t> Vault::AddSlot(const std::function<Result<Keyslot>(const VaultConfig&)>& make) {
  MFS_ASSIGN(UniqueFd lock, LockVault());
  MFS_TRY(ReloadConfig());
  if (config_.slots.size() >= kMaxSlots) {
    return Error(Code::kInvalidArgument, "the vault already has the maximum of 8 keyslots");
  }
  VaultConfig next = config_;
  MFS_ASSIGN(Keyslot slot, make(next));
  next.slots.push_back(std::move(slot));
  if (!next.Fits()) {
    return Error(Code::kInvalidArgument, "the keyslots' extensions do not fit in the config");
  }
  Bytes raw = next.Serialize(keys_->vmk);
  MFS_TRY(WriteFileAtomic(root_.get(), std::string(kConfigName), raw, 0600));
  config_ = std::move(next);
  raw_config_ = std::move(raw);
  return config_.slots.size() - 1;
}

Result<size_t> Vault::AddKeyslot(const Credential& cred, const crypto::Argon2Params& argon) {
  return AddSlot([&](const VaultConfig& c) { return c.MakeSlot(keys_->vmk, cred, argon, Now()); });
}

Result<size_t> Vault::AddEscrowSlot(const crypto::EscrowPublicKey& firm_key) {
  return AddSlot([&](const VaultConfig& c) -> Result<Keyslot> {
    for (const Keyslot& s : c.slots) {
      if (s.escrow_public_key() == firm_key) {
        return Error(Code::kExists, "the vault already has an escrow keyslot for this key");
      }
    }
    return c.MakeEscrowSlot(keys_->vmk, firm_key, Now());
  });
}

Result<bool> Vault::UpgradeConfig() {
  MFS_ASSIGN(UniqueFd lock, LockOffline());
  MFS_TRY(ReloadConfig());
  if (config_.version >= kTwoCopyConfigVersion) return false;
  if (config_.version < 2) {
    return Error(Code::kUnsupported,
                 "vault " + path_ +
                     " has config version 1, which cannot be upgraded in place; make a new vault "
                     "and copy the matters into it");
  }
  VaultConfig next = config_.UpgradedToVersion3();
  Bytes raw = next.Serialize(keys_->vmk);
  MFS_TRY(WriteFileAtomic(root_.get(), std::string(kConfigName), raw, 0600));
  config_ = std::move(next);
  raw_config_ = std::move(raw);
  return true;
}

Status Vault::RewriteConfig() const { return WriteConfig(config_); }

Status Vault::RestoreConfig() {
  MFS_ASSIGN(UniqueFd lock, LockOfflineImpl(/*check_config=*/false));
  // The current config, when it still parses, names the vault the backup must be of.
  auto current = ReadWholeFile(root_.get(), std::string(kConfigName), kMaxConfigSize);
  if (current.ok()) {
    auto parsed = VaultConfig::Parse(*current);
    if (parsed.ok() && parsed->vault_id != config_.vault_id) {
      return Error(Code::kInvalidArgument, "the backup is of another vault (its vault id differs)");
    }
  }
  // Every matter must open under the backup's master key: a backup from before a
  // rotate-master (or of another vault with the same id) would make them unreadable.
  auto matters = ListMatters();
  if (!matters.ok()) {
    return Error(Code::kInvalidArgument,
                 "the backup does not open this vault's matters (" + matters.error().message() +
                     "); it is older than the last rotate-master, or of another vault");
  }
  Bytes raw = config_.Serialize(keys_->vmk);
  MFS_TRY(WriteFileAtomic(root_.get(), std::string(kConfigName), raw, 0600));
  raw_config_ = std::move(raw);
  return {};
}

Status Vault::RemoveKeyslot(size_t index) {
  MFS_ASSIGN(UniqueFd lock, LockVault());
  MFS_TRY(ReloadConfig());
  if (index >= config_.slots.size()) {
    return Error(Code::kNotFound, "no keyslot " + std::to_string(index));
  }
  if (config_.slots.size() == 1) {
    return Error(Code::kInvalidArgument,
                 "refusing to remove the last keyslot (the vault would be lost)");
  }
  VaultConfig next = config_;
  next.slots.erase(next.slots.begin() + static_cast<std::ptrdiff_t>(index));
  MFS_TRY(WriteConfig(next));
  config_ = std::move(next);
  raw_config_ = config_.Serialize(keys_->vmk);
  return {};
}

}  // namespace matterfs::vault
