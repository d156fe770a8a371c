// The certificate of destruction: its known-answer vector (docs/FORMAT_VECTORS.md CERT-1),
// a round trip through a real vault's key, and refusal of every edit, of another vault's
// certificate and of malformed ones.
#include "fs/vault/certificate.h"

#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/vault/matter_tree.h"
#include "util/json.h"

namespace matterfs::vault {
namespace {

// CERT-1: the exact file, signed with SIGN-2's key (seed a0a1..bf).
const std::string kCert1 =
    "{\n"
    "  \"format\": \"matterfs-destruction-certificate\",\n"
    "  \"version\": 1,\n"
    "  \"vault_id\": \"505152535455565758595a5b5c5d5e5f\",\n"
    "  \"matter\": \"acme-v-smith\",\n"
    "  \"matter_id\": \"303132333435363738393a3b3c3d3e3f\",\n"
    "  \"files\": 3,\n"
    "  \"bytes\": 10245,\n"
    "  \"key_versions_destroyed\": [\n"
    "    1,\n"
    "    2,\n"
    "    3\n"
    "  ],\n"
    "  \"method\": \"crypto-shred+overwrite\",\n"
    "  \"passes\": 1,\n"
    "  \"started\": \"2026-11-02T09:00:00Z\",\n"
    "  \"finished\": \"2026-11-02T09:00:07Z\",\n"
    "  \"operator_uid\": 0,\n"
    "  \"operator_name\": \"root\",\n"
    "  \"host\": \"files1\",\n"
    "  \"caveats\": [\n"
    "    \"Copies of the keystore in backups made before 2026-11-02T09:00:00Z still hold the "
    "matter's keys: destroy them too.\",\n"
    "    \"Overwriting cannot reach blocks that an SSD or a copy-on-write file system has remapped "
    "\\u2014 they are unreadable because the keys are destroyed.\"\n"
    "  ],\n"
    "  \"public_key\": \"4fd099ccd47d7893dfe9ec24414ecb0d9b5420232aad30d91c465be33cbe65c4\",\n"
    "  \"signature\": "
    "\"d3bb67c4d7e25bdb6c63e7773ee4e254212ac03804b66170f7d7bf87283ad307523bdee36a4440d3826769bcc60f"
    "5a693b801a9ba7aec41a5a9837119a9c7e00\"\n"
    "}\n";

crypto::SigningKey Sign2Key() {
  Bytes seed(32);
  for (size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<uint8_t>(0xa0 + i);
  return crypto::SigningKey::FromSeed(seed);
}

template <size_t N>
std::array<uint8_t, N> Counting(uint8_t first) {
  std::array<uint8_t, N> a{};
  for (size_t i = 0; i < N; ++i) a[i] = static_cast<uint8_t>(first + i);
  return a;
}

// CERT-1's facts.
DestructionCertificate Cert1() {
  DestructionCertificate c;
  c.vault_id = Counting<kIdSize>(0x50);
  c.matter = "acme-v-smith";
  c.matter_id = Counting<kIdSize>(0x30);
  c.files = 3;
  c.bytes = 10245;
  c.key_versions_destroyed = {1, 2, 3};
  c.method = "crypto-shred+overwrite";
  c.passes = 1;
  c.started = 1793610000;  // 2026-11-02T09:00:00Z
  c.finished = 1793610007;
  c.operator_uid = 0;
  c.operator_name = "root";
  c.host = "files1";
  c.caveats = {
      "Copies of the keystore in backups made before 2026-11-02T09:00:00Z still hold the "
      "matter's keys: destroy them too.",
      "Overwriting cannot reach blocks that an SSD or a copy-on-write file system has remapped "
      "\xE2\x80\x94 they are unreadable because the keys are destroyed."};
  return c;
}

const VaultId kVault1 = Counting<kIdSize>(0x50);

Result<DestructionCertificate> Verify1(const std::string& text) {
  const crypto::SigningKey key = Sign2Key();
  return VerifyCertificate(text, kVault1, key.public_key());
}

std::string ErrorOf(const Result<DestructionCertificate>& r) {
  return r.ok() ? "(accepted)" : r.error().message();
}

TEST(CertificateTest, KnownAnswer) {
  const crypto::SigningKey key = Sign2Key();
  EXPECT_EQ(SignCertificate(Cert1(), key), kCert1);
  auto r = Verify1(kCert1);
  ASSERT_TRUE(r.ok()) << r.error().message();
  DestructionCertificate want = Cert1();
  std::copy(key.public_key().begin(), key.public_key().end(), want.public_key.begin());
  EXPECT_EQ(*r, want);
  // The signature is over the context, a 0 byte and the file without "signature".
  const std::string body = CertificateBody(want);
  EXPECT_EQ(body.rfind("{\n  \"format\": \"matterfs-destruction-certificate\",\n", 0), 0u);
  EXPECT_EQ(body.substr(body.size() - 4), "\"\n}\n");
  const Bytes msg = CertificateMessage(body);
  EXPECT_EQ(std::string(msg.begin(), msg.begin() + 36),
            std::string("matterfs destruction certificate v1\0", 36));
  const size_t at = kCert1.find("\"signature\": \"") + 14;
  EXPECT_TRUE(crypto::VerifySignature(key.public_key(), msg, *FromHex(kCert1.substr(at, 128))));
}

TEST(CertificateTest, RoundTripWithARealVault) {
  test::VaultFixture fx;
  auto info = fx.vault().CreateMatter("acme-v-smith");
  ASSERT_TRUE(info.ok()) << info.error().message();
  DestructionCertificate c = Cert1();
  c.vault_id = fx.vault().id();
  c.matter_id = info->id;
  c.caveats.clear();
  c.key_versions_destroyed.clear();
  const std::string text = SignCertificate(c, fx.vault().signing_key());
  ASSERT_EQ(text.back(), '\n');
  // Verification needs only the config, which a vault that is not unlocked has too.
  auto locked = Vault::Open(fx.path(), std::nullopt);
  ASSERT_TRUE(locked.ok());
  auto r = VerifyCertificate(text, (*locked)->id(), (*locked)->config().sign_public);
  ASSERT_TRUE(r.ok()) << r.error().message();
  c.public_key = (*locked)->config().sign_public;
  EXPECT_EQ(*r, c);
}

// A small certificate (no caveats, one key version), so that every edit stays quick.
std::string SmallCert() {
  DestructionCertificate c = Cert1();
  c.caveats = {"c"};
  c.key_versions_destroyed = {1};
  return SignCertificate(c, Sign2Key());
}

TEST(CertificateTest, EveryByteChangeFails) {
  const std::string small = SmallCert();
  ASSERT_TRUE(Verify1(small).ok());
  for (size_t i = 0; i < small.size(); ++i) {
    // The lowest bit, the ASCII case bit and the top bit of every byte.
    for (int flip : {0x01, 0x20, 0x80}) {
      std::string edited = small;
      edited[i] = static_cast<char>(edited[i] ^ flip);
      EXPECT_FALSE(Verify1(edited).ok()) << "byte " << i << " ^ " << flip;
    }
  }
}

TEST(CertificateTest, InsertedOrRemovedCharactersFail) {
  const std::string small = SmallCert();
  for (size_t i = 0; i <= small.size(); ++i) {
    for (char c : {' ', '\n'}) {
      std::string edited = small;
      edited.insert(i, 1, c);
      EXPECT_FALSE(Verify1(edited).ok()) << "'" << c << "' inserted at " << i;
    }
    if (i < small.size()) {
      std::string edited = small;
      edited.erase(i, 1);
      EXPECT_FALSE(Verify1(edited).ok()) << "byte " << i << " removed";
    }
  }
}

TEST(CertificateTest, ReformattedButEqualJsonFails) {
  // Same facts and signature, other layout: compact, or with the escape undone.
  const auto j = nlohmann::ordered_json::parse(kCert1);
  EXPECT_NE(ErrorOf(Verify1(DumpJson(j) + "\n")).find("edited"), std::string::npos);
  EXPECT_NE(ErrorOf(Verify1(j.dump(2) + "\n")).find("edited"), std::string::npos);
  EXPECT_NE(ErrorOf(Verify1(DumpJson(j, 4) + "\n")).find("edited"), std::string::npos);
}

TEST(CertificateTest, AnotherVaultsCertificateFails) {
  test::VaultFixture a;
  test::VaultFixture b;
  DestructionCertificate c = Cert1();
  c.vault_id = a.vault().id();
  const std::string text = SignCertificate(c, a.vault().signing_key());
  auto r = VerifyCertificate(text, b.vault().id(), b.vault().config().sign_public);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kCorruption);
  EXPECT_NE(r.error().message().find("vault " + ToHex(a.vault().id()) + ", not of this vault (" +
                                     ToHex(b.vault().id()) + ")"),
            std::string::npos)
      << r.error().message();

  // Signed by A's key but naming B: the key it names is not B's.
  c.vault_id = b.vault().id();
  const std::string claims_b = SignCertificate(c, a.vault().signing_key());
  r = VerifyCertificate(claims_b, b.vault().id(), b.vault().config().sign_public);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("not this vault's key"), std::string::npos)
      << r.error().message();

