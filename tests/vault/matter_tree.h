// Builds real vaults and matter trees through the vault library, for tests that need
// files in a matter without a mount (walker, administration, the daemon's registry).
// Header-only; helpers fail the test (ADD_FAILURE / exceptions) rather than return errors.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "fs/vault/admin.h"
#include "fs/vault/crypt_file.h"
#include "fs/vault/encrypted_dir.h"
#include "fs/vault/encrypted_file.h"
#include "fs/vault/matter.h"
#include "fs/vault/vault.h"
#include "tests/vault/vault_test_util.h"

namespace matterfs::test {

inline constexpr std::string_view kTreePass = "correct horse battery staple";

// A fresh vault in a temp dir, unlocked.
class VaultFixture {
 public:
  VaultFixture() {
    vault::InitOptions o;
    o.argon = kFastArgon;
    o.cipher = crypto::Cipher::kXChaCha20Poly1305;
    Check(vault::Vault::Create(path(), o, Passphrase(kTreePass)));
    vault_ = Reopen();
  }
  std::string path() const { return dir_.Sub("vault"); }
  vault::Vault& vault() { return *vault_; }
  std::unique_ptr<vault::Vault> Reopen() const {
    auto v = vault::Vault::Open(path(), std::nullopt);
    Check(v.ok() ? Status() : Status(v.error()));
    Check((*v)->Unlock(Passphrase(kTreePass)));
    return std::move(v).value();
  }
  std::unique_ptr<vault::Matter> Matter(const std::string& name) {
    auto m = vault::Matter::Load(*vault_, name);
    Check(m.ok() ? Status() : Status(m.error()));
    return std::move(m).value();
  }
  const TempDir& dir() const { return dir_; }

  static void Check(const Status& s) {
    if (!s.ok()) throw std::runtime_error(s.error().message());
  }

 private:
  TempDir dir_;
  std::unique_ptr<vault::Vault> vault_;
};

// An administration context of root running matterctl whose audit events go to `events`.
inline vault::AdminContext RecordingAdminContext(std::vector<audit::AuditEvent>& events) {
  vault::AdminContext ctx;
  ctx.actor = {"root", 0, 1, "matterctl"};
  ctx.events = [&events](audit::AuditEvent e) {
    events.push_back(std::move(e));
    return true;
  };
  return ctx;
}

// Writes encrypted directories and files into a matter, as the daemon would.
class TreeWriter {
 public:
  TreeWriter(const vault::Vault& v, const vault::Matter& m) : vault_(v), matter_(m) {}

  // Makes directory `rel` ("a/b"; parents must exist).
  void Dir(const std::string& rel) {
    auto [parent, name] = Parent(rel);
    Opened d = Dirs(parent);
    auto stored = d.dir.Encode(name);
    VaultFixture::Check(stored.ok() ? Status() : Status(stored.error()));
    VaultFixture::Check(d.dir.WriteLongName(*stored));
    VaultFixture::Check(vault::MakeEncryptedDirImpl(d.fd.get(), stored->entry, 0755, {}));
  }
  // Makes file `rel` with `content` ("" leaves it empty, without a header, in file format
  // 2; format 3 files always have one, bound to their entry, with their size recorded).
  void File(const std::string& rel, const std::string& content) {
    auto [parent, name] = Parent(rel);
    Opened d = Dirs(parent);
    auto stored = d.dir.Encode(name);
    VaultFixture::Check(stored.ok() ? Status() : Status(stored.error()));
    VaultFixture::Check(d.dir.WriteLongName(*stored));
    UniqueFd fd(
        ::openat(d.fd.get(), stored->entry.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0644));
    if (!fd.valid()) throw std::runtime_error("create " + rel);
    const bool v3 = vault_.file_format().version >= 3;
    if (content.empty() && !v3) return;
    auto made = vault::WriteNewHeader(fd.get(), vault_.file_format(), matter_.keyring(),
                                      std::string_view(stored->entry));
    VaultFixture::Check(made.ok() ? Status() : Status(made.error()));
    vault::CryptFile file(made->crypto, &made->header);
    auto n = file.Write(fd.get(), 0, 0, AsBytes(content));
    VaultFixture::Check(n.ok() ? Status() : Status(n.error()));
    VaultFixture::Check(vault::RecordSize(fd.get(), made->header, made->crypto, *n));
  }
  // A hard link `rel` to the existing file `target` (short names; parents must exist).
  void Link(const std::string& target, const std::string& rel) {
    auto [from_dir, from] = Backing(target);
    auto [parent, name] = Parent(rel);
    Opened d = Dirs(parent);
    auto stored = d.dir.Encode(name);
    VaultFixture::Check(stored.ok() ? Status() : Status(stored.error()));
    if (::linkat(from_dir.get(), from.c_str(), d.fd.get(), stored->entry.c_str(), 0) != 0) {
      throw std::runtime_error("link " + rel);
    }
  }
  // The backing entry of `rel` in its parent, and the parent's fd.
  std::pair<UniqueFd, std::string> Backing(const std::string& rel) {
    auto [parent, name] = Parent(rel);
    Opened d = Dirs(parent);
    auto stored = d.dir.Encode(name);
    VaultFixture::Check(stored.ok() ? Status() : Status(stored.error()));
    return {std::move(d.fd), stored->entry};
  }

 private:
  struct Opened {
    UniqueFd fd;
    vault::EncryptedDir dir;
  };
  static std::pair<std::string, std::string> Parent(const std::string& rel) {
    size_t slash = rel.rfind('/');
    if (slash == std::string::npos) return {"", rel};
    return {rel.substr(0, slash), rel.substr(slash + 1)};
  }
  Opened Dirs(const std::string& rel) {
    auto fd = matter_.OpenPath(vault_, rel, O_RDONLY | O_DIRECTORY);
    VaultFixture::Check(fd.ok() ? Status() : Status(fd.error()));
    auto dir = vault::EncryptedDir::Open(fd->get(), matter_.names());
    VaultFixture::Check(dir.ok() ? Status() : Status(dir.error()));
    return Opened{std::move(*fd), *dir};
  }
  const vault::Vault& vault_;
  const vault::Matter& matter_;
};

}  // namespace matterfs::test
