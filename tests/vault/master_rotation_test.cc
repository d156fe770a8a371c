// Master key rotation (fs/vault/master_rotation.h) on real vaults: afterwards the same
// credential opens every matter with its status, key versions and files; the old config
// with the old passphrase opens no keyring; the signing key pair is the same; keyslots are
// kept, refused or dropped as told; and a rotation stopped at every crash point is refused
// by everything else and completed by a rerun.
#include "fs/vault/master_rotation.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "crypto/signing.h"
#include "fs/vault/encrypted_file.h"
#include "fs/vault/rotation.h"
#include "tests/crypto/test_util.h"
#include "tests/vault/matter_tree.h"

namespace matterfs::vault {
namespace {

namespace fs = std::filesystem;

const std::string kLongMatter = "matter-" + std::string(190, 'm');  // a .L entry in d/
constexpr std::string_view kSecondPass = "a second partner's passphrase";

// Every file, directory and symlink under `root` with its bytes (directories: "<dir>").
std::map<std::string, std::string> Snapshot(const std::string& root) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    const std::string rel = e.path().string().substr(root.size());
    if (e.is_directory()) {
      out[rel] = "<dir>";
    } else if (e.is_regular_file()) {
      Bytes b = test::ReadFileBytes(e.path().string());
      out[rel] = std::string(b.begin(), b.end());
    }
  }
  return out;
}

struct MatterState {
  std::string name;
  MatterId id;
  MatterStatus status;
  uint32_t key_version;
  size_t key_versions;
  bool operator==(const MatterState&) const = default;
};

class MasterRotationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Vault& v = fx_.vault();
    ASSERT_OK(v.CreateMatter("acme"));
    ASSERT_OK(v.CreateMatter("globex"));
    ASSERT_OK(v.CreateMatter(kLongMatter));
    files_["acme"] = {{"brief.txt", "Brief for the plaintiff"},
                      {"empty", ""},
                      {"big", std::string(3 * 4096 + 17, 'b')}};
    files_["globex"] = {{"offer.txt", "USD 2,500,000"}};
    files_[kLongMatter] = {{"note", "long matter name"}};
    for (const auto& [matter, files] : files_) {
      auto m = fx_.Matter(matter);
      test::TreeWriter w(v, *m);
      if (matter == "acme") w.Dir("pleadings");
      for (const auto& [rel, content] : files) w.File(rel, content);
    }
    test::TreeWriter(v, *fx_.Matter("acme")).File("pleadings/" + std::string(230, 'n'), "long");
    files_["acme"]["pleadings/" + std::string(230, 'n')] = "long";
    // A rotated matter (key version 2) and a closed one: both must survive as they are.
    ASSERT_OK(RotateMatter(v, "acme", Ctx()));
    ASSERT_OK(v.SetMatterStatus("globex", MatterStatus::kClosed));
    events_.clear();
    matters_before_ = Matters(v);
    ASSERT_EQ(3u, matters_before_.size());
    sign_public_ = Bytes(v.config().sign_public.begin(), v.config().sign_public.end());
    old_config_ = test::ReadFileBytes(ConfigPath());
  }

  std::string ConfigPath() const { return fx_.path() + "/matterfs.vault"; }
  std::string JournalPath() const { return fx_.path() + "/" + std::string(kMasterJournalName); }

  AdminContext Ctx() { return test::RecordingAdminContext(events_); }

  // A vault as rotate-master opens it: unfinished rotations allowed, not unlocked.
  std::unique_ptr<Vault> OpenForRotation() {
    OpenOptions o;
    o.unfinished_master_rotation = true;
    auto v = Vault::Open(fx_.path(), std::nullopt, o);
    EXPECT_OK(v);
    return v.ok() ? std::move(v).value() : nullptr;
  }

  Result<MasterRotationResult> Rotate(const Credential& cred,
                                      const MasterRotationOptions& opts = {}) {
    auto v = OpenForRotation();
    if (!v) return Error(Code::kIo, "open");
    return RotateMasterKey(*v, cred, Ctx(), opts);
  }
  Result<MasterRotationResult> Rotate(const MasterRotationOptions& opts = {}) {
    return Rotate(test::Passphrase(test::kTreePass), opts);
  }

  // A rotation stopped at `point` as a crash there would stop it.
  void RotateUntil(const std::string& point, const MasterRotationOptions& base = {}) {
    MasterRotationOptions opts;
    opts.drop_other_slots = base.drop_other_slots;
    bool reached = false;
    opts.checkpoint = [&](std::string_view here) -> Status {
      if (here != point) return {};
      reached = true;
      return Error(Code::kIo, "simulated crash at " + point);
    };
    auto r = Rotate(opts);
    ASSERT_FALSE(r.ok()) << point;
    EXPECT_TRUE(reached) << point << ": " << r.error().message();
  }

  static std::vector<MatterState> Matters(const Vault& v) {
    auto list = v.ListMatters();
    EXPECT_OK(list);
    std::vector<MatterState> out;
    if (!list.ok()) return out;
    for (const auto& m : *list) {
      out.push_back({m.name, m.id, m.status, m.key_version, m.key_versions});
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
    return out;
  }

  // Every matter, status, key version and file as before, through a vault opened afresh
  // with `cred`.
  void ExpectEverything(const Credential& cred) {
    auto opened = Vault::Open(fx_.path(), std::nullopt);
    ASSERT_OK(opened);
    Vault& v = **opened;
    ASSERT_OK(v.Unlock(cred));
    EXPECT_EQ(matters_before_, Matters(v));
    EXPECT_BYTES_EQ(sign_public_, v.config().sign_public);
    EXPECT_BYTES_EQ(sign_public_, v.signing_key().public_key());
    EXPECT_EQ(0u, v.config().features & kFeatureMasterRotation);
    for (const auto& [matter, files] : files_) {
      auto m = Matter::Load(v, matter);
      ASSERT_OK(m);
      for (const auto& [rel, content] : files) {
        auto fd = (*m)->OpenPath(v, rel, O_RDONLY);
        ASSERT_OK(fd);
        UniqueFd mem(::memfd_create("plain", MFD_CLOEXEC));
        ASSERT_OK(DecryptFileTo(**m, v.file_format(), fd->get(), mem.get()));
        std::string buf(content.size() + 10, '\0');
        const ssize_t n = ::pread(mem.get(), buf.data(), buf.size(), 0);
        buf.resize(n > 0 ? static_cast<size_t>(n) : 0);
        EXPECT_EQ(content, buf) << matter << "/" << rel;
      }
    }
  }

  // With the config of before the rotation put back and the old passphrase: the config
  // still unlocks (it is a valid old config) but no keyring, binding or matter name opens.
  void ExpectOldConfigOpensNothing() {
    const Bytes current = test::ReadFileBytes(ConfigPath());
    test::WriteFileBytes(ConfigPath(), old_config_);
    {
      auto v = Vault::Open(fx_.path(), std::nullopt);
      ASSERT_OK(v);
      ASSERT_OK((*v)->Unlock(test::Passphrase(test::kTreePass)));
      auto list = (*v)->ListMatters();
      ASSERT_FALSE(list.ok());
      EXPECT_EQ(Code::kCorruption, list.error().code()) << list.error().message();
      for (const MatterState& m : matters_before_) {
        auto ring = (*v)->LoadKeyring(m.id);
        ASSERT_FALSE(ring.ok()) << m.name;
        EXPECT_EQ(Code::kCorruption, ring.error().code()) << ring.error().message();
        EXPECT_FALSE((*v)->FindMatter(m.name).ok()) << m.name;
      }
    }
    test::WriteFileBytes(ConfigPath(), current);
  }

  // Both copies of every keyring open under the vault's current keys (a copy left under
  // the old ones would still open with the old config).
  void ExpectBothKeyringCopiesCurrent() {
    auto opened = Vault::Open(fx_.path(), std::nullopt);
    ASSERT_OK(opened);
    ASSERT_OK((*opened)->Unlock(test::Passphrase(test::kTreePass)));
    const Vault& v = **opened;
    for (const MatterState& m : matters_before_) {
      const Bytes file = test::ReadFileBytes(fx_.path() + "/keys/" + KeyringFileName(m.id));
      ASSERT_EQ(kKeyringFileSize, file.size());
      for (size_t c = 0; c < 2; ++c) {
        auto ring =
            Keyring::ParseCopy(ByteSpan(file).subspan(c * kKeyringCopySize, kKeyringCopySize),
                               v.keyring_keys(), v.id(), m.id);
        ASSERT_OK(ring);
        EXPECT_EQ(m.status, ring->status);
        EXPECT_EQ(m.key_version, ring->current_version);
        EXPECT_EQ(m.key_versions, ring->wrap_keys.size());
      }
    }
  }

  test::VaultFixture fx_;
  std::map<std::string, std::map<std::string, std::string>> files_;
  std::vector<audit::AuditEvent> events_;
  std::vector<MatterState> matters_before_;
  Bytes sign_public_;
  Bytes old_config_;
};

