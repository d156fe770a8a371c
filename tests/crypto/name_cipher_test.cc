// Deterministic name encryption (synthetic IV) and the random-nonce value sealing.
#include "crypto/name_cipher.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "tests/crypto/test_util.h"

namespace matterfs::crypto {
namespace {

using test::Ascii;
using test::FlipBit;
using test::Seq;
using NameKey = SecretKey<KeyPurpose::kName>;

TEST(NameCipherTest, DeterministicWithinOneDirectoryUnrelatedAcrossDirectories) {
  NameCipher c(NameKey::Random());
  const Bytes iv1 = Seq(0, 16), iv2 = Seq(1, 16);
  EXPECT_EQ(c.Encrypt(iv1, "Smith deposition.docx"), c.Encrypt(iv1, "Smith deposition.docx"));
  EXPECT_NE(c.Encrypt(iv1, "Smith deposition.docx"), c.Encrypt(iv2, "Smith deposition.docx"));
  EXPECT_NE(c.Encrypt(iv1, "a"), c.Encrypt(iv1, "b"));
  NameCipher other(NameKey::Random());
  EXPECT_NE(c.Encrypt(iv1, "a"), other.Encrypt(iv1, "a"));
}

TEST(NameCipherTest, PadsToSixteenBytesAndHidesLengthWithinABlock) {
  NameCipher c(NameKey::Random());
  const Bytes iv = Seq(0, 16);
  EXPECT_EQ(32u, c.Encrypt(iv, "a").size());
  EXPECT_EQ(32u, c.Encrypt(iv, std::string(16, 'a')).size());
  EXPECT_EQ(48u, c.Encrypt(iv, std::string(17, 'a')).size());
  EXPECT_EQ(16u + 256u, c.Encrypt(iv, std::string(255, 'a')).size());
}

TEST(NameCipherTest, RoundTripsAndNeedsTheSameIvAndKey) {
  NameCipher c(NameKey::FromBytes(Seq(0x11, 32)));
  const Bytes iv = Seq(0x22, 16);
  for (const std::string& name : std::vector<std::string>{
           "a", "x.pdf", "0123456789abcdef", "0123456789abcdefg", std::string(255, '\xff')}) {
    Bytes sealed = c.Encrypt(iv, name);
    auto back = c.Decrypt(iv, sealed);
    ASSERT_OK(back);
    EXPECT_EQ(name, *back);
    auto wrong_iv = c.Decrypt(Seq(0x23, 16), sealed);
    ASSERT_FALSE(wrong_iv.ok());
    EXPECT_EQ(Code::kCorruption, wrong_iv.error().code());
    auto wrong_key = NameCipher(NameKey::FromBytes(Seq(0x12, 32))).Decrypt(iv, sealed);
    ASSERT_FALSE(wrong_key.ok());
    EXPECT_EQ(Code::kCorruption, wrong_key.error().code());
  }
}

TEST(NameCipherTest, RejectsEverySingleBitFlipOfAnEncryptedName) {
  NameCipher c(NameKey::Random());
  const Bytes iv = Seq(0x40, 16);
  for (const std::string& name :
       std::vector<std::string>{"a", "Engagement letter.pdf", std::string(40, 'n')}) {
    SCOPED_TRACE(name);
    const Bytes sealed = c.Encrypt(iv, name);
    for (size_t bit = 0; bit < sealed.size() * 8; ++bit) {
      auto r = c.Decrypt(iv, FlipBit(sealed, bit));
      ASSERT_FALSE(r.ok()) << "bit " << bit;
      EXPECT_EQ(Code::kCorruption, r.error().code());
    }
    // The directory IV is authenticated too.
    for (size_t bit = 0; bit < iv.size() * 8; ++bit) {
      ASSERT_FALSE(c.Decrypt(FlipBit(iv, bit), sealed).ok()) << "iv bit " << bit;
    }
  }
}

TEST(NameCipherTest, RejectsImpossibleLengths) {
  NameCipher c(NameKey::Random());
  const Bytes iv = Seq(0, 16);
  const Bytes sealed = c.Encrypt(iv, "name");
  for (size_t len : {size_t{0}, size_t{16}, size_t{31}, size_t{33}, size_t{47}}) {
    Bytes b(len, 0);
    std::copy_n(sealed.begin(), std::min(len, sealed.size()), b.begin());
    auto r = c.Decrypt(iv, b);
    ASSERT_FALSE(r.ok()) << len;
    EXPECT_EQ(Code::kCorruption, r.error().code());
  }
}

TEST(NameCipherTest, SealedValuesRoundTripAndAreBoundToKindAndAssociatedData) {
  NameCipher c(NameKey::Random());
  const Bytes target = Ascii("../other matter/secret.pdf");
  Bytes sealed = c.SealValue(NameCipher::ValueKind::kSymlink, target, Ascii("ad"));
  EXPECT_NE(sealed, c.SealValue(NameCipher::ValueKind::kSymlink, target, Ascii("ad")));
  auto back = c.OpenValue(NameCipher::ValueKind::kSymlink, sealed, Ascii("ad"));
  ASSERT_OK(back);
  EXPECT_EQ(target, *back);
  EXPECT_FALSE(c.OpenValue(NameCipher::ValueKind::kXattr, sealed, Ascii("ad")).ok());
  EXPECT_FALSE(c.OpenValue(NameCipher::ValueKind::kSymlink, sealed, Ascii("other")).ok());
  for (size_t bit = 0; bit < sealed.size() * 8; ++bit) {
    auto r = c.OpenValue(NameCipher::ValueKind::kSymlink, FlipBit(sealed, bit), Ascii("ad"));
    ASSERT_FALSE(r.ok()) << "bit " << bit;
    EXPECT_EQ(Code::kCorruption, r.error().code());
  }
  auto too_short = c.OpenValue(NameCipher::ValueKind::kXattr, Bytes(39, 0), {});
  ASSERT_FALSE(too_short.ok());
  EXPECT_EQ(Code::kCorruption, too_short.error().code());
  auto empty = c.OpenValue(NameCipher::ValueKind::kXattr,
                           c.SealValue(NameCipher::ValueKind::kXattr, {}, {}), {});
  ASSERT_OK(empty);
  EXPECT_TRUE(empty->empty());
}

}  // namespace
}  // namespace matterfs::crypto
