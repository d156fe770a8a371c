// The vault config file of version 2 (one copy; vaults of file format 2 still get it):
// parsing without a key, unlocking, and every kind of damage or edit (bit flips with and
// without a recomputed checksum, truncation, version bumps). Version 3 (two copies, new
// slot kinds): config_v3_test.cc.
#include "fs/vault/vault_config.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "crypto/kdf.h"
#include "fs/vault/vault.h"
#include "tests/crypto/test_util.h"
#include "tests/vault/vault_test_util.h"

namespace matterfs::vault {
namespace {

using test::FlipBit;
using test::Seq;

size_t BodySize(ByteSpan raw) { return raw.size() - kConfigTrailerSize; }

// Recomputes the unkeyed checksum, as anyone editing the file on purpose would.
Bytes WithChecksum(Bytes raw) {
  const size_t body = BodySize(raw);
  Bytes sum = crypto::Blake2b(32, ByteSpan(raw).first(body + 32));
  std::memcpy(raw.data() + body + 32, sum.data(), 32);
  return raw;
}

class VaultConfigTest : public ::testing::Test {
 protected:
  // A vault with a key-file slot (fast to try) and a passphrase slot (tiny Argon2id).
  void SetUp() override {
    InitOptions opts;
    opts.cipher = crypto::Cipher::kXChaCha20Poly1305;
    opts.argon = test::kFastArgon;
    opts.file_format = 2;  // config version 2
    ASSERT_OK(Vault::Create(dir_.Sub("v"), opts, test::KeyFile(key_file_)));
    auto v = Vault::Open(dir_.Sub("v"), std::nullopt);
    ASSERT_OK(v);
    ASSERT_OK((*v)->Unlock(test::KeyFile(key_file_)));
    ASSERT_OK((*v)->AddKeyslot(test::Passphrase("open sesame"), test::kFastArgon));
    raw_ = test::ReadFileBytes(dir_.Sub("v/matterfs.vault"));
    ASSERT_EQ(kConfigHeaderSize + 2 * kSlotSize + kConfigTrailerSize, raw_.size());
  }

  // True when `raw` parses and the key file unlocks it.
  bool Unlocks(ByteSpan raw) const {
    auto c = VaultConfig::Parse(raw);
    if (!c.ok()) return false;
    return c->Unlock(raw, test::KeyFile(key_file_)).ok();
  }