TEST_F(MasterRotationTest, TheSamePassphraseOpensEveryMatterWithItsStatusVersionsAndFiles) {
  const auto before = Snapshot(fx_.path() + "/d");
  const Bytes root_iv = test::ReadFileBytes(fx_.path() + "/d/.diriv");
  auto r = Rotate();
  ASSERT_OK(r);
  EXPECT_EQ(MasterRotationResult::Kind::kRotated, r->kind);
  EXPECT_EQ(3u, r->matters);
  EXPECT_EQ(1u, r->slots_kept);
  EXPECT_EQ(0u, r->slots_dropped);
  EXPECT_FALSE(r->discarded_journal);
  EXPECT_NE(std::string::npos,
            MasterRotationSummary(*r).find(
                "vault master key replaced: 3 matters rewrapped, 1 keyslots kept, 0 dropped; "))
      << MasterRotationSummary(*r);
  ExpectEverything(test::Passphrase(test::kTreePass));
  ExpectBothKeyringCopiesCurrent();
  EXPECT_FALSE(fs::exists(JournalPath()));
  EXPECT_EQ(root_iv, test::ReadFileBytes(fx_.path() + "/d/.diriv"));

  // Inside the matters nothing changed but `.matter`; every matter entry in d/ has a new
  // name (the long one a new .L entry and .n file); the old ones are gone.
  const auto after = Snapshot(fx_.path() + "/d");
  std::set<std::string> old_top, new_top;
  size_t unchanged_inside = 0;
  for (const auto& [path, bytes] : before) {
    const size_t slash = path.find('/', 1);
    if (slash == std::string::npos) {
      if (path != "/.diriv") old_top.insert(path);
      continue;
    }
    const std::string inside = path.substr(slash);
    bool found = false;
    for (const auto& [p2, b2] : after) {
      const size_t s2 = p2.find('/', 1);
      if (s2 != std::string::npos && p2.substr(s2) == inside && b2 == bytes) found = true;
    }
    if (inside == "/.matter") {
      EXPECT_FALSE(found) << path << ": the binding MAC must change";
    } else {
      EXPECT_TRUE(found) << path << " changed";
      ++unchanged_inside;
    }
  }
  EXPECT_GT(unchanged_inside, 10u);
  for (const auto& [path, bytes] : after) {
    if (path.find('/', 1) == std::string::npos && path != "/.diriv") new_top.insert(path);
  }
  EXPECT_EQ(old_top.size(), new_top.size());
  for (const std::string& e : old_top) EXPECT_EQ(0u, new_top.count(e)) << e;

  ASSERT_EQ(2u, events_.size());
  EXPECT_EQ("master-rotate", events_[0].event);
  EXPECT_NE(std::string::npos, events_[0].message.find("started: 3 matters")) << events_[0].message;
  EXPECT_EQ(audit::AuditResult::kOk, events_[1].result);
  EXPECT_NE(std::string::npos, events_[1].message.find("finished")) << events_[1].message;
}

TEST_F(MasterRotationTest, EachMattersCreationAndLastRotationTimesAreKept) {
  std::map<std::string, std::pair<uint64_t, uint64_t>> before;
  auto listed = fx_.vault().ListMatters();
  ASSERT_OK(listed);
  for (const auto& m : *listed) {
    auto ring = fx_.vault().LoadKeyring(m.id);
    ASSERT_OK(ring);
    before[m.name] = {ring->created, ring->rotated};
  }
  EXPECT_NE(0u, before["acme"].second) << "acme was rotated in SetUp";
  EXPECT_EQ(0u, before["globex"].second);
  ASSERT_OK(Rotate());
  auto v = fx_.Reopen();
  auto after = v->ListMatters();
  ASSERT_OK(after);
  ASSERT_EQ(before.size(), after->size());
  for (const auto& m : *after) {
    auto ring = v->LoadKeyring(m.id);
    ASSERT_OK(ring);
    EXPECT_EQ(before[m.name].first, ring->created) << m.name;
    EXPECT_EQ(before[m.name].second, ring->rotated) << m.name;
    EXPECT_NE(0u, ring->created) << m.name;
  }
}