  // ... and with B's public key written in: the signature does not match.
  std::string forged = claims_b;
  const std::string a_key = ToHex(a.vault().config().sign_public);
  forged.replace(forged.find(a_key), a_key.size(), ToHex(b.vault().config().sign_public));
  r = VerifyCertificate(forged, b.vault().id(), b.vault().config().sign_public);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("signature does not match"), std::string::npos)
      << r.error().message();
}

TEST(CertificateTest, MalformedJsonFails) {
  for (const std::string& text :
       {std::string(), std::string("\n"), std::string("not json\n"), std::string("{\n"),
        kCert1.substr(0, kCert1.size() / 2), kCert1 + "{}\n", std::string("\xFF\xFE{}"),
        std::string("[]\n"), std::string("\"matterfs-destruction-certificate\"\n"),
        std::string("{}\n")}) {
    auto r = Verify1(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.error().code(), Code::kCorruption) << text;
    EXPECT_EQ(r.error().message().rfind("not a valid certificate of destruction: ", 0), 0u)
        << r.error().message();
  }
  EXPECT_NE(ErrorOf(Verify1("not json\n")).find("not JSON: parse error"), std::string::npos)
      << ErrorOf(Verify1("not json\n"));
  EXPECT_FALSE(Verify1(std::string(kMaxCertificateSize + 1, ' ')).ok());
}

