// The policy side of the hardening issue: a reload applies the audit settings; the
// control socket serves several clients at once and tells each only what the policy lets
// it know (one answer for a hidden matter and a missing one, refusals audited); repeated
// denied metadata probes (a file server reading attributes as root) do not drown the
// audit trail.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "tests/policy_mount/policy_mount_fixture.h"
#include "util/unique_fd.h"

namespace matterfs::policy_mount_test {
namespace {

using HardeningTest = PolicyMountTest;

TEST_F(HardeningTest, AReloadAppliesTheAuditSettings) {
  size_t mark = receiver_->Mark();
  ASSERT_GE(ReadAs(bob_, M("acme/brief.txt")).rc, 0);
  auto before = ExpectEvent({.event = "open", .user = kBob, .matter = "acme"}, mark);
  ASSERT_TRUE(before);
  EXPECT_EQ(before->Field("path"), "acme/brief.txt");
  EXPECT_EQ(before->facility(), 10) << "authpriv by default";

  const std::string log = dir_ + "/audit.jsonl";
  mark = receiver_->Mark();
  ASSERT_NO_FATAL_FAILURE(ReplacePolicy(StandardPolicy(
      {.policy_extra = "audit_path = hash\nsyslog_facility = local3\naudit_log = " + log + "\n"})));
  auto reloaded = ExpectEvent({.event = "policy-reload", .result = "ok"}, mark);
  ASSERT_TRUE(reloaded);
  EXPECT_NE(reloaded->msg.find("audit_path plain -> hash"), std::string::npos) << reloaded->raw;
  EXPECT_NE(reloaded->msg.find("syslog_facility authpriv -> local3"), std::string::npos);
  EXPECT_NE(reloaded->msg.find("audit_log (none) -> " + log), std::string::npos);

  mark = receiver_->Mark();
  ASSERT_GE(ReadAs(bob_, M("acme/brief.txt")).rc, 0);
  auto after = ExpectEvent({.event = "open", .user = kBob, .matter = "acme"}, mark);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->Field("path"), "") << "the path is hashed now: " << after->raw;
  EXPECT_EQ(after->Field("path_hash").size(), 32u) << after->raw;
  EXPECT_EQ(after->facility(), 19) << "local3";
  // The local log exists, holds the event, and verifies against the vault's key.
  ASSERT_NO_FATAL_FAILURE(Unmount());
  auto text = ReadFile(log);
  ASSERT_TRUE(text.has_value());
  EXPECT_NE(text->find("\"event\":\"open\""), std::string::npos) << *text;
  EXPECT_EQ(text->find("acme/brief.txt"), std::string::npos) << "no plain path in the log";
  CmdResult verify = Matterctl({"audit", "verify", log, "--vault", vault_});
  EXPECT_EQ(verify.status, 0) << ::testing::PrintToString(verify);
}

TEST_F(HardeningTest, AReloadWhoseAuditLogCannotOpenIsRefusedNamingTheKey) {
  const size_t mark = receiver_->Mark();
  // The new file also lifts gina's expiry: that must not take effect either.
  std::string next = StandardPolicy({.policy_extra = "audit_log = /nonexistent-dir/audit.jsonl\n"});
  const std::string expired = "mfs-t-gina until=2020-06-30";
  next.replace(next.find(expired), expired.size(), "mfs-t-gina");
  ASSERT_NO_FATAL_FAILURE(ReplacePolicy(next));
  auto refused = ExpectEvent({.event = "policy-reload", .result = "error"}, mark);
  ASSERT_TRUE(refused);
  EXPECT_NE(refused->msg.find("audit_log /nonexistent-dir/audit.jsonl"), std::string::npos)
      << refused->raw;
  // The old policy stays whole.
  EXPECT_EQ(ReadAs(gina_, M("acme/brief.txt")).rc, -1);
}

// Connects and sends nothing.
UniqueFd SilentClient(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) fd.reset();
  return fd;
}

TEST_F(HardeningTest, SilentClientsDoNotKeepOthersWaiting) {
  // Five connections that never send a request: served one at a time with a 2 s read
  // window each, they kept every other client waiting past matterctl's 5 s timeout.
  std::vector<UniqueFd> silent;
  for (int i = 0; i < 5; ++i) {
    silent.push_back(SilentClient(control_));
    ASSERT_TRUE(silent.back().valid());
  }
  CmdResult status = Matterctl({"status", mnt_, "--control-socket", control_}, &alice_);
  EXPECT_EQ(status.status, 0) << ::testing::PrintToString(status);
  CmdResult close =
      Matterctl({"matter", "close", mnt_, "globex", "--control-socket", control_}, &alice_);
  EXPECT_EQ(close.status, 0) << ::testing::PrintToString(close);
}