TEST_F(MasterRotationTest, TheOldConfigWithTheOldPassphraseNoLongerOpensTheKeyrings) {
  // Before: the old config opens everything (the check below can fail).
  {
    auto v = Vault::Open(fx_.path(), std::nullopt);
    ASSERT_OK(v);
    ASSERT_OK((*v)->Unlock(test::Passphrase(test::kTreePass)));
    EXPECT_EQ(matters_before_, Matters(**v));
  }
  ASSERT_OK(Rotate());
  ExpectOldConfigOpensNothing();
  // And the current config still does.
  ExpectEverything(test::Passphrase(test::kTreePass));
}

TEST_F(MasterRotationTest, TheSigningKeyPairIsKeptSoOldSignaturesVerify) {
  const Bytes message = test::Ascii("checkpoint 1");
  const Bytes before = fx_.vault().signing_key().Sign(message);
  ASSERT_OK(Rotate());
  auto v = fx_.Reopen();
  EXPECT_BYTES_EQ(sign_public_, v->signing_key().public_key());
  EXPECT_TRUE(crypto::VerifySignature(v->config().sign_public, message, before));
  EXPECT_TRUE(crypto::VerifySignature(sign_public_, message, v->signing_key().Sign(message)));
  // The wrapped secret itself is new (another KEK, fresh nonce).
  EXPECT_NE(ToHex(ByteSpan(old_config_).subspan(68, 104)),
            ToHex(ByteSpan(test::ReadFileBytes(ConfigPath())).subspan(68, 104)));
}

TEST_F(MasterRotationTest, AnotherSlotWithoutKeepIsRefusedAndNothingChanges) {
  ASSERT_OK(fx_.vault().AddKeyslot(test::Passphrase(kSecondPass), test::kFastArgon));
  ASSERT_OK(fx_.vault().AddKeyslot(test::KeyFile(test::Seq(7, 64)), test::kFastArgon));
  const auto before = Snapshot(fx_.path());
  auto r = Rotate();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Code::kInvalidArgument, r.error().code());
  EXPECT_NE(std::string::npos, r.error().message().find("keyslots 1 (passphrase, created "))
      << r.error().message();
  EXPECT_NE(std::string::npos, r.error().message().find(", 2 (key-file, created "))
      << r.error().message();
  EXPECT_NE(std::string::npos, r.error().message().find("--drop-other-slots"));
  // Keeping one of the two is not enough either.
  MasterRotationOptions keep_one;
  keep_one.keep.push_back(test::Passphrase(kSecondPass));
  r = Rotate(keep_one);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(std::string::npos, r.error().message().find("keyslot 2 (key-file"))
      << r.error().message();
  // A credential to keep that opens no slot: refused as a wrong key.
  MasterRotationOptions wrong;
  wrong.keep.push_back(test::Passphrase("nobody's passphrase"));
  wrong.drop_other_slots = true;
  r = Rotate(wrong);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Code::kWrongKey, r.error().code());
  EXPECT_EQ(before, Snapshot(fx_.path()));
  EXPECT_TRUE(events_.empty());
}

