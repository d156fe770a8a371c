// Known-answer vectors of the on-disk format. Every value here is also written, with its
// inputs, in docs/FORMAT_VECTORS.md (the vector id is in each test's comment); changing
// one is a format change, i.e. a new format version. The Python checker next to this file
// recomputes the same vectors from the document without matterfs or libsodium.
#include <fcntl.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <string>

#include "crypto/aead.h"
#include "crypto/kdf.h"
#include "crypto/signing.h"
#include "fs/vault/file_codec.h"
#include "fs/vault/keyring.h"
#include "fs/vault/keytable.h"
#include "fs/vault/names.h"
#include "fs/vault/vault.h"
#include "fs/vault/vault_config.h"
#include "tests/crypto/test_util.h"
#include "tests/vault/vault_test_util.h"

namespace matterfs::vault {
namespace {

using test::Ascii;
using test::Hex;
using test::Seq;

template <size_t N>
std::array<uint8_t, N> Array(ByteSpan b) {
  std::array<uint8_t, N> a{};
  EXPECT_EQ(N, b.size());
  std::memcpy(a.data(), b.data(), std::min(N, b.size()));
  return a;
}

// HEADER-1 inputs and output.
const MatterId kMatter = Array<kIdSize>(Seq(0x30, 16));
const VaultId kVault = Array<kIdSize>(Seq(0x50, 16));
const char kHeader1[] =
    "4d4653460102000003000000000102030405060708090a0b0c0d0e0f70717273"
    "7475767778797a7b7c7d7e7f808182838485868734bd48eedb9249fcdec5a8ec"
    "9446217a0c065987155f6ee3185b15fe7c3646ce5e1d226dcaf123bc837d63de"
    "ebc5b609";
// BLOCK-1.
const char kBlock1[] =
    "909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7fc9b0f55b0d017c0"
    "3e8b8d2182f8515a073a2696ce082c3c5e86717a9e83de2927c31c931d6bef0c"
    "0af3f276b1bc890bbca3b0ca4f";
const char kBlockPlain[] = "Block seven of the engagement letter.";
// CONFIG-1.
const char kConfig1[] =
    "4d46535641554c540100000000000000505152535455565758595a5b5c5d5e5f"
    "020100004fd099ccd47d7893dfe9ec24414ecb0d9b5420232aad30d91c465be3"
    "3cbe65c4b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c1b76523"
    "3ffadfba1c901e40c4aa493343b43f31f5b2b724fde5b2694379a2abaf18df7e"
    "a9f4236d673100d43c1781b38460976ee09071192fae37fceb09a6ef4e7803f4"
    "935043d49995d3a2ed0f5fe90200000000f15365000000000000000000000000"
    "0000000000000000101112131415161718191a1b1c1d1e1fc0c1c2c3c4c5c6c7"
    "c8c9cacbcccdcecfd0d1d2d3d4d5d6d750f3509446fbce15576dac7225adec97"
    "0f4b432a1dfeb521a4e87fe0817828398234553e001fb9d791e282062aa2d903"
    "000000000000000000000000972b080bf49448da8c693a3b001302909c628fb7"
    "0a5aaf69da29ed112b5ac8d2337437899d6659ce76b8337fcb349a3ab42e463f"
    "777efbdbac41086218fb3183";
const char kSignPublic[] = "4fd099ccd47d7893dfe9ec24414ecb0d9b5420232aad30d91c465be33cbe65c4";
// KEYRING-1: bytes 0..283, zeros to 2015, then the MAC.
const char kKeyringPrefix[] =
    "4d46534b4559524701000202505152535455565758595a5b5c5d5e5f30313233"
    "3435363738393a3b3c3d3e3f0500000000000000030000000000000000010203"
    "0405060708090a0b0c0d0e0f1011121314151617e856fca5569b9b441fc14b1e"
    "4d4270a9591d13647411f9a8ca6c0b3a4928166ee28a3c5dfbc63f9515886ce0"
    "9369c3a60100000018191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f"
    "6fa84896ef6ba5f129a8fdbe02045de079a3d1c4b96815b08644062643266e6b"
    "877919dad26562e2d67ded1561bbb99103000000303132333435363738393a3b"
    "3c3d3e3f40414243444546477ea19d42598accf1344515c98b82fa67954522e7"
    "ce46e7f1e4bbb7c19b4dbb78d3d26b5bfe337faa757baf8323967156";
const char kKeyringMac[] = "75807181dfb8dc5a72fb176e66633e0875b00a926aea736212bc2e0561f37e5c";

Bytes KeyringCopy1() {
  Bytes copy = Hex(kKeyringPrefix);
  copy.resize(kKeyringCopySize - 32, 0);
  Bytes mac = Hex(kKeyringMac);
  copy.insert(copy.end(), mac.begin(), mac.end());
  return copy;
}

// KEYRING-2: KEYRING-1 as version 2, with its creation and rotation times.
constexpr uint64_t kKeyring2Created = 1764633600, kKeyring2Rotated = 1790812800;
const char kKeyring2Mac[] = "35a4e0eff2b575866d161549189648393dfefc5d921a05be041ab6562e3a26b5";
Bytes KeyringCopy2() {
  Bytes copy = Hex(kKeyringPrefix);
  copy[8] = 2;
  copy.resize(kKeyringCopySize - 64, 0);
  copy.resize(kKeyringCopySize - 32, 0);
  PutU64(copy.data() + kKeyringCopySize - 64, kKeyring2Created);
  PutU64(copy.data() + kKeyringCopySize - 56, kKeyring2Rotated);
  Bytes mac = Hex(kKeyring2Mac);
  copy.insert(copy.end(), mac.begin(), mac.end());
  return copy;
}

VaultSubkey VaultSub(uint64_t id) {
  return crypto::DeriveSubkey<crypto::KeyPurpose::kVaultSub>(MasterKey::FromBytes(Seq(0, 32)), id,
                                                             kVaultKdfContext);
}

FileHeader Header1Fields() {
  FileHeader h;
  h.cipher = crypto::Cipher::kXChaCha20Poly1305;
  h.key_version = 3;
  h.file_id = Array<kIdSize>(Seq(0x00, 16));
  return h;
}

// HEADER-1.
TEST(FormatVectorsTest, FileHeader) {
  FileHeader h = Header1Fields();
  EXPECT_BYTES_EQ(Hex("303132333435363738393a3b3c3d3e3f4d465346010200000300000000010203"
                      "0405060708090a0b0c0d0e0f"),
                  h.WrapAd(kMatter));
  h.wrapped_dek = crypto::WrapRaw(Seq(0x20, 32), Seq(0xc0, 32), h.WrapAd(kMatter), Seq(0x70, 24));
  const auto raw = h.Serialize();
  EXPECT_BYTES_EQ(Hex(kHeader1), raw);

  auto parsed = FileHeader::Parse(raw);
  ASSERT_OK(parsed);
  EXPECT_EQ(crypto::Cipher::kXChaCha20Poly1305, parsed->cipher);
  EXPECT_EQ(3u, parsed->key_version);
  EXPECT_EQ(h.file_id, parsed->file_id);
  EXPECT_EQ(h.wrapped_dek, parsed->wrapped_dek);
}

// HEADER-2: one copy of a format 2 header (HEADER-1's fields, version 2, sequence 5, two
// holes), and its MAC key K_hdr.
const char kHeader2Khdr[] = "098a2b0c983d9be18a22df0f1c3467fa911d8c028aaa49b3824e804fbae722b5";
const char kHeader2Head[] =
    "4d4653460202000003000000000102030405060708090a0b0c0d0e0f70717273"
    "7475767778797a7b7c7d7e7f808182838485868734bd48eedb9249fcdec5a8ec"
    "9446217a0c065987155f6ee3185b15fe7c3646ced64f3b567f90fe2fe481c937"
    "0019978105000000000000000200000003000000000000000200000000000000"
    "0a000000000000000700000000000000";
const char kHeader2Mac[] = "059d6d169c2798d0c83b97692898d36c";

TEST(FormatVectorsTest, FileHeaderFormat2Copy) {
  FileHeader h = Header1Fields();
  h.version = 2;
  h.sequence = 5;
  h.holes = {{3, 2}, {10, 7}};
  h.wrapped_dek = crypto::WrapRaw(Seq(0x20, 32), Seq(0xc0, 32), h.WrapAd(kMatter), Seq(0x70, 24));
  const DataKey dek = DataKey::FromBytes(Seq(0xc0, 32));
  Bytes khdr(32);
  crypto::DeriveSubkeyRaw(dek.bytes(), 1, std::string_view("MFSfile\0", 8), khdr.data());
  EXPECT_BYTES_EQ(Hex(kHeader2Khdr), khdr);
  auto fc = FileCrypto::FromKey(h, dek, kMatter);
  ASSERT_OK(fc);
  const auto copy = fc->SerializeCopy(h);
  // Bytes 0..143 as listed, 144..495 zero (unused hole entries), 496..511 the MAC.
  Bytes expected = Hex(kHeader2Head);
  expected.resize(496, 0);
  const Bytes mac = Hex(kHeader2Mac);
  expected.insert(expected.end(), mac.begin(), mac.end());
  EXPECT_BYTES_EQ(expected, copy);

  auto parsed = fc->ParseCopy(copy);
  ASSERT_OK(parsed);
  EXPECT_EQ(5u, parsed->sequence);
  EXPECT_EQ(h.holes, parsed->holes);
  // The MAC binds the matter: the same copy does not verify for another matter.
  auto other = FileCrypto::FromKey(h, dek, MatterId{});
  ASSERT_OK(other);
  EXPECT_FALSE(other->ParseCopy(copy).ok());
}

// HEADER-3: one copy of a format 3 header (HEADER-2's keys, version 3, sequence 6, one
// hole, a recorded size and a name binding).
const char kHeader3Head[] =
    "4d4653460302000003000000000102030405060708090a0b0c0d0e0f70717273"
    "7475767778797a7b7c7d7e7f808182838485868734bd48eedb9249fcdec5a8ec"
    "9446217a0c065987155f6ee3185b15fe7c3646ce4e82543f342fd9a344862f91"
    "146c77f9060000000000000001000000244e000000000000b6a85cd359465a83"
    "8f15bc9bbb7f639a03000000000000000200000000000000";
const char kHeader3Mac[] = "f3dfe97f90ea7c39bf6f8e1cdafa49dd";
const char kHeader3Entry[] = "Zm9vYmFyLWJyaWVmLW5hbWUtZm9yLXRoZS12ZWN0b3I";

TEST(FormatVectorsTest, FileHeaderFormat3Copy) {
  EXPECT_BYTES_EQ(Hex("b6a85cd359465a838f15bc9bbb7f639a"), NameTagOf(kHeader3Entry));
  FileHeader h = Header1Fields();
  h.version = 3;
  h.sequence = 6;
  h.holes = {{3, 2}};
  h.recorded_size = 20004;
  h.name_tag = NameTagOf(kHeader3Entry);
  h.wrapped_dek = crypto::WrapRaw(Seq(0x20, 32), Seq(0xc0, 32), h.WrapAd(kMatter), Seq(0x70, 24));
  const DataKey dek = DataKey::FromBytes(Seq(0xc0, 32));
  auto fc = FileCrypto::FromKey(h, dek, kMatter);
  ASSERT_OK(fc);
  const auto copy = fc->SerializeCopy(h);
  Bytes expected = Hex(kHeader3Head);
  expected.resize(496, 0);
  const Bytes mac = Hex(kHeader3Mac);
  expected.insert(expected.end(), mac.begin(), mac.end());
  EXPECT_BYTES_EQ(expected, copy);

  auto parsed = fc->ParseCopy(copy);
  ASSERT_OK(parsed);
  EXPECT_EQ(6u, parsed->sequence);
  EXPECT_EQ(20004u, parsed->recorded_size);
  EXPECT_FALSE(parsed->unbound);
  EXPECT_EQ(h.name_tag, parsed->name_tag);
  EXPECT_EQ(h.holes, parsed->holes);
}

// BLOCK-1 and BLOCK-2.
TEST(FormatVectorsTest, ContentBlocks) {
  const DataKey dek = DataKey::FromBytes(Seq(0xc0, 32));
  FileHeader h = Header1Fields();
  auto fc = FileCrypto::FromKey(h, dek, MatterId{});
  ASSERT_OK(fc);
  const Bytes plain = Ascii(kBlockPlain);
  Bytes out(plain.size() + fc->layout().overhead());
  fc->SealBlockWithNonce(7, plain, Seq(0x90, 24), out.data());
  EXPECT_BYTES_EQ(Hex(kBlock1), out);
  Bytes back(plain.size());
  ASSERT_TRUE(fc->OpenBlock(7, out, back.data()));
  EXPECT_EQ(plain, back);

  if (!crypto::AesGcmAvailable()) GTEST_SKIP() << "no AES-NI on this CPU for BLOCK-2";
  h.cipher = crypto::Cipher::kAes256Gcm;
  auto fa = FileCrypto::FromKey(h, dek, MatterId{});
  ASSERT_OK(fa);
  Bytes out2(plain.size() + fa->layout().overhead());
  fa->SealBlockWithNonce(7, plain, Seq(0x90, 12), out2.data());
  EXPECT_BYTES_EQ(Hex("909192939495969798999a9b10f55f8f5de904b056e2a2c8579238639bda1b93"
                      "f17a33ce7ca498909733bd8662c39f1a379103ed80e621e9ecb296b5e0a73d83"
                      "64"),
                  out2);
}

// NAME-1 entries and NAME-2.
TEST(FormatVectorsTest, NameEntries) {
  NameCodec codec(NameKey::FromBytes(Seq(0x00, 32)));
  const DirIv iv = Array<16>(Seq(0xf0, 16));
  struct Case {
    const char* name;
    const char* entry;
  };
  static constexpr Case kCases[] = {
      {"a", "-C1ddr8252zBV_D6z_5tH_UR1YXwSaYnAEG41wDgOhU"},
      {"0123456789abcdef", "mAxlU4Hr4u91OJz2TGXPyYfrXP-781qFX4Seqh935wQ"},
      {"Engagement letter.pdf", "W4rNNPm4QKF_VlTwSZDgyJgV6kukkXwBoBzjFLovCwhp3Q2Lk2w_gXzO3JU2eJZ6"},
  };
  for (const Case& c : kCases) {
    auto stored = codec.Encode(iv, c.name);
    ASSERT_OK(stored);
    EXPECT_EQ(c.entry, stored->entry);
    EXPECT_FALSE(stored->full.has_value());
    auto back = codec.Decode(iv, c.entry);
    ASSERT_OK(back);
    EXPECT_EQ(c.name, *back);
  }

  auto stored = codec.Encode(iv, std::string(200, 'x'));
  ASSERT_OK(stored);
  EXPECT_EQ(".L-8PsbWru1W0ELkdibtazCduiK7n0B3ItRwAeHWsJWn0", stored->entry);
  ASSERT_TRUE(stored->full.has_value());
  EXPECT_EQ(
      "tnqyUmFtjVLuQ2yC8XNM-b0zOZpDJMeNgeWDG0Hfyokd3pXiFU_VCRyWesQ4WsSHRHfX1NGOyAN1yGy47EICbL5-"
      "yZC8sudEbkS8VCZJq2lxwM4NbPpTzs3KQciDeVbtWVVMv4yjisq1A84GG_e0a8OgSG-rnbMD41gD52EUCrj7aYMX"
      "xOiOiZ9hM2NFKLhjvY4mixAtikt1_WoEk4N48_cq5J9LR4JI_J85jtj7E_u8bs5g72bN8rG7ahnvPTADFNAtGp_m"
      "Q1UWiHwUcTL_Yx8O-z1zZV6dyWrCsKt70TE",
      *stored->full);
}

// B64-1.
TEST(FormatVectorsTest, Base64Url) {
  const std::pair<Bytes, const char*> cases[] = {
      {Ascii(""), ""},
      {Ascii("f"), "Zg"},
      {Ascii("fo"), "Zm8"},
      {Ascii("foo"), "Zm9v"},
      {Ascii("foob"), "Zm9vYg"},
      {Ascii("fooba"), "Zm9vYmE"},
      {Ascii("foobar"), "Zm9vYmFy"},
      {Hex("fbffbf"), "-_-_"},
  };
  for (const auto& [in, out] : cases) {
    EXPECT_EQ(out, Base64UrlEncode(in));
    auto back = Base64UrlDecode(out);
    ASSERT_TRUE(back.has_value()) << out;
    EXPECT_EQ(in, *back);
  }
}

// CONFIG-1, built from its fields.
TEST(FormatVectorsTest, VaultConfigSerializes) {
  const MasterKey vmk = MasterKey::FromBytes(Seq(0, 32));
  crypto::SigningKey sign = crypto::SigningKey::FromSeed(Seq(0xa0, 32));
  VaultConfig c;
  c.version = 1;  // CONFIG-1 is a format 1 config
  c.vault_id = kVault;
  c.cipher = crypto::Cipher::kXChaCha20Poly1305;
  c.sign_public = Array<32>(sign.public_key());
  EXPECT_BYTES_EQ(Hex("4d4653317369676e505152535455565758595a5b5c5d5e5f4fd099ccd47d7893"
                      "dfe9ec24414ecb0d9b5420232aad30d91c465be33cbe65c4"),
                  c.SigningAd());
  c.wrapped_sign_secret = crypto::WrapRaw(VaultSub(kSubkeySigningWrap).bytes(), sign.secret_key(),
                                          c.SigningAd(), Seq(0xb0, 24));
  Keyslot s;
  s.kind = SlotKind::kKeyFile;
  s.created = 1700000000;
  s.salt = Array<16>(Seq(0x10, 16));
  EXPECT_BYTES_EQ(Hex("4d465331736c6f744d46535641554c5401000000000000005051525354555657"
                      "58595a5b5c5d5e5f020200000000f15365000000000000000000000000000000"
                      "0000000000101112131415161718191a1b1c1d1e1f"),
                  c.SlotAd(s));
  auto slot_key = DeriveSlotKey(s, test::KeyFile(Seq(0x40, 32)));
  ASSERT_OK(slot_key);
  s.wrapped_vmk = crypto::WrapRaw(slot_key->bytes(), vmk.bytes(), c.SlotAd(s), Seq(0xc0, 24));
  c.slots.push_back(s);
  EXPECT_BYTES_EQ(Hex(kConfig1), c.Serialize(vmk));
}

// CONFIG-1, read back.
TEST(FormatVectorsTest, VaultConfigParsesAndUnlocks) {
  const Bytes raw = Hex(kConfig1);
  auto c = VaultConfig::Parse(raw);
  ASSERT_OK(c);
  EXPECT_EQ(1u, c->version);
  EXPECT_EQ(0u, c->features);
  EXPECT_EQ(kVault, c->vault_id);
  EXPECT_EQ(crypto::Cipher::kXChaCha20Poly1305, c->cipher);
  EXPECT_BYTES_EQ(Hex(kSignPublic), c->sign_public);
  ASSERT_EQ(1u, c->slots.size());
  EXPECT_EQ(SlotKind::kKeyFile, c->slots[0].kind);
  EXPECT_EQ(1700000000u, c->slots[0].created);
  auto vmk = c->Unlock(raw, test::KeyFile(Seq(0x40, 32)));
  ASSERT_OK(vmk);
  EXPECT_BYTES_EQ(Seq(0, 32), vmk->bytes());
  auto wrong = c->Unlock(raw, test::KeyFile(Seq(0x41, 32)));
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(Code::kWrongKey, wrong.error().code());
}

// KEYRING-1.
TEST(FormatVectorsTest, KeyringCopyParses) {
  VaultSubkey wrap = VaultSub(kSubkeyKeyringWrap), mac = VaultSub(kSubkeyKeyringMac);
  const Bytes copy = KeyringCopy1();
  auto r = Keyring::ParseCopy(copy, {wrap, mac}, kVault, kMatter);
  ASSERT_OK(r);
  EXPECT_EQ(MatterStatus::kHold, r->status);
  EXPECT_EQ(5u, r->sequence);
  EXPECT_EQ(3u, r->current_version);
  EXPECT_BYTES_EQ(Seq(0xe0, 32), r->name_key->bytes());
  ASSERT_EQ(2u, r->wrap_keys.size());
  EXPECT_BYTES_EQ(Seq(0x40, 32), r->wrap_keys.at(1)->bytes());
  EXPECT_BYTES_EQ(Seq(0x20, 32), r->wrap_keys.at(3)->bytes());

  // Serialising it again gives the same bytes except where fresh nonces go (the three
  // wraps) and the MAC over them.
  const Bytes again = r->SerializeCopy({wrap, mac});
  ASSERT_EQ(copy.size(), again.size());
  auto same = [&](size_t from, size_t to) {
    return Bytes(copy.begin() + static_cast<std::ptrdiff_t>(from),
                 copy.begin() + static_cast<std::ptrdiff_t>(to)) ==
           Bytes(again.begin() + static_cast<std::ptrdiff_t>(from),
                 again.begin() + static_cast<std::ptrdiff_t>(to));
  };
  // A version 1 copy is written back as version 2 (its times unknown: zero).
  EXPECT_EQ(0u, r->created);
  EXPECT_EQ(0u, r->rotated);
  EXPECT_TRUE(same(0, 8));
  EXPECT_EQ(2, again[8]);
  EXPECT_TRUE(same(9, 60));
  EXPECT_TRUE(same(132, 136));
  EXPECT_TRUE(same(208, 212));
  EXPECT_TRUE(same(284, kKeyringCopySize - 32));
  ASSERT_OK(Keyring::ParseCopy(again, {wrap, mac}, kVault, kMatter));
}

// KEYRING-2.
TEST(FormatVectorsTest, KeyringCopyVersion2Parses) {
  VaultSubkey wrap = VaultSub(kSubkeyKeyringWrap), mac = VaultSub(kSubkeyKeyringMac);
  const Bytes copy = KeyringCopy2();
  auto r = Keyring::ParseCopy(copy, {wrap, mac}, kVault, kMatter);
  ASSERT_OK(r);
  EXPECT_EQ(kKeyring2Created, r->created);
  EXPECT_EQ(kKeyring2Rotated, r->rotated);
  EXPECT_EQ(3u, r->current_version);
  EXPECT_EQ(2u, r->wrap_keys.size());
  const Bytes again = r->SerializeCopy({wrap, mac});
  EXPECT_TRUE(std::equal(copy.begin(), copy.begin() + 60, again.begin()));
  EXPECT_TRUE(std::equal(copy.begin() + 284, copy.end() - 32, again.begin() + 284));
  // A reserved byte set (with a valid MAC) is refused.
  Bytes bad = copy;
  bad[kKeyringCopySize - 40] = 1;
  crypto::Blake2bInto({bad.data() + kKeyringCopySize - 32, 32}, {bad.data(), kKeyringCopySize - 32},
                      mac.bytes());
  EXPECT_FALSE(Keyring::ParseCopy(bad, {wrap, mac}, kVault, kMatter).ok());
  // And a newer copy is "unsupported", naming the version.
  Bytes newer = copy;
  newer[8] = 4;
  auto refused = Keyring::ParseCopy(newer, {wrap, mac}, kVault, kMatter);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(Code::kUnsupported, refused.error().code());
  EXPECT_NE(refused.error().message().find("version 4"), std::string::npos);
}

// KEYRING-3: a key table holding entry 4 (copies A and B) and a version 3 keyring copy
// whose keys that entry's root key wraps.
constexpr uint32_t kTableIndex = 4;
const char kTableEntry[] =
    "4d46534b54454e540400000000000000303132333435363738393a3b3c3d3e3f"
    "48494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f7395aead8e534f9d"
    "1d9f080162ff7b18480f31c59810f412bf69cb4200389093d48bc4ab9f3ec145"
    "69c9d5a58bc76379";
const char kKeyring3Prefix[] =
    "4d46534b4559524703000202505152535455565758595a5b5c5d5e5f30313233"
    "3435363738393a3b3c3d3e3f0500000000000000030000000500000000010203"
    "0405060708090a0b0c0d0e0f1011121314151617fab10d31689e30bc4906d488"
    "5a78ceb1bb626558b78a32ad6d0fcc0d2b1712bdcea7394daf12aa8877249467"
    "ecd810a90100000018191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f"
    "63df6138ee27763610569ebb59e6484b3de406ec9b838b1864ca70dd9e446aa5"
    "a3b1b2cbbcda43b579aa07518cade76403000000303132333435363738393a3b"
    "3c3d3e3f4041424344454647b964ef33e38f733157d560dc7c7efc3637d72f86"
    "fd1fa14c8ae0715ce4e40a5e45bd035c5f34ae294056b3e16793f6fc";
const char kKeyring3Mac[] = "9c83004b9150442d7aae423009917d5fe0a39c031980748b6735bb9f944a2f63";

TEST(FormatVectorsTest, KeyringCopyVersion3OpensThroughTheKeyTable) {
  test::TempDir dir;
  const std::string ks = dir.Sub("keys");
  std::filesystem::create_directories(ks);
  // The table file: header sector, entries 0..3 zero, entry 4 (A and B) from the vector.
  Bytes table(512 + 1024 * (kTableIndex + 1), 0);
  std::memcpy(table.data(), "MFSKTABL", 8);
  table[8] = 1;
  std::memcpy(table.data() + 16, kVault.data(), 16);
  const Bytes entry = Hex(kTableEntry);
  for (size_t c = 0; c < 2; ++c) {
    std::memcpy(table.data() + 512 + 1024 * kTableIndex + 512 * c, entry.data(), entry.size());
  }
  test::WriteFileBytes(ks + "/keytable", table);
  UniqueFd ks_fd(::open(ks.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  auto kt = KeyTable::Open(ks_fd.get(), kVault, /*create=*/false);
  ASSERT_OK(kt);
  VaultSubkey table_wrap = VaultSub(kSubkeyKeyTable);
  auto root = kt->Read(kTableIndex, kMatter, table_wrap);
  ASSERT_OK(root);
  EXPECT_BYTES_EQ(Seq(0x60, 32), root->bytes());

  Bytes copy = Hex(kKeyring3Prefix);
  copy.resize(kKeyringCopySize - 32, 0);
  PutU64(copy.data() + kKeyringCopySize - 64, kKeyring2Created);
  PutU64(copy.data() + kKeyringCopySize - 56, kKeyring2Rotated);
  const Bytes mac_bytes = Hex(kKeyring3Mac);
  copy.insert(copy.end(), mac_bytes.begin(), mac_bytes.end());

  VaultSubkey wrap = VaultSub(kSubkeyKeyringWrap), mac = VaultSub(kSubkeyKeyringMac);
  const KeyringKeys keys{wrap, mac, &*kt, &table_wrap};
  auto r = Keyring::ParseCopy(copy, keys, kVault, kMatter);
  ASSERT_OK(r);
  EXPECT_EQ(kTableIndex + 1, r->table_index);
  EXPECT_FALSE(r->legacy_wrapped);
  EXPECT_BYTES_EQ(Seq(0x60, 32), r->root_key->bytes());
  EXPECT_BYTES_EQ(Seq(0xe0, 32), r->name_key->bytes());
  EXPECT_BYTES_EQ(Seq(0x40, 32), r->wrap_keys.at(1)->bytes());
  EXPECT_BYTES_EQ(Seq(0x20, 32), r->wrap_keys.at(3)->bytes());
  EXPECT_EQ(kKeyring2Rotated, r->rotated);
  const Bytes again = r->SerializeCopy(keys);
  EXPECT_TRUE(std::equal(copy.begin(), copy.begin() + 60, again.begin()));
  EXPECT_TRUE(std::equal(copy.begin() + 284, copy.end() - 32, again.begin() + 284));
  ASSERT_OK(Keyring::ParseCopy(again, keys, kVault, kMatter));

  // Without the table, or with the VMK subkey alone, it does not open.
  EXPECT_FALSE(Keyring::ParseCopy(copy, {wrap, mac}, kVault, kMatter).ok());
  // Once the entry is destroyed (a wipe), the copy opens under no key: "wiped".
  ASSERT_OK(kt->Destroy(kTableIndex, kMatter));
  auto wiped = Keyring::ParseCopy(copy, keys, kVault, kMatter);
  ASSERT_FALSE(wiped.ok());
  EXPECT_EQ(Code::kNotFound, wiped.error().code());
}

// KEYTABLE-2: KEYRING-3's entry as table version 2 writes it, recording sequence 5 and
// status hold; KEYRING-3's keyring (sequence 5, hold) opens through it and passes the
// rollback check, an older one does not. (tests/vault/check_format_vectors.py rebuilds
// the entry's bytes independently.)
const char kTableEntryWithState[] =
    "4d46534b54454e540400000000000000303132333435363738393a3b3c3d3e3f"
    "48494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f7395aead8e534f9d"
    "1d9f080162ff7b18480f31c59810f412bf69cb4200389093e3894ebe3991bf41"
    "50cda9fbaabe649f050000000000000002";

TEST(FormatVectorsTest, KeyTableEntryWithKeyringState) {
  test::TempDir dir;
  const std::string ks = dir.Sub("keys");
  std::filesystem::create_directories(ks);
  Bytes table(512 + 1024 * (kTableIndex + 1), 0);
  std::memcpy(table.data(), "MFSKTABL", 8);
  table[8] = 2;
  std::memcpy(table.data() + 16, kVault.data(), 16);
  const Bytes entry = Hex(kTableEntryWithState);
  ASSERT_EQ(113u, entry.size());
  for (size_t c = 0; c < 2; ++c) {
    std::memcpy(table.data() + 512 + 1024 * kTableIndex + 512 * c, entry.data(), entry.size());
  }
  test::WriteFileBytes(ks + "/keytable", table);
  UniqueFd ks_fd(::open(ks.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  auto kt = KeyTable::Open(ks_fd.get(), kVault, /*create=*/false);
  ASSERT_OK(kt);
  VaultSubkey table_wrap = VaultSub(kSubkeyKeyTable);
  KeyTable::EntryState state;
  auto root = kt->Read(kTableIndex, kMatter, table_wrap, &state);
  ASSERT_OK(root);
  EXPECT_BYTES_EQ(Seq(0x60, 32), root->bytes());
  EXPECT_EQ(5u, state.sequence);
  EXPECT_EQ(MatterStatus::kHold, state.status);

  // KEYRING-3's copy through this table: sequence 5, hold, as recorded.
  Bytes copy = Hex(kKeyring3Prefix);
  copy.resize(kKeyringCopySize - 32, 0);
  PutU64(copy.data() + kKeyringCopySize - 64, kKeyring2Created);
  PutU64(copy.data() + kKeyringCopySize - 56, kKeyring2Rotated);
  const Bytes mac_bytes = Hex(kKeyring3Mac);
  copy.insert(copy.end(), mac_bytes.begin(), mac_bytes.end());
  VaultSubkey wrap = VaultSub(kSubkeyKeyringWrap), mac = VaultSub(kSubkeyKeyringMac);
  const KeyringKeys keys{wrap, mac, &*kt, &table_wrap};
  auto ring = Keyring::ParseCopy(copy, keys, kVault, kMatter);
  ASSERT_OK(ring);
  EXPECT_EQ(5u, ring->sequence);
  ASSERT_OK(CheckAgainstKeyTable(*ring, keys));
  ring->sequence = 4;  // an older keyring
  auto refused = CheckAgainstKeyTable(*ring, keys);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(Code::kCorruption, refused.error().code());
  EXPECT_NE(refused.error().message().find("rolled back (sequence 4, the key table records 5)"),
            std::string::npos)
      << refused.error().message();

  // Any change to the recorded state (or its removal) makes the copy fail to open.
  for (const size_t off : {size_t{104}, size_t{112}}) {
    Bytes bad = table;
    for (size_t c = 0; c < 2; ++c) bad[512 + 1024 * kTableIndex + 512 * c + off] ^= 1;
    test::WriteFileBytes(ks + "/keytable", bad);
    EXPECT_EQ(Code::kCorruption, kt->Read(kTableIndex, kMatter, table_wrap).error().code()) << off;
  }
  // The bytes after the state must be zero.
  Bytes padded = table;
  for (size_t c = 0; c < 2; ++c) padded[512 + 1024 * kTableIndex + 512 * c + 113] = 1;
  test::WriteFileBytes(ks + "/keytable", padded);
  EXPECT_FALSE(kt->Read(kTableIndex, kMatter, table_wrap).ok());
}

// CONFIG-1 -> KEYRING-1 -> HEADER-1 -> BLOCK-1, through the public Vault API: a tiny
// golden vault written from the vectors alone.
TEST(FormatVectorsTest, VectorsFormAReadableVault) {
  test::TempDir dir;
  const std::string path = dir.Sub("vault");
  std::filesystem::create_directories(path + "/d");
  std::filesystem::create_directories(path + "/keys");
  test::WriteFileBytes(path + "/matterfs.vault", Hex(kConfig1));
  test::WriteFileBytes(path + "/d/.diriv", Seq(0xf0, 16));
  Bytes keyring_file = KeyringCopy1();
  const Bytes copy = KeyringCopy1();
  keyring_file.insert(keyring_file.end(), copy.begin(), copy.end());
  test::WriteFileBytes(path + "/keys/" + KeyringFileName(kMatter), keyring_file);

  auto v = Vault::Open(path, std::nullopt);
  ASSERT_OK(v);
  ASSERT_OK((*v)->Unlock(test::KeyFile(Seq(0x40, 32))));
  EXPECT_BYTES_EQ(Hex(kSignPublic), (*v)->signing_key().public_key());
  auto ring = (*v)->LoadKeyring(kMatter);
  ASSERT_OK(ring);
  auto header = FileHeader::Parse(Hex(kHeader1));
  ASSERT_OK(header);
  auto fc = FileCrypto::Open(*header, *ring);
  ASSERT_OK(fc);
  const Bytes block = Hex(kBlock1);
  Bytes plain(block.size() - fc->layout().overhead());
  ASSERT_TRUE(fc->OpenBlock(7, block, plain.data()));
  EXPECT_EQ(Ascii(kBlockPlain), plain);
}

}  // namespace
}  // namespace matterfs::vault
