// Break-glass on a mount (docs/POLICY.md "Break-glass"): a member of [policy] break_glass
// takes time-limited read access with `matterctl break-glass`, which raises an
// alert-priority event, shows in `matterctl status` and ends by itself; others are
// refused, and ethical walls cannot be broken.
#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "tests/policy_mount/policy_mount_fixture.h"
#include "util/unix_time.h"

namespace matterfs::policy_mount_test {
namespace {

using Clock = std::chrono::steady_clock;

class BreakGlassTest : public PolicyMountTest {
 protected:
  CmdResult BreakGlass(const TestUser& who, const std::string& matter, const std::string& reason,
                       const std::string& duration) {
    return Matterctl({"break-glass", mnt_, "--matter", matter, "--reason", reason, "--duration",
                      duration, "--control-socket", control_},
                     &who);
  }
};

TEST_F(BreakGlassTest, GrantsTimeLimitedReadWithAnAlert) {
  ASSERT_EQ(StatAs(dave_, M("acme")).err, ENOENT) << "dave has no grant before breaking glass";

  size_t mark = receiver_->Mark();
  CmdResult bg = BreakGlass(dave_, "acme", "court deadline, partner unreachable", "2s");
  const auto granted_at = Clock::now();
  ASSERT_EQ(bg.status, 0) << ::testing::PrintToString(bg);
  EXPECT_NE(bg.out.find("mfs-t-dave may read acme"), std::string::npos) << bg.out;

  // Access now (within the 2 s).
  Sys r = ReadAs(dave_, M("acme/brief.txt"));
  ASSERT_GE(r.rc, 0) << "dave cannot read after breaking glass: " << ::testing::PrintToString(r);
  EXPECT_EQ(r.data, "acme brief v1\n");
  CmdResult status = Matterctl({"status", mnt_, "--control-socket", control_});
  const bool read_in_time = Clock::now() - granted_at < 1s;

  auto e = ExpectEvent({.event = "break-glass", .user = kDave, .matter = "acme"}, mark);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->severity(), 1) << "break-glass must be alert priority: " << e->raw;
  EXPECT_EQ(e->Field("severity"), "alert") << e->raw;
  EXPECT_TRUE(e->Field("result") == "ok" || e->Field("result") == "allow") << e->raw;
  EXPECT_EQ(e->Field("uid"), std::to_string(dave_.uid)) << e->raw;
  EXPECT_NE(e->Field("rule").find("[policy] break_glass risk (role)"), std::string::npos) << e->raw;
  EXPECT_NE(e->msg.find("court deadline, partner unreachable"), std::string::npos) << e->raw;
  ExpectEvent({.event = "open",
               .result = "allow",
               .user = kDave,
               .matter = "acme",
               .rule_has = "break-glass by mfs-t-dave until"},
              mark);

  // Shown in `matterctl status` while it lasts (asked right after the read).
  ASSERT_EQ(status.status, 0) << ::testing::PrintToString(status);
  if (read_in_time) {
    EXPECT_NE(status.out.find("break-glass: mfs-t-dave on acme until"), std::string::npos)
        << status.out;
    EXPECT_NE(status.out.find("court deadline"), std::string::npos) << status.out;
  }

  // Read only, whatever else.
  Sys w = OpenAs(dave_, M("acme/brief.txt"), O_WRONLY);
  if (Clock::now() - granted_at < 1s) {
    EXPECT_EQ(w.err, EACCES) << "break-glass grants read only: " << ::testing::PrintToString(w);
  }

