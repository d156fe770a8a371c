// The parser: what a valid file means, and for every kind of mistake the problem and the
// line it is reported on. Line numbers in the comments count from the R"( line as 1.
#include <gtest/gtest.h>

#include "policy/policy.h"
#include "tests/policy/policy_test_util.h"

namespace matterfs::policy {
namespace {

using namespace std::chrono_literals;
using testing::HasProblem;
using testing::MustParse;
using testing::Parse;

TEST(PolicyParseTest, ReadsTheCoreSyntax) {
  Policy p = MustParse(R"([policy]
hide_denied = yes            ; matters a user may not read are invisible to that user
[role partners]
members = alice, @lit-partners     ; users and @unix-groups
[matter acme-v-smith]
read  = partners, bob, @paralegals ; roles, users, @groups
write = partners
admin = alice
deny  = carol                      ; ethical wall
)");
  EXPECT_TRUE(p.hide_denied);
  EXPECT_EQ(p.source, "firm.ini");
  ASSERT_EQ(p.roles.size(), 1u);
  const Role& partners = p.roles.at("partners");
  EXPECT_EQ(partners.line, 3);
  ASSERT_EQ(partners.members.size(), 2u);
  EXPECT_EQ(partners.members[0].kind, PrincipalKind::kUser);
  EXPECT_EQ(partners.members[0].name, "alice");
  EXPECT_EQ(partners.members[1].kind, PrincipalKind::kGroup);
  EXPECT_EQ(partners.members[1].name, "lit-partners");
  const MatterRules* m = p.FindMatter("acme-v-smith");
  ASSERT_NE(m, nullptr);
  ASSERT_EQ(m->read.size(), 3u);
  EXPECT_EQ(m->read[0].kind, PrincipalKind::kRole);
  EXPECT_EQ(m->read[1].kind, PrincipalKind::kUser);
  EXPECT_EQ(m->read[2].Display(), "@paralegals");
  EXPECT_EQ(m->read[2].line, 6);
  EXPECT_EQ(m->write[0].kind, PrincipalKind::kRole);
  EXPECT_EQ(m->admin[0].name, "alice");
  EXPECT_EQ(m->deny[0].name, "carol");
  EXPECT_FALSE(p.every_matter.has_value());
}

TEST(PolicyParseTest, DefaultsWhenKeysAreLeftOut) {
  Policy p = MustParse("");
  EXPECT_TRUE(p.hide_denied);
  EXPECT_TRUE(p.create_matters.empty());
  EXPECT_TRUE(p.break_glass.empty());
  EXPECT_EQ(p.break_glass_max, 4h);
  EXPECT_EQ(p.bulk_threshold, 200u);
  EXPECT_EQ(p.bulk_window, 60s);
  EXPECT_EQ(p.audit, AuditMode::kDrop);
  EXPECT_EQ(p.audit_path, AuditPath::kPlain);
  EXPECT_EQ(p.syslog_facility, LogFacility::kAuthpriv);
  EXPECT_EQ(SyslogFacilityCode(p.syslog_facility), 10);
  EXPECT_TRUE(p.audit_log.empty());
  EXPECT_TRUE(p.matters.empty());
}

TEST(PolicyParseTest, ReadsEveryPolicySetting) {
  Policy p = MustParse(R"([policy]
hide_denied     = no
create_matters  = partners, erin
break_glass     = risk
break_glass_max = 2h30m
bulk_threshold  = 50
bulk_window     = 5m
audit           = strict
audit_path      = hash
syslog_facility = local3
audit_log       = /var/log/matterfs/audit.jsonl
default_matter  = deny
[role partners]
members = alice
[role risk]
members = dave
)");
  EXPECT_FALSE(p.hide_denied);
  ASSERT_EQ(p.create_matters.size(), 2u);
  EXPECT_EQ(p.create_matters[0].kind, PrincipalKind::kRole);
  EXPECT_EQ(p.create_matters[1].kind, PrincipalKind::kUser);
  EXPECT_EQ(p.break_glass[0].name, "risk");
  EXPECT_EQ(p.break_glass_max, 150min);
  EXPECT_EQ(p.bulk_threshold, 50u);
  EXPECT_EQ(p.bulk_window, 5min);
  EXPECT_EQ(p.audit, AuditMode::kStrict);
  EXPECT_EQ(p.audit_path, AuditPath::kHash);
  EXPECT_EQ(p.syslog_facility, LogFacility::kLocal3);
  EXPECT_EQ(SyslogFacilityCode(p.syslog_facility), 19);
  EXPECT_EQ(p.audit_log, "/var/log/matterfs/audit.jsonl");
  EXPECT_EQ(MustParse("[policy]\nbulk_threshold = off\n").bulk_threshold, 0u);
}

TEST(PolicyParseTest, ReadsUntilAndContinuationLines) {
  Policy p = MustParse(R"([matter acme-v-smith]
read = bob until=2026-12-31,
       erin until=2026-12-31T18:00Z,
       @paralegals
write =
  alice
)");
  const MatterRules& m = *p.FindMatter("acme-v-smith");
  ASSERT_EQ(m.read.size(), 3u);
  EXPECT_EQ(m.read[0].until, ParseTime("2027-01-01").value());
  EXPECT_EQ(m.read[0].until_text, "2026-12-31");
  EXPECT_EQ(m.read[1].until, ParseTime("2026-12-31T18:00Z").value());
  EXPECT_EQ(m.read[1].line, 3);
  EXPECT_FALSE(m.read[2].until.has_value());
  EXPECT_EQ(m.read[2].line, 4);
  ASSERT_EQ(m.write.size(), 1u);
  EXPECT_EQ(m.write[0].name, "alice");
}

TEST(PolicyParseTest, ReadsMatterDefaultsNestedRolesAndOddNames) {
  Policy p = MustParse(R"([role lawyers]
members = partners, associates
[role partners]
members = alice
[role associates]
members = bob, DOMAIN\zoe
[matter *]
admin = partners
deny = frank
[matter Acme Corp v. Smith (2026) appeal no. 12345 before the Court of Appeal, Second Circuit]
read = lawyers
)");
  ASSERT_TRUE(p.every_matter.has_value());
  EXPECT_EQ(p.every_matter->name, "*");
  EXPECT_EQ(p.every_matter->admin[0].kind, PrincipalKind::kRole);
  EXPECT_NE(p.FindMatter("Acme Corp v. Smith (2026) appeal no. 12345 before the Court of "
                         "Appeal, Second Circuit"),
            nullptr);
  EXPECT_EQ(p.roles.at("lawyers").members[1].kind, PrincipalKind::kRole);
  EXPECT_EQ(p.roles.at("associates").members[1].name, "DOMAIN\\zoe");
}

TEST(PolicyParseTest, AcceptsCommentsBlankLinesCrlfAndABom) {
  Policy p = MustParse("\xEF\xBB\xBF; a comment\r\n# another\r\n\r\n[matter m]\r\nread = bob\r\n");
  EXPECT_EQ(p.FindMatter("m")->read[0].name, "bob");
}

// ---- Problems: each one names its line -------------------------------------------------

TEST(PolicyParseTest, UnknownKey) {
  auto r = Parse(R"([policy]
hide_denied = yes
hide_deny = yes
[matter m]
reed = bob
)");
  EXPECT_FALSE(r.policy.ok());
  EXPECT_TRUE(HasProblem(r, 3, "unknown key 'hide_deny' in [policy]"));
  EXPECT_TRUE(
      HasProblem(r, 5, "unknown key 'reed' in [matter m]; expected read, write, admin or deny"));
  EXPECT_EQ(r.problems.size(), 2u);
}

TEST(PolicyParseTest, UnknownSection) {
  auto r = Parse(R"([policy]
[roles partners]
members = alice
[Policy]
[matter m]
read = bob
)");
  EXPECT_TRUE(HasProblem(r, 2, "unknown section [roles partners]"));
  EXPECT_TRUE(HasProblem(r, 4, "unknown section [Policy]"));
  EXPECT_EQ(r.problems.size(), 2u);  // keys of an unknown section are not reported again
}

TEST(PolicyParseTest, UndefinedRoleReference) {
  auto r = Parse(R"([role partners]
members = alice
[matter m]
read = partners, associates, bob
write = @nosuchgroup
)");
  EXPECT_TRUE(
      HasProblem(r, 4, "'associates' is neither a role defined in this file nor a known user"));
  EXPECT_TRUE(HasProblem(r, 5, "unknown group '@nosuchgroup'"));
  EXPECT_EQ(r.problems.size(), 2u);
}

TEST(PolicyParseTest, NameThatIsBothRoleAndUser) {
  auto r = Parse(R"([role bob]
members = alice
[matter m]
read = bob
)");
  EXPECT_TRUE(HasProblem(r, 1, "'bob' is both a role and a user"));
  EXPECT_EQ(r.problems.size(), 1u);  // reported once, at the role
}

TEST(PolicyParseTest, BadUntilDate) {
  auto r = Parse(R"([matter m]
read = bob until=2026-13-01, erin until=31/12/2026
write = alice until=2026-12-31T25:00Z
)");
  EXPECT_TRUE(HasProblem(r, 2, "bad until date for 'bob'"));
  EXPECT_TRUE(HasProblem(r, 2, "bad until date for 'erin'"));
  EXPECT_TRUE(HasProblem(r, 3, "bad until date for 'alice'"));
}

TEST(PolicyParseTest, BadOptionAfterAName) {
  auto r = Parse(R"([matter m]
read = bob smith
write = alice until 2026-12-31
admin = alice until=2026-01-01 until=2027-01-01
)");
  EXPECT_TRUE(HasProblem(r, 2, "unexpected 'smith' after 'bob'"));
  EXPECT_TRUE(HasProblem(r, 3, "unexpected 'until' after 'alice'"));
  EXPECT_TRUE(HasProblem(r, 4, "two until= for 'alice'"));
}

TEST(PolicyParseTest, BadDuration) {
  auto r = Parse(R"([policy]
break_glass_max = 4 hours
bulk_window = 60
)");
  EXPECT_TRUE(HasProblem(r, 2, "'break_glass_max': bad duration '4 hours'"));
  EXPECT_TRUE(HasProblem(r, 3, "'bulk_window': bad duration '60'"));
}

TEST(PolicyParseTest, DuplicateSections) {
  auto r = Parse(R"([matter m]
read = bob
[policy]
[matter m]
read = carol
reed = x
[policy]
[role r]
members = alice
[role r]
members = bob
[matter *]
[matter *]
)");
  EXPECT_TRUE(HasProblem(r, 4, "duplicate section [matter m] (first at line 1)"));
  EXPECT_TRUE(HasProblem(r, 6, "unknown key 'reed'"));  // a duplicate's keys are still checked
  EXPECT_TRUE(HasProblem(r, 7, "duplicate section [policy] (first at line 3)"));
  EXPECT_TRUE(HasProblem(r, 10, "duplicate section [role r] (first at line 8)"));
  EXPECT_TRUE(HasProblem(r, 13, "duplicate section [matter *] (first at line 12)"));
}

TEST(PolicyParseTest, DuplicateKey) {
  auto r = Parse(R"([matter m]
read = bob
write = alice
read = carol
)");
  EXPECT_TRUE(HasProblem(r, 4, "duplicate key 'read' in [matter m] (first at line 2)"));
}

TEST(PolicyParseTest, EmptyLists) {
  auto r = Parse(R"([role r]
members =
[role s]
[matter m]
read =
deny = , bob
write = alice,,bob
[policy]
create_matters =
)");
  EXPECT_TRUE(HasProblem(r, 2, "'members' in [role r] lists nobody"));
  EXPECT_TRUE(HasProblem(r, 3, "[role s] has no members"));
  EXPECT_TRUE(HasProblem(r, 5, "'read' in [matter m] lists nobody"));
  EXPECT_TRUE(HasProblem(r, 6, "empty entry in the list of 'deny'"));
  EXPECT_TRUE(HasProblem(r, 7, "empty entry in the list of 'write'"));
  EXPECT_TRUE(HasProblem(r, 9, "'create_matters' in [policy] lists nobody"));
}

TEST(PolicyParseTest, BadScalarValues) {
  auto r = Parse(R"([policy]
hide_denied = maybe
bulk_threshold = lots
audit = loud
audit_path = full
syslog_facility = local8
audit_log = var/log/audit.jsonl
default_matter = allow
hide_denied =
)");
  EXPECT_TRUE(HasProblem(r, 2, "'hide_denied' must be yes or no, not 'maybe'"));
  EXPECT_TRUE(HasProblem(r, 3, "'bulk_threshold' must be a number"));
  EXPECT_TRUE(HasProblem(r, 4, "'audit' must be drop or strict"));
  EXPECT_TRUE(HasProblem(r, 5, "'audit_path' must be plain, hash or omit"));
  EXPECT_TRUE(HasProblem(r, 6, "'syslog_facility' must be auth, authpriv"));
  EXPECT_TRUE(HasProblem(r, 7, "'audit_log' must be an absolute file path"));
  EXPECT_TRUE(HasProblem(r, 8, "'default_matter' must be deny"));
  EXPECT_TRUE(HasProblem(r, 9, "duplicate key 'hide_denied'"));
}

TEST(PolicyParseTest, ScalarCannotContinue) {
  auto r = Parse("[policy]\naudit = drop\n  strict\n");
  EXPECT_TRUE(HasProblem(r, 3, "'audit' in [policy] takes one value"));
}

TEST(PolicyParseTest, BadNames) {
  auto r = Parse(R"([role -x]
members = alice
[role]
[matter ..]
[matter]
[policy extra]
[matter m]
read = @
deny = bo"b
)");
  EXPECT_TRUE(HasProblem(r, 1, "bad role name '-x'"));
  EXPECT_TRUE(HasProblem(r, 3, "[role] needs a name"));
  EXPECT_TRUE(HasProblem(r, 4, "bad matter name '..'"));
  EXPECT_TRUE(HasProblem(r, 5, "[matter] needs a name"));
  EXPECT_TRUE(HasProblem(r, 6, "[policy] takes no name"));
  EXPECT_TRUE(HasProblem(r, 8, "bad group name '@'"));
  EXPECT_TRUE(HasProblem(r, 9, "bad name 'bo\"b'"));
}

TEST(PolicyParseTest, MalformedLines) {
  auto r = Parse(R"(read = bob
[matter m
[matter n] trailing
[matter o]
just some words
= bob
)");
  EXPECT_TRUE(HasProblem(r, 1, "key 'read' before any [section]"));
  EXPECT_TRUE(HasProblem(r, 2, "section header without ']'"));
  EXPECT_TRUE(HasProblem(r, 3, "unexpected text after ']'"));
  EXPECT_TRUE(HasProblem(r, 5, "expected 'key = value'"));
  EXPECT_TRUE(HasProblem(r, 6, "missing key name"));
}

TEST(PolicyParseTest, IndentedKeyIsExplained) {
  auto r = Parse("[matter m]\nread = bob\n  write = alice\n");
  EXPECT_TRUE(HasProblem(r, 3, "indented line continues 'read' (line 2); to start key 'write'"));
}

TEST(PolicyParseTest, IndentedSectionHeaderIsAHeader) {
  Policy p = MustParse("[matter m]\nread = bob\n  [matter n]\nread = alice\n");
  EXPECT_NE(p.FindMatter("n"), nullptr);
}

TEST(PolicyParseTest, ListedTwice) {
  auto r = Parse("[matter m]\nread = bob,\n  @staff, bob\n");
  EXPECT_TRUE(HasProblem(r, 3, "'bob' is listed twice in 'read' in [matter m] (first at line 2)"));
}

TEST(PolicyParseTest, RoleCycle) {
  auto r = Parse(R"([role a]
members = b
[role b]
members = alice, a
)");
  EXPECT_TRUE(HasProblem(r, 4, "roles include each other: a -> b -> a"));
}

TEST(PolicyParseTest, LongLinesAreRefusedNotCut) {
  std::string names;
  for (int i = 0; i < 40; ++i) names += "alice" + std::to_string(i) + ", ";
  auto r = Parse("[matter m]\nread = " + names + "bob\n");
  EXPECT_TRUE(HasProblem(r, 2, "continue a long list on indented lines"));
  // The same list over several lines is fine (here: unknown users, but no length problem).
  std::string split = "[matter m]\nread = bob,\n";
  for (int i = 0; i < 40; ++i) split += "  alice, carol, erin, frank, dave, root,\n";
  split += "  @staff\n";
  auto ok = Parse(split);
  for (const Problem& p : ok.problems) EXPECT_EQ(p.reason.find("longer"), std::string::npos);
}

TEST(PolicyParseTest, NulByte) {
  std::string text = "[matter m]\nread = b";
  text += '\0';
  text += "b\n";
  auto r = Parse(text);
  EXPECT_TRUE(HasProblem(r, 2, "NUL byte"));
}

TEST(PolicyParseTest, ResolverFailureIsAProblemNotAnUnknownUser) {
  auto r = Parse("[matter m]\nread = ldap-down\n");
  EXPECT_TRUE(HasProblem(r, 2, "cannot look up user 'ldap-down': directory unavailable"));
}

TEST(PolicyParseTest, CollectsEveryProblemInLineOrder) {
  auto r = Parse(R"([policy]
hide_denied = perhaps
[role partners]
members = nobody-here
[matter m]
read = partners
colour = blue
[matter m]
)");
  ASSERT_FALSE(r.policy.ok());
  EXPECT_EQ(r.policy.error().code(), Code::kInvalidArgument);
  ASSERT_EQ(r.problems.size(), 4u);
  EXPECT_EQ(r.problems[0].line, 2);
  EXPECT_EQ(r.problems[1].line, 4);
  EXPECT_EQ(r.problems[2].line, 7);
  EXPECT_EQ(r.problems[3].line, 8);
  // The error message is every problem as file:line: reason, one per line.
  const std::string& msg = r.policy.error().message();
  EXPECT_EQ(msg.find("firm.ini:2: 'hide_denied' must be yes or no"), 0u);
  EXPECT_NE(msg.find("\nfirm.ini:4: 'nobody-here' is neither"), std::string::npos);
  EXPECT_NE(msg.find("\nfirm.ini:7: unknown key 'colour'"), std::string::npos);
  EXPECT_NE(msg.find("\nfirm.ini:8: duplicate section [matter m] (first at line 5)"),
            std::string::npos);
}

TEST(PolicyParseTest, LooksUpEachNameOnce) {
  testing::FakeResolver resolver;
  std::string text =
      "[matter a]\nread = bob, @staff\n[matter b]\nread = bob, @staff\n"
      "[matter c]\nread = bob, @staff\n";
  ASSERT_TRUE(ParsePolicy(text, "f", resolver).ok());
  EXPECT_EQ(resolver.lookups_, 2);
}

TEST(PolicyParseTest, LoadReportsAMissingFileAsNotFound) {
  testing::FakeResolver resolver;
  auto r = LoadPolicyFile("/nonexistent/policy.ini", resolver);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kNotFound);
}

TEST(PolicyParseTest, FormatProblem) {
  EXPECT_EQ(FormatProblem("/etc/matterfs/policy.ini", {12, "unknown key 'x'"}),
            "/etc/matterfs/policy.ini:12: unknown key 'x'");
  EXPECT_EQ(FormatProblem("p.ini", {0, "file too large"}), "p.ini: file too large");
}

TEST(PolicyParseTest, OwnerOnly) {
  Policy p = Policy::OwnerOnly("alice");
  ASSERT_TRUE(p.every_matter.has_value());
  EXPECT_EQ(p.every_matter->admin[0].name, "alice");
  EXPECT_EQ(p.create_matters[0].name, "alice");
}

}  // namespace
}  // namespace matterfs::policy