TEST_F(MasterRotationTest, KeptSlotsKeepWorkingWithTheirKindParametersAndCreationTime) {
  ASSERT_OK(fx_.vault().AddKeyslot(test::Passphrase(kSecondPass), test::kFastArgon));
  ASSERT_OK(fx_.vault().AddKeyslot(test::KeyFile(test::Seq(7, 64)), test::kFastArgon));
  auto old = VaultConfig::Parse(test::ReadFileBytes(ConfigPath()));
  ASSERT_OK(old);
  MasterRotationOptions opts;
  opts.keep.push_back(test::KeyFile(test::Seq(7, 64)));
  opts.keep.push_back(test::Passphrase(test::kTreePass));
  // Unlocked with the second passphrase, the other two kept: every slot stays, in order.
  auto r = Rotate(test::Passphrase(kSecondPass), opts);
  ASSERT_OK(r);
  EXPECT_EQ(3u, r->slots_kept);
  EXPECT_EQ(0u, r->slots_dropped);
  ExpectEverything(test::Passphrase(test::kTreePass));
  ExpectEverything(test::Passphrase(kSecondPass));
  ExpectEverything(test::KeyFile(test::Seq(7, 64)));
  auto now = VaultConfig::Parse(test::ReadFileBytes(ConfigPath()));
  ASSERT_OK(now);
  ASSERT_EQ(3u, now->slots.size());
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(old->slots[i].kind, now->slots[i].kind) << i;
    EXPECT_EQ(old->slots[i].created, now->slots[i].created) << i;
    EXPECT_EQ(old->slots[i].argon.opslimit, now->slots[i].argon.opslimit) << i;
    EXPECT_EQ(old->slots[i].argon.memlimit, now->slots[i].argon.memlimit) << i;
    EXPECT_NE(old->slots[i].salt, now->slots[i].salt) << i;
  }
  ExpectOldConfigOpensNothing();
}

TEST_F(MasterRotationTest, DropOtherSlotsDropsThem) {
  ASSERT_OK(fx_.vault().AddKeyslot(test::Passphrase(kSecondPass), test::kFastArgon));
  ASSERT_OK(fx_.vault().AddKeyslot(test::KeyFile(test::Seq(7, 64)), test::kFastArgon));
  MasterRotationOptions opts;
  opts.drop_other_slots = true;
  opts.keep.push_back(test::KeyFile(test::Seq(7, 64)));
  auto r = Rotate(opts);
  ASSERT_OK(r);
  EXPECT_EQ(2u, r->slots_kept);
  EXPECT_EQ(1u, r->slots_dropped);
  EXPECT_NE(std::string::npos, MasterRotationSummary(*r).find("2 keyslots kept, 1 dropped"));
  ExpectEverything(test::Passphrase(test::kTreePass));
  ExpectEverything(test::KeyFile(test::Seq(7, 64)));
  auto v = Vault::Open(fx_.path(), std::nullopt);
  ASSERT_OK(v);
  EXPECT_EQ(2u, (*v)->config().slots.size());
  auto dropped = (*v)->Unlock(test::Passphrase(kSecondPass));
  ASSERT_FALSE(dropped.ok());
  EXPECT_EQ(Code::kWrongKey, dropped.error().code());
  EXPECT_NE(std::string::npos, events_[0].message.find("1 dropped (1 (passphrase"))
      << events_[0].message;
}

TEST_F(MasterRotationTest, AMountedVaultIsRefused) {
  Vault::SetUnmountGraceForTesting(std::chrono::milliseconds(0));
  auto daemon = fx_.Reopen();
  auto mounted = daemon->LockMounted(false);
  ASSERT_OK(mounted);
  const auto before = Snapshot(fx_.path());
  auto r = Rotate();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Code::kBusy, r.error().code());
  EXPECT_NE(std::string::npos, r.error().message().find("is mounted")) << r.error().message();
  EXPECT_EQ(before, Snapshot(fx_.path()));
  Vault::SetUnmountGraceForTesting(std::chrono::milliseconds(10000));
}

TEST_F(MasterRotationTest, AVaultUnlockedBeforeTheRotationChangesNothingAfterIt) {
  // Another matterctl that unlocked with the old key and gets the lock only afterwards:
  // what it would write would open under no current key, so it is refused.
  auto stale = fx_.Reopen();
  ASSERT_OK(Rotate());
  auto created = stale->CreateMatter("initech");
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(Code::kBusy, created.error().code());
  EXPECT_NE(std::string::npos, created.error().message().find("master key rotation"));
  auto lock = stale->LockOffline();
  ASSERT_FALSE(lock.ok());
  EXPECT_EQ(Code::kBusy, lock.error().code());
  lock = stale->LockMounted(false);
  ASSERT_FALSE(lock.ok());
  EXPECT_EQ(Code::kBusy, lock.error().code());
  ExpectEverything(test::Passphrase(test::kTreePass));
}

