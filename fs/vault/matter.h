// Matter: an unlocked matter (its keyring and name codec), shared by the daemon and the
// tools. Move-only; holds keys in secure memory. Const methods are thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "fs/vault/crypt_file.h"
#include "fs/vault/vault.h"
#include "util/unique_fd.h"

namespace matterfs::vault {

class Matter {
 public:
  static Result<std::unique_ptr<Matter>> Load(const Vault& vault, std::string_view name);
  // A matter from a keyring read separately (the daemon re-reads keyrings to follow
  // rotations and status changes made by other processes).
  static std::unique_ptr<Matter> FromKeyring(MatterInfo info, Keyring ring) {
    return std::unique_ptr<Matter>(new Matter(std::move(info), std::move(ring)));
  }

  const MatterInfo& info() const { return info_; }
  const Keyring& keyring() const { return ring_; }
  const NameCodec& names() const { return names_; }

  // The stored entry for `name` in the encrypted directory `dirfd`; writes the long-name
  // file first when `create_long` (so the entry is never without its full name).
  Result<StoredName> Encode(const DirIv& iv, std::string_view name) const {
    return names_.Encode(iv, name);
  }
  // Opens the matter's directory in the vault.
  Result<UniqueFd> OpenDir(const Vault& vault) const;
  // Walks "a/b/c" from the matter directory; returns an O_RDONLY fd on the last component
  // (kNotFound for a missing component; no symlinks are followed).
  Result<UniqueFd> OpenPath(const Vault& vault, std::string_view rel_path, int flags) const;

 private:
  Matter(MatterInfo info, Keyring ring)
      : info_(std::move(info)), ring_(std::move(ring)), names_(*ring_.name_key) {}
  MatterInfo info_;
  Keyring ring_;
  NameCodec names_;
};

// Decrypts a whole backing file to `out_fd` (matterctl cat), after checking its header
// against the vault's format and cipher. kCorruption names the block; kInvalidArgument (EISDIR) for
// a directory.
Status DecryptFileTo(const Matter& matter, const FileFormat& format, int backing_fd, int out_fd);

}  // namespace matterfs::vault
