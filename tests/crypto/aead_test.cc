// BlockCipher (content blocks) and key wrapping: round trips and every way a sealed value
// can be altered or misplaced.
#include "crypto/aead.h"

#include <gtest/gtest.h>

#include <vector>

#include "crypto/secure_memory.h"
#include "tests/crypto/test_util.h"

namespace matterfs::crypto {
namespace {

using test::Ascii;
using test::FlipBit;
using test::Seq;
using DataKey = SecretKey<KeyPurpose::kData>;

std::vector<Cipher> UsableCiphers() {
  std::vector<Cipher> out = {Cipher::kXChaCha20Poly1305};
  if (AesGcmAvailable()) out.push_back(Cipher::kAes256Gcm);
  return out;
}

Bytes Seal(const BlockCipher& c, ByteSpan plain, ByteSpan ad) {
  Bytes out(plain.size() + c.Overhead());
  c.Seal(plain, ad, out.data());
  return out;
}

TEST(AeadTest, CipherNamesRoundTrip) {
  for (Cipher c : {Cipher::kAes256Gcm, Cipher::kXChaCha20Poly1305}) {
    EXPECT_EQ(c, ParseCipher(CipherName(c)));
  }
  EXPECT_EQ(Cipher::kAes256Gcm, ParseCipher("aes"));
  EXPECT_EQ(Cipher::kXChaCha20Poly1305, ParseCipher("xchacha"));
  EXPECT_FALSE(ParseCipher("rot13").has_value());
  EXPECT_FALSE(ParseCipher("").has_value());
}

TEST(AeadTest, OverheadIsNonceAndTag) {
  EXPECT_EQ(12u + 16u, BlockCipher::Overhead(Cipher::kAes256Gcm));
  EXPECT_EQ(24u + 16u, BlockCipher::Overhead(Cipher::kXChaCha20Poly1305));
  EXPECT_EQ(AesGcmAvailable() ? Cipher::kAes256Gcm : Cipher::kXChaCha20Poly1305, DefaultCipher());
}

TEST(AeadTest, RoundTripsEverySizeClass) {
  for (Cipher cipher : UsableCiphers()) {
    SCOPED_TRACE(CipherName(cipher));
    auto c = BlockCipher::Create(cipher, DataKey::Random());
    ASSERT_OK(c);
    EXPECT_EQ(cipher, c->cipher());
    for (size_t size : {size_t{0}, size_t{1}, size_t{15}, size_t{16}, size_t{4095}, size_t{4096}}) {
      Bytes plain(size);
      RandomBytes(plain);
      Bytes sealed = Seal(*c, plain, Ascii("ad"));
      ASSERT_EQ(size + c->Overhead(), sealed.size());
      Bytes back(size + 1, 0xee);
      ASSERT_TRUE(c->Open(sealed, Ascii("ad"), back.data())) << size;
      back.resize(size);
      EXPECT_EQ(plain, back);
    }
  }
}

TEST(AeadTest, SealUsesAFreshNonceEachTime) {
  for (Cipher cipher : UsableCiphers()) {
    auto c = BlockCipher::Create(cipher, DataKey::Random());
    ASSERT_OK(c);
    const Bytes plain(64, 0x41);
    Bytes a = Seal(*c, plain, {});
    Bytes b = Seal(*c, plain, {});
    EXPECT_NE(Bytes(a.begin(), a.begin() + c->NonceSize()),
              Bytes(b.begin(), b.begin() + c->NonceSize()));
    EXPECT_NE(a, b);
  }
}

TEST(AeadTest, RejectsEverySingleBitFlip) {
  for (Cipher cipher : UsableCiphers()) {
    SCOPED_TRACE(CipherName(cipher));
    auto c = BlockCipher::Create(cipher, DataKey::Random());
    ASSERT_OK(c);
    const Bytes plain = Seq(0x00, 100);
    const Bytes sealed = Seal(*c, plain, Ascii("ad"));
    Bytes out(plain.size());
    for (size_t bit = 0; bit < sealed.size() * 8; ++bit) {
      ASSERT_FALSE(c->Open(FlipBit(sealed, bit), Ascii("ad"), out.data())) << "bit " << bit;
    }
  }
}

TEST(AeadTest, RejectsOtherAssociatedDataKeyOrLength) {
  for (Cipher cipher : UsableCiphers()) {
    SCOPED_TRACE(CipherName(cipher));
    auto c = BlockCipher::Create(cipher, DataKey::Random());
    auto other = BlockCipher::Create(cipher, DataKey::Random());
    ASSERT_OK(c);
    ASSERT_OK(other);
    const Bytes sealed = Seal(*c, Seq(0, 32), Ascii("block 1"));
    Bytes out(sealed.size());
    EXPECT_FALSE(c->Open(sealed, Ascii("block 2"), out.data()));
    EXPECT_FALSE(c->Open(sealed, {}, out.data()));
    EXPECT_FALSE(other->Open(sealed, Ascii("block 1"), out.data()));
    // Truncated: dropping or adding bytes never authenticates, and a value shorter than
    // nonce+tag is refused before any decryption.
    for (size_t len = 0; len < sealed.size(); ++len) {
      EXPECT_FALSE(c->Open(ByteSpan(sealed).first(len), Ascii("block 1"), out.data())) << len;
    }
    Bytes longer = sealed;
    longer.push_back(0);
    Bytes out2(longer.size());
    EXPECT_FALSE(c->Open(longer, Ascii("block 1"), out2.data()));
  }
}

TEST(AeadTest, CiphersAreNotInterchangeable) {
  if (!AesGcmAvailable()) GTEST_SKIP() << "no AES-NI on this CPU";
  const Bytes key = Seq(0x10, 32);
  auto x = BlockCipher::Create(Cipher::kXChaCha20Poly1305, DataKey::FromBytes(key));
  auto a = BlockCipher::Create(Cipher::kAes256Gcm, DataKey::FromBytes(key));
  ASSERT_OK(x);
  ASSERT_OK(a);
  const Bytes sealed = Seal(*x, Seq(0, 64), {});
  Bytes out(sealed.size());
  EXPECT_FALSE(a->Open(sealed, {}, out.data()));
}

TEST(AeadTest, WrapRoundTripsAndBindsKeyAndAssociatedData) {
  auto kek = SecretKey<KeyPurpose::kSlot>::Random();
  const Bytes secret = Seq(0x20, 32);
  const Bytes wrapped = Wrap(kek, secret, Ascii("slot 0"));
  ASSERT_EQ(32 + kWrapOverhead, wrapped.size());
  EXPECT_NE(wrapped, Wrap(kek, secret, Ascii("slot 0")));  // random nonce
  EXPECT_NE(secret, Bytes(wrapped.begin() + kWrapNonceSize, wrapped.begin() + kWrapNonceSize + 32));

  Bytes out(32);
  ASSERT_OK(Unwrap(kek, wrapped, Ascii("slot 0"), out));
  EXPECT_EQ(secret, out);

  auto wrong = SecretKey<KeyPurpose::kSlot>::Random();
  Status st = Unwrap(wrong, wrapped, Ascii("slot 0"), out);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(Code::kWrongKey, st.error().code());
  EXPECT_EQ(Bytes(32, 0), out) << "a failed unwrap must not leave key bytes behind";

  st = Unwrap(kek, wrapped, Ascii("slot 1"), out);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(Code::kWrongKey, st.error().code());

  Bytes short_out(31);
  st = Unwrap(kek, wrapped, Ascii("slot 0"), short_out);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(Code::kCorruption, st.error().code());
}

TEST(AeadTest, UnwrapRejectsEverySingleBitFlip) {
  auto kek = SecretKey<KeyPurpose::kVaultSub>::Random();
  const Bytes wrapped = Wrap(kek, Seq(0x20, 32), Ascii("ad"));
  Bytes out(32);
  for (size_t bit = 0; bit < wrapped.size() * 8; ++bit) {
    Status st = Unwrap(kek, FlipBit(wrapped, bit), Ascii("ad"), out);
    ASSERT_FALSE(st.ok()) << "bit " << bit;
    EXPECT_EQ(Code::kWrongKey, st.error().code());
  }
}

TEST(AeadTest, UnwrapKeyChecksLengthAndAuthenticity) {
  auto kek = SecretKey<KeyPurpose::kMatterWrap>::Random();
  const Bytes key_bytes = Seq(0x40, 32);
  Bytes wrapped = Wrap(kek, key_bytes, Ascii("dek"));
  auto key = UnwrapKey<KeyPurpose::kData>(kek, wrapped, Ascii("dek"));
  ASSERT_OK(key);
  EXPECT_BYTES_EQ(key_bytes, key->bytes());

  Bytes longer = wrapped;
  longer.push_back(0);
  auto r = UnwrapKey<KeyPurpose::kData>(kek, longer, Ascii("dek"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Code::kCorruption, r.error().code());

  r = UnwrapKey<KeyPurpose::kData>(kek, ByteSpan(wrapped).first(wrapped.size() - 1), Ascii("dek"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Code::kCorruption, r.error().code());

  r = UnwrapKey<KeyPurpose::kData>(kek, wrapped, Ascii("other"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Code::kWrongKey, r.error().code());
}

}  // namespace
}  // namespace matterfs::crypto
