// The daemon's decision cache (AccessControl::Decide): a decision for a caller whose
// decision is cached allocates nothing and takes no lock shared between threads (counted
// with tests/support/counting.h), and
// the cache never serves a decision after what it depends on has changed: the policy
// (reload), a break-glass grant, an until= that passes, the matter's status, the caller.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "crypto/signing.h"
#include "fs/fuse/access.h"
#include "policy/timestamp.h"
#include "tests/support/counting.h"
#include "util/file_io.h"

namespace matterfs::fuse {
namespace {

namespace fsys = std::filesystem;

using testing::Count;
using testing::Counts;

// uid 0 is root on every system; the policy names it, and uid 65534 (nobody) not.
constexpr Caller kRoot{0, 0, 1};
constexpr Caller kNobody{65534, 65534, 1};

class DecisionCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/matterfs-decision-cache-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    // Events go to a datagram socket nobody reads (its buffer takes the few a test makes).
    syslog_.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string path = (dir_ / "syslog.sock").string();
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    ASSERT_EQ(::bind(syslog_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  }
  void TearDown() override {
    ac_.reset();
    fsys::remove_all(dir_);
  }

  void WritePolicy(const std::string& text) { std::ofstream(dir_ / "policy.ini") << text; }

  // A policy of 50 matters and 200 rules, the shape of a firm's, with root granted
  // `root_grant` on matter m7 (and walled off nothing).
  static std::string FirmPolicy(const std::string& root_grant) {
    std::string p =
        "[policy]\nhide_denied = yes\ncreate_matters = root\nbreak_glass = root\n"
        "[role partners]\nmembers = root\n";
    for (int i = 0; i < 50; ++i) {
      p += "[matter m" + std::to_string(i) + "]\n";
      if (i == 7) {
        p += root_grant + "\n";
      } else {
        p += "read = partners\nwrite = partners\nadmin = partners\n";
      }
      if (i != 7) p += "deny = nobody\n";
    }
    return p;
  }

  void Start() {
    AccessOptions opts;
    opts.policy_path = (dir_ / "policy.ini").string();
    opts.owner = "root";
    opts.syslog_socket = (dir_ / "syslog.sock").string();
    opts.mountpoint = "/mnt";
    opts.vault = "/vault";
    auto made = AccessControl::Create(opts, signing_key_, path_key_);
    ASSERT_TRUE(made.ok()) << made.error().message();
    ac_ = std::move(*made);
  }

  // Rewrites the policy with a different size, so that Reload sees a new file.
  void Reload(const std::string& text) {
    WritePolicy(text);
    Status s = ac_->Reload();
    ASSERT_TRUE(s.ok()) << s.error().message();
  }

  fsys::path dir_;
  crypto::SigningKey signing_key_ = crypto::SigningKey::Generate();
  std::array<uint8_t, 32> path_key_{};
  UniqueFd syslog_;
  std::unique_ptr<AccessControl> ac_;
};

TEST_F(DecisionCacheTest, CachedDecisionAllocatesNothingAndTakesNoLock) {
  WritePolicy(FirmPolicy("read = partners"));
  Start();
  const std::string matter = "m7";
  const auto open = policy::MatterStatus::kOpen;
  // The first decision is computed: it allocates and locks (which shows the counting
  // works in this binary).
  Counts first =
      Count([&] { EXPECT_TRUE(ac_->Allowed(kRoot, matter, open, policy::Action::kRead)); });
  EXPECT_GT(first.allocations, 0u);
  EXPECT_GT(first.locks, 0u);
  // Then: lookups and getattrs (Allowed), the root listing (Visible) and denials' fast
  // path, each from the cache.
  (void)ac_->Visible(kRoot, matter, open);
  (void)ac_->Allowed(kRoot, matter, open, policy::Action::kWrite);
  const auto before = ac_->decision_stats();
  Counts cached = Count([&] {
    for (int i = 0; i < 1000; ++i) {
      EXPECT_TRUE(ac_->Allowed(kRoot, matter, open, policy::Action::kRead));
      EXPECT_TRUE(ac_->Visible(kRoot, matter, open));
      EXPECT_FALSE(ac_->Allowed(kRoot, matter, open, policy::Action::kWrite));
      EXPECT_EQ(ac_->Quiet(kRoot, matter, open, policy::Action::kRead, "lookup", "m7/a"), 0);
    }
  });
  EXPECT_EQ(cached.allocations, 0u);
  EXPECT_EQ(cached.locks, 0u);
  const auto after = ac_->decision_stats();
  EXPECT_EQ(after.computed, before.computed);
  EXPECT_EQ(after.cached - before.cached, 4000u);
}

TEST_F(DecisionCacheTest, EachThreadHasItsOwnCacheAndNeedsNoLockEither) {
  WritePolicy(FirmPolicy("read = partners"));
  Start();
  std::atomic<uint64_t> locks{0}, allocations{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      (void)ac_->Allowed(kRoot, "m7", policy::MatterStatus::kOpen, policy::Action::kRead);
      Counts c = Count([&] {
        for (int i = 0; i < 1000; ++i) {
          if (!ac_->Allowed(kRoot, "m7", policy::MatterStatus::kOpen, policy::Action::kRead)) {
            std::abort();
          }
        }
      });
      locks += c.locks;
      allocations += c.allocations;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(locks.load(), 0u);
  EXPECT_EQ(allocations.load(), 0u);
}

TEST_F(DecisionCacheTest, ReloadTakesEffectAtOnce) {
  WritePolicy(FirmPolicy("read = partners"));
  Start();
  ASSERT_TRUE(ac_->Allowed(kRoot, "m7", policy::MatterStatus::kOpen, policy::Action::kRead));
  ASSERT_TRUE(ac_->Allowed(kRoot, "m7", policy::MatterStatus::kOpen, policy::Action::kRead));
  Reload(FirmPolicy("read = nobody\nwrite = nobody"));
  EXPECT_FALSE(ac_->Allowed(kRoot, "m7", policy::MatterStatus::kOpen, policy::Action::kRead));
  EXPECT_EQ(
      ac_->Quiet(kRoot, "m7", policy::MatterStatus::kOpen, policy::Action::kRead, nullptr, ""),
      EACCES);
  Reload(FirmPolicy("write = root"));
  EXPECT_TRUE(ac_->Allowed(kRoot, "m7", policy::MatterStatus::kOpen, policy::Action::kWrite));
}

TEST_F(DecisionCacheTest, KeyedByCallerStatusAndAction) {
  WritePolicy(FirmPolicy("write = partners"));
  Start();
  const auto open = policy::MatterStatus::kOpen;
  const auto closed = policy::MatterStatus::kClosed;
  const auto hold = policy::MatterStatus::kHold;
  for (int round = 0; round < 2; ++round) {  // computed, then cached: the same answers
    EXPECT_TRUE(ac_->Allowed(kRoot, "m7", open, policy::Action::kWrite));
    EXPECT_FALSE(ac_->Allowed(kRoot, "m7", closed, policy::Action::kWrite));
    EXPECT_TRUE(ac_->Allowed(kRoot, "m7", closed, policy::Action::kRead));
    EXPECT_FALSE(ac_->Allowed(kRoot, "m7", hold, policy::Action::kDelete));
    EXPECT_TRUE(ac_->Allowed(kRoot, "m7", open, policy::Action::kDelete));
    EXPECT_FALSE(ac_->Allowed(kNobody, "m7", open, policy::Action::kRead));
    EXPECT_FALSE(ac_->Allowed(kRoot, "m8", open, policy::Action::kAdmin) &&
                 ac_->Allowed(kNobody, "m8", open, policy::Action::kAdmin));
    EXPECT_TRUE(ac_->Allowed(kRoot, "m8", open, policy::Action::kAdmin));
    EXPECT_EQ(ac_->Quiet(kRoot, "m7", closed, policy::Action::kWrite, nullptr, ""), EROFS);
    EXPECT_EQ(ac_->Quiet(kRoot, "m7", hold, policy::Action::kDelete, nullptr, ""), EPERM);
    EXPECT_EQ(ac_->Quiet(kNobody, "m7", open, policy::Action::kList, nullptr, ""), ENOENT);
  }
}

TEST_F(DecisionCacheTest, BreakGlassGrantTakesEffectAtOnce) {
  WritePolicy(FirmPolicy("read = nobody"));
  Start();
  ASSERT_FALSE(ac_->Allowed(kRoot, "m7", policy::MatterStatus::kOpen, policy::Action::kRead));
  ASSERT_FALSE(ac_->Allowed(kRoot, "m7", policy::MatterStatus::kOpen, policy::Action::kRead));
  auto grant = ac_->BreakGlass(kRoot, "m7", std::chrono::minutes(5), "test");
  ASSERT_TRUE(grant.ok()) << grant.error().message();
  EXPECT_TRUE(ac_->Allowed(kRoot, "m7", policy::MatterStatus::kOpen, policy::Action::kRead));
  EXPECT_FALSE(ac_->Allowed(kRoot, "m7", policy::MatterStatus::kOpen, policy::Action::kWrite));
}

TEST_F(DecisionCacheTest, AnUntilThatPassesEndsTheCachedDecision) {
  // A grant that ends a few seconds from now, and a wall that ends then too (a denial that
  // becomes an allowance by itself): neither may outlive its until= in the cache.
  const auto until =
      std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now()) +
      std::chrono::seconds(4);
  const std::string text = policy::FormatTime(until);  // "…T…:…:…Z"
  std::string p = FirmPolicy("read = root until=" + text);
  p += "[matter walled]\nread = root\ndeny = root until=" + text + "\n";
  WritePolicy(p);
  Start();
  const auto open = policy::MatterStatus::kOpen;
  ASSERT_TRUE(ac_->Allowed(kRoot, "m7", open, policy::Action::kRead));
  ASSERT_FALSE(ac_->Allowed(kRoot, "walled", open, policy::Action::kRead));
  ASSERT_TRUE(ac_->Allowed(kRoot, "m7", open, policy::Action::kRead));  // cached
  while (std::chrono::system_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_FALSE(ac_->Allowed(kRoot, "m7", open, policy::Action::kRead));
  EXPECT_TRUE(ac_->Allowed(kRoot, "walled", open, policy::Action::kRead));
}

}  // namespace
}  // namespace matterfs::fuse
