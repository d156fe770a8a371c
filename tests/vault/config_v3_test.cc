// Vault config version 3 (docs/FORMAT.md §8.7-8.9): two copies, so one damaged copy loses
// nothing; two-factor keyslots (passphrase + key file, passphrase + FIDO2 token) and the
// firm's escrow slot, each opening only with every factor; upgrade from version 2; and
// config backup and restore.
#include <gtest/gtest.h>
#include <sodium.h>

#include <cstring>
#include <map>
#include <string>

#include "crypto/escrow.h"
#include "fs/vault/master_rotation.h"
#include "fs/vault/vault.h"
#include "fs/vault/vault_config.h"
#include "tests/crypto/test_util.h"
#include "tests/vault/vault_test_util.h"

namespace matterfs::vault {
namespace {

using test::FlipBit;
using test::Seq;

// A software FIDO2 token: hmac-secret is HMAC-SHA-256 under a secret of the token, over
// the credential id and the salt, as a real token's output is a keyed function of both.
// Only credentials it made work on it.
class SoftToken : public Fido2Token {
 public:
  explicit SoftToken(uint8_t seed) : secret_(Seq(seed, 32)) {}
  Result<Bytes> MakeCredential(const std::string& rp_id) override {
    Bytes id = Seq(static_cast<uint8_t>(secret_[0] + made_++), 48);
    made_ids_[id] = rp_id;
    return id;
  }
  Result<crypto::SecureBuffer> HmacSecret(const std::string& rp_id, ByteSpan credential_id,
                                          ByteSpan salt) override {
    ++asked_;
    auto it = made_ids_.find(Bytes(credential_id.begin(), credential_id.end()));
    if (it == made_ids_.end() || it->second != rp_id) {
      return Error(Code::kWrongKey, "this FIDO2 token does not hold the keyslot's credential");
    }
    crypto::SecureBuffer out(32);
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, secret_.data(), secret_.size());
    crypto_auth_hmacsha256_update(&st, credential_id.data(), credential_id.size());
    crypto_auth_hmacsha256_update(&st, salt.data(), salt.size());
    crypto_auth_hmacsha256_final(&st, out.data());
    return out;
  }
  int asked_ = 0;

 private:
  Bytes secret_;
  int made_ = 0;
  std::map<Bytes, std::string> made_ids_;
};

class ConfigV3Test : public ::testing::Test {
 protected:
  void SetUp() override {
    InitOptions opts;
    opts.cipher = crypto::Cipher::kXChaCha20Poly1305;
    opts.argon = test::kFastArgon;
    ASSERT_OK(Vault::Create(Path(), opts, test::KeyFile(key_)));
  }
  std::string Path() const { return dir_.Sub("v"); }
  std::string ConfigPath() const { return Path() + "/matterfs.vault"; }
  std::unique_ptr<Vault> Unlocked(const Credential& cred) {
    auto v = Vault::Open(Path(), std::nullopt);
    EXPECT_TRUE(v.ok());
    if (!v.ok()) return nullptr;
    Status st = (*v)->Unlock(cred);
    EXPECT_TRUE(st.ok()) << st.error().message();
    return st.ok() ? std::move(v).value() : nullptr;
  }
  Code UnlockCode(const Credential& cred) {
    auto v = Vault::Open(Path(), std::nullopt);
    if (!v.ok()) return v.error().code();
    Status st = (*v)->Unlock(cred);
    return st.ok() ? Code::kOk : st.error().code();
  }
  std::string UnlockMessage(const Credential& cred) {
    auto v = Vault::Open(Path(), std::nullopt);
    if (!v.ok()) return v.error().message();
    Status st = (*v)->Unlock(cred);
    return st.ok() ? "" : st.error().message();
  }
  static Credential TwoFactor(std::string_view pass, const Bytes& key) {
    Credential c = test::Passphrase(pass);
    c.kind = SlotKind::kPassphraseKeyFile;
    c.second = crypto::SecureBuffer(key.size());
    std::memcpy(c.second.data(), key.data(), key.size());
    return c;
  }
  static Credential WithToken(std::string_view pass, std::shared_ptr<Fido2Token> token) {
    Credential c = test::Passphrase(pass);
    c.kind = SlotKind::kPassphraseFido2;
    c.token = std::move(token);
    return c;
  }