// Every point where a crash leaves a distinct state, for three matters.
std::vector<std::string> CrashPoints() {
  std::vector<std::string> points = {"journal", "config"};
  for (int k = 1; k <= 3; ++k) {
    for (const char* sub : {":copy", ":keyring", ":binding", ""}) {
      points.push_back("matter:" + std::to_string(k) + sub);
    }
  }
  points.push_back("final-config");
  points.push_back("done");
  return points;
}

TEST_F(MasterRotationTest, StoppedAtEveryPointItIsRefusedUntilARerunCompletesIt) {
  const Bytes first_config = old_config_;
  for (const std::string& point : CrashPoints()) {
    SCOPED_TRACE(point);
    const Bytes round_config = test::ReadFileBytes(ConfigPath());
    events_.clear();
    ASSERT_NO_FATAL_FAILURE(RotateUntil(point));
    ASSERT_EQ(2u, events_.size());
    EXPECT_EQ(audit::AuditResult::kError, events_[1].result);

    const bool unfinished = point != "journal" && point != "final-config" && point != "done";
    auto plain = Vault::Open(fx_.path(), std::nullopt);
    if (unfinished) {
      ASSERT_FALSE(plain.ok());
      EXPECT_EQ(Code::kUnfinished, plain.error().code());
      EXPECT_EQ(UnfinishedMasterRotationMessage(fx_.path()), plain.error().message());
      EXPECT_EQ("vault " + fx_.path() +
                    ": a master key rotation was interrupted; run matterctl rotate-master " +
                    fx_.path() + " to finish it",
                plain.error().message());
      // Only the config is readable without opening the vault (keyslot list).
      auto parsed = VaultConfig::Parse(test::ReadFileBytes(ConfigPath()));
      ASSERT_OK(parsed);
      EXPECT_NE(0u, parsed->features & kFeatureMasterRotation);
    } else {
      // Before the config (the old key still in force) or after the final one: the vault
      // opens and every matter reads.
      ASSERT_OK(plain);
      ASSERT_NO_FATAL_FAILURE(ExpectEverything(test::Passphrase(test::kTreePass)));
    }
    EXPECT_EQ(point != "done", fs::exists(JournalPath()));

    events_.clear();
    auto r = Rotate();
    ASSERT_OK(r);
    if (point == "journal") {
      EXPECT_EQ(MasterRotationResult::Kind::kRotated, r->kind);
      EXPECT_TRUE(r->discarded_journal);
    } else if (point == "final-config") {
      EXPECT_EQ(MasterRotationResult::Kind::kJournalRemoved, r->kind);
    } else if (point == "done") {
      EXPECT_EQ(MasterRotationResult::Kind::kRotated, r->kind);  // a fresh one
      EXPECT_FALSE(r->discarded_journal);
    } else {
      EXPECT_EQ(MasterRotationResult::Kind::kResumed, r->kind);
      EXPECT_EQ(3u, r->matters);
      EXPECT_NE(std::string::npos,
                MasterRotationSummary(*r).find("interrupted rotation, completed"));
    }
    ASSERT_NO_FATAL_FAILURE(ExpectEverything(test::Passphrase(test::kTreePass)));
    ASSERT_NO_FATAL_FAILURE(ExpectBothKeyringCopiesCurrent());
    EXPECT_FALSE(fs::exists(JournalPath()));
    // Neither the config of before this round (the stopped run or the rerun replaced its
    // key) nor the very first one opens anything now.
    old_config_ = round_config;
    ASSERT_NO_FATAL_FAILURE(ExpectOldConfigOpensNothing());
    old_config_ = first_config;
    ASSERT_NO_FATAL_FAILURE(ExpectOldConfigOpensNothing());
  }
}

TEST_F(MasterRotationTest, AResumedRotationStoppedAgainIsCompletedByTheNextRun) {
  ASSERT_NO_FATAL_FAILURE(RotateUntil("config"));
  ASSERT_NO_FATAL_FAILURE(RotateUntil("matter:2:copy"));
  ASSERT_NO_FATAL_FAILURE(RotateUntil("matter:3:binding"));
  auto r = Rotate();
  ASSERT_OK(r);
  EXPECT_EQ(MasterRotationResult::Kind::kResumed, r->kind);
  ExpectEverything(test::Passphrase(test::kTreePass));
  ExpectBothKeyringCopiesCurrent();
  ExpectOldConfigOpensNothing();
}

