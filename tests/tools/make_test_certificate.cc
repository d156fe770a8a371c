// Test helper for matterctl_test.sh: signs a certificate of destruction with a real
// vault's key through the vault library, as the coming `matterctl wipe` will.
//
//   make_test_certificate VAULT PASSPHRASE-FILE MATTER OUT
//
// The matter must exist (its id goes into the certificate); nothing is wiped. Writes OUT
// (which must not exist) and exits 0, or prints one line and exits 1.
#include <fcntl.h>

#include <iostream>

#include "crypto/secure_memory.h"
#include "fs/vault/certificate.h"
#include "fs/vault/credentials.h"
#include "fs/vault/vault.h"
#include "util/file_io.h"

namespace {

using namespace matterfs;

Status Run(const std::string& dir, const std::string& passphrase_file, const std::string& matter,
           const std::string& out) {
  MFS_ASSIGN(auto v, vault::Vault::Open(dir, std::nullopt));
  vault::UnlockOptions unlock;
  unlock.passphrase_file = passphrase_file;
  MFS_ASSIGN(auto cred, vault::ReadCredential(unlock, "", false));
  MFS_TRY(v->Unlock(cred));
  MFS_ASSIGN(const vault::MatterInfo info, v->FindMatter(matter));
  vault::DestructionCertificate c;
  c.vault_id = v->id();
  c.matter = matter;
  c.matter_id = info.id;
  c.files = 3;
  c.bytes = 10245;
  c.key_versions_destroyed = {1};
  c.method = "crypto-shred+overwrite";
  c.passes = 1;
  c.started = 1793610000;  // 2026-11-02T09:00:00Z
  c.finished = 1793610007;
  c.operator_uid = 0;
  c.operator_name = "root";
  c.host = "files1";
  c.caveats = {"a test certificate: nothing was wiped"};
  const std::string text = vault::SignCertificate(c, v->signing_key());
  return WriteFileExclusive(AT_FDCWD, out, AsBytes(text), 0644);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::cerr << "usage: make_test_certificate VAULT PASSPHRASE-FILE MATTER OUT\n";
    return 2;
  }
  matterfs::crypto::Init();
  const matterfs::Status st = Run(argv[1], argv[2], argv[3], argv[4]);
  if (!st.ok()) {
    std::cerr << "make_test_certificate: " << st.error().message() << "\n";
    return 1;
  }
  return 0;
}
