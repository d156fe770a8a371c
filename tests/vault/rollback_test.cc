// Keyring rollback (docs/FORMAT.md §9.6 "Keyring state", §17): every keyring update
// records the keyring's sequence and status in its key table entry, after the keyring.
// An older keyring file put back, or the newer copy damaged so that the older one would
// be read, is refused (kCorruption, "rolled back") by every reader: a hold is never lifted
// and a closed matter never reopened silently. A crash between the keyring write and the
// table write (keyring ahead of the table) is accepted. fsck reports a rollback and says
// which matters are not yet protected.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <string>

#include "fs/vault/fsck.h"
#include "fs/vault/keytable.h"
#include "tests/crypto/test_util.h"
#include "tests/vault/matter_tree.h"

namespace matterfs::vault {
namespace {

class RollbackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto info = fx_.vault().CreateMatter("acme");
    ASSERT_OK(info);
    id_ = info->id;
  }
  std::string Keystore() const { return fx_.path() + "/keys"; }
  std::string KeyringPath() const { return Keystore() + "/" + KeyringFileName(id_); }
  std::string TablePath() const { return Keystore() + "/keytable"; }
  Bytes Keyring() const { return test::ReadFileBytes(KeyringPath()); }
  void PutKeyring(const Bytes& raw) { test::WriteFileBytes(KeyringPath(), raw); }
  void ExpectRolledBack(const Result<MatterInfo>& r, uint64_t seq, uint64_t recorded) {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(Code::kCorruption, r.error().code());
    const std::string want = "rolled back (sequence " + std::to_string(seq) +
                             ", the key table records " + std::to_string(recorded) + ")";
    EXPECT_NE(r.error().message().find(want), std::string::npos) << r.error().message();
    EXPECT_NE(r.error().message().find("acme"), std::string::npos) << r.error().message();
  }
  KeyTable::EntryState Recorded() {
    auto v = fx_.Reopen();
    KeyTable::EntryState state;
    EXPECT_OK(v->key_table()->Read(0, id_, v->key_table_wrap(), &state));
    return state;
  }
  FsckReport RunFsck() {
    auto v = fx_.Reopen();
    FsckReport report;
    EXPECT_OK(Fsck(*v, {}, report));
    return report;
  }

  test::VaultFixture fx_;
  MatterId id_{};
};

TEST_F(RollbackTest, EveryUpdateRecordsTheKeyringStateInTheTable) {
  KeyTable::EntryState s = Recorded();
  EXPECT_EQ(1u, s.sequence);  // matter creation
  EXPECT_EQ(MatterStatus::kOpen, s.status);
  ASSERT_OK(fx_.vault().SetMatterStatus("acme", MatterStatus::kHold));
  s = Recorded();
  EXPECT_EQ(2u, s.sequence);
  EXPECT_EQ(MatterStatus::kHold, s.status);
  // The table is version 2 now (an older matterfs refuses it by this version).
  EXPECT_EQ(2, test::ReadFileBytes(TablePath())[8]);
}

TEST_F(RollbackTest, AnOldKeyringPutBackDoesNotLiftAHold) {
  const Bytes open = Keyring();  // sequence 1, open
  ASSERT_OK(fx_.vault().SetMatterStatus("acme", MatterStatus::kHold));
  PutKeyring(open);
  auto v = fx_.Reopen();
  ExpectRolledBack(v->FindMatter("acme"), 1, 2);
  // No change goes through on top of it either (matterctl release, rotate, ...).
  auto release = v->SetMatterStatus("acme", MatterStatus::kOpen);
  ASSERT_FALSE(release.ok());
  EXPECT_EQ(Code::kCorruption, release.error().code());
  EXPECT_EQ(open, Keyring());
  // fsck reports it.
  const FsckReport report = RunFsck();
  bool found = false;
  for (const FsckProblem& p : report.problems) {
    found |= p.kind == "keyring" && !p.note && p.matter == "acme" &&
             p.message.find("rolled back") != std::string::npos;
  }
  EXPECT_TRUE(found);
}

TEST_F(RollbackTest, AHoldPutBackAfterItsReleaseIsRefusedToo) {
  // Hold, save the keyring, release, put the saved keyring back.
  ASSERT_OK(fx_.vault().SetMatterStatus("acme", MatterStatus::kHold));
  const Bytes held = Keyring();  // sequence 2
  ASSERT_OK(fx_.vault().SetMatterStatus("acme", MatterStatus::kOpen));
  PutKeyring(held);
  ExpectRolledBack(fx_.Reopen()->FindMatter("acme"), 2, 3);
}

TEST_F(RollbackTest, ADamagedNewerCopyDoesNotFallBackToTheOlderState) {
  ASSERT_OK(fx_.vault().SetMatterStatus("acme", MatterStatus::kHold));
  const Bytes held = Keyring();  // both copies: sequence 2, hold
  ASSERT_OK(fx_.vault().SetMatterStatus("acme", MatterStatus::kOpen));  // released
  // Copy B as it was before the last update (as after a crash between the two copies),
  // copy A current: the newer copy wins.
  Bytes mixed = Keyring();
  std::memcpy(mixed.data() + kKeyringCopySize, held.data() + kKeyringCopySize, kKeyringCopySize);
  PutKeyring(mixed);
  auto ok = fx_.Reopen()->FindMatter("acme");
  ASSERT_OK(ok);
  EXPECT_EQ(MatterStatus::kOpen, ok->status);
  // One flipped byte in the newer copy: the reader would take the older one silently.
  mixed[100] ^= 1;
  PutKeyring(mixed);
  ExpectRolledBack(fx_.Reopen()->FindMatter("acme"), 2, 3);
}