  test::TempDir dir_;
  const Bytes key_file_ = Seq(0x40, 64);
  Bytes raw_;
};

TEST_F(VaultConfigTest, ParsesWhatVaultCreateWrote) {
  auto c = VaultConfig::Parse(raw_);
  ASSERT_OK(c);
  EXPECT_EQ(2, c->version);
  EXPECT_EQ(0u, c->features);  // file format 2: config version 2
  EXPECT_EQ(crypto::Cipher::kXChaCha20Poly1305, c->cipher);
  ASSERT_EQ(2u, c->slots.size());
  EXPECT_EQ(SlotKind::kKeyFile, c->slots[0].kind);
  EXPECT_EQ(0u, c->slots[0].argon.opslimit);
  EXPECT_EQ(SlotKind::kPassphrase, c->slots[1].kind);
  EXPECT_EQ(test::kFastArgon.opslimit, c->slots[1].argon.opslimit);
  EXPECT_EQ(test::kFastArgon.memlimit, c->slots[1].argon.memlimit);
  EXPECT_NE(c->slots[0].salt, c->slots[1].salt);
  EXPECT_GT(c->slots[0].created, 1600000000u);
  auto k1 = c->Unlock(raw_, test::KeyFile(key_file_));
  auto k2 = c->Unlock(raw_, test::Passphrase("open sesame"));
  ASSERT_OK(k1);
  ASSERT_OK(k2);
  EXPECT_BYTES_EQ(k1->bytes(), k2->bytes());
  // Re-serialising with the VMK reproduces the file byte for byte.
  EXPECT_EQ(raw_, c->Serialize(*k1));
}

TEST_F(VaultConfigTest, WrongCredentialsAreWrongKey) {
  auto c = VaultConfig::Parse(raw_);
  ASSERT_OK(c);
  auto r = c->Unlock(raw_, test::Passphrase("open sesame!"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Code::kWrongKey, r.error().code());
  r = c->Unlock(raw_, test::KeyFile(Seq(0x41, 64)));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Code::kWrongKey, r.error().code());
  // The passphrase's bytes given as a key file (and the reverse) open nothing.
  r = c->Unlock(raw_, test::MakeCredential(SlotKind::kPassphrase, key_file_));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Code::kWrongKey, r.error().code());
}

TEST_F(VaultConfigTest, RejectsEverySingleBitFlipWithoutAKey) {
  // The checksum catches accidental damage before any key is tried.
  for (size_t bit = 0; bit < raw_.size() * 8; ++bit) {
    Bytes flipped = FlipBit(raw_, bit);
    auto c = VaultConfig::Parse(flipped);
    if (c.ok()) {
      ADD_FAILURE() << "config bit " << bit << " flipped and still parses";
      EXPECT_FALSE(c->Unlock(flipped, test::KeyFile(key_file_)).ok()) << bit;
    }
  }
}

TEST_F(VaultConfigTest, RejectsEverySingleBitFlipEvenWithARecomputedChecksum) {
  // A deliberate edit fixes the unkeyed checksum; the MAC (or the slot's associated data)
  // must still refuse it once the key file is tried.
  ASSERT_TRUE(Unlocks(WithChecksum(raw_)));
  for (size_t bit = 0; bit < (BodySize(raw_) + 32) * 8; ++bit) {
    ASSERT_FALSE(Unlocks(WithChecksum(FlipBit(raw_, bit)))) << "config bit " << bit;
  }
}

TEST_F(VaultConfigTest, RefusesEveryTruncationAndExtension) {
  for (size_t len = 0; len < raw_.size(); ++len) {
    auto c = VaultConfig::Parse(ByteSpan(raw_).first(len));
    ASSERT_FALSE(c.ok()) << len;
    EXPECT_EQ(Code::kCorruption, c.error().code()) << len;
  }
  Bytes longer = raw_;
  longer.push_back(0);
  EXPECT_FALSE(VaultConfig::Parse(longer).ok());
}

TEST_F(VaultConfigTest, NewerFormatVersionIsUnsupportedAndNamesTheVersion) {
  for (uint16_t version : {uint16_t{4}, uint16_t{7}, uint16_t{0xffff}}) {
    Bytes b = raw_;
    PutU16(b.data() + 8, version);
    for (const Bytes& candidate : {b, WithChecksum(b)}) {
      auto c = VaultConfig::Parse(candidate);
      ASSERT_FALSE(c.ok());
      EXPECT_EQ(Code::kUnsupported, c.error().code());
      EXPECT_NE(std::string::npos, c.error().message().find("version " + std::to_string(version)))
          << c.error().message();
    }
  }
  Bytes b = raw_;
  PutU16(b.data() + 8, 0);
  auto c = VaultConfig::Parse(WithChecksum(b));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(Code::kCorruption, c.error().code());
}

TEST_F(VaultConfigTest, UnknownRequiredFeaturesAreUnsupported) {
  Bytes b = raw_;
  PutU32(b.data() + 12, 1u << 5);
  auto c = VaultConfig::Parse(WithChecksum(b));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(Code::kUnsupported, c.error().code());
  // Switching the known external-keystore feature on parses but cannot be unlocked: the
  // features are bound into every slot's wrap and the MAC.
  PutU32(b.data() + 12, kFeatureExternalKeystore);
  EXPECT_OK(VaultConfig::Parse(WithChecksum(b)));
  EXPECT_FALSE(Unlocks(WithChecksum(b)));
}

TEST_F(VaultConfigTest, TheMasterRotationBitIsOutsideTheSlotAdButInsideTheMac) {
  // Bit 1 (master key rotation unfinished) parses, and the slots still unwrap with it set
  // (the rotation clears it without the slots' secrets), but the MAC catches the edit:
  // corrupt, not wrong key.
  Bytes b = raw_;
  PutU32(b.data() + 12, kFeatureMasterRotation);
  b = WithChecksum(b);
  auto c = VaultConfig::Parse(b);
  ASSERT_OK(c);
  EXPECT_EQ(kFeatureMasterRotation, c->features);
  EXPECT_EQ(c->SlotAd(c->slots[0]), VaultConfig::Parse(raw_)->SlotAd(c->slots[0]));
  auto vmk = c->Unlock(b, test::KeyFile(key_file_));
  ASSERT_FALSE(vmk.ok());
  EXPECT_EQ(Code::kCorruption, vmk.error().code());
  // Bit 0 is in the slot AD: with it flipped no slot unwraps at all.
  PutU32(b.data() + 12, kFeatureExternalKeystore);
  b = WithChecksum(b);
  vmk = VaultConfig::Parse(b)->Unlock(b, test::KeyFile(key_file_));
  ASSERT_FALSE(vmk.ok());
  EXPECT_EQ(Code::kWrongKey, vmk.error().code());
}

TEST_F(VaultConfigTest, UnlockNamesTheSlotThatOpened) {
  auto c = VaultConfig::Parse(raw_);
  ASSERT_OK(c);
  size_t slot = 99;
  ASSERT_OK(c->Unlock(raw_, test::KeyFile(key_file_), &slot));
  EXPECT_EQ(0u, slot);
  ASSERT_OK(c->Unlock(raw_, test::Passphrase("open sesame"), &slot));
  EXPECT_EQ(1u, slot);
}

TEST_F(VaultConfigTest, HostileArgonParametersAreRefusedBeforeDerivation) {
  // A passphrase slot asking for 1 TiB: refused by Parse, before Argon2id could allocate.
  Bytes b = raw_;
  uint8_t* slot = b.data() + kConfigHeaderSize + kSlotSize;
  ASSERT_EQ(static_cast<uint8_t>(SlotKind::kPassphrase), slot[0]);
  PutU64(slot + 20, uint64_t{1} << 40);
  auto c = VaultConfig::Parse(WithChecksum(b));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(Code::kCorruption, c.error().code());
  // A key-file slot must carry zero parameters.
  b = raw_;
  PutU64(b.data() + kConfigHeaderSize + 12, 1);
  c = VaultConfig::Parse(WithChecksum(b));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(Code::kCorruption, c.error().code());
}

TEST_F(VaultConfigTest, SlotCountOutOfRangeIsCorruption) {
  for (uint8_t n : {uint8_t{0}, uint8_t{1}, uint8_t{3}, uint8_t{kMaxSlots + 1}}) {
    Bytes b = raw_;
    b[33] = n;
    auto c = VaultConfig::Parse(WithChecksum(b));
    ASSERT_FALSE(c.ok()) << int{n};
    EXPECT_EQ(Code::kCorruption, c.error().code());
  }
}

TEST_F(VaultConfigTest, ASlotCopiedIntoAnotherVaultDoesNotOpenIt) {
  // Another vault unlocked by the same key file: splicing our key-file slot into its config
  // (and fixing its checksum) gives neither our VMK nor access to theirs.
  InitOptions opts;
  opts.cipher = crypto::Cipher::kXChaCha20Poly1305;
  ASSERT_OK(Vault::Create(dir_.Sub("w"), opts, test::KeyFile(Seq(0x77, 32))));
  Bytes theirs = test::ReadFileBytes(dir_.Sub("w/matterfs.vault"));
  std::memcpy(theirs.data() + kConfigHeaderSize, raw_.data() + kConfigHeaderSize, kSlotSize);
  EXPECT_FALSE(Unlocks(WithChecksum(theirs)));
}

TEST(KeyslotTest, MakeSlotRefusesInsaneArgonParameters) {
  VaultConfig c;
  MasterKey vmk = MasterKey::Random();
  auto s = c.MakeSlot(vmk, test::Passphrase("pw"), {0, 0}, 1);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(Code::kInvalidArgument, s.error().code());
  // Key-file slots ignore the parameters and store zeros.
  auto k = c.MakeSlot(vmk, test::KeyFile(Seq(0, 32)), {0, 0}, 1);
  ASSERT_OK(k);
  EXPECT_EQ(0u, k->argon.opslimit);
  EXPECT_EQ(0u, k->argon.memlimit);
  auto short_key = c.MakeSlot(vmk, test::KeyFile(Seq(0, 31)), {0, 0}, 1);
  ASSERT_FALSE(short_key.ok());
  EXPECT_EQ(Code::kInvalidArgument, short_key.error().code());
}

TEST(KeyslotTest, SlotKindNames) {
  EXPECT_STREQ("passphrase", SlotKindName(SlotKind::kPassphrase));
  EXPECT_STREQ("key-file", SlotKindName(SlotKind::kKeyFile));
}

}  // namespace
}  // namespace matterfs::vault
