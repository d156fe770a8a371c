// matterctl's --json output (matter list, keyslot list) checked against what the vault
// really holds, and --passphrase-file - (standard input), run in-process through
// RunMatterctl on real vaults built with the vault library.
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fs/vault/rotation.h"
#include "tests/tools/run_matterctl.h"
#include "tests/vault/matter_tree.h"
#include "util/bytes.h"
#include "util/unix_time.h"

namespace matterfs::test {
namespace {

uint64_t NowSeconds() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

class JsonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    vault::Vault::SetUnmountGraceForTesting(std::chrono::milliseconds(0));
    pass_ = fx_.dir().Sub("pass");
    WriteFileBytes(pass_, AsBytes(std::string(kTreePass) + "\n"));
    for (const char* m : {"acme", "globex", "initech"}) fx_.vault().CreateMatter(m).value();
    std::vector<audit::AuditEvent> events;
    const auto ctx = RecordingAdminContext(events);
    ASSERT_TRUE(vault::ChangeMatterStatus(fx_.vault(), "globex", "close", ctx).ok());
    ASSERT_TRUE(vault::ChangeMatterStatus(fx_.vault(), "initech", "hold", ctx).ok());
    before_rotation_ = NowSeconds();
    ASSERT_TRUE(vault::RotateMatter(fx_.vault(), "acme", ctx).ok());
    after_rotation_ = NowSeconds();
  }
  std::vector<std::string> Unlocked(std::vector<std::string> args) {
    args.insert(args.end(), {"--passphrase-file", pass_});
    return args;
  }

  VaultFixture fx_;
  std::string pass_;
  uint64_t before_rotation_ = 0, after_rotation_ = 0;
};

TEST_F(JsonTest, MatterListHoldsWhatTheVaultHolds) {
  CliRun r = Matterctl(Unlocked({"matter", "list", fx_.path(), "--json"}));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  const auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["format"], "matterfs-matters");
  EXPECT_EQ(doc["version"], 1);
  EXPECT_EQ(doc["vault"], fx_.path());
  auto list = fx_.Reopen()->ListMatters().value();
  std::sort(list.begin(), list.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  ASSERT_EQ(doc["matters"].size(), list.size());
  for (size_t i = 0; i < list.size(); ++i) {
    const auto& j = doc["matters"][i];
    const auto& m = list[i];
    SCOPED_TRACE(m.name);
    EXPECT_EQ(j["name"], m.name);
    EXPECT_EQ(j["status"], vault::MatterStatusName(m.status));
    EXPECT_EQ(j["id"], ToHex(m.id));
    EXPECT_EQ(j["key_version"], m.key_version);
    EXPECT_EQ(j["rotation_unfinished"], false);
    if (m.rotated == 0) {
      EXPECT_TRUE(j["rotated"].is_null());
      EXPECT_TRUE(j["rotated_unix"].is_null());
    } else {
      EXPECT_EQ(j["rotated_unix"], m.rotated);
      EXPECT_EQ(j["rotated"], FormatUnixTime(m.rotated));
    }
  }
  // And the values are the ones set up: names sorted, statuses, the rotation.
  EXPECT_EQ(doc["matters"][0]["name"], "acme");
  EXPECT_EQ(doc["matters"][0]["status"], "open");
  EXPECT_EQ(doc["matters"][0]["key_version"], 2);
  const uint64_t rotated = doc["matters"][0]["rotated_unix"];
  EXPECT_GE(rotated, before_rotation_);
  EXPECT_LE(rotated, after_rotation_);
  EXPECT_EQ(doc["matters"][1]["status"], "closed");
  EXPECT_EQ(doc["matters"][1]["key_version"], 1);
  EXPECT_EQ(doc["matters"][2]["status"], "hold");
}

TEST_F(JsonTest, MatterListWithAWrongPassphraseIsAnErrorDocument) {
  const std::string wrong = fx_.dir().Sub("wrong");
  WriteFileBytes(wrong, AsBytes(std::string("not the passphrase\n")));
  CliRun r = Matterctl({"matter", "list", fx_.path(), "--passphrase-file", wrong, "--json"});
  EXPECT_EQ(r.code, 3);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(r.err.rfind("matterctl: ", 0), 0u) << r.err;
  const auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["format"], "matterfs-matters");
  EXPECT_EQ(doc["exit"], 3);
  EXPECT_EQ("matterctl: " + doc["error"].get<std::string>() + "\n", r.err);
}

