// Logs written before the JSON moved to nlohmann-json (hand-written escaping, which left
// valid UTF-8 unescaped) must still verify, and be continued, by today's code. The lines
// below are exactly what that writer produced (checkpoints every 2 records, signed with
// the SIGN-2 key of docs/FORMAT_VECTORS.md); do not regenerate them.
#include <gtest/gtest.h>

#include "audit/local_log.h"
#include "crypto/kdf.h"
#include "crypto/signing.h"
#include "tests/audit/test_util.h"

namespace matterfs::audit {
namespace {

using testing::SplitLines;
using testing::TempDir;
using testing::WriteAll;

// SIGN-2: seed a0a1..bf.
crypto::SigningKey Sign2Key() {
  Bytes seed(32);
  for (size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<uint8_t>(0xa0 + i);
  return crypto::SigningKey::FromSeed(seed);
}

// Record 2 has quotes, backslashes, a tab, a line break, U+0001, DEL, raw UTF-8 of 2, 3
// and 4 bytes and an invalid byte (written as \ufffd) in its path, and CR LF, BS and FF
// in its message.
const std::string kLegacyLog =
    R"L({"seq":1,"prev":"0000000000000000000000000000000000000000000000000000000000000000","time":"2024-05-01T12:34:56.123456Z","host":"files1","event":"open","result":"deny","severity":"warning","user":"carol","uid":1003,"pid":4242,"process":"soffice.bin","matter":"acme-v-smith","path":"acme-v-smith/pleadings/draft.docx","access":"read","rule":"matter acme-v-smith: deny carol (ethical wall)"})L"
    "\n"
    R"L({"seq":2,"prev":"52abcd5bdf201e1ae7bce7d8867de5f240cdbe10d082c3d0be227950d79a07ba","time":"2024-05-01T12:34:56.123456Z","host":"files1","event":"open","result":"allow","severity":"info","user":"alice","uid":1000,"pid":4242,"process":"soffice.bin","matter":"acme-v-smith","path":"acme-v-smith/say \"hi\" \\ back\\slash/tab\there\nnew\u0001\u007f/café € 📁/bad\ufffd","access":"read","rule":"matter acme-v-smith: write = partners","message":"line1\r\nline2\b\f"})L"
    "\n"
    R"L({"checkpoint":"2026-12-02T15:59:45.759778Z","seq":2,"hash":"aa4af15a4a1df162fc8ede959acc0d83e9c13f8549d8de9b4337e4707b841696","sig":"40fbee719da1e431ee3c223c7c448d0905648c4dd8c200774bd14ae8c7cad6173d2684e24659b58e3345344c79dfa2ee1a26edce898361c2def48c843a7d090a","key":"4fd099ccd47d7893dfe9ec24414ecb0d9b5420232aad30d91c465be33cbe65c4"})L"
    "\n"
    R"L({"seq":3,"prev":"69802c9a3519ce419fa68400fdaaf16511b9c4cfbe8006d87f03957bb1b806de","time":"2024-05-01T12:34:56.123456Z","host":"files1","event":"audit-dropped","result":"error","severity":"alert","count":312,"message":"312 audit events dropped: queue full"})L"
    "\n"
    R"L({"checkpoint":"2026-12-02T15:59:45.760682Z","seq":3,"hash":"68bdb1fc89e2541163a6db9a7b84f66e912fdb59c53d1269ad86140c92da620b","sig":"9bd46e87c5958a55fa234732f279a005f70cfb39751e2414d777d15a8cfd3554ed7569cb712fa937c54b67135920fd504f8b0f9613379bff22f99c040313e30d","key":"4fd099ccd47d7893dfe9ec24414ecb0d9b5420232aad30d91c465be33cbe65c4"})L"
    "\n";

class LegacyLogTest : public ::testing::Test {
 protected:
  VerifyReport Verify(const std::string& contents) {
    WriteAll(path_, contents);
    auto r = VerifyLog(path_, key_.public_key());
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
    return r.ok() ? *r : VerifyReport{};
  }

