// The decision: grants, implications, walls, status, expiry, groups, roles, listing,
// creating matters, break-glass, and root being an ordinary user.
#include "policy/decision.h"

#include <gtest/gtest.h>

#include "tests/policy/policy_test_util.h"

namespace matterfs::policy {
namespace {

using namespace std::chrono_literals;
using testing::At;
using testing::MustParse;
using testing::User;

constexpr const char* kFirm = R"([policy]
hide_denied     = yes
create_matters  = partners
break_glass     = risk
break_glass_max = 4h
[role partners]
members = alice, @lit-partners
[role associates]
members = bob
[role lawyers]
members = partners, associates
[role risk]
members = dave, carol
[role temps]
members = erin until=2026-12-31
[matter acme-v-smith]
read  = lawyers, @paralegals, erin until=2026-06-30
write = partners, bob
admin = alice, carol
deny  = carol
[matter admin-only]
admin = dave
[matter write-only]
write = frank
[matter temp-work]
read = temps
)";

class DecisionTest : public ::testing::Test {
 protected:
  Decision D(const Subject& s, std::string_view matter, Action a,
             MatterStatus st = MatterStatus::kOpen, Time now = At("2026-11-22T10:00Z"),
             std::span<const BreakGlassGrant> bg = {}) {
    return Decide(policy_, s, matter, st, a, now, bg);
  }

  Policy policy_ = MustParse(kFirm);
  Subject alice_ = User("alice");
  Subject bob_ = User("bob");
  Subject carol_ = User("carol", {"carol", "lit-partners"});
  Subject dave_ = User("dave");
  Subject erin_ = User("erin");
  Subject frank_ = User("frank", {"frank", "lit-partners"}, 1005);
  Subject paula_ = User("paula", {"staff", "paralegals"});
  Subject root_ = User("root", {"root"}, 0);
};

TEST_F(DecisionTest, ReadThroughNestedRole) {
  Decision d = D(bob_, "acme-v-smith", Action::kRead);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.basis, Basis::kGrant);
  EXPECT_EQ(d.rule, "matter acme-v-smith: read lawyers (role, via associates)");
  EXPECT_FALSE(d.until.has_value());
}

TEST_F(DecisionTest, WriteThroughRoleThroughGroup) {
  Decision d = D(frank_, "acme-v-smith", Action::kWrite);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.rule, "matter acme-v-smith: write partners (role, via @lit-partners)");
  EXPECT_TRUE(D(bob_, "acme-v-smith", Action::kWrite).allowed);
  EXPECT_EQ(D(bob_, "acme-v-smith", Action::kWrite).rule, "matter acme-v-smith: write bob (user)");
}

TEST_F(DecisionTest, Admin) {
  Decision d = D(alice_, "acme-v-smith", Action::kAdmin);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.rule, "matter acme-v-smith: admin alice (user)");
  Decision no = D(bob_, "acme-v-smith", Action::kAdmin);
  EXPECT_FALSE(no.allowed);
  EXPECT_EQ(no.basis, Basis::kNoGrant);
  EXPECT_EQ(no.rule, "default deny");
}

TEST_F(DecisionTest, AdminImpliesReadWriteAndDelete) {
  for (Action a : {Action::kRead, Action::kWrite, Action::kDelete, Action::kAdmin}) {
    Decision d = D(dave_, "admin-only", a);
    EXPECT_TRUE(d.allowed) << ActionName(a);
    EXPECT_EQ(d.rule, "matter admin-only: admin dave (user)");
  }
}

TEST_F(DecisionTest, WriteImpliesReadAndDeleteButNotAdmin) {
  EXPECT_TRUE(D(frank_, "write-only", Action::kRead).allowed);
  EXPECT_EQ(D(frank_, "write-only", Action::kRead).rule, "matter write-only: write frank (user)");
  EXPECT_TRUE(D(frank_, "write-only", Action::kDelete).allowed);
  EXPECT_FALSE(D(frank_, "write-only", Action::kAdmin).allowed);
  // Read does not imply write.
  EXPECT_FALSE(D(paula_, "acme-v-smith", Action::kWrite).allowed);
}

