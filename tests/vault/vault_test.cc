// Vault end to end on temporary directories: create, open, unlock, matters, keyslots,
// external keystores, refusal of damaged or newer configs, and no key stored in the clear.
#include "fs/vault/vault.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "tests/crypto/test_util.h"
#include "tests/vault/vault_test_util.h"

namespace matterfs::vault {
namespace {

using test::Seq;

constexpr std::string_view kPass = "correct horse battery staple";

class VaultTest : public ::testing::Test {
 protected:
  static InitOptions Options() {
    InitOptions o;
    o.argon = test::kFastArgon;
    return o;
  }
  std::string VaultPath() const { return dir_.Sub("vault"); }
  std::string ConfigPath() const { return dir_.Sub("vault/matterfs.vault"); }

  void CreateVault(const InitOptions& opts = Options()) {
    ASSERT_OK(Vault::Create(VaultPath(), opts, test::Passphrase(kPass)));
  }
  std::unique_ptr<Vault> OpenUnlocked(const std::optional<std::string>& keystore = std::nullopt) {
    auto v = Vault::Open(VaultPath(), keystore);
    if (!v.ok()) {
      ADD_FAILURE() << v.error().message();
      return nullptr;
    }
    Status st = (*v)->Unlock(test::Passphrase(kPass));
    if (!st.ok()) {
      ADD_FAILURE() << st.error().message();
      return nullptr;
    }
    return std::move(v).value();
  }
  // The error of opening and unlocking with the right passphrase.
  Error OpenError(const std::optional<std::string>& keystore = std::nullopt) {
    auto v = Vault::Open(VaultPath(), keystore);
    if (!v.ok()) return v.error();
    Status st = (*v)->Unlock(test::Passphrase(kPass));
    if (!st.ok()) return st.error();
    return Error(Code::kOk, "opened");
  }