TEST_F(JsonTest, KeyslotListHoldsWhatTheConfigHolds) {
  const std::string key = fx_.dir().Sub("server.key");
  ASSERT_EQ(Matterctl({"genkey", key}).code, 0);
  CliRun add = Matterctl(Unlocked({"keyslot", "add", fx_.path(), "--new-key-file", key}));
  ASSERT_EQ(add.code, 0) << add.err;
  CliRun r = Matterctl({"keyslot", "list", fx_.path(), "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["format"], "matterfs-keyslots");
  const auto reopened = fx_.Reopen();
  const auto& slots = reopened->config().slots;
  ASSERT_EQ(slots.size(), 2u);
  ASSERT_EQ(doc["keyslots"].size(), 2u);
  for (size_t i = 0; i < slots.size(); ++i) {
    const auto& j = doc["keyslots"][i];
    EXPECT_EQ(j["index"], i);
    EXPECT_EQ(j["kind"], vault::SlotKindName(slots[i].kind));
    EXPECT_NE(slots[i].created, 0u);
    EXPECT_EQ(j["created_unix"], slots[i].created);
    EXPECT_EQ(j["created"], FormatUnixTime(slots[i].created));
  }
  EXPECT_EQ(doc["keyslots"][0]["kind"], "passphrase");
  EXPECT_EQ(doc["keyslots"][0]["argon2id"]["ops"], kFastArgon.opslimit);
  EXPECT_EQ(doc["keyslots"][0]["argon2id"]["memory_mib"], kFastArgon.memlimit >> 20);
  EXPECT_EQ(doc["keyslots"][1]["kind"], "key-file");
  EXPECT_TRUE(doc["keyslots"][1]["argon2id"].is_null());
}

TEST_F(JsonTest, KeyslotListOfAMissingVaultIsAnErrorDocument) {
  CliRun r = Matterctl({"keyslot", "list", fx_.dir().Sub("none"), "--json"});
  EXPECT_EQ(r.code, 5);
  const auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["format"], "matterfs-keyslots");
  EXPECT_EQ(doc["exit"], 5);
  EXPECT_NE(doc["error"].get<std::string>().find("does not exist"), std::string::npos);
}

// ---- --passphrase-file - ----

TEST_F(JsonTest, PassphraseFromStandardInput) {
  CliRun r = Matterctl({"matter", "list", fx_.path(), "--passphrase-file", "-"},
                       std::string(kTreePass) + "\n");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("acme\topen\t", 0), 0u) << r.out;
  // Exactly like a file: one trailing newline (and a \r before it) is not part of it.
  EXPECT_EQ(Matterctl({"matter", "list", fx_.path(), "--passphrase-file", "-"},
                      std::string(kTreePass) + "\r\n")
                .code,
            0);
  CliRun wrong = Matterctl({"matter", "list", fx_.path(), "--passphrase-file", "-"},
                           std::string(kTreePass) + " \n");
  EXPECT_EQ(wrong.code, 3) << wrong.err;
  CliRun empty = Matterctl({"matter", "list", fx_.path(), "--passphrase-file", "-"}, "");
  EXPECT_EQ(empty.code, 2) << empty.err;
}

TEST_F(JsonTest, OnlyOnePassphraseMayComeFromStandardInput) {
  CliRun r = Matterctl(
      {"keyslot", "add", fx_.path(), "--passphrase-file", "-", "--new-passphrase-file", "-"},
      std::string(kTreePass) + "\n");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err,
            "matterctl: --passphrase-file - and --new-passphrase-file - both read standard "
            "input, which holds one passphrase: give the other one in a file\n");
  EXPECT_EQ(fx_.Reopen()->config().slots.size(), 1u) << "nothing was added";
  CliRun keep = Matterctl(
      {"rotate-master", fx_.path(), "--passphrase-file", "-", "--keep-passphrase-file", "-"},
      std::string(kTreePass) + "\n");
  EXPECT_EQ(keep.code, 2) << keep.err;
  EXPECT_NE(keep.err.find("both read standard input"), std::string::npos) << keep.err;
}

TEST_F(JsonTest, NewPassphraseFromStandardInput) {
  const std::string second = "a second long passphrase";
  CliRun add = Matterctl(Unlocked({"keyslot", "add", fx_.path(), "--new-passphrase-file", "-",
                                   "--kdf-ops", "1", "--kdf-memory", "8"}),
                         second + "\n");
  ASSERT_EQ(add.code, 0) << add.err;
  EXPECT_EQ(add.out, "added keyslot 1 (passphrase, argon2id ops=1 memory=8MiB)\n");
  // The new slot opens the vault, its passphrase again from standard input; and the old
  // one from standard input unlocks for a new slot from a file.
  CliRun list = Matterctl({"matter", "list", fx_.path(), "--passphrase-file", "-"}, second + "\n");
  EXPECT_EQ(list.code, 0) << list.err;
  const std::string third = fx_.dir().Sub("third");
  WriteFileBytes(third, AsBytes(std::string("a third long passphrase\n")));
  CliRun add2 = Matterctl({"keyslot", "add", fx_.path(), "--passphrase-file", "-",
                           "--new-passphrase-file", third, "--kdf-ops", "1", "--kdf-memory", "8"},
                          second + "\n");
  EXPECT_EQ(add2.code, 0) << add2.err;
  EXPECT_EQ(Matterctl({"matter", "list", fx_.path(), "--passphrase-file", third}).code, 0);
}

}  // namespace
}  // namespace matterfs::test
