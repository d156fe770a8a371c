// Ed25519 signing key: generation, signatures, and loading a stored secret.
#include "crypto/signing.h"

#include <gtest/gtest.h>

#include <cstring>

#include "tests/crypto/test_util.h"

namespace matterfs::crypto {
namespace {

using test::Ascii;
using test::FlipBit;
using test::Seq;

SecureBuffer SecretCopy(ByteSpan bytes) {
  SecureBuffer b(bytes.size());
  std::memcpy(b.data(), bytes.data(), bytes.size());
  return b;
}

TEST(SigningTest, SignaturesVerifyOnlyForTheSignedMessageAndKey) {
  SigningKey key = SigningKey::Generate();
  SigningKey other = SigningKey::Generate();
  EXPECT_NE(ToHex(key.public_key()), ToHex(other.public_key()));
  ASSERT_EQ(kSignPublicKeySize, key.public_key().size());
  ASSERT_EQ(kSignSecretKeySize, key.secret_key().size());
  const Bytes msg = Ascii("wipe certificate: matter 42 destroyed");
  const Bytes sig = key.Sign(msg);
  ASSERT_EQ(kSignatureSize, sig.size());
  EXPECT_TRUE(VerifySignature(key.public_key(), msg, sig));
  EXPECT_FALSE(VerifySignature(other.public_key(), msg, sig));
  EXPECT_FALSE(VerifySignature(key.public_key(), Ascii("wipe certificate: matter 43"), sig));
  for (size_t bit = 0; bit < sig.size() * 8; ++bit) {
    ASSERT_FALSE(VerifySignature(key.public_key(), msg, FlipBit(sig, bit))) << bit;
  }
  for (size_t bit = 0; bit < msg.size() * 8; ++bit) {
    ASSERT_FALSE(VerifySignature(key.public_key(), FlipBit(msg, bit), sig)) << bit;
  }
  EXPECT_FALSE(VerifySignature(ByteSpan(key.public_key()).first(31), msg, sig));
  EXPECT_FALSE(VerifySignature(key.public_key(), msg, ByteSpan(sig).first(63)));
}

TEST(SigningTest, FromSecretAcceptsAStoredKeyAndRejectsMismatchedHalves) {
  SigningKey key = SigningKey::FromSeed(Seq(0x01, 32));
  auto loaded = SigningKey::FromSecret(SecretCopy(key.secret_key()));
  ASSERT_OK(loaded);
  EXPECT_BYTES_EQ(key.public_key(), loaded->public_key());
  EXPECT_TRUE(VerifySignature(key.public_key(), Ascii("m"), loaded->Sign(Ascii("m"))));

  // Any change to the seed half or the public half is detected.
  for (size_t bit : {size_t{0}, size_t{255}, size_t{256}, size_t{511}}) {
    auto bad = SigningKey::FromSecret(SecretCopy(FlipBit(key.secret_key(), bit)));
    ASSERT_FALSE(bad.ok()) << bit;
    EXPECT_EQ(Code::kCorruption, bad.error().code());
  }
  auto wrong_size = SigningKey::FromSecret(SecretCopy(ByteSpan(key.secret_key()).first(32)));
  ASSERT_FALSE(wrong_size.ok());
  EXPECT_EQ(Code::kCorruption, wrong_size.error().code());
}

TEST(SigningTest, FromSeedIsDeterministicAndChecksTheSeedSize) {
  EXPECT_BYTES_EQ(SigningKey::FromSeed(Seq(7, 32)).public_key(),
                  SigningKey::FromSeed(Seq(7, 32)).public_key());
  EXPECT_THROW(SigningKey::FromSeed(Seq(7, 31)), std::invalid_argument);
}

}  // namespace
}  // namespace matterfs::crypto
