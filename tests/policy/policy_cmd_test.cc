// `matterctl policy check|explain` handlers, with a fake name service and captured output.
#include "tools/policy_cmd.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
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
              std::optional<std::string> time = {}) {
    out_.str("");
    err_.str("");
    SubjectLookup lookup = [](const std::string& name) -> Result<policy::Subject> {
      if (name == "frank") return policy::Subject{"frank", 1005, {"frank", "lit-partners"}};
      if (name == "carol") return policy::Subject{"carol", 1003, {"carol"}};
      if (name == "bob") return policy::Subject{"bob", 1002, {"bob"}};
      return Error(Code::kNotFound, "no such user '" + name + "'");
    };
    return PolicyExplain(file, user, matter, action, status, time, resolver_, lookup,
                         At("2026-11-22T10:00Z"), out_, err_);
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