// Found by fuzz_certificate (tests/fuzz): a number too large for a double made the JSON
// parser throw out_of_range, which VerifyCertificate did not catch (parse errors only), so
// a hostile certificate file ended `matterctl certificate verify` with std::terminate.
TEST(CertificateTest, NumberOutOfRangeFailsWithoutThrowing) {
  for (const std::string& text : {std::string("{\n  \"format\": 35e714\n}\n"),
                                  std::string("[1e999]"), std::string("-1e400")}) {
    Result<DestructionCertificate> r = Error(Code::kIo, "not run");
    EXPECT_NO_THROW(r = Verify1(text)) << text;
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.error().code(), Code::kCorruption) << text;
    EXPECT_NE(r.error().message().find("not JSON"), std::string::npos) << r.error().message();
  }
}

// Re-signed with SIGN-2's key after `edit`, so that only the structure can fail.
std::string Resigned(const std::function<void(nlohmann::ordered_json&)>& edit) {
  auto j = nlohmann::ordered_json::parse(kCert1);
  j.erase("signature");
  edit(j);
  const std::string body = DumpJson(j, 2) + "\n";
  j["signature"] = ToHex(Sign2Key().Sign(CertificateMessage(body)));
  return DumpJson(j, 2) + "\n";
}

TEST(CertificateTest, ResigningTheUnchangedBodyGivesTheSameFile) {
  EXPECT_EQ(Resigned([](nlohmann::ordered_json&) {}), kCert1);
}