  test::TempDir dir_;
  const Bytes key_ = Seq(0x40, 64);
};

TEST_F(ConfigV3Test, ANewVaultHasTwoIdenticalCopies) {
  const Bytes raw = test::ReadFileBytes(ConfigPath());
  ASSERT_EQ(2 * kConfigCopySize, raw.size());
  EXPECT_EQ(0, std::memcmp(raw.data(), raw.data() + kConfigCopySize, kConfigCopySize));
  auto c = VaultConfig::Parse(raw);
  ASSERT_OK(c);
  EXPECT_EQ(3, c->version);
  ASSERT_EQ(1u, c->slots.size());
  EXPECT_EQ(3, c->slots[0].ad_version);
}

TEST_F(ConfigV3Test, EveryByteDamagedInEitherCopyStillOpens) {
  const Bytes raw = test::ReadFileBytes(ConfigPath());
  auto good = UnlockConfig(raw, test::KeyFile(key_));
  ASSERT_OK(good);
  for (size_t at = 0; at < raw.size(); ++at) {
    Bytes bad = raw;
    bad[at] ^= 0x5a;
    auto u = UnlockConfig(bad, test::KeyFile(key_));
    ASSERT_TRUE(u.ok()) << "byte " << at << ": " << u.error().message();
    EXPECT_EQ(at < kConfigCopySize ? kConfigCopySize : 0, u->config.copy_offset) << at;
    EXPECT_TRUE(crypto::ConstantTimeEqual(good->vmk.bytes(), u->vmk.bytes()));
    ASSERT_EQ(InspectConfigCopies(bad).identical, false);
  }
}

TEST_F(ConfigV3Test, TheSameDamageInBothCopiesIsCorruptNotWrongKey) {
  const Bytes raw = test::ReadFileBytes(ConfigPath());
  for (size_t at : {size_t{0}, size_t{8}, size_t{40}, size_t{180}, size_t{300}, size_t{8000}}) {
    Bytes bad = raw;
    bad[at] ^= 1;
    bad[kConfigCopySize + at] ^= 1;
    auto u = UnlockConfig(bad, test::KeyFile(key_));
    ASSERT_FALSE(u.ok()) << at;
    EXPECT_EQ(Code::kCorruption, u.error().code()) << at << ": " << u.error().message();
  }
}

TEST_F(ConfigV3Test, AnEditedCopyAWithAValidChecksumGivesWayToCopyB) {
  // An edit (the slot's creation time) with the checksum recomputed parses; it does not
  // authenticate, and copy B, intact, opens the vault.
  Bytes raw = test::ReadFileBytes(ConfigPath());
  raw[kConfigHeaderSize + 5] ^= 0x01;
  EXPECT_FALSE(VaultConfig::ParseCopy(raw, 0).ok());  // the checksum catches it first
  const size_t body = kConfigHeaderSize + kSlotSize;
  Bytes sum = crypto::Blake2b(32, ByteSpan(raw).first(body + 32));
  std::memcpy(raw.data() + body + 32, sum.data(), 32);
  auto a = VaultConfig::Parse(raw);
  ASSERT_OK(a);
  EXPECT_EQ(0u, a->copy_offset);
  auto u = UnlockConfig(raw, test::KeyFile(key_));
  ASSERT_OK(u);
  EXPECT_EQ(kConfigCopySize, u->config.copy_offset);
  // The vault opens the same way, and uses copy B.
  test::WriteFileBytes(ConfigPath(), raw);
  auto v = Unlocked(test::KeyFile(key_));
  ASSERT_NE(nullptr, v);
  EXPECT_EQ(kConfigCopySize, v->config().copy_offset);
}

TEST_F(ConfigV3Test, AWrongPassphraseWithoutTwoFactorSlotsHasNoHint) {
  EXPECT_EQ("wrong passphrase (no passphrase keyslot opens this vault)",
            UnlockMessage(test::Passphrase("not a slot")));
}

TEST_F(ConfigV3Test, AWrongPassphraseBesideBothTwoFactorKindsNamesBothFactors) {
  {
    auto v = Unlocked(test::KeyFile(key_));
    ASSERT_NE(nullptr, v);
    ASSERT_OK(v->AddKeyslot(WithToken("touch and type", std::make_shared<SoftToken>(1)),
                            test::kFastArgon));
    ASSERT_OK(v->AddKeyslot(TwoFactor("two factors here", Seq(0x77, 64)), test::kFastArgon));
  }
  EXPECT_EQ(
      "wrong passphrase (no passphrase keyslot opens this vault; two-factor keyslots also "
      "need --key-file or --fido2)",
      UnlockMessage(test::Passphrase("two factors here")));
}

TEST_F(ConfigV3Test, APassphraseAndKeyFileSlotOpensOnlyWithBoth) {
  const Bytes second = Seq(0x77, 64);
  {
    auto v = Unlocked(test::KeyFile(key_));
    ASSERT_NE(nullptr, v);
    auto index = v->AddKeyslot(TwoFactor("two factors here", second), test::kFastArgon);
    ASSERT_OK(index);
    EXPECT_EQ(1u, *index);
    EXPECT_EQ(SlotKind::kPassphraseKeyFile, v->config().slots[1].kind);
  }
  EXPECT_EQ(Code::kOk, UnlockCode(TwoFactor("two factors here", second)));
  EXPECT_EQ(Code::kWrongKey, UnlockCode(test::Passphrase("two factors here")));
  // The passphrase alone is refused with a hint naming the factor a two-factor slot needs.
  EXPECT_EQ(
      "wrong passphrase (no passphrase keyslot opens this vault; two-factor keyslots also "
      "need --key-file)",
      UnlockMessage(test::Passphrase("two factors here")));
  EXPECT_EQ(Code::kWrongKey, UnlockCode(test::KeyFile(second)));
  EXPECT_EQ(Code::kWrongKey, UnlockCode(TwoFactor("two factors herE", second)));
  EXPECT_EQ(Code::kWrongKey, UnlockCode(TwoFactor("two factors here", Seq(0x78, 64))));
  // The Argon2id output alone (a passphrase slot's key with the same salt) is not the key.
  auto c = VaultConfig::Parse(test::ReadFileBytes(ConfigPath()));
  ASSERT_OK(c);
  Keyslot as_passphrase = c->slots[1];
  as_passphrase.kind = SlotKind::kPassphrase;
  auto a = DeriveSlotKey(as_passphrase, test::Passphrase("two factors here"));
  auto both = DeriveSlotKey(c->slots[1], TwoFactor("two factors here", second));
  ASSERT_OK(a);
  ASSERT_OK(both);
  EXPECT_FALSE(crypto::ConstantTimeEqual(a->bytes(), both->bytes()));
}

TEST_F(ConfigV3Test, APassphraseAndFido2SlotOpensOnlyWithTheTokenItWasMadeOn) {
  auto token = std::make_shared<SoftToken>(1);
  {
    auto v = Unlocked(test::KeyFile(key_));
    ASSERT_NE(nullptr, v);
    ASSERT_OK(v->AddKeyslot(WithToken("touch and type", token), test::kFastArgon));
    const auto f = v->config().slots[1].fido2();
    ASSERT_TRUE(f.has_value());
    EXPECT_EQ(kFido2DefaultRpId, f->rp_id);
    EXPECT_EQ(48u, f->credential_id.size());
  }
  token->asked_ = 0;
  EXPECT_EQ(Code::kOk, UnlockCode(WithToken("touch and type", token)));
  EXPECT_EQ(1, token->asked_);
  EXPECT_EQ(Code::kWrongKey, UnlockCode(WithToken("touch and typo", token)));
  EXPECT_EQ(Code::kWrongKey,
            UnlockCode(WithToken("touch and type", std::make_shared<SoftToken>(2))));
  EXPECT_EQ(Code::kWrongKey, UnlockCode(test::Passphrase("touch and type")));
  EXPECT_EQ(
      "wrong passphrase (no passphrase keyslot opens this vault; two-factor keyslots also "
      "need --fido2)",
      UnlockMessage(test::Passphrase("touch and type")));
  // The extension is bound to the wrap: another hmac salt (a hostile edit that also
  // fixes the checksum) does not open.
  Bytes raw = test::ReadFileBytes(ConfigPath());
  auto c = VaultConfig::Parse(raw);
  ASSERT_OK(c);
  Keyslot edited = c->slots[1];
  edited.ext.back() ^= 1;
  auto k = DeriveSlotKey(edited, WithToken("touch and type", token));
  ASSERT_OK(k);
  EXPECT_FALSE(
      crypto::UnwrapKey<crypto::KeyPurpose::kMaster>(*k, edited.wrapped_vmk, c->SlotAd(edited))
          .ok());
}

TEST_F(ConfigV3Test, EscrowRecoversTheVaultWithTheFirmPrivateKeyOnly) {
  const auto firm = crypto::MakeEscrowKeyPair();
  const auto other = crypto::MakeEscrowKeyPair();
  MatterId matter_id{};
  {
    auto v = Unlocked(test::KeyFile(key_));
    ASSERT_NE(nullptr, v);
    auto m = v->CreateMatter("acme-v-globex");
    ASSERT_OK(m);
    matter_id = m->id;
    ASSERT_OK(v->AddEscrowSlot(firm.public_key));
    auto again = v->AddEscrowSlot(firm.public_key);
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(Code::kExists, again.error().code());
    EXPECT_EQ(firm.public_key, v->config().slots[1].escrow_public_key());
  }
  auto escrow = [](const crypto::EscrowKeyPair& p) {
    return test::MakeCredential(SlotKind::kEscrow, p.private_key.span());
  };
  EXPECT_EQ(Code::kWrongKey, UnlockCode(escrow(other)));
  // Recovery: the firm key opens the vault and gives the user a new passphrase slot.
  auto v = Unlocked(escrow(firm));
  ASSERT_NE(nullptr, v);
  EXPECT_EQ(1u, v->unlocked_slot());
  ASSERT_OK(v->AddKeyslot(test::Passphrase("the new passphrase"), test::kFastArgon));
  auto user = Unlocked(test::Passphrase("the new passphrase"));
  ASSERT_NE(nullptr, user);
  auto m = user->FindMatter("acme-v-globex");
  ASSERT_OK(m);
  EXPECT_EQ(matter_id, m->id);
}

TEST_F(ConfigV3Test, NewSlotKindsNeedVersion3AndAVersion2ConfigUpgradesInPlace) {
  InitOptions opts;
  opts.argon = test::kFastArgon;
  opts.file_format = 2;
  const std::string old_path = dir_.Sub("old");
  ASSERT_OK(Vault::Create(old_path, opts, test::Passphrase("old passphrase")));
  auto v = Vault::Open(old_path, std::nullopt);
  ASSERT_OK(v);
  ASSERT_OK((*v)->Unlock(test::Passphrase("old passphrase")));
  EXPECT_EQ(2, (*v)->config().version);
  ASSERT_OK((*v)->CreateMatter("kept"));
  auto refused = (*v)->AddKeyslot(TwoFactor("pass", Seq(1, 32)), test::kFastArgon);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(std::string::npos, refused.error().message().find("config upgrade"));
  auto up = (*v)->UpgradeConfig();
  ASSERT_OK(up);
  EXPECT_TRUE(*up);
  EXPECT_EQ(2 * kConfigCopySize, test::ReadFileBytes(old_path + "/matterfs.vault").size());
  // The old slot, carried over with AD version 2, still opens; the matter is there.
  auto again = Vault::Open(old_path, std::nullopt);
  ASSERT_OK(again);
  ASSERT_OK((*again)->Unlock(test::Passphrase("old passphrase")));
  EXPECT_EQ(3, (*again)->config().version);
  EXPECT_EQ(2, (*again)->config().slots[0].ad_version);
  EXPECT_EQ(2, (*again)->file_format().version);
  ASSERT_OK((*again)->FindMatter("kept"));
  ASSERT_OK((*again)->AddKeyslot(TwoFactor("pass", Seq(1, 32)), test::kFastArgon));
  auto second = (*again)->UpgradeConfig();
  ASSERT_OK(second);
  EXPECT_FALSE(*second);
}

TEST_F(ConfigV3Test, RestoreBringsBackABackupOfThisVaultOnly) {
  const Bytes backup = test::ReadFileBytes(ConfigPath());
  {
    auto v = Unlocked(test::KeyFile(key_));
    ASSERT_NE(nullptr, v);
    ASSERT_OK(v->CreateMatter("acme"));
    ASSERT_OK(v->AddKeyslot(test::Passphrase("second"), test::kFastArgon));
    ASSERT_OK(v->RemoveKeyslot(0));  // the key file's slot
  }
  EXPECT_EQ(Code::kWrongKey, UnlockCode(test::KeyFile(key_)));
  // Both copies destroyed: the vault is unreadable until the backup is restored.
  Bytes ruined = test::ReadFileBytes(ConfigPath());
  ruined[20] ^= 1;
  ruined[kConfigCopySize + 20] ^= 1;
  test::WriteFileBytes(ConfigPath(), ruined);
  EXPECT_EQ(Code::kCorruption, UnlockCode(test::Passphrase("second")));
  auto restore = [&](const Bytes& config, const Credential& cred) -> Status {
    OpenOptions o;
    o.config = config;
    MFS_ASSIGN(auto v, Vault::Open(Path(), std::nullopt, o));
    MFS_TRY(v->Unlock(cred));
    return v->RestoreConfig();
  };
  ASSERT_OK(restore(backup, test::KeyFile(key_)));
  // The backup's slots are back: the removed key-file slot opens again (OPERATIONS.md
  // says so: rotate-master is what retires old backups), and the later one does not.
  EXPECT_EQ(Code::kOk, UnlockCode(test::KeyFile(key_)));
  EXPECT_EQ(Code::kWrongKey, UnlockCode(test::Passphrase("second")));
  auto v = Unlocked(test::KeyFile(key_));
  ASSERT_NE(nullptr, v);
  ASSERT_OK(v->FindMatter("acme"));
  // Another vault's config is refused, and nothing changes.
  InitOptions opts;
  opts.argon = test::kFastArgon;
  ASSERT_OK(Vault::Create(dir_.Sub("other"), opts, test::KeyFile(key_)));
  const Bytes foreign = test::ReadFileBytes(dir_.Sub("other/matterfs.vault"));
  const Bytes before = test::ReadFileBytes(ConfigPath());
  Status st = restore(foreign, test::KeyFile(key_));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(Code::kInvalidArgument, st.error().code());
  EXPECT_EQ(before, test::ReadFileBytes(ConfigPath()));
  // A backup from before rotate-master opens none of the matters: refused.
  AdminContext ctx;
  ctx.events = [](audit::AuditEvent) { return true; };
  ASSERT_OK(RotateMasterKey(*v, test::KeyFile(key_), ctx, {}));
  st = restore(backup, test::KeyFile(key_));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(Code::kInvalidArgument, st.error().code());
  EXPECT_NE(std::string::npos, st.error().message().find("rotate-master")) << st.error().message();
}

TEST_F(ConfigV3Test, RotateMasterKeepsEscrowAndTwoFactorSlots) {
  const auto firm = crypto::MakeEscrowKeyPair();
  const Bytes second = Seq(0x61, 64);
  auto v = Unlocked(test::KeyFile(key_));
  ASSERT_NE(nullptr, v);
  ASSERT_OK(v->AddEscrowSlot(firm.public_key));
  ASSERT_OK(v->AddKeyslot(TwoFactor("both needed", second), test::kFastArgon));
  const Bytes before = test::ReadFileBytes(ConfigPath());
  AdminContext ctx;
  ctx.events = [](audit::AuditEvent) { return true; };
  MasterRotationOptions options;
  options.keep.push_back(test::Passphrase("both needed"));
  options.keep.push_back(test::KeyFile(second));
  auto r = RotateMasterKey(*v, test::KeyFile(key_), ctx, options);
  ASSERT_OK(r);
  EXPECT_EQ(3u, r->slots_kept);
  EXPECT_NE(before, test::ReadFileBytes(ConfigPath()));
  EXPECT_EQ(Code::kOk, UnlockCode(TwoFactor("both needed", second)));
  EXPECT_EQ(Code::kOk,
            UnlockCode(test::MakeCredential(SlotKind::kEscrow, firm.private_key.span())));
  // A passphrase that opens nothing, alone or paired, is refused before anything changes.
  MasterRotationOptions wrong;
  wrong.keep.push_back(test::Passphrase("not a slot"));
  auto refused = RotateMasterKey(*v, test::KeyFile(key_), ctx, wrong);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(Code::kWrongKey, refused.error().code());
}

TEST_F(ConfigV3Test, HostileExtensionsAreCorrupt) {
  const auto firm = crypto::MakeEscrowKeyPair();
  {
    auto v = Unlocked(test::KeyFile(key_));
    ASSERT_NE(nullptr, v);
    ASSERT_OK(v->AddEscrowSlot(firm.public_key));
  }
  const Bytes raw = test::ReadFileBytes(ConfigPath());
  auto fix_checksums = [](Bytes b, size_t body) {
    for (size_t off : {size_t{0}, kConfigCopySize}) {
      Bytes sum = crypto::Blake2b(32, ByteSpan(b).subspan(off, body + 32));
      std::memcpy(b.data() + off + body + 32, sum.data(), 32);
    }
    return b;
  };
  const size_t slot1 = kConfigHeaderSize + kSlotSize;
  const size_t body = kConfigHeaderSize + 2 * kSlotSize + 112;
  // An extension length that runs past the copy, one that is too short for escrow, and
  // an AD version out of range: corrupt in both copies, never a crash or a wrong key.
  for (auto edit : std::vector<std::function<void(Bytes&, size_t)>>{
           [](Bytes&b, size_t o) { PutU16(b.data() + o + 116, 0xffff); },
           [](Bytes&b, size_t o) { PutU16(b.data() + o + 116, 111); },
           [](Bytes&b, size_t o) { b[o + 1] = 7; },
       }) {
    Bytes bad = raw;
    edit(bad, slot1);
    edit(bad, kConfigCopySize + slot1);
    bad = fix_checksums(std::move(bad), body);
    auto c = VaultConfig::Parse(bad);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(Code::kCorruption, c.error().code()) << c.error().message();
  }
}

TEST_F(ConfigV3Test, CalibrationPicksPassesThatTakeAboutTheTarget) {
  // Only the direction is asserted (no timing bound): a longer target never gets fewer
  // passes, and the result is within the stored range.
  const uint64_t small = crypto::CalibrateArgon2Ops(0.001, 8u << 20);
  const uint64_t large = crypto::CalibrateArgon2Ops(60, 8u << 20);
  EXPECT_GE(small, 1u);
  EXPECT_LE(large, 64u);
  EXPECT_LE(small, large);
  EXPECT_EQ(64u, large);  // 60 s of 8 MiB passes is far more than 64 of them
}

}  // namespace
}  // namespace matterfs::vault
