// The vault's matter key table (fs/vault/keytable.h, docs/FORMAT.md §9.6) on a real file:
// entries added, read back, destroyed in place (both copies), one damaged copy survived,
// rewrapped for a new master key (and a rerun after a crash half way), foreign or damaged
// headers refused.
#include "fs/vault/keytable.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "crypto/kdf.h"
#include "tests/crypto/test_util.h"
#include "tests/vault/vault_test_util.h"

namespace matterfs::vault {
namespace {

MatterId Id(uint8_t b) {
  MatterId id;
  id.fill(b);
  return id;
}

VaultSubkey TableKey(const MasterKey& vmk) {
  return crypto::DeriveSubkey<crypto::KeyPurpose::kVaultSub>(vmk, kSubkeyKeyTable,
                                                             kVaultKdfContext);
}

class KeyTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    keystore_.reset(::open(dir_.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(keystore_.valid());
    vault_.fill(0x51);
  }
  KeyTable Table(bool create = true) {
    auto t = KeyTable::Open(keystore_.get(), vault_, create);
    if (!t.ok()) throw std::runtime_error(t.error().message());
    return std::move(t).value();
  }
  std::string Raw() const {
    std::string raw(1 << 16, '\0');
    UniqueFd fd(::openat(keystore_.get(), kKeyTableName, O_RDONLY | O_CLOEXEC));
    raw.resize(static_cast<size_t>(::pread(fd.get(), raw.data(), raw.size(), 0)));
    return raw;
  }
  void WriteRaw(const std::string& bytes, off_t at) {
    UniqueFd fd(::openat(keystore_.get(), kKeyTableName, O_WRONLY | O_CLOEXEC));
    ASSERT_EQ(::pwrite(fd.get(), bytes.data(), bytes.size(), at),
              static_cast<ssize_t>(bytes.size()));
  }
  static off_t CopyAt(uint32_t index, int copy) {
    return static_cast<off_t>(kKeyTableSector * (1 + 2 * index + static_cast<uint32_t>(copy)));
  }

  test::TempDir dir_;
  UniqueFd keystore_;
  VaultId vault_{};
  MasterKey vmk_ = MasterKey::Random();
  VaultSubkey wrap_ = TableKey(vmk_);
};

TEST_F(KeyTableTest, EntriesAreAddedAndReadBack) {
  auto missing = KeyTable::Open(keystore_.get(), vault_, false);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), Code::kNotFound);
  KeyTable t = Table();
  EXPECT_EQ(t.entries(), 0u);
  auto a = t.Add(Id(1), wrap_);
  auto b = t.Add(Id(2), wrap_);
  ASSERT_OK(a);
  ASSERT_OK(b);
  EXPECT_EQ(a->index, 0u);
  EXPECT_EQ(b->index, 1u);
  EXPECT_EQ(Raw().size(), kKeyTableSector * 5);
  // Reopened (another process): the same keys.
  KeyTable again = Table(false);
  EXPECT_EQ(again.entries(), 2u);
  auto ka = again.Read(0, Id(1), wrap_);
  auto kb = again.Read(1, Id(2), wrap_);
  ASSERT_OK(ka);
  ASSERT_OK(kb);
  EXPECT_BYTES_EQ(ka->bytes(), a->key.bytes());
  EXPECT_BYTES_EQ(kb->bytes(), b->key.bytes());
  EXPECT_NE(Bytes(ka->bytes().begin(), ka->bytes().end()),
            Bytes(kb->bytes().begin(), kb->bytes().end()));
  // The wrong matter, index or key opens nothing.
  EXPECT_EQ(again.Read(0, Id(2), wrap_).error().code(), Code::kCorruption);
  EXPECT_EQ(again.Read(1, Id(1), wrap_).error().code(), Code::kCorruption);
  EXPECT_EQ(again.Read(2, Id(1), wrap_).error().code(), Code::kCorruption);
  EXPECT_EQ(again.Read(0, Id(1), TableKey(MasterKey::Random())).error().code(), Code::kCorruption);
  // The key is never in the file in clear.
  EXPECT_EQ(Raw().find(std::string(reinterpret_cast<const char*>(a->key.bytes().data()), 32)),
            std::string::npos);
}

TEST_F(KeyTableTest, DestroyOverwritesBothCopiesInPlaceAndKeepsTheOthers) {
  KeyTable t = Table();
  ASSERT_OK(t.Add(Id(1), wrap_));
  ASSERT_OK(t.Add(Id(2), wrap_));
  struct stat before;
  ASSERT_EQ(::fstatat(keystore_.get(), kKeyTableName, &before, 0), 0);
  const std::string raw_before = Raw();
  ASSERT_OK(t.Destroy(0, Id(1)));
  auto gone = t.Read(0, Id(1), wrap_);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code(), Code::kNotFound);
  EXPECT_NE(gone.error().message().find("wiped"), std::string::npos);
  ASSERT_OK(t.Read(1, Id(2), wrap_));
  // In place: the same inode and size; the wrapped key bytes of both copies are gone.
  struct stat after;
  ASSERT_EQ(::fstatat(keystore_.get(), kKeyTableName, &after, 0), 0);
  EXPECT_EQ(before.st_ino, after.st_ino);
  EXPECT_EQ(before.st_size, after.st_size);
  const std::string raw_after = Raw();
  for (int c = 0; c < 2; ++c) {
    const std::string wrapped = raw_before.substr(static_cast<size_t>(CopyAt(0, c)) + 32, 72);
    EXPECT_EQ(raw_after.find(wrapped), std::string::npos) << "copy " << c;
    EXPECT_EQ(raw_after.substr(static_cast<size_t>(CopyAt(0, c)), 8), "MFSKTDEL");
  }
  // Idempotent; and refuses an entry of another matter.
  ASSERT_OK(t.Destroy(0, Id(1)));
  EXPECT_EQ(t.Destroy(1, Id(1)).error().code(), Code::kCorruption);
  ASSERT_OK(t.Read(1, Id(2), wrap_));
  // Restoring the old bytes of the table brings the key back: the one copy the wipe
  // cannot reach, which the certificate's caveats name.
  WriteRaw(raw_before, 0);
  EXPECT_OK(t.Read(0, Id(1), wrap_));
}