TEST_F(RollbackTest, AKeyringAheadOfTheTableIsAcceptedAndTheNextUpdateRecordsIt) {
  const Bytes table = test::ReadFileBytes(TablePath());
  ASSERT_OK(fx_.vault().SetMatterStatus("acme", MatterStatus::kHold));
  // A crash after the keyring write, before the table write: the table still says 1.
  test::WriteFileBytes(TablePath(), table);
  EXPECT_EQ(1u, Recorded().sequence);
  auto v = fx_.Reopen();
  auto info = v->FindMatter("acme");
  ASSERT_OK(info);
  EXPECT_EQ(MatterStatus::kHold, info->status);
  ASSERT_OK(v->SetMatterStatus("acme", MatterStatus::kOpen));
  EXPECT_EQ(3u, Recorded().sequence);
  EXPECT_EQ(MatterStatus::kOpen, Recorded().status);
}

TEST_F(RollbackTest, AStateStrippedFromTheTableOpensNothing) {
  ASSERT_OK(fx_.vault().SetMatterStatus("acme", MatterStatus::kHold));
  // Zero the state of both copies of entry 0 (as if recorded by no one): the root key
  // was wrapped with the state in its AD, so the copies no longer open at all.
  Bytes table = test::ReadFileBytes(TablePath());
  for (size_t c = 0; c < 2; ++c) {
    std::memset(table.data() + 512 + 512 * c + 104, 0, 9);
  }
  // And the header back to version 1, as an attacker would.
  table[8] = 1;
  test::WriteFileBytes(TablePath(), table);
  auto r = fx_.Reopen()->FindMatter("acme");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Code::kCorruption, r.error().code());
}

TEST_F(RollbackTest, AVersion1TableIsUpgradedAtTheFirstStateWrite) {
  Bytes raw = test::ReadFileBytes(TablePath());
  raw[8] = 1;  // as table version 1 wrote it
  test::WriteFileBytes(TablePath(), raw);
  auto v = fx_.Reopen();
  KeyTable* table = v->key_table();
  ASSERT_NE(nullptr, table);
  // Add writes an entry without state (as version 1 did) and leaves the header alone.
  auto added = table->Add(id_, v->key_table_wrap());
  ASSERT_OK(added);
  KeyTable::EntryState state;
  ASSERT_OK(table->Read(added->index, id_, v->key_table_wrap(), &state));
  EXPECT_EQ(0u, state.sequence);
  EXPECT_EQ(1, test::ReadFileBytes(TablePath())[8]);
  ASSERT_OK(table->RecordState(added->index, id_, v->key_table_wrap(), added->key,
                               {7, MatterStatus::kClosed}));
  EXPECT_EQ(2, test::ReadFileBytes(TablePath())[8]);
  ASSERT_OK(table->Read(added->index, id_, v->key_table_wrap(), &state));
  EXPECT_EQ(7u, state.sequence);
  EXPECT_EQ(MatterStatus::kClosed, state.status);
  // A destroyed entry never gets its state (and so its key) back.
  ASSERT_OK(table->Destroy(added->index, id_));
  auto refused = table->RecordState(added->index, id_, v->key_table_wrap(), added->key,
                                    {8, MatterStatus::kClosed});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(Code::kNotFound, refused.error().code());
}

TEST_F(RollbackTest, FsckNotesAKeyringWhoseEntryRecordsNoState) {
  // Point the keyring at a new entry holding no state (as every entry of a version 1
  // table), written without going through an update.
  auto v = fx_.Reopen();
  auto ring = v->LoadKeyring(id_);
  ASSERT_OK(ring);
  auto added = v->key_table()->Add(id_, v->key_table_wrap());
  ASSERT_OK(added);
  ring->table_index = added->index + 1;
  ring->root_key = std::make_unique<MatterRootKey>(std::move(added->key));
  const Bytes copy = ring->SerializeCopy(v->keyring_keys());
  Bytes file = copy;
  file.insert(file.end(), copy.begin(), copy.end());
  PutKeyring(file);
  const FsckReport report = RunFsck();
  bool noted = false;
  for (const FsckProblem& p : report.problems) {
    noted |= p.matter == "acme" && p.note &&
             p.message.find("not protected against rollback yet") != std::string::npos;
  }
  EXPECT_TRUE(noted);
  // Its next update records the state: protected from then on.
  ASSERT_OK(fx_.Reopen()->SetMatterStatus("acme", MatterStatus::kClosed));
  for (const FsckProblem& p : RunFsck().problems) {
    EXPECT_FALSE(p.matter == "acme" && p.kind == "keyring") << p.message;
  }
}

}  // namespace
}  // namespace matterfs::vault