TEST_F(MasterRotationTest, TheJournalHasTheDocumentedLayout) {
  // docs/FORMAT.md §8.6: magic, version 1, reserved zeros, vault id, wrapped old VMK (72);
  // mode 0600; written before the config changes.
  ASSERT_NO_FATAL_FAILURE(RotateUntil("journal"));
  EXPECT_EQ(old_config_, test::ReadFileBytes(ConfigPath()));
  const Bytes j = test::ReadFileBytes(JournalPath());
  ASSERT_EQ(104u, j.size());
  EXPECT_EQ("MFSMROT1", std::string(j.begin(), j.begin() + 8));
  EXPECT_EQ(1u, GetU16(j.data() + 8));
  EXPECT_EQ(Bytes(6, 0), Bytes(j.begin() + 10, j.begin() + 16));
  EXPECT_BYTES_EQ(fx_.vault().id(), ByteSpan(j).subspan(16, 16));
  EXPECT_EQ(fs::perms::owner_read | fs::perms::owner_write,
            fs::status(JournalPath()).permissions());
  // A second journal, after the config: another wrap (another new key, fresh nonce).
  ASSERT_NO_FATAL_FAILURE(RotateUntil("config"));
  const Bytes j2 = test::ReadFileBytes(JournalPath());
  ASSERT_EQ(104u, j2.size());
  EXPECT_NE(ToHex(ByteSpan(j).subspan(32)), ToHex(ByteSpan(j2).subspan(32)));
  // The config now carries bit 1; its slot AD ignores it, its MAC does not.
  auto c = VaultConfig::Parse(test::ReadFileBytes(ConfigPath()));
  ASSERT_OK(c);
  EXPECT_EQ(kFeatureMasterRotation, c->features & kFeatureMasterRotation);
  ASSERT_OK(Rotate());
  c = VaultConfig::Parse(test::ReadFileBytes(ConfigPath()));
  ASSERT_OK(c);
  EXPECT_EQ(kFeatureFileFormat3, c->features);  // bit 1 cleared, bit 2 kept
}

TEST_F(MasterRotationTest, AnUnfinishedRotationWithoutItsJournalIsCorrupt) {
  ASSERT_NO_FATAL_FAILURE(RotateUntil("matter:1"));
  ASSERT_TRUE(fs::remove(JournalPath()));
  auto r = Rotate();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Code::kCorruption, r.error().code());
  EXPECT_NE(std::string::npos, r.error().message().find("journal")) << r.error().message();
}

TEST_F(MasterRotationTest, ADamagedJournalIsCorruptAndNotDiscardedWhileUnfinished) {
  ASSERT_NO_FATAL_FAILURE(RotateUntil("matter:1:keyring"));
  Bytes j = test::ReadFileBytes(JournalPath());
  ASSERT_EQ(104u, j.size());
  const Bytes good = j;
  for (size_t bit : {size_t{0}, size_t{8 * 20}, size_t{8 * 50}, size_t{8 * 103 + 7}}) {
    test::WriteFileBytes(JournalPath(), test::FlipBit(good, bit));
    auto r = Rotate();
    ASSERT_FALSE(r.ok()) << bit;
    EXPECT_EQ(Code::kCorruption, r.error().code()) << bit;
    EXPECT_TRUE(fs::exists(JournalPath())) << bit;
  }
  test::WriteFileBytes(JournalPath(), good);
  ASSERT_OK(Rotate());
  ExpectEverything(test::Passphrase(test::kTreePass));
}

TEST_F(MasterRotationTest, ADamagedMatterStopsNothingBeforeTheStart) {
  // A keyring that opens under no key: refused before anything changes.
  const MatterState& victim = matters_before_[0];
  const std::string ring = fx_.path() + "/keys/" + KeyringFileName(victim.id);
  Bytes b = test::ReadFileBytes(ring);
  b[100] ^= 1;
  b[kKeyringCopySize + 100] ^= 1;
  test::WriteFileBytes(ring, b);
  const auto before = Snapshot(fx_.path());
  auto r = Rotate();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Code::kCorruption, r.error().code());
  EXPECT_EQ(before, Snapshot(fx_.path()));
}

}  // namespace
}  // namespace matterfs::vault
