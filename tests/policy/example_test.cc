// examples/policy/firm.ini: it parses (with the users and groups it says it needs), it
// behaves as scripts/demo shows, and docs/POLICY.md quotes it word for word.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "policy/decision.h"
#include "policy/policy.h"
#include "tests/policy/policy_test_util.h"

namespace matterfs::policy {
namespace {

using namespace std::chrono_literals;
using testing::At;
using testing::User;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

testing::FakeResolver ExampleNames() {
  return testing::FakeResolver({"alice", "bob", "carol", "dave", "erin"},
                               {"lit-partners", "paralegals"});
}

Policy LoadExample() {
  auto resolver = ExampleNames();
  auto p = LoadPolicyFile(MATTERFS_EXAMPLE_POLICY, resolver);
  EXPECT_TRUE(p.ok()) << p.error().message();
  return p.ok() ? std::move(p).value() : Policy{};
}

TEST(ExamplePolicyTest, Parses) {
  Policy p = LoadExample();
  EXPECT_EQ(p.roles.size(), 4u);
  EXPECT_EQ(p.matters.size(), 3u);
  EXPECT_TRUE(p.every_matter.has_value());
  EXPECT_EQ(p.break_glass_max, 4h);
}

TEST(ExamplePolicyTest, NeedsItsUsersAndGroups) {
  testing::FakeResolver missing({"alice", "bob", "carol", "dave"}, {"paralegals"});
  std::vector<Problem> problems;
  EXPECT_FALSE(LoadPolicyFile(MATTERFS_EXAMPLE_POLICY, missing, &problems).ok());
  EXPECT_EQ(problems.size(), 2u);  // erin, @lit-partners
}

TEST(ExamplePolicyTest, BehavesAsTheDemoShows) {
  Policy p = LoadExample();
  Time now = At("2026-11-22T10:00Z");
  auto decide = [&](const Subject& s, const char* matter, Action a,
                    MatterStatus st = MatterStatus::kOpen) {
    return Decide(p, s, matter, st, a, now);
  };
  Subject bob = User("bob"), carol = User("carol"), alice = User("alice"), dave = User("dave"),
          erin = User("erin");
  // bob works on acme-v-smith.
  EXPECT_TRUE(decide(bob, "acme-v-smith", Action::kWrite).allowed);
  // carol is walled off it: not even listed; but sees the other matters.
  EXPECT_EQ(decide(carol, "acme-v-smith", Action::kList).rule,
            "matter acme-v-smith: deny carol (ethical wall)");
  EXPECT_TRUE(decide(carol, "initech-patent", Action::kList).allowed);
  // globex-merger closed: bob reads, cannot write.
  EXPECT_TRUE(decide(bob, "globex-merger", Action::kRead, MatterStatus::kClosed).allowed);
  EXPECT_EQ(decide(bob, "globex-merger", Action::kWrite, MatterStatus::kClosed).basis,
            Basis::kClosed);
  // initech-patent on hold: carol edits, nobody deletes.
  EXPECT_TRUE(decide(carol, "initech-patent", Action::kWrite, MatterStatus::kHold).allowed);
  EXPECT_EQ(decide(carol, "initech-patent", Action::kDelete, MatterStatus::kHold).basis,
            Basis::kHold);
  // alice, a partner, administers every matter and creates new ones.
  EXPECT_EQ(decide(alice, "globex-merger", Action::kAdmin, MatterStatus::kClosed).rule,
            "matter *: admin partners (role)");
  EXPECT_TRUE(decide(alice, "new-client", Action::kCreateMatter).allowed);
  // dave sees nothing until he breaks glass.
  EXPECT_FALSE(decide(dave, "acme-v-smith", Action::kList).allowed);
  EXPECT_TRUE(MayBreakGlass(p, dave, "acme-v-smith", 2h, now).allowed);
  EXPECT_FALSE(MayBreakGlass(p, dave, "acme-v-smith", 5h, now).allowed);
  // erin's access ends after 30 June 2027.
  EXPECT_TRUE(decide(erin, "acme-v-smith", Action::kRead).allowed);
  EXPECT_FALSE(Decide(p, erin, "acme-v-smith", MatterStatus::kOpen, Action::kRead, At("2027-07-01"))
                   .allowed);
}

TEST(ExamplePolicyTest, DocsQuoteItVerbatim) {
  std::string example = Slurp(MATTERFS_EXAMPLE_POLICY);
  std::string doc = Slurp(MATTERFS_POLICY_DOC);
  ASSERT_FALSE(example.empty());
  EXPECT_NE(doc.find("```ini\n" + example + "```\n"), std::string::npos)
      << "docs/POLICY.md must contain examples/policy/firm.ini in an ```ini block";
}

}  // namespace
}  // namespace matterfs::policy