TEST_F(DecisionTest, DenyBeatsGrantsAndAdmin) {
  // carol is a partner (through @lit-partners), listed in admin, and walled off.
  for (Action a : {Action::kRead, Action::kWrite, Action::kDelete, Action::kAdmin, Action::kWipe,
                   Action::kList}) {
    Decision d = D(carol_, "acme-v-smith", a);
    EXPECT_FALSE(d.allowed) << ActionName(a);
    EXPECT_EQ(d.basis, Basis::kWall);
    EXPECT_EQ(d.rule, "matter acme-v-smith: deny carol (ethical wall)");
  }
  // ... even on a closed matter, where the wall is still what decides.
  EXPECT_EQ(D(carol_, "acme-v-smith", Action::kWrite, MatterStatus::kClosed).basis, Basis::kWall);
  // Walls are per matter: carol, a partner, may still create and use other matters.
  EXPECT_TRUE(D(carol_, "new-matter", Action::kCreateMatter).allowed);
}

TEST_F(DecisionTest, DenyBeatsBreakGlass) {
  Time now = At("2026-11-22T10:00Z");
  Decision may = MayBreakGlass(policy_, carol_, "acme-v-smith", 1h, now);
  EXPECT_FALSE(may.allowed);
  EXPECT_EQ(may.basis, Basis::kWall);
  EXPECT_EQ(may.rule,
            "matter acme-v-smith: deny carol (ethical wall); ethical walls cannot be broken");
  // A grant that somehow exists (made before the wall was added) does not open the wall.
  BreakGlassGrant g{"carol", "acme-v-smith", now + 1h, "urgent"};
  Decision d = D(carol_, "acme-v-smith", Action::kRead, MatterStatus::kOpen, now, {&g, 1});
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.basis, Basis::kWall);
}

TEST_F(DecisionTest, WallByGroupAndByRoleAndInEveryMatter) {
  Policy p = MustParse(R"([role conflicted]
members = @paralegals
[matter m]
read = @staff
deny = conflicted
[matter n]
read = @staff, bob
deny = @lit-partners
[matter *]
deny = root
)");
  Time now = At("2026-11-22");
  Decision d = Decide(p, paula_, "m", MatterStatus::kOpen, Action::kRead, now);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.rule, "matter m: deny conflicted (ethical wall, role, via @paralegals)");
  d = Decide(p, frank_, "n", MatterStatus::kOpen, Action::kRead, now);
  EXPECT_EQ(d.rule, "matter n: deny @lit-partners (ethical wall, group)");
  d = Decide(p, User("root", {"staff"}, 0), "n", MatterStatus::kOpen, Action::kRead, now);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.rule, "matter *: deny root (ethical wall)");
  EXPECT_TRUE(Decide(p, bob_, "n", MatterStatus::kOpen, Action::kRead, now).allowed);
}

TEST_F(DecisionTest, ClosedIsReadOnlyForEveryone) {
  auto closed = MatterStatus::kClosed;
  EXPECT_TRUE(D(bob_, "acme-v-smith", Action::kRead, closed).allowed);
  for (const Subject* s : {&bob_, &alice_}) {
    for (Action a : {Action::kWrite, Action::kDelete}) {
      Decision d = D(*s, "acme-v-smith", a, closed);
      EXPECT_FALSE(d.allowed);
      EXPECT_EQ(d.basis, Basis::kClosed);
      EXPECT_EQ(d.rule, "status closed: read-only");
    }
  }
  // The admin can still reopen it, and wipe it (closed is not hold).
  EXPECT_TRUE(D(alice_, "acme-v-smith", Action::kAdmin, closed).allowed);
  EXPECT_TRUE(D(alice_, "acme-v-smith", Action::kWipe, closed).allowed);
  // Someone with no write grant is refused for that, not for the status.
  EXPECT_EQ(D(paula_, "acme-v-smith", Action::kWrite, closed).basis, Basis::kNoGrant);
}

TEST_F(DecisionTest, HoldBlocksDeleteButAllowsWrite) {
  auto hold = MatterStatus::kHold;
  EXPECT_TRUE(D(bob_, "acme-v-smith", Action::kWrite, hold).allowed);
  EXPECT_TRUE(D(bob_, "acme-v-smith", Action::kRead, hold).allowed);
  Decision d = D(bob_, "acme-v-smith", Action::kDelete, hold);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.basis, Basis::kHold);
  EXPECT_EQ(d.rule, "status hold: nothing may be deleted");
  Decision wipe = D(alice_, "acme-v-smith", Action::kWipe, hold);
  EXPECT_FALSE(wipe.allowed);
  EXPECT_EQ(wipe.basis, Basis::kHold);
  // The admin may release the hold.
  EXPECT_TRUE(D(alice_, "acme-v-smith", Action::kAdmin, hold).allowed);
}