  TempDir dir_;
  std::string path_ = dir_.File("legacy.jsonl");
  crypto::SigningKey key_ = Sign2Key();
};

TEST_F(LegacyLogTest, VerifiesALogWrittenByThePreviousWriter) {
  const VerifyReport r = Verify(kLegacyLog);
  EXPECT_TRUE(r.intact);
  EXPECT_TRUE(r.problems.empty()) << r.problems.front();
  EXPECT_TRUE(r.warnings.empty()) << r.warnings.front();
  EXPECT_EQ(r.records, 3u);
  EXPECT_EQ(r.checkpoints, 2u);
  EXPECT_EQ(r.signed_seq, 3u);
  EXPECT_TRUE(r.key_pinned);
}

TEST_F(LegacyLogTest, OneCharacterEditFails) {
  std::string edited = kLegacyLog;
  edited.replace(edited.find("\"user\":\"carol\""), 14, "\"user\":\"caro1\"");
  const VerifyReport r = Verify(edited);
  EXPECT_FALSE(r.intact);
  ASSERT_FALSE(r.problems.empty());
  EXPECT_NE(r.problems[0].find("line 2: seq 2: prev does not match"), std::string::npos)
      << r.problems[0];
}

// Every byte of every line that a later line vouches for (all but the final checkpoint,
// whose own time nothing signs; docs/AUDIT.md "Limits"), changed to another byte.
TEST_F(LegacyLogTest, EveryByteChangeBeforeTheLastCheckpointFails) {
  const size_t covered = kLegacyLog.rfind("{\"checkpoint\"");
  for (size_t i = 0; i < covered; ++i) {
    if (kLegacyLog[i] == '\n') continue;
    std::string edited = kLegacyLog;
    edited[i] = static_cast<char>(edited[i] ^ 0x01);
    EXPECT_FALSE(Verify(edited).intact) << "byte " << i << " changed";
  }
}

TEST_F(LegacyLogTest, TheLastCheckpointsSignatureAndHashAreChecked) {
  const size_t last = kLegacyLog.rfind("{\"checkpoint\"");
  for (const char* field : {"\"seq\":", "\"hash\":\"", "\"sig\":\"", "\"key\":\""}) {
    std::string edited = kLegacyLog;
    const size_t at = edited.find(field, last) + std::string(field).size();
    edited[at] = edited[at] == '3' ? '4' : '3';
    EXPECT_FALSE(Verify(edited).intact) << field;
  }
}

TEST_F(LegacyLogTest, TodaysWriterContinuesIt) {
  WriteAll(path_, kLegacyLog);
  {
    auto log = AuditLog::Open(path_, key_);
    ASSERT_TRUE(log.ok()) << log.error().message();
    EXPECT_EQ((*log)->last_seq(), 3u);
    AuditEvent e = testing::SampleEvent("dave", 1004);
    e.path = "acme-v-smith/caf\xC3\xA9";
    ASSERT_TRUE((*log)->Append(e).ok());
    ASSERT_TRUE((*log)->Close().ok());
  }
  const std::vector<std::string> lines = SplitLines(testing::ReadAll(path_));
  ASSERT_EQ(lines.size(), 7u);
  const std::string prev = ToHex(crypto::Blake2b(32, AsBytes(lines[4])));
  EXPECT_EQ(lines[5].rfind("{\"seq\":4,\"prev\":\"" + prev + "\",", 0), 0u) << lines[5];
  EXPECT_NE(lines[5].find(R"("path":"acme-v-smith/caf\u00e9")"), std::string::npos) << lines[5];
  auto r = VerifyLog(path_, key_.public_key());
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->intact);
  EXPECT_EQ(r->records, 4u);
  EXPECT_EQ(r->checkpoints, 3u);
}

// Records of ASCII text come out byte for byte as before: same members, same order.
TEST_F(LegacyLogTest, AsciiRecordsAreWrittenAsBefore) {
  AuditEvent e = testing::SampleEvent("carol", 1003);
  e.rule = "matter acme-v-smith: deny carol (ethical wall)";
  {
    auto log = AuditLog::Open(path_, key_);
    ASSERT_TRUE(log.ok()) << log.error().message();
    ASSERT_TRUE((*log)->Append(e).ok());
  }
  EXPECT_EQ(SplitLines(testing::ReadAll(path_))[0], SplitLines(kLegacyLog)[0]);
}

}  // namespace
}  // namespace matterfs::audit