  test::TempDir dir_;
};

TEST_F(VaultTest, CreateOpenUnlockAndTheLayoutOnDisk) {
  CreateVault();
  EXPECT_TRUE(std::filesystem::is_regular_file(ConfigPath()));
  EXPECT_TRUE(std::filesystem::is_directory(dir_.Sub("vault/d")));
  EXPECT_EQ(16u, test::ReadFileBytes(dir_.Sub("vault/d/.diriv")).size());
  EXPECT_TRUE(std::filesystem::is_directory(dir_.Sub("vault/keys")));
  struct stat st;
  ASSERT_EQ(0, ::stat(ConfigPath().c_str(), &st));
  EXPECT_EQ(0600u, st.st_mode & 0777);

  auto v = Vault::Open(VaultPath(), std::nullopt);
  ASSERT_OK(v);
  EXPECT_FALSE((*v)->unlocked());
  EXPECT_EQ(VaultPath(), (*v)->path());
  EXPECT_EQ(crypto::DefaultCipher(), (*v)->cipher());
  ASSERT_OK((*v)->Unlock(test::Passphrase(kPass)));
  EXPECT_TRUE((*v)->unlocked());
  EXPECT_BYTES_EQ((*v)->config().sign_public, (*v)->signing_key().public_key());
  auto matters = (*v)->ListMatters();
  ASSERT_OK(matters);
  EXPECT_TRUE(matters->empty());
}

TEST_F(VaultTest, EachCipherCanBeChosen) {
  for (crypto::Cipher cipher : {crypto::Cipher::kXChaCha20Poly1305, crypto::Cipher::kAes256Gcm}) {
    if (cipher == crypto::Cipher::kAes256Gcm && !crypto::AesGcmAvailable()) continue;
    InitOptions o = Options();
    o.cipher = cipher;
    const std::string path = dir_.Sub(crypto::CipherName(cipher));
    ASSERT_OK(Vault::Create(path, o, test::Passphrase(kPass)));
    auto v = Vault::Open(path, std::nullopt);
    ASSERT_OK(v);
    EXPECT_EQ(cipher, (*v)->cipher());
  }
}

TEST_F(VaultTest, WrongPassphraseIsWrongKey) {
  CreateVault();
  auto v = Vault::Open(VaultPath(), std::nullopt);
  ASSERT_OK(v);
  Status st = (*v)->Unlock(test::Passphrase("correct horse battery stapler"));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(Code::kWrongKey, st.error().code());
  EXPECT_FALSE((*v)->unlocked());
  st = (*v)->Unlock(test::KeyFile(Seq(0, 32)));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(Code::kWrongKey, st.error().code());
}

TEST_F(VaultTest, MattersAreCreatedListedAndFound) {
  CreateVault();
  auto v = OpenUnlocked();
  ASSERT_NE(nullptr, v);
  const std::vector<std::string> names = {"Smith v Jones", "Acme Corp \xe2\x80\x93 merger",
                                          std::string(200, 'L'), ".dotted"};
  std::map<std::string, MatterId> ids;
  for (const std::string& name : names) {
    auto m = v->CreateMatter(name);
    ASSERT_OK(m);
    EXPECT_EQ(name, m->name);
    EXPECT_EQ(MatterStatus::kOpen, m->status);
    ids[name] = m->id;
  }
  EXPECT_EQ(names.size(), ids.size());

  // A fresh open sees the same matters.
  v = OpenUnlocked();
  ASSERT_NE(nullptr, v);
  auto list = v->ListMatters();
  ASSERT_OK(list);
  ASSERT_EQ(names.size(), list->size());
  for (const MatterInfo& m : *list) {
    ASSERT_EQ(1u, ids.count(m.name)) << m.name;
    EXPECT_EQ(ids[m.name], m.id);
    EXPECT_EQ(MatterStatus::kOpen, m.status);
    // No matter name is visible in the data directory.
    EXPECT_EQ(std::string::npos, m.entry.find("Smith"));
    auto found = v->FindMatter(m.name);
    ASSERT_OK(found);
    EXPECT_EQ(m.id, found->id);
    EXPECT_EQ(m.entry, found->entry);
    auto keyring = v->LoadKeyring(m.id);
    ASSERT_OK(keyring);
    EXPECT_EQ(m.id, keyring->matter_id);
    EXPECT_EQ(v->id(), keyring->vault_id);
  }
  auto long_matter = v->FindMatter(std::string(200, 'L'));
  ASSERT_OK(long_matter);
  EXPECT_EQ(EntryKind::kLong, NameCodec::Classify(long_matter->entry));

  auto missing = v->FindMatter("Nobody v Nobody");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(Code::kNotFound, missing.error().code());
}

TEST_F(VaultTest, DuplicateAndInvalidMatterNamesAreRefused) {
  CreateVault();
  auto v = OpenUnlocked();
  ASSERT_NE(nullptr, v);
  ASSERT_OK(v->CreateMatter("Smith v Jones"));
  auto dup = v->CreateMatter("Smith v Jones");
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(Code::kExists, dup.error().code());
  for (const std::string& bad : {std::string(""), std::string("."), std::string(".."),
                                 std::string("a/b"), std::string(256, 'x')}) {
    auto r = v->CreateMatter(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(Code::kInvalidArgument, r.error().code());
  }
  // The refused duplicate left no second keyring behind.
  size_t keyrings = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_.Sub("vault/keys"))) {
    if (e.path().extension() == ".keyring") ++keyrings;
  }
  EXPECT_EQ(1u, keyrings);
  auto list = v->ListMatters();
  ASSERT_OK(list);
  EXPECT_EQ(1u, list->size());
}

TEST_F(VaultTest, AMatterRenamedOnDiskIsDetected) {
  CreateVault();
  auto v = OpenUnlocked();
  ASSERT_NE(nullptr, v);
  auto a = v->CreateMatter("Alpha");
  auto b = v->CreateMatter("Beta");
  ASSERT_OK(a);
  ASSERT_OK(b);
  // Swap the two matter directories' binding files: each now claims the other's id.
  const std::string da = dir_.Sub("vault/d/" + a->entry + "/.matter");
  const std::string db = dir_.Sub("vault/d/" + b->entry + "/.matter");
  Bytes ba = test::ReadFileBytes(da), bb = test::ReadFileBytes(db);
  std::filesystem::permissions(da, std::filesystem::perms::owner_write,
                               std::filesystem::perm_options::add);
  std::filesystem::permissions(db, std::filesystem::perms::owner_write,
                               std::filesystem::perm_options::add);
  test::WriteFileBytes(da, bb);
  test::WriteFileBytes(db, ba);
  auto found = v->FindMatter("Alpha");
  ASSERT_FALSE(found.ok());
  EXPECT_EQ(Code::kCorruption, found.error().code());
  EXPECT_FALSE(v->ListMatters().ok());
}

TEST_F(VaultTest, TruncatedConfigIsRefused) {
  CreateVault();
  const Bytes raw = test::ReadFileBytes(ConfigPath());
  for (size_t len : {size_t{0}, size_t{7}, size_t{100}, raw.size() / 2, raw.size() - 1}) {
    test::WriteFileBytes(ConfigPath(), ByteSpan(raw).first(len));
    Error e = OpenError();
    EXPECT_EQ(Code::kCorruption, e.code()) << len << ": " << e.message();
  }
}

TEST_F(VaultTest, BitFlippedConfigIsRefused) {
  CreateVault();
  const Bytes raw = test::ReadFileBytes(ConfigPath());
  // Version 3 keeps two copies (config_v3_test.cc shows one damaged copy is harmless):
  // the same bit flipped in both leaves no good copy.
  for (size_t bit : {size_t{0}, size_t{8 * 20}, size_t{8 * 40 + 3}, size_t{8 * 200 + 1},
                     kConfigCopySize * 8 - 1}) {
    test::WriteFileBytes(ConfigPath(),
                         test::FlipBit(test::FlipBit(raw, bit), bit + kConfigCopySize * 8));
    Error e = OpenError();
    EXPECT_NE(Code::kOk, e.code()) << bit;
    EXPECT_NE(Code::kWrongKey, e.code()) << "damage must not look like a wrong passphrase";
  }
  test::WriteFileBytes(ConfigPath(), raw);
  EXPECT_EQ(Code::kOk, OpenError().code());
}

TEST_F(VaultTest, NewerConfigVersionIsUnsupportedAndNamed) {
  CreateVault();
  Bytes raw = test::ReadFileBytes(ConfigPath());
  PutU16(raw.data() + 8, 4);
  PutU16(raw.data() + kConfigCopySize + 8, 4);
  test::WriteFileBytes(ConfigPath(), raw);
  auto v = Vault::Open(VaultPath(), std::nullopt);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(Code::kUnsupported, v.error().code());
  EXPECT_NE(std::string::npos, v.error().message().find("version 4")) << v.error().message();
}

TEST_F(VaultTest, NotAVaultIsNotFound) {
  auto v = Vault::Open(dir_.path(), std::nullopt);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(Code::kNotFound, v.error().code());
  v = Vault::Open(dir_.Sub("missing"), std::nullopt);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(Code::kNotFound, v.error().code());
}

TEST_F(VaultTest, CreateRefusesAnExistingVaultOrANonEmptyDirectory) {
  CreateVault();
  const Bytes before = test::ReadFileBytes(ConfigPath());
  Status st = Vault::Create(VaultPath(), Options(), test::Passphrase("other"));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(Code::kExists, st.error().code());
  EXPECT_EQ(before, test::ReadFileBytes(ConfigPath()));

  std::filesystem::create_directory(dir_.Sub("busy"));
  test::WriteFileBytes(dir_.Sub("busy/client-file.txt"), test::Ascii("not ours"));
  st = Vault::Create(dir_.Sub("busy"), Options(), test::Passphrase(kPass));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(Code::kExists, st.error().code());
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("busy/matterfs.vault")));

  // An existing empty directory is fine.
  std::filesystem::create_directory(dir_.Sub("empty"));
  ASSERT_OK(Vault::Create(dir_.Sub("empty"), Options(), test::Passphrase(kPass)));
}

