// `matterctl audit verify`: verdicts and exit codes (0 intact, 4 tampered, 5 missing).
#include "tools/audit_cmd.h"

#include <gtest/gtest.h>

#include "crypto/signing.h"
#include "audit/local_log.h"
#include "tests/audit/test_util.h"

namespace matterfs::tools {
namespace {

using audit::testing::ReadAll;
using audit::testing::SampleEvent;
using audit::testing::TempDir;
using audit::testing::WriteAll;

struct CmdRun {
  int code;
  std::string out;
  std::string err;
};

CmdRun Verify(const std::string& log, std::optional<std::string> key) {
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  const int code = AuditVerify(log, std::move(key));
  CmdRun r{code, ::testing::internal::GetCapturedStdout(),
           ::testing::internal::GetCapturedStderr()};
  return r;
}

class AuditVerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto log = audit::AuditLog::Open(path_, key_);
    ASSERT_TRUE(log.ok());
    for (int i = 0; i < 5; ++i) ASSERT_TRUE((*log)->Append(SampleEvent()).ok());
    ASSERT_TRUE((*log)->Close().ok());
  }
  TempDir dir_;
  std::string path_ = dir_.File("audit.jsonl");
  crypto::SigningKey key_ = crypto::SigningKey::FromSeed(Bytes(32, 3));
  std::string key_hex_ = ToHex(key_.public_key());
};

TEST_F(AuditVerifyTest, IntactWithTheVaultKey) {
  CmdRun r = Verify(path_, key_hex_);
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.out,
            path_ + ": intact: 5 records (seq 1..5), 1 checkpoint, signed by the expected key\n");
}

TEST_F(AuditVerifyTest, IntactWithoutAKeySaysItIsNotPinned) {
  CmdRun r = Verify(path_, std::nullopt);
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("not pinned"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("warning"), std::string::npos);
}

TEST_F(AuditVerifyTest, TamperedIsExitFour) {
  std::string s = ReadAll(path_);
  s.replace(s.find("\"user\":\"bob\""), 12, "\"user\":\"eve\"");
  WriteAll(path_, s);
  CmdRun r = Verify(path_, key_hex_);
  EXPECT_EQ(r.code, 4);
  EXPECT_EQ(
      r.out.rfind(path_ + ": TAMPERED: 1 problem, first: line 2: seq 2: prev does not match", 0),
      0u)
      << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << "one-line verdict";
}

TEST_F(AuditVerifyTest, WrongKeyIsExitFour) {
  const auto other = crypto::SigningKey::FromSeed(Bytes(32, 4));
  CmdRun r = Verify(path_, ToHex(other.public_key()));
  EXPECT_EQ(r.code, 4);
  EXPECT_NE(r.out.find("not the expected key"), std::string::npos) << r.out;
}

TEST_F(AuditVerifyTest, MissingIsExitFive) {
  CmdRun r = Verify(dir_.File("missing.jsonl"), std::nullopt);
  EXPECT_EQ(r.code, 5);
  EXPECT_NE(r.out.find("MISSING"), std::string::npos);
}

TEST_F(AuditVerifyTest, MalformedKeyIsAUsageError) {
  EXPECT_EQ(Verify(path_, "abc").code, 2);
  EXPECT_EQ(Verify(path_, std::string(64, 'g')).code, 2);
}

TEST_F(AuditVerifyTest, UnsignedTailIsIntactWithAWarning) {
  std::string s = ReadAll(path_);
  s.erase(s.rfind("{\"checkpoint\""));  // cut the final checkpoint off
  WriteAll(path_, s);
  CmdRun r = Verify(path_, key_hex_);
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("warning: last 5 record(s) unsigned"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace matterfs::tools
