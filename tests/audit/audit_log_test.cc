// The local JSON-lines log: its chain and checkpoints, continuing an existing log, and
// VerifyLog catching each kind of tampering while accepting an intact log.
#include "audit/local_log.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "crypto/kdf.h"
#include "crypto/signing.h"
#include "tests/audit/test_util.h"

namespace matterfs::audit {
namespace {

using testing::JoinLines;
using testing::ReadAll;
using testing::SampleEvent;
using testing::SplitLines;
using testing::TempDir;
using testing::WriteAll;

crypto::SigningKey KeyA() { return crypto::SigningKey::FromSeed(Bytes(32, 0xA1)); }
crypto::SigningKey KeyB() { return crypto::SigningKey::FromSeed(Bytes(32, 0xB2)); }

AuditEvent Event(int i) {
  AuditEvent e = SampleEvent("user" + std::to_string(i), static_cast<uint32_t>(1000 + i));
  e.time += std::chrono::seconds(i);
  return e;
}

// Writes `n` events, checkpointing every `every`, and closes (final checkpoint).
void WriteLog(const std::string& path, const crypto::SigningKey& key, int n, uint64_t every,
              int first = 1) {
  AuditLogOptions o;
  o.checkpoint_every = every;
  auto log = AuditLog::Open(path, key, o);
  ASSERT_TRUE(log.ok()) << log.error().message();
  for (int i = first; i < first + n; ++i) ASSERT_TRUE((*log)->Append(Event(i)).ok());
  ASSERT_TRUE((*log)->Close().ok());
}

std::string Hash(const std::string& line) { return ToHex(crypto::Blake2b(32, AsBytes(line))); }

VerifyReport Verify(const std::string& path, const crypto::SigningKey* expected) {
  auto r = expected ? VerifyLog(path, expected->public_key()) : VerifyLog(path);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
  return r.ok() ? *r : VerifyReport{};
}

std::string AllProblems(const VerifyReport& r) {
  std::string s;
  for (const auto& p : r.problems) s += p + "\n";
  return s;
}

bool IsCheckpoint(const std::string& line) { return line.rfind("{\"checkpoint\":", 0) == 0; }

class AuditLogTest : public ::testing::Test {
 protected:
  TempDir dir_;
  std::string path_ = dir_.File("audit.jsonl");
  crypto::SigningKey key_ = KeyA();
};

TEST_F(AuditLogTest, LinesAreChainedAndCheckpointsSigned) {
  WriteLog(path_, key_, 5, 2);
  const auto lines = SplitLines(ReadAll(path_));
  // r1 r2 c r3 r4 c r5 c
  ASSERT_EQ(lines.size(), 8u);
  EXPECT_EQ(lines[0].rfind("{\"seq\":1,\"prev\":\"" + std::string(64, '0') + "\",\"time\":", 0), 0u)
      << lines[0];
  EXPECT_NE(lines[0].find("\"user\":\"user1\""), std::string::npos);
  EXPECT_EQ(lines[1].rfind("{\"seq\":2,\"prev\":\"" + Hash(lines[0]) + "\"", 0), 0u);
  ASSERT_TRUE(IsCheckpoint(lines[2])) << lines[2];
  EXPECT_NE(lines[2].find("\"seq\":2,\"hash\":\"" + Hash(lines[1]) + "\""), std::string::npos);
  EXPECT_NE(lines[2].find("\"key\":\"" + ToHex(key_.public_key()) + "\""), std::string::npos);
  EXPECT_EQ(lines[3].rfind("{\"seq\":3,\"prev\":\"" + Hash(lines[2]) + "\"", 0), 0u);
  EXPECT_TRUE(IsCheckpoint(lines[5]));
  EXPECT_TRUE(IsCheckpoint(lines[7]));

  // The signature is over the documented message.
  const size_t sig_at = lines[7].find("\"sig\":\"") + 7;
  auto sig = FromHex(lines[7].substr(sig_at, 128));
  ASSERT_TRUE(sig.has_value());
  auto head = FromHex(Hash(lines[6]));
  EXPECT_TRUE(crypto::VerifySignature(key_.public_key(), CheckpointMessage(5, *head), *sig));

  VerifyReport r = Verify(path_, &key_);
  EXPECT_TRUE(r.intact) << AllProblems(r);
  EXPECT_EQ(r.records, 5u);
  EXPECT_EQ(r.checkpoints, 3u);
  EXPECT_EQ(r.last_seq, 5u);
  EXPECT_EQ(r.signed_seq, 5u);
  EXPECT_EQ(r.unsigned_records, 0u);
  EXPECT_TRUE(r.key_pinned);
  EXPECT_TRUE(r.warnings.empty());
}

TEST_F(AuditLogTest, CheckpointIsSkippedWhenNothingNew) {
  WriteLog(path_, key_, 4, 2);  // r r c r r c; Close adds nothing
  EXPECT_EQ(SplitLines(ReadAll(path_)).size(), 6u);
}

TEST_F(AuditLogTest, ContinuesAnExistingLog) {
  WriteLog(path_, key_, 3, 10);
  WriteLog(path_, key_, 3, 10, 4);
  VerifyReport r = Verify(path_, &key_);
  EXPECT_TRUE(r.intact) << AllProblems(r);
  EXPECT_EQ(r.records, 6u);
  EXPECT_EQ(r.last_seq, 6u);
  EXPECT_EQ(r.checkpoints, 2u);
}

TEST_F(AuditLogTest, ContinuesAfterACrashLeftUnsignedRecords) {
  {
    AuditLogOptions o;
    o.checkpoint_every = 100;
    auto log = AuditLog::Open(path_, key_, o);
    ASSERT_TRUE(log.ok());
    for (int i = 1; i <= 3; ++i) ASSERT_TRUE((*log)->Append(Event(i)).ok());
    // Simulate a crash: keep the file as it is now, before the final checkpoint.
    const std::string before_close = ReadAll(path_);
    ASSERT_TRUE((*log)->Close().ok());
    WriteAll(path_, before_close);
  }
  VerifyReport crashed = Verify(path_, &key_);
  EXPECT_TRUE(crashed.intact);
  EXPECT_EQ(crashed.unsigned_records, 3u);
  ASSERT_FALSE(crashed.warnings.empty());
  EXPECT_NE(crashed.warnings[0].find("no checkpoint"), std::string::npos);

  WriteLog(path_, key_, 2, 100, 4);
  VerifyReport r = Verify(path_, &key_);
  EXPECT_TRUE(r.intact) << AllProblems(r);
  EXPECT_EQ(r.records, 5u);
  EXPECT_EQ(r.unsigned_records, 0u);
}

TEST_F(AuditLogTest, CutsOffAHalfWrittenLastLine) {
  WriteLog(path_, key_, 3, 10);
  {
    std::string s = ReadAll(path_);
    WriteAll(path_, s + "{\"seq\":4,\"prev\":\"abc");  // a crash in the middle of a write
  }
  VerifyReport torn = Verify(path_, &key_);
  EXPECT_TRUE(torn.intact);
  ASSERT_FALSE(torn.warnings.empty());
  EXPECT_NE(torn.warnings[0].find("incomplete final line"), std::string::npos);

  AuditLogOptions o;
  auto log = AuditLog::Open(path_, key_, o);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ((*log)->discarded_tail_bytes(), 20u);
  EXPECT_EQ((*log)->last_seq(), 3u);
  ASSERT_TRUE((*log)->Append(Event(4)).ok());
  ASSERT_TRUE((*log)->Close().ok());
  VerifyReport r = Verify(path_, &key_);
  EXPECT_TRUE(r.intact) << AllProblems(r);
  EXPECT_EQ(r.records, 4u);
  EXPECT_TRUE(r.warnings.empty());
}

TEST_F(AuditLogTest, RefusesToContinueAForeignLastLine) {
  WriteAll(path_, "this is not an audit log\n");
  auto log = AuditLog::Open(path_, key_);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.error().code(), Code::kCorruption);
}

TEST_F(AuditLogTest, NeverTruncatesAFileThatIsNotALog) {
  // A misconfigured audit_log pointing at some other file must leave it untouched.
  for (const std::string& content : {std::string("binary\x01\x02 data without newline"),
                                     std::string("a text file\nwith a last line without newline"),
                                     std::string("{\"json\": \"but not ours\"}\n{\"tail")}) {
    WriteAll(path_, content);
    auto log = AuditLog::Open(path_, key_);
    ASSERT_FALSE(log.ok()) << content;
    EXPECT_EQ(log.error().code(), Code::kCorruption);
    EXPECT_EQ(ReadAll(path_), content);
  }
}

TEST_F(AuditLogTest, CutsOffAHalfWrittenFirstLine) {
  WriteAll(path_, "{\"seq\":1,\"prev\":\"000");
  auto log = AuditLog::Open(path_, key_);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ((*log)->discarded_tail_bytes(), 20u);
  ASSERT_TRUE((*log)->Append(Event(1)).ok());
  ASSERT_TRUE((*log)->Close().ok());
  VerifyReport r = Verify(path_, &key_);
  EXPECT_TRUE(r.intact) << AllProblems(r);
  EXPECT_EQ(r.records, 1u);
}

TEST_F(AuditLogTest, OneWriterAtATime) {
  auto first = AuditLog::Open(path_, key_);
  ASSERT_TRUE(first.ok());
  auto second = AuditLog::Open(path_, key_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code(), Code::kBusy);
}

TEST_F(AuditLogTest, CreatesTheFileOwnerOnly) {
  WriteLog(path_, key_, 1, 10);
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(AuditLogTest, TickSignsAWaitingTail) {
  AuditLogOptions o;
  o.checkpoint_every = 100;
  o.checkpoint_after = std::chrono::seconds(0);
  auto log = AuditLog::Open(path_, key_, o);
  ASSERT_TRUE(log.ok());
  ASSERT_TRUE((*log)->Append(Event(1)).ok());
  EXPECT_EQ((*log)->unsigned_records(), 1u);
  ASSERT_TRUE((*log)->Tick().ok());
  EXPECT_EQ((*log)->unsigned_records(), 0u);
  const auto lines = SplitLines(ReadAll(path_));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_TRUE(IsCheckpoint(lines[1]));
}

TEST_F(AuditLogTest, VerifyReportsAMissingLog) {
  auto r = VerifyLog(dir_.File("nope.jsonl"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kNotFound);
}

TEST_F(AuditLogTest, AnEmptyLogIsIntact) {
  WriteAll(path_, "");
  VerifyReport r = Verify(path_, &key_);
  EXPECT_TRUE(r.intact);
  EXPECT_EQ(r.records, 0u);
}

// ---- Tampering ----

class TamperTest : public AuditLogTest {
 protected:
  void SetUp() override {
    WriteLog(path_, key_, 9, 3);  // r1 r2 r3 c r4 r5 r6 c r7 r8 r9 c
    lines_ = SplitLines(ReadAll(path_));
    ASSERT_EQ(lines_.size(), 12u);
    VerifyReport r = Verify(path_, &key_);
    ASSERT_TRUE(r.intact) << AllProblems(r);
  }
  void Save() { WriteAll(path_, JoinLines(lines_)); }
  VerifyReport Tampered(const std::string& expect_in_problems) {
    Save();
    VerifyReport r = Verify(path_, &key_);
    EXPECT_FALSE(r.intact);
    EXPECT_NE(AllProblems(r).find(expect_in_problems), std::string::npos) << AllProblems(r);
    return r;
  }
  std::vector<std::string> lines_;
};

TEST_F(TamperTest, EditedField) {
  const size_t at = lines_[4].find("\"user\":\"user4\"");
  ASSERT_NE(at, std::string::npos);
  lines_[4].replace(at, 14, "\"user\":\"userX\"");
  Tampered("line 6: seq 5: prev does not match");
}

TEST_F(TamperTest, EditedFieldRightBeforeACheckpoint) {
  lines_[2].replace(lines_[2].find("\"uid\":1003"), 10, "\"uid\":1000");
  Tampered("line 4: checkpoint hash does not match");
}

TEST_F(TamperTest, EditedSeqAndPrevRecomputedForOneLine) {
  // A careful forger recomputes the edited line's successor too; the one after breaks.
  lines_[4].replace(lines_[4].find("user4"), 5, "userX");
  lines_[5].replace(lines_[5].find("\"prev\":\"") + 8, 64, Hash(lines_[4]));
  Tampered("line 7: seq 6: prev does not match");
}

TEST_F(TamperTest, DeletedLine) {
  lines_.erase(lines_.begin() + 5);  // r5
  VerifyReport r = Tampered("seq jumps from 4 to 6: 1 record(s) removed");
  EXPECT_NE(AllProblems(r).find("prev does not match"), std::string::npos);
}

TEST_F(TamperTest, DeletedCheckpoint) {
  lines_.erase(lines_.begin() + 3);
  Tampered("line 4: seq 4: prev does not match");
}

TEST_F(TamperTest, InsertedForgedLine) {
  // The forgery chains correctly to the line before it and takes the next number.
  std::string forged = "{\"seq\":5,\"prev\":\"" + Hash(lines_[4]) +
                       "\",\"time\":\"2024-05-01T12:35:00.000000Z\",\"event\":\"open\","
                       "\"result\":\"allow\",\"user\":\"mallory\"}";
  lines_.insert(lines_.begin() + 5, forged);
  VerifyReport r = Tampered("seq 5 after seq 5: a record inserted or reordered");
  EXPECT_NE(AllProblems(r).find("line 7: seq 5: prev does not match"), std::string::npos);
}

TEST_F(TamperTest, SwappedLines) {
  std::swap(lines_[5], lines_[6]);  // r5 <-> r6
  VerifyReport r = Tampered("seq 6: prev does not match");
  EXPECT_NE(AllProblems(r).find("a record inserted or reordered"), std::string::npos);
}

TEST_F(TamperTest, ForgedSignature) {
  std::string& cp = lines_[7];
  const size_t at = cp.find("\"sig\":\"") + 7;
  cp[at] = cp[at] == '0' ? '1' : '0';
  Tampered("line 8: checkpoint signature is invalid");
}

TEST_F(TamperTest, KeySwappedWithoutResigning) {
  std::string& cp = lines_[3];
  const size_t at = cp.find("\"key\":\"") + 7;
  cp.replace(at, 64, ToHex(KeyB().public_key()));
  Tampered("line 4: checkpoint signature is invalid");
}

TEST_F(TamperTest, WholeLogRebuiltAndResignedWithAnotherKey) {
  // The strongest forger rewrites everything with a valid chain and their own key.
  ASSERT_EQ(::unlink(path_.c_str()), 0);
  const crypto::SigningKey other = KeyB();
  WriteLog(path_, other, 9, 3);
  VerifyReport r = Verify(path_, &key_);
  EXPECT_FALSE(r.intact);
  EXPECT_NE(AllProblems(r).find("not the expected key"), std::string::npos) << AllProblems(r);
  EXPECT_FALSE(r.key_pinned);

  // Without the expected key the chain itself is consistent; the report says so.
  VerifyReport unpinned = Verify(path_, nullptr);
  EXPECT_TRUE(unpinned.intact);
  EXPECT_FALSE(unpinned.key_pinned);
  EXPECT_EQ(unpinned.key_hex, ToHex(other.public_key()));
  ASSERT_FALSE(unpinned.warnings.empty());
  EXPECT_NE(unpinned.warnings.back().find("key named in the log itself"), std::string::npos);
}

TEST_F(TamperTest, KeyChangedHalfway) {
  // Later checkpoints re-signed with another key, chain rebuilt: caught even unpinned.
  ASSERT_EQ(::unlink(path_.c_str()), 0);
  WriteLog(path_, key_, 3, 3);
  const crypto::SigningKey other = KeyB();
  WriteLog(path_, other, 3, 3, 4);
  VerifyReport r = Verify(path_, nullptr);
  EXPECT_FALSE(r.intact);
  EXPECT_NE(AllProblems(r).find("not the key of the earlier checkpoints"), std::string::npos);
}

TEST_F(TamperTest, GarbageLine) {
  lines_.insert(lines_.begin() + 2, "garbage");
  Tampered("line 3: not a JSON object");
}

TEST_F(TamperTest, DuplicateKeyIsNotAccepted) {
  lines_[1].insert(1, "\"seq\":2,");
  Tampered("line 2: not a JSON object");
}

TEST_F(TamperTest, TruncatedTailIsAWarningWithTheUnsignedCount) {
  lines_.resize(10);  // ... c r7 r8 : the last checkpoint and r9 cut off
  Save();
  VerifyReport r = Verify(path_, &key_);
  EXPECT_TRUE(r.intact) << AllProblems(r);
  EXPECT_EQ(r.unsigned_records, 2u);
  EXPECT_EQ(r.signed_seq, 6u);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("2 record(s) after the last valid checkpoint (seq 6) are unsigned"),
            std::string::npos)
      << r.warnings[0];
}

TEST_F(TamperTest, EditInTheUnsignedTailIsUndetectableButReported) {
  // The documented limit: the last record after the last checkpoint has no witness.
  lines_.resize(10);
  lines_[9].replace(lines_[9].find("user8"), 5, "userX");
  Save();
  VerifyReport r = Verify(path_, &key_);
  EXPECT_TRUE(r.intact);
  EXPECT_EQ(r.unsigned_records, 2u);
}

}  // namespace
}  // namespace matterfs::audit