TEST_F(VaultTest, KeyslotsCanBeAddedAndRemovedButNeverTheLast) {
  CreateVault();
  const Bytes key_file = Seq(0x90, 48);
  {
    auto v = OpenUnlocked();
    ASSERT_NE(nullptr, v);
    ASSERT_OK(v->CreateMatter("Kept"));
    ASSERT_OK(v->AddKeyslot(test::KeyFile(key_file), {0, 0}));
    EXPECT_EQ(2u, v->config().slots.size());
  }
  {
    auto v = Vault::Open(VaultPath(), std::nullopt);
    ASSERT_OK(v);
    ASSERT_EQ(2u, (*v)->config().slots.size());
    ASSERT_OK((*v)->Unlock(test::KeyFile(key_file)));
    auto m = (*v)->FindMatter("Kept");
    ASSERT_OK(m);
    Status st = (*v)->RemoveKeyslot(2);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(Code::kNotFound, st.error().code());
    ASSERT_OK((*v)->RemoveKeyslot(0));  // the passphrase slot
    EXPECT_EQ(1u, (*v)->config().slots.size());
    st = (*v)->RemoveKeyslot(0);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(Code::kInvalidArgument, st.error().code());
    EXPECT_EQ(1u, (*v)->config().slots.size());
    // The in-memory config stays usable for further changes.
    ASSERT_OK((*v)->AddKeyslot(test::Passphrase("new passphrase"), test::kFastArgon));
  }
  auto v = Vault::Open(VaultPath(), std::nullopt);
  ASSERT_OK(v);
  ASSERT_EQ(2u, (*v)->config().slots.size());
  Status old_pass = (*v)->Unlock(test::Passphrase(kPass));
  ASSERT_FALSE(old_pass.ok());
  EXPECT_EQ(Code::kWrongKey, old_pass.error().code());
  ASSERT_OK((*v)->Unlock(test::Passphrase("new passphrase")));
  ASSERT_OK((*v)->Unlock(test::KeyFile(key_file)));
  EXPECT_OK((*v)->FindMatter("Kept"));
}

