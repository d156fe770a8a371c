// The key table in a vault (docs/FORMAT.md §9.6): new matters get version 3 keyrings whose
// keys their table entry's root key wraps; once that entry is destroyed no copy of the
// keyring opens again, even put back from before; a matter made before the table (a
// version 2 keyring) keeps working, moves to the table at its next rotation (marked
// legacy_wrapped) and loses the mark at the next master key rotation.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "fs/vault/encrypted_file.h"
#include "fs/vault/keytable.h"
#include "fs/vault/master_rotation.h"
#include "fs/vault/rotation.h"
#include "tests/crypto/test_util.h"
#include "tests/vault/matter_tree.h"

namespace matterfs::vault {
namespace {

class KeyTableVaultTest : public ::testing::Test {
 protected:
  std::string Keystore() const { return fx_.path() + "/keys"; }
  std::string KeyringPath(const MatterId& id) const {
    return Keystore() + "/" + KeyringFileName(id);
  }
  off_t TableSize() const {
    struct stat st;
    return ::stat((Keystore() + "/keytable").c_str(), &st) == 0 ? st.st_size : -1;
  }
  MatterInfo Create(const std::string& name, const std::string& content) {
    auto info = fx_.vault().CreateMatter(name);
    EXPECT_OK(info);
    auto matter = fx_.Matter(name);
    test::TreeWriter(fx_.vault(), *matter).File("brief.txt", content);
    return *info;
  }
  // brief.txt of `name` through a freshly opened vault (another process would see this).
  Result<std::string> Read(const std::string& name) {
    auto v = fx_.Reopen();
    MFS_ASSIGN(auto matter, Matter::Load(*v, name));
    MFS_ASSIGN(UniqueFd fd, matter->OpenPath(*v, "brief.txt", O_RDONLY));
    UniqueFd mem(::memfd_create("plain", MFD_CLOEXEC));
    MFS_TRY(DecryptFileTo(*matter, v->file_format(), fd.get(), mem.get()));
    std::string out(4096, '\0');
    const ssize_t n = ::pread(mem.get(), out.data(), out.size(), 0);
    out.resize(n < 0 ? 0 : static_cast<size_t>(n));
    return out;
  }
  // Rewrites a matter's keyring as an earlier release wrote it: version 2, keys under VMK
  // subkey 2, no table entry; and removes the key table, as in a vault made before it.
  void MakeLegacy(const std::vector<MatterId>& ids) {
    for (const MatterId& id : ids) {
      auto ring = fx_.vault().LoadKeyring(id);
      ASSERT_OK(ring);
      ring->table_index = 0;
      ring->root_key.reset();
      const Bytes copy = ring->SerializeCopy(fx_.vault().keyring_keys());
      ASSERT_EQ(2, copy[8]);
      Bytes file = copy;
      file.insert(file.end(), copy.begin(), copy.end());
      test::WriteFileBytes(KeyringPath(id), file);
    }
    std::filesystem::remove(Keystore() + "/keytable");
  }
  AdminContext Ctx() { return test::RecordingAdminContext(events_); }

