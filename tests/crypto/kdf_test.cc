// Key derivation: passphrases (Argon2id), key files, subkeys and BLAKE2b.
#include "crypto/kdf.h"

#include <gtest/gtest.h>

#include <stdexcept>

#include "tests/crypto/test_util.h"

namespace matterfs::crypto {
namespace {

using test::Ascii;
using test::Seq;

constexpr Argon2Params kFast = {1, uint64_t{8192} * 1024};

TEST(KdfTest, PassphraseIsDeterministicAndSaltAndParamsMatter) {
  auto a = DeriveFromPassphrase(Ascii("hunter2"), Seq(0, 16), kFast);
  auto b = DeriveFromPassphrase(Ascii("hunter2"), Seq(0, 16), kFast);
  auto other_salt = DeriveFromPassphrase(Ascii("hunter2"), Seq(1, 16), kFast);
  auto other_pass = DeriveFromPassphrase(Ascii("hunter3"), Seq(0, 16), kFast);
  auto other_ops = DeriveFromPassphrase(Ascii("hunter2"), Seq(0, 16), {2, kFast.memlimit});
  ASSERT_OK(a);
  ASSERT_OK(b);
  ASSERT_OK(other_salt);
  ASSERT_OK(other_pass);
  ASSERT_OK(other_ops);
  EXPECT_BYTES_EQ(a->bytes(), b->bytes());
  EXPECT_NE(ToHex(a->bytes()), ToHex(other_salt->bytes()));
  EXPECT_NE(ToHex(a->bytes()), ToHex(other_pass->bytes()));
  EXPECT_NE(ToHex(a->bytes()), ToHex(other_ops->bytes()));
}

TEST(KdfTest, PassphraseRejectsBadInput) {
  auto r = DeriveFromPassphrase({}, Seq(0, 16), kFast);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Code::kInvalidArgument, r.error().code());

  r = DeriveFromPassphrase(Ascii("pw"), Seq(0, 15), kFast);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Code::kInvalidArgument, r.error().code());

  // Parameters outside the sane range are what a hostile config would carry: corrupt.
  for (Argon2Params p : {Argon2Params{0, kFast.memlimit}, Argon2Params{65, kFast.memlimit},
                         Argon2Params{1, 8191}, Argon2Params{1, (uint64_t{4} << 30) + 1}}) {
    r = DeriveFromPassphrase(Ascii("pw"), Seq(0, 16), p);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(Code::kCorruption, r.error().code());
  }
}

TEST(KdfTest, Argon2Bounds) {
  EXPECT_TRUE(Argon2ParamsSane(DefaultArgon2Params()));
  EXPECT_TRUE(Argon2ParamsSane(kFast));
  EXPECT_TRUE(Argon2ParamsSane({64, uint64_t{4} << 30}));
  EXPECT_FALSE(Argon2ParamsSane({0, 1 << 20}));
  EXPECT_FALSE(Argon2ParamsSane({1, 0}));
  EXPECT_FALSE(Argon2ParamsSane({UINT64_MAX, UINT64_MAX}));
  EXPECT_GE(DefaultArgon2Params().opslimit, 3u);
  EXPECT_GE(DefaultArgon2Params().memlimit, uint64_t{256} << 20);
}

TEST(KdfTest, KeyFileNeedsAtLeast32BytesAndA16ByteSalt) {
  auto r = DeriveFromKeyFile(Seq(0, 31), Seq(0, 16));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Code::kInvalidArgument, r.error().code());
  r = DeriveFromKeyFile(Seq(0, 32), Seq(0, 17));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Code::kInvalidArgument, r.error().code());
  auto a = DeriveFromKeyFile(Seq(0, 32), Seq(0, 16));
  auto b = DeriveFromKeyFile(Seq(0, 33), Seq(0, 16));
  auto c = DeriveFromKeyFile(Seq(0, 32), Seq(9, 16));
  ASSERT_OK(a);
  ASSERT_OK(b);
  ASSERT_OK(c);
  EXPECT_NE(ToHex(a->bytes()), ToHex(b->bytes()));
  EXPECT_NE(ToHex(a->bytes()), ToHex(c->bytes()));
}

TEST(KdfTest, KeyFileKeyIsDomainSeparatedFromPlainBlake2b) {
  // The label keeps a key-file slot key from equalling a BLAKE2b of the same file that
  // some other tool might compute.
  auto k = DeriveFromKeyFile(Seq(0, 32), Seq(0x10, 16));
  ASSERT_OK(k);
  EXPECT_NE(ToHex(k->bytes()), ToHex(Blake2b(32, Seq(0, 32), Seq(0x10, 16))));
  Bytes labelled = Ascii("matterfs keyfile v1");
  Bytes contents = Seq(0, 32);
  labelled.insert(labelled.end(), contents.begin(), contents.end());
  EXPECT_BYTES_EQ(Blake2b(32, labelled, Seq(0x10, 16)), k->bytes());
}

TEST(KdfTest, SubkeysDependOnIdContextAndMaster) {
  Bytes a(32), b(32), c(32), d(32);
  DeriveSubkeyRaw(Seq(0, 32), 1, "MFSvault", a.data());
  DeriveSubkeyRaw(Seq(0, 32), 2, "MFSvault", b.data());
  DeriveSubkeyRaw(Seq(0, 32), 1, "MFSnames", c.data());
  DeriveSubkeyRaw(Seq(1, 32), 1, "MFSvault", d.data());
  EXPECT_NE(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(a, d);
}

TEST(KdfTest, SubkeyRefusesMalformedContextOrMaster) {
  Bytes out(32);
  EXPECT_THROW(DeriveSubkeyRaw(Seq(0, 32), 1, "short", out.data()), std::invalid_argument);
  EXPECT_THROW(DeriveSubkeyRaw(Seq(0, 31), 1, "MFSvault", out.data()), std::invalid_argument);
}

TEST(KdfTest, MacIsKeyedBlake2b256) {
  auto key = SecretKey<KeyPurpose::kVaultSub>::FromBytes(Seq(0x30, 32));
  EXPECT_BYTES_EQ(Blake2b(32, Ascii("message"), Seq(0x30, 32)), Mac(key, Ascii("message")));
  EXPECT_NE(Mac(key, Ascii("message")), Blake2b(32, Ascii("message")));
}

}  // namespace
}  // namespace matterfs::crypto