TEST(CertificateTest, EveryMissingMemberFails) {
  const auto members = nlohmann::ordered_json::parse(kCert1);
  for (const auto& [key, value] : members.items()) {
    auto j = members;
    j.erase(key);
    auto r = Verify1(DumpJson(j, 2) + "\n");
    ASSERT_FALSE(r.ok()) << key;
    if (key != "format" && key != "version") {
      EXPECT_NE(r.error().message().find("\"" + key + "\" is missing"), std::string::npos)
          << r.error().message();
    }
    // Also when re-signed, for members other than the signature itself.
    if (key != "signature") {
      EXPECT_FALSE(Verify1(Resigned([&](auto& k) { k.erase(key); })).ok()) << key;
    }
  }
}

TEST(CertificateTest, ExtraMemberFails) {
  auto r = Verify1(Resigned([](auto& j) { j["comment"] = "added"; }));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("unexpected member \"comment\""), std::string::npos)
      << r.error().message();
}

TEST(CertificateTest, WrongTypesAndValuesFail) {
  const std::vector<std::pair<std::string, nlohmann::ordered_json>> bad = {
      {"files", "3"},
      {"files", -3},
      {"files", 3.0},
      {"bytes", nullptr},
      {"passes", 4294967296},
      {"operator_uid", -1},
      {"key_versions_destroyed", 1},
      {"key_versions_destroyed", {1, "2"}},
      {"key_versions_destroyed", {1, 4294967296}},
      {"caveats", "one"},
      {"caveats", {1}},
      {"matter", 7},
      {"vault_id", "505152535455565758595A5B5C5D5E5F"},
      {"vault_id", "50515253"},
      {"matter_id", "zz3132333435363738393a3b3c3d3e3f"},
      {"public_key", ""},
      {"started", "2026-11-02 09:00:00"},
      {"finished", "2026-02-30T09:00:07Z"},
      {"format", "matterfs-certificate"},
      {"version", "1"},
  };
  for (const auto& [key, value] : bad) {
    auto r = Verify1(Resigned([&](auto& j) { j[key] = value; }));
    ASSERT_FALSE(r.ok()) << key << " = " << value.dump();
    EXPECT_EQ(r.error().code(), Code::kCorruption) << key << " = " << value.dump();
  }
}

TEST(CertificateTest, NewerVersionIsUnsupported) {
  auto r = Verify1(Resigned([](auto& j) { j["version"] = 2; }));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kUnsupported);
}

TEST(CertificateTest, DuplicateMemberFails) {
  std::string text = kCert1;
  text.insert(text.find("  \"files\""), "  \"files\": 4,\n");
  EXPECT_FALSE(Verify1(text).ok());
}

TEST(CertificateTest, SignatureMustBeLowercaseHex) {
  std::string text = kCert1;
  const size_t at = text.find("\"signature\": \"") + 14;
  for (size_t i = at; i < at + 128; ++i) text[i] = static_cast<char>(std::toupper(text[i]));
  EXPECT_NE(ErrorOf(Verify1(text)).find("128 lowercase hex"), std::string::npos);
}

TEST(CertificateTest, InvalidUtf8InAFactIsReplacedAndStillVerifies) {
  DestructionCertificate c = Cert1();
  c.host = "files\xFF";
  const std::string text = SignCertificate(c, Sign2Key());
  auto r = Verify1(text);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->host, "files\xEF\xBF\xBD");
}

}  // namespace
}  // namespace matterfs::vault
