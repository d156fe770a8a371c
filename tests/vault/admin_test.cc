// Matter administration (fs/vault/admin.h): the one status-change function that
// matterctl (offline) and the daemon (online) both call, and the events it records.
#include "fs/vault/admin.h"

#include <gtest/gtest.h>

#include <vector>

#include "tests/crypto/test_util.h"
#include "tests/vault/matter_tree.h"

namespace matterfs::vault {
namespace {

class AdminTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_OK(fx_.vault().CreateMatter("acme")); }
  AdminContext Ctx(bool online = false) {
    AdminContext ctx;
    ctx.actor = {"alice", 1001, 42, "matterctl"};
    ctx.online = online;
    ctx.events = [this](audit::AuditEvent e) {
      events_.push_back(std::move(e));
      return true;
    };
    return ctx;
  }
  test::VaultFixture fx_;
  std::vector<audit::AuditEvent> events_;
};

TEST_F(AdminTest, StatusChangesAreStoredAndRecordedOnce) {
  auto closed = ChangeMatterStatus(fx_.vault(), "acme", "close", Ctx());
  ASSERT_OK(closed);
  EXPECT_EQ(closed->from, MatterStatus::kOpen);
  EXPECT_EQ(closed->to, MatterStatus::kClosed);
  ASSERT_EQ(events_.size(), 1u);
  const audit::AuditEvent& e = events_[0];
  EXPECT_EQ(e.event, "matter-close");
  EXPECT_EQ(e.result, audit::AuditResult::kOk);
  EXPECT_EQ(e.severity, audit::AuditSeverity::kNotice);
  EXPECT_EQ(e.user, "alice");
  EXPECT_EQ(e.uid, 1001u);
  EXPECT_EQ(e.pid, 42);
  EXPECT_EQ(e.matter, "acme");
  EXPECT_EQ(e.access, "admin");
  EXPECT_NE(e.message.find("open -> closed"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("offline"), std::string::npos) << e.message;

  // Another process (a fresh open of the vault) sees it.
  auto info = fx_.Reopen()->FindMatter("acme");
  ASSERT_OK(info);
  EXPECT_EQ(info->status, MatterStatus::kClosed);

  ASSERT_OK(ChangeMatterStatus(fx_.vault(), "acme", "reopen", Ctx(true)));
  EXPECT_NE(events_.back().message.find("online"), std::string::npos);
  ASSERT_OK(ChangeMatterStatus(fx_.vault(), "acme", "hold", Ctx()));
  ASSERT_OK(ChangeMatterStatus(fx_.vault(), "acme", "release", Ctx()));
  EXPECT_EQ(events_.size(), 4u);
}

TEST_F(AdminTest, AChangeThatDoesNotApplyIsRefusedAndRecordedAsAnError) {
  auto r = ChangeMatterStatus(fx_.vault(), "acme", "reopen", Ctx());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].result, audit::AuditResult::kError);
  ASSERT_OK(ChangeMatterStatus(fx_.vault(), "acme", "hold", Ctx()));
  auto close_held = ChangeMatterStatus(fx_.vault(), "acme", "close", Ctx());
  ASSERT_FALSE(close_held.ok());
  EXPECT_NE(close_held.error().message().find("hold"), std::string::npos);
  EXPECT_EQ(fx_.vault().FindMatter("acme")->status, MatterStatus::kHold);
}

TEST_F(AdminTest, UnknownVerbOrMatterAndARefusalChangeNothing) {
  EXPECT_EQ(ChangeMatterStatus(fx_.vault(), "acme", "shred", Ctx()).error().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(ChangeMatterStatus(fx_.vault(), "nope", "close", Ctx()).error().code(),
            Code::kNotFound);
  AdminContext refusing = Ctx(true);
  refusing.authorize = [](const MatterInfo&) -> Status {
    return Error(Code::kPermissionDenied, "no admin grant");
  };
  auto r = ChangeMatterStatus(fx_.vault(), "acme", "close", refusing);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kPermissionDenied);
  EXPECT_TRUE(events_.empty()) << "the refusal is the caller's decision event, not ours";
  EXPECT_EQ(fx_.vault().FindMatter("acme")->status, MatterStatus::kOpen);
}

}  // namespace
}  // namespace matterfs::vault
