// Known answers for the audit formats, computed by an independent implementation
// (Python's hashlib for BLAKE2b and the `cryptography` package for Ed25519), so that a
// change to the checkpoint message, the chain hash or the path hash cannot go unnoticed
// and docs/AUDIT.md stays implementable from its text alone.
#include <gtest/gtest.h>

#include "crypto/kdf.h"
#include "crypto/signing.h"
#include "audit/event.h"
#include "audit/local_log.h"

namespace matterfs::audit {
namespace {

Bytes Hex(std::string_view h) { return *FromHex(h); }

TEST(AuditKnownAnswerTest, CheckpointMessageAndSignature) {
  // The vault signing key of docs/FORMAT_VECTORS.md SIGN-2.
  const auto key = crypto::SigningKey::FromSeed(
      Hex("a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"));
  EXPECT_EQ(ToHex(key.public_key()),
            "4fd099ccd47d7893dfe9ec24414ecb0d9b5420232aad30d91c465be33cbe65c4");
  const Bytes message = CheckpointMessage(5, Bytes(32, 0x11));
  EXPECT_EQ(ToHex(message),
            "6d6174746572667320617564697420636865636b706f696e742076310005000000000000001111"
            "111111111111111111111111111111111111111111111111111111111111");
  EXPECT_EQ(ToHex(key.Sign(message)),
            "287e001934f94e26e1ba7433cd4373bdbcc741d88621d510c3fe971db12720cde753b9d874e016d1e0"
            "f53df6bcf1a088c4217f5a74350c5a1679c375024bcf08");
}

TEST(AuditKnownAnswerTest, ChainHashIsBlake2b256OfTheLineWithoutNewline) {
  const std::string line = R"({"seq":1,"prev":")" + std::string(64, '0') +
                           R"(","time":"2024-05-01T12:34:56.123456Z","event":"open"})";
  EXPECT_EQ(ToHex(crypto::Blake2b(32, AsBytes(line))),
            "573f3e56839278b9eb967dbb406230c1fe8f3d2869adfd516bbb073169d0c03e");
}

TEST(AuditKnownAnswerTest, PathHash) {
  auto r = PathRedactor::Make(PathMode::kHash, Bytes(32, 0x07));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->Hash("acme-v-smith/pleadings/draft.docx"), "1a2db46bfa6c1c811fe12c816e009847");
}

}  // namespace
}  // namespace matterfs::audit
