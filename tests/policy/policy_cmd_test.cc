// `matterctl policy check|explain` handlers, with a fake name service and captured output.
#include "tools/policy_cmd.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/policy/policy_test_util.h"
#include "tools/matterctl.h"

namespace matterfs::tools {
namespace {

using policy::testing::At;
using policy::testing::FakeResolver;

class PolicyCmdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "policy_cmd_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    for (const std::string& f : files_) ::unlink(f.c_str());
    ::rmdir(dir_.c_str());
  }
  std::string Write(const std::string& name, const std::string& text) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    files_.push_back(path);
    return path;
  }
  int Check(const std::string& file) {
    out_.str("");
    err_.str("");
    return PolicyCheck(file, resolver_, out_, err_);
  }
  int Explain(const std::string& file, const std::string& user, const std::string& matter,
              const std::string& action, std::optional<std::string> status = {},
              std::optional<std::string> time = {}, bool json = false) {
    out_.str("");
    err_.str("");
    SubjectLookup lookup = [](const std::string& name) -> Result<policy::Subject> {
      if (name == "frank") return policy::Subject{"frank", 1005, {"frank", "lit-partners"}};
      if (name == "carol") return policy::Subject{"carol", 1003, {"carol"}};
      if (name == "bob") return policy::Subject{"bob", 1002, {"bob"}};
      return Error(Code::kNotFound, "no such user '" + name + "'");
    };
    return PolicyExplain(file, user, matter, action, status, time, resolver_, lookup,
                         At("2026-11-22T10:00Z"), out_, err_, json);
  }

  FakeResolver resolver_;
  std::string dir_;
  std::vector<std::string> files_;
  std::ostringstream out_, err_;
};

constexpr const char* kGood = R"([role partners]
members = alice, @lit-partners
[matter acme-v-smith]
read = partners, bob until=2026-12-31
write = partners
deny = carol
)";

TEST_F(PolicyCmdTest, CheckValid) {
  std::string f = Write("good.ini", kGood);
  EXPECT_EQ(Check(f), kExitOk);
  EXPECT_EQ(out_.str(), f + ": ok (1 role, 1 matter)\n");
  EXPECT_EQ(err_.str(), "");
}

TEST_F(PolicyCmdTest, CheckAgainstAVaultWarnsAboutSectionsThatNameNoMatter) {
  std::string f = Write("typo.ini", std::string(kGood) +
                                        "[matter acme-v-smtih]\nread = bob\n"
                                        "[matter estate-of-jones]\nread = bob\n"
                                        "[matter zzz-unrelated]\nread = bob\n");
  out_.str("");
  err_.str("");
  KnownMatters known{{"acme-v-smith", "estate-of-jones"}, "vault /srv/vault"};
  EXPECT_EQ(PolicyCheck(f, resolver_, out_, err_, known), kExitOk) << "still a valid file";
  EXPECT_EQ(out_.str(), f + ": ok (1 role, 4 matters, 2 warnings)\n");
  EXPECT_NE(err_.str().find(f + ":7: warning: [matter acme-v-smtih] names no matter in vault "
                                "/srv/vault (did you mean 'acme-v-smith'?)"),
            std::string::npos)
      << err_.str();
  EXPECT_NE(err_.str().find("[matter zzz-unrelated] names no matter in vault /srv/vault\n"),
            std::string::npos)
      << err_.str();
  EXPECT_EQ(err_.str().find("estate-of-jones"), std::string::npos) << "it exists";
}

TEST_F(PolicyCmdTest, CheckInvalidPrintsEveryProblem) {
  std::string f = Write("bad.ini", "[policy]\nhide_denied = perhaps\n[matter m]\nread = ghost\n");
  EXPECT_EQ(Check(f), kExitError);
  EXPECT_EQ(err_.str(), f + ":2: 'hide_denied' must be yes or no, not 'perhaps'\n" + f +
                            ":4: 'ghost' is neither a role defined in this file nor a known user "
                            "(groups are written @group)\n"
                            "matterctl: " +
                            f + ": invalid policy (2 problems)\n");
  EXPECT_EQ(out_.str(), "");
}

TEST_F(PolicyCmdTest, CheckMissingFile) {
  EXPECT_EQ(Check(dir_ + "/none.ini"), kExitNotFound);
  EXPECT_NE(err_.str().find("no such file"), std::string::npos);
}