  test::VaultFixture fx_;
  std::vector<audit::AuditEvent> events_;
};

TEST_F(KeyTableVaultTest, ANewMatterHasAVersion3KeyringWithItsOwnTableEntry) {
  EXPECT_EQ(512, TableSize());  // init makes the table: header only
  const MatterInfo a = Create("acme", "acme brief");
  const MatterInfo b = Create("globex", "globex brief");
  EXPECT_EQ(512 + 2 * 1024, TableSize());
  const Bytes raw = test::ReadFileBytes(KeyringPath(a.id));
  EXPECT_EQ(3, raw[8]);
  EXPECT_EQ(3, raw[kKeyringCopySize + 8]);
  auto ra = fx_.vault().LoadKeyring(a.id);
  auto rb = fx_.vault().LoadKeyring(b.id);
  ASSERT_OK(ra);
  ASSERT_OK(rb);
  EXPECT_EQ(1u, ra->table_index);
  EXPECT_EQ(2u, rb->table_index);
  EXPECT_FALSE(ra->legacy_wrapped);
  EXPECT_EQ("acme brief", Read("acme").value());
}

TEST_F(KeyTableVaultTest, ADuplicateMatterLeavesTheTableAsItWas) {
  Create("acme", "x");
  const off_t before = TableSize();
  auto again = fx_.vault().CreateMatter("acme");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(Code::kExists, again.error().code());
  EXPECT_EQ(before, TableSize());
}

TEST_F(KeyTableVaultTest, AKeyringPutBackAfterItsEntryIsDestroyedOpensNothing) {
  const MatterInfo a = Create("acme", "acme brief");
  Create("globex", "globex brief");
  const Bytes saved = test::ReadFileBytes(KeyringPath(a.id));
  auto ring = fx_.vault().LoadKeyring(a.id);
  ASSERT_OK(ring);
  ASSERT_OK(fx_.vault().key_table()->Destroy(ring->table_index - 1, a.id));
  // The keyring file removed and put back from before: it names a destroyed entry.
  std::filesystem::remove(KeyringPath(a.id));
  test::WriteFileBytes(KeyringPath(a.id), saved);
  auto v = fx_.Reopen();
  auto gone = v->LoadKeyring(a.id);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(Code::kNotFound, gone.error().code());
  EXPECT_NE(gone.error().message().find("wiped"), std::string::npos) << gone.error().message();
  EXPECT_FALSE(Read("acme").ok());
  EXPECT_EQ("globex brief", Read("globex").value());
}

TEST_F(KeyTableVaultTest, ALegacyKeyringOpensAndARotationMovesItToTheTable) {
  const MatterInfo a = Create("acme", "acme brief");
  MakeLegacy({a.id});
  {
    auto v = fx_.Reopen();
    EXPECT_EQ(nullptr, v->key_table());
    auto ring = v->LoadKeyring(a.id);
    ASSERT_OK(ring);
    EXPECT_EQ(0u, ring->table_index);
  }
  EXPECT_EQ("acme brief", Read("acme").value());

  {
    auto v = fx_.Reopen();
    ASSERT_OK(RotateMatter(*v, "acme", Ctx(), {}));
  }
  EXPECT_EQ(512 + 1024, TableSize());
  const Bytes raw = test::ReadFileBytes(KeyringPath(a.id));
  EXPECT_EQ(3, raw[8]);
  EXPECT_EQ(3, raw[kKeyringCopySize + 8]);
  auto v = fx_.Reopen();
  auto ring = v->LoadKeyring(a.id);
  ASSERT_OK(ring);
  EXPECT_EQ(1u, ring->table_index);
  // A copy of the version 2 keyring from before still opens with this master key: a
  // wipe of this matter must say so.
  EXPECT_TRUE(ring->legacy_wrapped);
  EXPECT_EQ(2u, ring->current_version);
  EXPECT_EQ("acme brief", Read("acme").value());
}

TEST_F(KeyTableVaultTest, AMasterKeyRotationMovesLegacyKeyringsAndClearsTheMark) {
  const MatterInfo a = Create("acme", "acme brief");
  const MatterInfo b = Create("globex", "globex brief");
  MakeLegacy({a.id, b.id});
  {
    auto v = fx_.Reopen();
    ASSERT_OK(RotateMatter(*v, "acme", Ctx(), {}));  // acme: version 3, legacy_wrapped
  }
  {
    OpenOptions o;
    o.unfinished_master_rotation = true;
    auto v = Vault::Open(fx_.path(), std::nullopt, o);
    ASSERT_OK(v);
    ASSERT_OK(RotateMasterKey(**v, test::Passphrase(test::kTreePass), Ctx(), {}));
  }
  auto v = fx_.Reopen();
  for (const MatterId& id : {a.id, b.id}) {
    auto ring = v->LoadKeyring(id);
    ASSERT_OK(ring);
    EXPECT_NE(0u, ring->table_index);
    EXPECT_FALSE(ring->legacy_wrapped);
    EXPECT_EQ(3, test::ReadFileBytes(KeyringPath(id))[8]);
  }
  EXPECT_EQ(512 + 2 * 1024, TableSize());
  EXPECT_EQ("acme brief", Read("acme").value());
  EXPECT_EQ("globex brief", Read("globex").value());
}

}  // namespace
}  // namespace matterfs::vault
