// Known-answer vectors of the crypto layer. Every value here is also written, with its
// inputs, in docs/FORMAT_VECTORS.md (the vector id is in each test's comment); changing
// one is a format change. BLAKE2B-1/2 and SIGN-1 are published vectors, so they check
// libsodium and our wrappers against the outside world, not against themselves.
#include <gtest/gtest.h>

#include <string>

#include "crypto/aead.h"
#include "crypto/kdf.h"
#include "crypto/name_cipher.h"
#include "crypto/secure_memory.h"
#include "crypto/signing.h"
#include "tests/crypto/test_util.h"

namespace matterfs::crypto {
namespace {

using test::Ascii;
using test::Hex;
using test::Seq;

// BLAKE2B-1: RFC 7693 appendix A.
TEST(KnownAnswerTest, Blake2b512OfAbcMatchesRfc7693) {
  EXPECT_BYTES_EQ(Hex("ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1"
                      "7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923"),
                  Blake2b(64, Ascii("abc")));
}

// BLAKE2B-2: BLAKE2 reference blake2b-kat.txt, keyed, empty input.
TEST(KnownAnswerTest, KeyedBlake2b512MatchesReferenceKat) {
  EXPECT_BYTES_EQ(Hex("10ebb67700b1868efb4417987acf4690ae9d972fb7a590c2f02871799aaa4786"
                      "b5e996e8f0f4eb981fc214b005f42d2ff4233499391653df7aefcbc13fc51568"),
                  Blake2b(64, {}, Seq(0x00, 64)));
}

// SIGN-1: RFC 8032 section 7.1, test 1.
TEST(KnownAnswerTest, Ed25519FromSeedMatchesRfc8032Test1) {
  SigningKey key =
      SigningKey::FromSeed(Hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"));
  EXPECT_BYTES_EQ(Hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"),
                  key.public_key());
  Bytes sig = key.Sign({});
  EXPECT_BYTES_EQ(Hex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
                      "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
                  sig);
  EXPECT_TRUE(VerifySignature(key.public_key(), {}, sig));
}

// SIGN-2: the vault signing key of CONFIG-1.
TEST(KnownAnswerTest, Ed25519VaultSigningKey) {
  SigningKey key = SigningKey::FromSeed(Seq(0xa0, 32));
  const Bytes pub = Hex("4fd099ccd47d7893dfe9ec24414ecb0d9b5420232aad30d91c465be33cbe65c4");
  EXPECT_BYTES_EQ(pub, key.public_key());
  Bytes secret = Seq(0xa0, 32);
  secret.insert(secret.end(), pub.begin(), pub.end());
  EXPECT_BYTES_EQ(secret, key.secret_key());
  EXPECT_BYTES_EQ(Hex("526a3f14377355d1464f59443694d2c2ea193ff842b070fdbd667ce0119b58cb"
                      "56b21f59ad4e5f9d4f4bec26f87cf21f07322c62187cbd9379957331dbf6d709"),
                  key.Sign(Ascii("matterfs audit checkpoint 1")));
}

// KDF-1: the six vault master key subkeys.
TEST(KnownAnswerTest, VaultSubkeys) {
  static constexpr const char* kExpected[] = {
      "5bdd128a9d227f86a90826a2863f071857a3c0ad64c34773e59aee4c4f54daab",
      "8156f50727812c9cf410816f1c31f57c42818875150c79f6d94dabf3bbfd41eb",
      "5b05027a0b8093a0e7918e144c0a2d70216244f17908eda5bb8f989a5da3d1b0",
      "0920bbe1cd3194addb6e9367bf8219e697bcb8b8f85211fe8be5d8455216afb9",
      "23749dcd24149f31b76f67e83ed3f5e902f8f3e08ff1962f951d19e601104fd6",
      "9b36840f1768aab25fbcc79fa35f588e920e5fee74b15e395c81f3ac30560a4a",
  };
  const Bytes master = Seq(0x00, 32);
  for (uint64_t id = 1; id <= 6; ++id) {
    SCOPED_TRACE("subkey " + std::to_string(id));
    Bytes out(32);
    DeriveSubkeyRaw(master, id, "MFSvault", out.data());
    EXPECT_BYTES_EQ(Hex(kExpected[id - 1]), out);
  }
  // The typed wrapper derives the same bytes.
  auto typed = DeriveSubkey<KeyPurpose::kVaultSub>(
      SecretKey<KeyPurpose::kMaster>::FromBytes(master), 3, "MFSvault");
  EXPECT_BYTES_EQ(Hex(kExpected[2]), typed.bytes());
}

// KDF-2: the four name key subkeys.
TEST(KnownAnswerTest, NameSubkeys) {
  static constexpr const char* kExpected[] = {
      "d2bcc50d117002a86abcac9acab35271feaaa84366927787b88f7f00fae9aa2a",
      "a9aab0b55fa10d932c52e0c57bfe33653faa10a7f0c08b0bc489ddb7f9e3a19a",
      "04ec6ffcbd2d95eacb0bca6837e77ce9b97a56883895db62b565f8be4ee0f7a2",
      "04319c36c40bc08bd9e1dee8a1b55253cae4e76417c9b5fc55d2014dd4f6135c",
  };
  for (uint64_t id = 1; id <= 4; ++id) {
    SCOPED_TRACE("subkey " + std::to_string(id));
    Bytes out(32);
    DeriveSubkeyRaw(Seq(0x00, 32), id, "MFSnames", out.data());
    EXPECT_BYTES_EQ(Hex(kExpected[id - 1]), out);
  }
}

// KDF-3: Argon2id with small parameters (checked once against the reference `argon2` tool).
TEST(KnownAnswerTest, PassphraseArgon2id) {
  auto key = DeriveFromPassphrase(Ascii("correct horse battery staple"), Seq(0x10, 16),
                                  {1, uint64_t{8192} * 1024});
  ASSERT_OK(key);
  EXPECT_BYTES_EQ(Hex("42611acd26ce21c7c0a93ea60bcd781b4edbd5257d085aaacbcd5a334f80bcc6"),
                  key->bytes());
}

// KDF-4: key-file slot key.
TEST(KnownAnswerTest, KeyFileKey) {
  auto key = DeriveFromKeyFile(Seq(0x40, 32), Seq(0x10, 16));
  ASSERT_OK(key);
  EXPECT_BYTES_EQ(Hex("1d56267b7fea8b130597d4008ea4bcb7b22b63c03d71d8348f6c104ea721c251"),
                  key->bytes());
}

// KDF-5: two-factor slot keys (passphrase + key file, passphrase + FIDO2 hmac-secret),
// from KDF-3's Argon2id output.
TEST(KnownAnswerTest, TwoFactorSlotKeys) {
  auto a = SecretKey<KeyPurpose::kSlot>::FromBytes(
      Hex("42611acd26ce21c7c0a93ea60bcd781b4edbd5257d085aaacbcd5a334f80bcc6"));
  EXPECT_BYTES_EQ(Hex("c3a00db79a57d0b50c6f12803dbe5d314ba65392a1b0339ebd84b5656848a04e"),
                  CombineFactors(a, "matterfs passphrase+keyfile v1", Seq(0x40, 32)).bytes());
  EXPECT_BYTES_EQ(Hex("277fded1b920a8e5985016be4b9357427d89090340116e1d607293406b1b6022"),
                  CombineFactors(a, "matterfs passphrase+fido2 v1", Seq(0x60, 32)).bytes());
}

// AEAD-1.
TEST(KnownAnswerTest, XChaChaBlockSeal) {
  auto cipher = BlockCipher::Create(Cipher::kXChaCha20Poly1305,
                                    SecretKey<KeyPurpose::kData>::FromBytes(Seq(0x00, 32)));
  ASSERT_OK(cipher);
  const Bytes plain = Ascii("Privileged and confidential.");
  const Bytes ad = Ascii("MFS test ad");
  Bytes out(plain.size() + cipher->Overhead());
  cipher->SealWithNonce(plain, ad, Seq(0x40, 24), out.data());
  EXPECT_BYTES_EQ(Hex("404142434445464748494a4b4c4d4e4f5051525354555657844b6c06b98c1c71"
                      "ea90a7dfc1f845f1fdd4cbad773c3dee0350916b6c03cf312026fd389fa64f15"
                      "cab46a29"),
                  out);
  Bytes back(plain.size());
  ASSERT_TRUE(cipher->Open(out, ad, back.data()));
  EXPECT_EQ(plain, back);
}

// AEAD-2.
TEST(KnownAnswerTest, AesGcmBlockSeal) {
  if (!AesGcmAvailable()) GTEST_SKIP() << "no AES-NI on this CPU";
  auto cipher = BlockCipher::Create(Cipher::kAes256Gcm,
                                    SecretKey<KeyPurpose::kData>::FromBytes(Seq(0x00, 32)));
  ASSERT_OK(cipher);
  const Bytes plain = Ascii("Privileged and confidential.");
  const Bytes ad = Ascii("MFS test ad");
  Bytes out(plain.size() + cipher->Overhead());
  cipher->SealWithNonce(plain, ad, Seq(0x40, 12), out.data());
  EXPECT_BYTES_EQ(Hex("404142434445464748494a4bb2cbc7554f50e264a8a03757f500333816a83435"
                      "d35061571e2622cb26a3a5e96d13a8f71b57d3f4c7770e8d"),
                  out);
  Bytes back(plain.size());
  ASSERT_TRUE(cipher->Open(out, ad, back.data()));
  EXPECT_EQ(plain, back);
}

// WRAP-1.
TEST(KnownAnswerTest, KeyWrap) {
  const Bytes wrapped =
      WrapRaw(Seq(0x80, 32), Seq(0xa0, 32), Ascii("MFS1wrap test"), Seq(0x60, 24));
  EXPECT_BYTES_EQ(Hex("606162636465666768696a6b6c6d6e6f707172737475767771a1b09714d8ea5d"
                      "45334900f9f3ef5dba83a06c435f7e10100bfaa91f43ce51c103c6ec57ddee95"
                      "3b54c9bb85f09d46"),
                  wrapped);
  Bytes out(32);
  ASSERT_OK(UnwrapRaw(Seq(0x80, 32), wrapped, Ascii("MFS1wrap test"), out));
  EXPECT_BYTES_EQ(Seq(0xa0, 32), out);
}

// NAME-1 (the sealed bytes; the base64url entries are checked in tests/vault).
TEST(KnownAnswerTest, NameEncryption) {
  NameCipher cipher(SecretKey<KeyPurpose::kName>::FromBytes(Seq(0x00, 32)));
  const Bytes iv = Seq(0xf0, 16);
  struct Case {
    const char* name;
    const char* sealed;
  };
  static constexpr Case kCases[] = {
      {"a", "f82d5d76bf36e76cc157f0facffe6d1ff511d585f049a6270041b8d700e03a15"},
      {"0123456789abcdef", "980c655381ebe2ef75389cf64c65cfc987eb5cffbbf35a855f849eaa1f77e704"},
      {"Engagement letter.pdf",
       "5b8acd34f9b840a17f5654f04990e0c89815ea4ba4917c01a01ce314ba2f0b08"
       "69dd0d8b936c3f817ccedc953678967a"},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    const Bytes sealed = cipher.Encrypt(iv, c.name);
    EXPECT_BYTES_EQ(Hex(c.sealed), sealed);
    auto back = cipher.Decrypt(iv, sealed);
    ASSERT_OK(back);
    EXPECT_EQ(c.name, *back);
  }
}

}  // namespace
}  // namespace matterfs::crypto