TEST_F(HardeningTest, TheControlSocketTellsEachCallerOnlyWhatThePolicyLetsThemKnow) {
  CmdResult bg = Matterctl(
      {"break-glass", mnt_, "--matter", "globex", "--reason", "client emergency, secret detail",
       "--duration", "30m", "--control-socket", control_},
      &dave_);
  ASSERT_EQ(bg.status, 0) << ::testing::PrintToString(bg);
  // frank, granted nothing, sees no one's break-glass; alice (admin of every matter) and
  // dave himself do.
  CmdResult frank = Matterctl({"status", mnt_, "--control-socket", control_}, &frank_);
  ASSERT_EQ(frank.status, 0) << ::testing::PrintToString(frank);
  EXPECT_EQ(frank.out.find("break-glass"), std::string::npos) << frank.out;
  EXPECT_EQ(frank.out.find("secret detail"), std::string::npos) << frank.out;
  EXPECT_EQ(frank.out.find("globex"), std::string::npos) << "hidden matters stay hidden";
  for (const TestUser* who : {&alice_, &dave_}) {
    CmdResult s = Matterctl({"status", mnt_, "--control-socket", control_}, who);
    EXPECT_NE(s.out.find("break-glass: mfs-t-dave on globex"), std::string::npos)
        << who->name << ": " << s.out;
  }
  // One answer for a hidden matter and a missing one, and each probe is audited.
  const size_t mark = receiver_->Mark();
  CmdResult hidden =
      Matterctl({"matter", "close", mnt_, "acme", "--control-socket", control_}, &frank_);
  CmdResult missing =
      Matterctl({"matter", "close", mnt_, "no-such-matter", "--control-socket", control_}, &frank_);
  EXPECT_EQ(hidden.status, 10);
  EXPECT_EQ(missing.status, 10);
  auto strip = [](std::string s, const std::string& name) {
    const size_t at = s.find(name);
    if (at != std::string::npos) s.erase(at, name.size());
    return s;
  };
  EXPECT_EQ(strip(hidden.err, "acme"), strip(missing.err, "no-such-matter"));
  ExpectEvent({.event = "matter-close", .result = "deny", .user = kFrank, .matter = "acme"}, mark);
  ExpectEvent(
      {.event = "matter-close", .result = "deny", .user = kFrank, .matter = "no-such-matter"},
      mark);
  CmdResult bg_hidden = Matterctl(
      {"break-glass", mnt_, "--matter", "acme", "--reason", "probe", "--control-socket", control_},
      &frank_);
  CmdResult bg_missing = Matterctl({"break-glass", mnt_, "--matter", "no-such-matter", "--reason",
                                    "probe", "--control-socket", control_},
                                   &frank_);
  EXPECT_EQ(bg_hidden.status, 10);
  EXPECT_EQ(bg_missing.status, 10);
  EXPECT_EQ(strip(bg_hidden.err, "acme"), strip(bg_missing.err, "no-such-matter"));
  ExpectEvent(
      {.event = "break-glass", .result = "deny", .user = kFrank, .matter = "no-such-matter"}, mark);
}

TEST_F(HardeningTest, RepeatedDeniedMetadataProbesDoNotDrownTheTrail) {
  // What Samba does on a share: read the same attributes of the same matter folders, as
  // root, over and over. Root has no grant in this policy.
  const size_t mark = receiver_->Mark();
  for (int i = 0; i < 40; ++i) {
    Sys x = AsUser(root_, [&] {
      Sys out;
      char buf[64];
      out.rc = ::getxattr(M("acme").c_str(), "user.DOSATTRIB", buf, sizeof buf);
      out.err = out.rc < 0 ? errno : 0;
      return out;
    });
    EXPECT_EQ(x.rc, -1);
    EXPECT_EQ(x.err, ENOENT) << "a matter root may not see is not there";
  }
  // A different probe is still reported on its own.
  EXPECT_EQ(StatAs(root_, M("globex")).err, ENOENT);
  ExpectEvent({.event = "lookup", .result = "deny", .user = "root", .matter = "globex"}, mark);
  auto acme =
      receiver_->All({.event = "lookup", .result = "deny", .user = "root", .matter = "acme"}, mark);
  EXPECT_EQ(acme.size(), 1u) << "40 identical probes, one event within the minute";
}

}  // namespace
}  // namespace matterfs::policy_mount_test