// --json: the same decision as the text (which the tests around check), with its parts.
TEST_F(PolicyCmdTest, ExplainJson) {
  std::string f = Write("good.ini", kGood);
  EXPECT_EQ(Explain(f, "carol", "acme-v-smith", "read", std::nullopt, std::nullopt, true),
            kExitDenied);
  EXPECT_EQ(err_.str(), "");
  auto doc = nlohmann::json::parse(out_.str());
  EXPECT_EQ(doc["format"], "matterfs-policy-explain");
  EXPECT_EQ(doc["version"], 1);
  EXPECT_EQ(doc["policy"], f);
  EXPECT_EQ(doc["user"], "carol");
  EXPECT_EQ(doc["uid"], 1003);
  EXPECT_EQ(doc["groups"], nlohmann::json::array({"carol"}));
  EXPECT_EQ(doc["matter"], "acme-v-smith");
  EXPECT_EQ(doc["action"], "read");
  EXPECT_EQ(doc["status"], "open");
  EXPECT_EQ(doc["time"], "2026-11-22T10:00:00Z");
  EXPECT_EQ(doc["time_unix"], At("2026-11-22T10:00Z").time_since_epoch().count());
  EXPECT_EQ(doc["decision"], "deny");
  EXPECT_EQ(doc["reason"], "wall");
  EXPECT_EQ(doc["rule"], "matter acme-v-smith: deny carol (ethical wall)");
  EXPECT_TRUE(doc["until"].is_null());
  EXPECT_EQ(doc["exit"], kExitDenied);

  EXPECT_EQ(Explain(f, "bob", "acme-v-smith", "read", "closed", "2026-12-01", true), kExitOk);
  doc = nlohmann::json::parse(out_.str());
  EXPECT_EQ(doc["decision"], "allow");
  EXPECT_EQ(doc["reason"], "grant");
  EXPECT_EQ(doc["status"], "closed");
  EXPECT_EQ(doc["time"], "2026-12-01T00:00:00Z");
  EXPECT_EQ(doc["until"], "2027-01-01T00:00:00Z") << "until=2026-12-31: through that day";
  EXPECT_EQ(doc["until_unix"], At("2027-01-01T00:00Z").time_since_epoch().count());
  EXPECT_EQ(doc["exit"], kExitOk);
  // The rule is the text output's.
  EXPECT_EQ(Explain(f, "bob", "acme-v-smith", "read", "closed", "2026-12-01"), kExitOk);
  EXPECT_NE(out_.str().find("allow: " + doc["rule"].get<std::string>() + "\n"), std::string::npos)
      << out_.str();

  EXPECT_EQ(Explain(f, "frank", "acme-v-smith", "create_matter", std::nullopt, std::nullopt, true),
            kExitDenied);
  EXPECT_TRUE(nlohmann::json::parse(out_.str())["status"].is_null());
}

TEST_F(PolicyCmdTest, ExplainJsonErrorsAreDocumentsToo) {
  std::string f = Write("good.ini", kGood);
  EXPECT_EQ(Explain(f, "carol", "acme-v-smith", "fly", std::nullopt, std::nullopt, true),
            kExitUsage);
  auto doc = nlohmann::json::parse(out_.str());
  EXPECT_EQ(doc["exit"], kExitUsage);
  EXPECT_EQ("matterctl: " + doc["error"].get<std::string>() + "\n", err_.str());
  EXPECT_FALSE(doc.contains("decision"));
  EXPECT_EQ(Explain(f, "nobody", "acme-v-smith", "read", std::nullopt, std::nullopt, true),
            kExitNotFound);
  doc = nlohmann::json::parse(out_.str());
  EXPECT_EQ(doc["error"], "no such user 'nobody'");
  // An invalid policy: every problem on stderr, the last line is the error.
  std::string bad = Write("bad.ini", "[policy]\nhide_denied = perhaps\n");
  EXPECT_EQ(Explain(bad, "carol", "acme-v-smith", "read", std::nullopt, std::nullopt, true),
            kExitError);
  doc = nlohmann::json::parse(out_.str());
  EXPECT_EQ(doc["error"], bad + ": invalid policy (1 problem)");
  EXPECT_NE(err_.str().find("hide_denied"), std::string::npos);
}

TEST_F(PolicyCmdTest, ExplainAllowed) {
  std::string f = Write("good.ini", kGood);
  EXPECT_EQ(Explain(f, "frank", "acme-v-smith", "write"), kExitOk);
  EXPECT_EQ(out_.str(),
            "frank (uid 1005; groups frank, lit-partners) write acme-v-smith (status open) at "
            "2026-11-22T10:00Z\n"
            "allow: matter acme-v-smith: write partners (role, via @lit-partners)\n");
}

TEST_F(PolicyCmdTest, ExplainDenied) {
  std::string f = Write("good.ini", kGood);
  EXPECT_EQ(Explain(f, "carol", "acme-v-smith", "read"), kExitDenied);
  EXPECT_NE(out_.str().find("\ndeny: matter acme-v-smith: deny carol (ethical wall)\n"),
            std::string::npos);
  EXPECT_EQ(Explain(f, "frank", "acme-v-smith", "delete", "hold"), kExitDenied);
  EXPECT_NE(out_.str().find("deny: status hold: nothing may be deleted"), std::string::npos);
}

TEST_F(PolicyCmdTest, ExplainAtATime) {
  std::string f = Write("good.ini", kGood);
  EXPECT_EQ(Explain(f, "bob", "acme-v-smith", "read", std::nullopt, "2026-12-31T23:00Z"), kExitOk);
  EXPECT_EQ(Explain(f, "bob", "acme-v-smith", "read", std::nullopt, "2027-01-01"), kExitDenied);
  EXPECT_NE(out_.str().find("has expired"), std::string::npos);
}

TEST_F(PolicyCmdTest, ExplainBadArguments) {
  std::string f = Write("good.ini", kGood);
  EXPECT_EQ(Explain(f, "bob", "acme-v-smith", "modify"), kExitUsage);
  EXPECT_NE(err_.str().find("unknown action 'modify'"), std::string::npos);
  EXPECT_EQ(Explain(f, "bob", "acme-v-smith", "read", "archived"), kExitUsage);
  EXPECT_EQ(Explain(f, "bob", "acme-v-smith", "read", std::nullopt, "yesterday"), kExitUsage);
  EXPECT_EQ(Explain(f, "bob", "a/b", "read"), kExitUsage);
  EXPECT_EQ(Explain(f, "nobody", "acme-v-smith", "read"), kExitNotFound);
  EXPECT_EQ(Explain(dir_ + "/none.ini", "bob", "acme-v-smith", "read"), kExitNotFound);
  std::string bad = Write("bad.ini", "[matter m]\nreed = bob\n");
  EXPECT_EQ(Explain(bad, "bob", "m", "read"), kExitError);
  EXPECT_NE(err_.str().find(bad + ":2: unknown key 'reed'"), std::string::npos);
}

}  // namespace
}  // namespace matterfs::tools