TEST_F(DecisionTest, ExpiredGrantIsIgnoredAndExplained) {
  Decision before =
      D(erin_, "acme-v-smith", Action::kRead, MatterStatus::kOpen, At("2026-06-30T23:59:59Z"));
  EXPECT_TRUE(before.allowed);
  EXPECT_EQ(before.rule, "matter acme-v-smith: read erin (user, until 2026-06-30)");
  EXPECT_EQ(before.until, At("2026-07-01"));
  Decision after = D(erin_, "acme-v-smith", Action::kRead, MatterStatus::kOpen, At("2026-07-01"));
  EXPECT_FALSE(after.allowed);
  EXPECT_EQ(after.basis, Basis::kNoGrant);
  EXPECT_EQ(after.rule,
            "default deny (matter acme-v-smith: read erin (until 2026-06-30) has expired)");
}

TEST_F(DecisionTest, ExpiringRoleMembership) {
  Decision d = D(erin_, "temp-work", Action::kRead, MatterStatus::kOpen, At("2026-12-31T12:00Z"));
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.rule, "matter temp-work: read temps (role, until 2026-12-31)");
  EXPECT_EQ(d.until, At("2027-01-01"));
  d = D(erin_, "temp-work", Action::kRead, MatterStatus::kOpen, At("2027-01-01"));
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.rule, "default deny (role temps: member erin (until 2026-12-31) has expired)");
}

TEST_F(DecisionTest, GroupMembershipComesFromTheSubject) {
  Decision d = D(paula_, "acme-v-smith", Action::kRead);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.rule, "matter acme-v-smith: read @paralegals (group)");
  // The same user without the group (e.g. removed from it) is refused.
  EXPECT_FALSE(D(User("paula", {"staff"}), "acme-v-smith", Action::kRead).allowed);
}

TEST_F(DecisionTest, RoleContainingGroup) {
  Decision d = D(frank_, "acme-v-smith", Action::kRead);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.rule, "matter acme-v-smith: read lawyers (role, via partners / @lit-partners)");
}

TEST_F(DecisionTest, DefaultDeny) {
  for (Action a : {Action::kRead, Action::kWrite, Action::kDelete, Action::kAdmin, Action::kWipe,
                   Action::kList}) {
    Decision d = D(alice_, "no-such-section", a);
    EXPECT_FALSE(d.allowed) << ActionName(a);
    EXPECT_EQ(d.basis, Basis::kNoGrant);
    EXPECT_EQ(d.rule, "default deny");
  }
  // An empty policy grants nothing at all.
  Policy empty = MustParse("");
  EXPECT_FALSE(
      Decide(empty, alice_, "m", MatterStatus::kOpen, Action::kRead, At("2026-01-01")).allowed);
}

TEST_F(DecisionTest, ListFollowsReadWhenHidingDenied) {
  Decision d = D(bob_, "acme-v-smith", Action::kList);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.rule, "matter acme-v-smith: read lawyers (role, via associates)");
  EXPECT_FALSE(D(carol_, "acme-v-smith", Action::kList).allowed);
  EXPECT_FALSE(D(bob_, "admin-only", Action::kList).allowed);
  EXPECT_EQ(D(bob_, "admin-only", Action::kList).basis, Basis::kNoGrant);
}

TEST_F(DecisionTest, ListEverythingWhenNotHiding) {
  Policy p = MustParse("[policy]\nhide_denied = no\n[matter m]\nread = bob\ndeny = carol\n");
  Decision d = Decide(p, carol_, "m", MatterStatus::kOpen, Action::kList, At("2026-01-01"));
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.basis, Basis::kListAll);
  EXPECT_EQ(d.rule, "hide_denied = no: every matter is listed");
  // Listing is all it grants.
  EXPECT_FALSE(
      Decide(p, carol_, "m", MatterStatus::kOpen, Action::kRead, At("2026-01-01")).allowed);
}

TEST_F(DecisionTest, CreateMatter) {
  Decision d = D(alice_, "new-matter", Action::kCreateMatter);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.rule, "[policy] create_matters partners (role)");
  d = D(frank_, "new-matter", Action::kCreateMatter);
  EXPECT_EQ(d.rule, "[policy] create_matters partners (role, via @lit-partners)");
  d = D(bob_, "new-matter", Action::kCreateMatter);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.rule, "default deny: not in [policy] create_matters");
  // A wall already written for that matter name applies to creating it too.
  d = D(carol_, "acme-v-smith", Action::kCreateMatter);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.basis, Basis::kWall);
  // The status of a matter that does not exist yet is irrelevant.
  EXPECT_TRUE(D(alice_, "new-matter", Action::kCreateMatter, MatterStatus::kClosed).allowed);
}