  // It ends by itself: gone again within a few seconds (hidden: ENOENT).
  Sys after;
  const auto deadline = granted_at + 6s;
  while (Clock::now() < deadline) {
    after = StatAs(dave_, M("acme/brief.txt"));
    if (after.rc != 0) break;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(after.rc, -1) << "dave still reads acme 6 s after a 2 s break-glass";
  EXPECT_EQ(after.err, ENOENT) << ::testing::PrintToString(after);
  EXPECT_GE(Clock::now() - granted_at, 500ms) << "the grant ended long before its time";
  EXPECT_EQ(ReadAs(dave_, M("acme/brief.txt")).err, ENOENT);
  EXPECT_EQ(ListAs(dave_, mnt_).data, "");
  // The daemon records the expiry, and status no longer shows it.
  ExpectEvent({.event = "break-glass", .user = kDave, .matter = "acme", .severity = 5}, mark);
  CmdResult later = Matterctl({"status", mnt_, "--control-socket", control_});
  ASSERT_EQ(later.status, 0) << ::testing::PrintToString(later);
  EXPECT_EQ(later.out.find("break-glass: mfs-t-dave"), std::string::npos) << later.out;
}

// `matterctl status --json` lists the grant with its end as ISO 8601 and unix seconds.
TEST_F(BreakGlassTest, StatusJsonListsTheGrant) {
  const auto before = std::chrono::system_clock::now();
  CmdResult bg = BreakGlass(dave_, "acme", "client called, \"urgent\"", "1h");
  const auto after = std::chrono::system_clock::now();
  ASSERT_EQ(bg.status, 0) << ::testing::PrintToString(bg);
  CmdResult status = Matterctl({"status", mnt_, "--control-socket", control_, "--json"});
  ASSERT_EQ(status.status, 0) << ::testing::PrintToString(status);
  const auto doc = nlohmann::json::parse(status.out);
  ASSERT_EQ(doc["break_glass"].size(), 1u) << status.out;
  const auto& g = doc["break_glass"][0];
  EXPECT_EQ(g["user"], kDave);
  EXPECT_EQ(g["matter"], "acme");
  EXPECT_EQ(g["reason"], "client called, \"urgent\"");
  auto unix_s = [](std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
  };
  const int64_t until = g["until_unix"];
  EXPECT_GE(until, unix_s(before) + 3600 - 60) << "the policy may round the end to a minute";
  EXPECT_LE(until, unix_s(after) + 3600 + 1);
  EXPECT_EQ(g["until"], FormatUnixTime(static_cast<uint64_t>(until)));
}

TEST_F(BreakGlassTest, UserNotInTheBreakGlassRoleIsRefused) {
  const size_t mark = receiver_->Mark();
  CmdResult bg = BreakGlass(frank_, "acme", "curious", "30m");
  EXPECT_NE(bg.status, 0) << ::testing::PrintToString(bg);
  auto e = ExpectEvent({.event = "break-glass",
                        .result = "deny",
                        .user = kFrank,
                        .matter = "acme",
                        .rule_has = "mfs-t-frank is not in [policy] break_glass"},
                       mark);
  if (e) {
    EXPECT_EQ(e->severity(), 1) << e->raw;
  }
  EXPECT_EQ(StatAs(frank_, M("acme")).err, ENOENT);
  CmdResult status = Matterctl({"status", mnt_, "--control-socket", control_});
  EXPECT_EQ(status.out.find("break-glass:"), std::string::npos) << status.out;
}

TEST_F(BreakGlassTest, WalledUserCannotBreakGlass) {
  // carol is in `risk` (may break glass) but walled off acme.
  const size_t mark = receiver_->Mark();
  CmdResult bg = BreakGlass(carol_, "acme", "need the file", "30m");
  EXPECT_NE(bg.status, 0) << ::testing::PrintToString(bg);
  ExpectEvent({.event = "break-glass",
               .result = "deny",
               .user = kCarol,
               .matter = "acme",
               .rule_has = "ethical wall"},
              mark);
  EXPECT_EQ(StatAs(carol_, M("acme")).err, ENOENT);
  EXPECT_EQ(ReadAs(carol_, M("acme/brief.txt")).err, ENOENT);
}

TEST_F(BreakGlassTest, LongerThanTheMaximumIsRefused) {
  const size_t mark = receiver_->Mark();
  CmdResult bg = BreakGlass(dave_, "acme", "long", "2h");  // break_glass_max = 1h
  EXPECT_NE(bg.status, 0) << ::testing::PrintToString(bg);
  ExpectEvent({.event = "break-glass",
               .result = "deny",
               .user = kDave,
               .matter = "acme",
               .rule_has = "exceeds break_glass_max"},
              mark);
  EXPECT_EQ(StatAs(dave_, M("acme")).err, ENOENT);
}

}  // namespace
}  // namespace matterfs::policy_mount_test