TEST_F(VaultTest, AtMostEightKeyslots) {
  CreateVault();
  auto v = OpenUnlocked();
  ASSERT_NE(nullptr, v);
  for (uint8_t i = 1; i < kMaxSlots; ++i) {
    ASSERT_OK(v->AddKeyslot(test::KeyFile(Seq(i, 32)), {0, 0}));
  }
  auto st = v->AddKeyslot(test::KeyFile(Seq(100, 32)), {0, 0});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(Code::kInvalidArgument, st.error().code());
  auto reopened = Vault::Open(VaultPath(), std::nullopt);
  ASSERT_OK(reopened);
  EXPECT_EQ(kMaxSlots, (*reopened)->config().slots.size());
  ASSERT_OK((*reopened)->Unlock(test::KeyFile(Seq(7, 32))));
}

TEST_F(VaultTest, ExternalKeystoreIsRequiredToOpen) {
  InitOptions o = Options();
  o.keystore = dir_.Sub("usb-keystore");
  CreateVault(o);
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("vault/keys")));
  EXPECT_TRUE(std::filesystem::is_directory(dir_.Sub("usb-keystore")));

  auto without = Vault::Open(VaultPath(), std::nullopt);
  ASSERT_FALSE(without.ok());
  EXPECT_EQ(Code::kInvalidArgument, without.error().code());
  EXPECT_NE(std::string::npos, without.error().message().find("keystore"));

  auto v = OpenUnlocked(dir_.Sub("usb-keystore"));
  ASSERT_NE(nullptr, v);
  EXPECT_NE(0u, v->config().features & kFeatureExternalKeystore);
  auto m = v->CreateMatter("Offsite");
  ASSERT_OK(m);
  EXPECT_TRUE(std::filesystem::exists(dir_.Sub("usb-keystore/" + KeyringFileName(m->id))));

  // With the wrong keystore the matter's keys are missing.
  std::filesystem::create_directory(dir_.Sub("wrong-keystore"));
  auto wrong = OpenUnlocked(dir_.Sub("wrong-keystore"));
  ASSERT_NE(nullptr, wrong);
  auto found = wrong->FindMatter("Offsite");
  ASSERT_FALSE(found.ok());
  EXPECT_EQ(Code::kNotFound, found.error().code());

  auto missing = Vault::Open(VaultPath(), dir_.Sub("no-such-keystore"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(Code::kNotFound, missing.error().code());
}

TEST_F(VaultTest, KeyringUpdatesThroughTheVaultSurviveAndFallBack) {
  CreateVault();
  auto v = OpenUnlocked();
  ASSERT_NE(nullptr, v);
  auto m = v->CreateMatter("Litigation hold");
  ASSERT_OK(m);
  auto set = [&](MatterStatus s) {
    return UpdateKeyringFile(v->keystore_fd(), v->id(), m->id, v->keyring_keys(),
                             [&](Keyring& r) -> Status {
                               r.status = s;
                               return {};
                             });
  };
  ASSERT_OK(set(MatterStatus::kHold));
  auto r1 = v->LoadKeyring(m->id);
  ASSERT_OK(r1);
  EXPECT_EQ(2u, r1->sequence);
  ASSERT_OK(set(MatterStatus::kClosed));

  v = OpenUnlocked();
  ASSERT_NE(nullptr, v);
  auto r2 = v->LoadKeyring(m->id);
  ASSERT_OK(r2);
  EXPECT_EQ(MatterStatus::kClosed, r2->status);
  EXPECT_EQ(3u, r2->sequence);
  auto found = v->FindMatter("Litigation hold");
  ASSERT_OK(found);
  EXPECT_EQ(MatterStatus::kClosed, found->status);

  // Both copies hold the newest state after a completed update, so damaging either
  // one never rolls the keyring back (a single damaged copy is what a crash mid-update
  // leaves, and then the other copy is the one that was not being written).
  const std::string path = dir_.Sub("vault/keys/" + KeyringFileName(m->id));
  Bytes file = test::ReadFileBytes(path);
  for (size_t copy = 0; copy < 2; ++copy) {
    auto c = Keyring::ParseCopy(ByteSpan(file).subspan(copy * kKeyringCopySize, kKeyringCopySize),
                                v->keyring_keys(), v->id(), m->id);
    ASSERT_OK(c);
    ASSERT_EQ(3u, c->sequence);
  }
  Bytes damaged = file;
  damaged[kKeyringCopySize + 500] ^= 0x80;
  test::WriteFileBytes(path, damaged);
  auto r3 = v->LoadKeyring(m->id);
  ASSERT_OK(r3);
  EXPECT_EQ(3u, r3->sequence);
  EXPECT_EQ(MatterStatus::kClosed, r3->status);
  damaged = file;
  damaged[500] ^= 0x80;
  test::WriteFileBytes(path, damaged);
  auto r4 = v->LoadKeyring(m->id);
  ASSERT_OK(r4);
  EXPECT_EQ(MatterStatus::kClosed, r4->status);
  // Both copies damaged: refused, never a default.
  damaged[kKeyringCopySize + 500] ^= 0x80;
  test::WriteFileBytes(path, damaged);
  EXPECT_FALSE(v->LoadKeyring(m->id).ok());
  test::WriteFileBytes(path, file);
  auto r5 = v->LoadKeyring(m->id);
  ASSERT_OK(r5);
  EXPECT_BYTES_EQ(r2->name_key->bytes(), r5->name_key->bytes());
}

// True when any 8-byte window of `key` occurs in `haystack`.
bool ContainsAnyPieceOf(ByteSpan haystack, ByteSpan key) {
  for (size_t i = 0; i + 8 <= key.size(); ++i) {
    auto piece = key.subspan(i, 8);
    if (std::search(haystack.begin(), haystack.end(), piece.begin(), piece.end()) !=
        haystack.end()) {
      return true;
    }
  }
  return false;
}

TEST_F(VaultTest, NoKeyIsStoredUnwrappedAnywhere) {
  for (bool external : {false, true}) {
    SCOPED_TRACE(external ? "external keystore" : "keystore inside the vault");
    test::TempDir dir;
    InitOptions o = Options();
    if (external) o.keystore = dir.Sub("keystore");
    const std::string path = dir.Sub("vault");
    ASSERT_OK(Vault::Create(path, o, test::Passphrase(kPass)));
    auto v = Vault::Open(path, o.keystore);
    ASSERT_OK(v);
    ASSERT_OK((*v)->Unlock(test::Passphrase(kPass)));
    std::vector<MatterId> ids;
    for (const std::string& name : {std::string("Matter one"), std::string(220, 'M')}) {
      auto m = (*v)->CreateMatter(name);
      ASSERT_OK(m);
      ids.push_back(m->id);
    }
    ASSERT_OK((*v)->AddKeyslot(test::KeyFile(Seq(0x33, 32)), {0, 0}));

    // Every key we can reach through the public API.
    std::vector<Bytes> keys;
    auto add = [&](ByteSpan k) { keys.emplace_back(k.begin(), k.end()); };
    // The Ed25519 secret is seed || public key, and the public half is meant to be stored:
    // check the whole secret and every piece of the seed.
    const ByteSpan signing_secret = (*v)->signing_key().secret_key();
    add(signing_secret.first(32));
    add((*v)->keyring_keys().wrap.bytes());
    add((*v)->keyring_keys().mac.bytes());
    for (const MatterId& id : ids) {
      auto ring = (*v)->LoadKeyring(id);
      ASSERT_OK(ring);
      add(ring->name_key->bytes());
      for (const auto& [version, key] : ring->wrap_keys) add(key->bytes());
    }
    ASSERT_EQ(3u + 2 * 2, keys.size());

    size_t files = 0;
    std::vector<std::string> roots = {path};
    if (external) roots.push_back(*o.keystore);
    for (const std::string& root : roots) {
      for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
        if (!e.is_regular_file()) continue;
        ++files;
        const Bytes contents = test::ReadFileBytes(e.path());
        for (const Bytes& key : keys) {
          EXPECT_FALSE(ContainsAnyPieceOf(contents, key))
              << e.path().filename() << " holds key bytes in the clear";
        }
        EXPECT_EQ(contents.end(), std::search(contents.begin(), contents.end(),
                                              signing_secret.begin(), signing_secret.end()))
            << e.path().filename() << " holds the signing secret in the clear";
      }
    }
    // config, lock, root .diriv, 2 × (.diriv, .matter), a long name, 2 keyrings
    EXPECT_GE(files, 10u);
  }
}

}  // namespace
}  // namespace matterfs::vault