TEST_F(KeyTableTest, OneDamagedCopyLosesNothingBothAreCorruptNotWiped) {
  KeyTable t = Table();
  auto a = t.Add(Id(7), wrap_);
  ASSERT_OK(a);
  std::string raw = Raw();
  raw[static_cast<size_t>(CopyAt(0, 0)) + 40] ^= 1;  // copy A's wrap
  WriteRaw(raw, 0);
  auto k = t.Read(0, Id(7), wrap_);
  ASSERT_OK(k);
  EXPECT_BYTES_EQ(k->bytes(), a->key.bytes());
  // Both damaged: corrupt, not "wiped".
  raw[static_cast<size_t>(CopyAt(0, 1)) + 40] ^= 1;
  WriteRaw(raw, 0);
  EXPECT_EQ(t.Read(0, Id(7), wrap_).error().code(), Code::kCorruption);
}

TEST_F(KeyTableTest, RewrapAllMovesEveryLiveEntryToTheNewKeyAndARerunFinishes) {
  KeyTable t = Table();
  auto a = t.Add(Id(1), wrap_);
  auto b = t.Add(Id(2), wrap_);
  auto c = t.Add(Id(3), wrap_);
  ASSERT_OK(t.Destroy(1, Id(2)));
  const std::string old_raw = Raw();
  const VaultSubkey next = TableKey(MasterKey::Random());
  ASSERT_OK(t.RewrapAll(wrap_, next));
  for (auto [i, id, key] : {std::tuple{0u, Id(1), &a->key}, std::tuple{2u, Id(3), &c->key}}) {
    auto k = t.Read(i, id, next);
    ASSERT_OK(k);
    EXPECT_BYTES_EQ(k->bytes(), key->bytes());
    EXPECT_FALSE(t.Read(i, id, wrap_).ok()) << "the old master key opens nothing";
  }
  EXPECT_EQ(t.Read(1, Id(2), next).error().code(), Code::kNotFound);
  // A crash after copy A of entry 2 was rewritten: copy B still under the old key.
  std::string raw = Raw();
  raw.replace(static_cast<size_t>(CopyAt(2, 1)), kKeyTableSector,
              old_raw.substr(static_cast<size_t>(CopyAt(2, 1)), kKeyTableSector));
  WriteRaw(raw, 0);
  ASSERT_OK(t.RewrapAll(wrap_, next));
  const std::string done = Raw();
  EXPECT_EQ(done.find(old_raw.substr(static_cast<size_t>(CopyAt(2, 1)) + 32, 72)),
            std::string::npos);
  EXPECT_OK(t.Read(2, Id(3), next));
  // A wipe that had destroyed only copy A is finished, not carried forward.
  ASSERT_OK(t.Add(Id(4), wrap_));
  raw = Raw();
  raw.replace(static_cast<size_t>(CopyAt(3, 0)), 8, "MFSKTDEL");
  WriteRaw(raw, 0);
  ASSERT_OK(t.RewrapAll(next, next));
  EXPECT_EQ(t.Read(3, Id(4), wrap_).error().code(), Code::kNotFound);
}

TEST_F(KeyTableTest, ForeignDamagedOrNewerTablesAreRefused) {
  ASSERT_OK(Table().Add(Id(1), wrap_));
  VaultId other;
  other.fill(0x52);
  auto foreign = KeyTable::Open(keystore_.get(), other, false);
  ASSERT_FALSE(foreign.ok());
  EXPECT_EQ(foreign.error().code(), Code::kCorruption);
  std::string raw = Raw();
  raw[8] = 3;  // version 3 (2 is this release's)
  WriteRaw(raw, 0);
  auto newer = KeyTable::Open(keystore_.get(), vault_, false);
  ASSERT_FALSE(newer.ok());
  EXPECT_EQ(newer.error().code(), Code::kUnsupported);
  EXPECT_NE(newer.error().message().find("key table version 3"), std::string::npos);
  raw[0] = 'X';
  WriteRaw(raw, 0);
  EXPECT_EQ(KeyTable::Open(keystore_.get(), vault_, true).error().code(), Code::kCorruption);
}

TEST_F(KeyTableTest, ATornAppendIsReusedByTheNextAdd) {
  KeyTable t = Table();
  ASSERT_OK(t.Add(Id(1), wrap_));
  // A crash in the middle of appending entry 1: half of it on disk.
  ASSERT_EQ(::truncate((dir_.path() + "/" + kKeyTableName).c_str(),
                       static_cast<off_t>(kKeyTableSector * 4)),
            0);
  EXPECT_EQ(t.entries(), 1u);
  auto b = t.Add(Id(2), wrap_);
  ASSERT_OK(b);
  EXPECT_EQ(b->index, 1u);
  EXPECT_OK(t.Read(1, Id(2), wrap_));
  EXPECT_OK(t.Read(0, Id(1), wrap_));
}

}  // namespace
}  // namespace matterfs::vault