TEST_F(DecisionTest, BreakGlassAllowedToTheRole) {
  Time now = At("2026-11-22T08:00Z");
  Decision may = MayBreakGlass(policy_, dave_, "acme-v-smith", 4h, now);
  ASSERT_TRUE(may.allowed) << may.rule;
  EXPECT_EQ(may.basis, Basis::kBreakGlass);
  EXPECT_EQ(may.until, At("2026-11-22T12:00Z"));
  EXPECT_EQ(may.rule,
            "break-glass by dave until 2026-11-22T12:00Z: [policy] break_glass risk (role)");

  std::vector<BreakGlassGrant> active = {
      {"bob", "acme-v-smith", *may.until, "other user"},
      {"dave", "other-matter", *may.until, "other matter"},
      {"dave", "acme-v-smith", *may.until, "client called, partner unreachable"},
  };
  EXPECT_FALSE(D(dave_, "acme-v-smith", Action::kRead, MatterStatus::kOpen, now).allowed);
  Decision d = D(dave_, "acme-v-smith", Action::kRead, MatterStatus::kOpen, now + 1h, active);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.basis, Basis::kBreakGlass);
  EXPECT_EQ(d.rule, "break-glass by dave until 2026-11-22T12:00Z");
  EXPECT_EQ(d.until, At("2026-11-22T12:00Z"));
  // Listed while it lasts; read only; gone when it ends.
  EXPECT_TRUE(
      D(dave_, "acme-v-smith", Action::kList, MatterStatus::kOpen, now + 1h, active).allowed);
  EXPECT_FALSE(
      D(dave_, "acme-v-smith", Action::kWrite, MatterStatus::kOpen, now + 1h, active).allowed);
  EXPECT_FALSE(
      D(dave_, "acme-v-smith", Action::kRead, MatterStatus::kOpen, now + 4h, active).allowed);
  // A grant does not survive the user's removal from break_glass (a reloaded policy).
  Policy reloaded = MustParse("[policy]\nbreak_glass = erin\n");
  EXPECT_FALSE(
      Decide(reloaded, dave_, "acme-v-smith", MatterStatus::kOpen, Action::kRead, now + 1h, active)
          .allowed);
}

TEST_F(DecisionTest, BreakGlassDeniedOutsideTheRole) {
  Decision d = MayBreakGlass(policy_, bob_, "acme-v-smith", 1h, At("2026-11-22"));
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.basis, Basis::kNoGrant);
  EXPECT_EQ(d.rule, "default deny: bob is not in [policy] break_glass");
  // A grant held by a user outside the role is ignored.
  BreakGlassGrant g{"bob", "admin-only", At("2026-11-23"), "x"};
  EXPECT_FALSE(
      D(bob_, "admin-only", Action::kRead, MatterStatus::kOpen, At("2026-11-22"), {&g, 1}).allowed);
}

TEST_F(DecisionTest, BreakGlassOverMaxAndOtherBadRequests) {
  Time now = At("2026-11-22");
  Decision d = MayBreakGlass(policy_, dave_, "acme-v-smith", 4h + 1s, now);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.basis, Basis::kInvalid);
  EXPECT_EQ(d.rule, "break-glass for 4h1s exceeds break_glass_max = 4h");
  EXPECT_EQ(MayBreakGlass(policy_, dave_, "acme-v-smith", 0s, now).basis, Basis::kInvalid);
  EXPECT_EQ(MayBreakGlass(policy_, dave_, "", 1h, now).basis, Basis::kInvalid);
  EXPECT_EQ(MayBreakGlass(policy_, dave_, "a/b", 1h, now).basis, Basis::kInvalid);
  Policy off = MustParse("");
  d = MayBreakGlass(off, dave_, "acme-v-smith", 1h, now);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.rule, "default deny: break-glass is off ([policy] break_glass unset)");
}

TEST_F(DecisionTest, RootIsNotSpecial) {
  for (Action a :
       {Action::kRead, Action::kWrite, Action::kAdmin, Action::kList, Action::kCreateMatter}) {
    EXPECT_FALSE(D(root_, "acme-v-smith", a).allowed) << ActionName(a);
  }
  // uid 0 under another name gets that name's grants, nothing more; root named in the
  // policy gets what it is granted.
  EXPECT_EQ(D(User("bob", {"bob"}, 0), "acme-v-smith", Action::kAdmin).allowed, false);
  Policy p = MustParse("[matter m]\nread = root\n");
  EXPECT_TRUE(Decide(p, root_, "m", MatterStatus::kOpen, Action::kRead, At("2026-01-01")).allowed);
  EXPECT_FALSE(
      Decide(p, root_, "m", MatterStatus::kOpen, Action::kWrite, At("2026-01-01")).allowed);
}

TEST_F(DecisionTest, EveryMatterDefaults) {
  Policy p = MustParse(R"([matter *]
read = @records
admin = alice
[matter m]
write = bob
)");
  Subject rita = User("rita", {"records"});
  Time now = At("2026-01-01");
  Decision d = Decide(p, rita, "any-matter-at-all", MatterStatus::kOpen, Action::kRead, now);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.rule, "matter *: read @records (group)");
  // The matter's own section is consulted first.
  d = Decide(p, bob_, "m", MatterStatus::kOpen, Action::kRead, now);
  EXPECT_EQ(d.rule, "matter m: write bob (user)");
  d = Decide(p, alice_, "m", MatterStatus::kOpen, Action::kWrite, now);
  EXPECT_EQ(d.rule, "matter *: admin alice (user)");
}

TEST_F(DecisionTest, OwnerOnlyPolicy) {
  Policy p = Policy::OwnerOnly("alice");
  Time now = At("2026-01-01");
  EXPECT_TRUE(Decide(p, alice_, "m", MatterStatus::kOpen, Action::kWrite, now).allowed);
  EXPECT_TRUE(Decide(p, alice_, "m", MatterStatus::kOpen, Action::kCreateMatter, now).allowed);
  EXPECT_FALSE(Decide(p, bob_, "m", MatterStatus::kOpen, Action::kRead, now).allowed);
  EXPECT_FALSE(Decide(p, root_, "m", MatterStatus::kOpen, Action::kList, now).allowed);
}

TEST(DecisionNamesTest, RoundTrip) {
  for (Action a : {Action::kRead, Action::kWrite, Action::kDelete, Action::kAdmin,
                   Action::kCreateMatter, Action::kList, Action::kWipe}) {
    EXPECT_EQ(ParseAction(ActionName(a)), a);
  }
  for (MatterStatus s : {MatterStatus::kOpen, MatterStatus::kClosed, MatterStatus::kHold}) {
    EXPECT_EQ(ParseMatterStatus(MatterStatusName(s)), s);
  }
  EXPECT_FALSE(ParseAction("Read").has_value());
  EXPECT_FALSE(ParseMatterStatus("held").has_value());
  EXPECT_STREQ(BasisName(Basis::kWall), "wall");
}

}  // namespace
}  // namespace matterfs::policy

namespace matterfs::policy {
namespace {

// NextExpiry: the earliest until= still ahead, wherever it is written (role members,
// matter lists, [policy] lists), so that a cached decision never outlives it.
TEST(NextExpiryTest, EarliestUntilAheadAnywhereInThePolicy) {
  Policy p = testing::MustParse(R"([policy]
break_glass = dave until=2027-03-01
[role temps]
members = erin until=2026-12-31
[matter a]
read = bob until=2026-06-30
deny = carol until=2027-01-15
)");
  // 2026-06-30 ends at 2026-07-01T00:00Z (through that day).
  EXPECT_EQ(NextExpiry(p, testing::At("2026-01-01T00:00Z")), testing::At("2026-07-01T00:00Z"));
  EXPECT_EQ(NextExpiry(p, testing::At("2026-07-01T00:00Z")), testing::At("2027-01-01T00:00Z"));
  EXPECT_EQ(NextExpiry(p, testing::At("2027-01-01T00:00Z")), testing::At("2027-01-16T00:00Z"));
  EXPECT_EQ(NextExpiry(p, testing::At("2027-01-20T00:00Z")), testing::At("2027-03-02T00:00Z"));
  EXPECT_EQ(NextExpiry(p, testing::At("2027-03-02T00:00Z")), std::nullopt);
  EXPECT_EQ(NextExpiry(testing::MustParse("[matter a]\nread = bob\n"), testing::At("2026-01-01")),
            std::nullopt);
}

}  // namespace
}  // namespace matterfs::policy
