// The audit hand-off's fast path (AuditSink::Emplace): once the ring's events have grown
// to the events' sizes, queuing a typical open event takes no lock and allocates nothing,
// from one thread and from several at once, and every event is then delivered in the
// order of the thread that made it. Its own binary: it links mfs_test_counting, which
// replaces operator new and interposes pthread's lock functions (tests/support/counting.h).
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "audit/event.h"
#include "audit/sink.h"
#include "tests/support/counting.h"
#include "util/bytes.h"

namespace matterfs::audit {
namespace {

using namespace std::chrono_literals;
using matterfs::testing::Count;
using matterfs::testing::Counts;

constexpr size_t kPathLength = 120;
constexpr size_t kRuleLength = 60;

// What the writer delivered: (pid, count) in order, and the lengths it saw.
struct Delivered {
  std::mutex mu;
  std::vector<std::pair<int32_t, uint64_t>> order;
  size_t plain_paths = 0;
  size_t hashed_paths = 0;
  size_t wrong_fields = 0;
};

class RecordingOutput : public AuditOutput {
 public:
  explicit RecordingOutput(std::shared_ptr<Delivered> d) : d_(std::move(d)) {}
  Status Write(const AuditEvent& e) override {
    std::lock_guard<std::mutex> lk(d_->mu);
    d_->order.emplace_back(e.pid.value_or(-1), e.count.value_or(0));
    if (e.path.size() == kPathLength && e.path_hash.empty()) ++d_->plain_paths;
    if (e.path.empty() && e.path_hash.size() == 2 * PathRedactor::kHashSize) ++d_->hashed_paths;
    if (e.rule.size() != kRuleLength || e.host != "fileserver-01.example.org" ||
        e.time == AuditTime{}) {
      ++d_->wrong_fields;
    }
    return {};
  }
  std::string Name() const override { return "recorder"; }

 private:
  std::shared_ptr<Delivered> d_;
};

std::string Padded(std::string s, size_t length) {
  s.resize(length, 'x');
  return s;
}

class AuditFastPathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const Bytes key(PathRedactor::kKeySize, 0x5a);
    plain_ = std::make_unique<PathRedactor>(PathRedactor::Make(PathMode::kPlain).value());
    hash_ = std::make_unique<PathRedactor>(PathRedactor::Make(PathMode::kHash, key).value());
    AuditSinkOptions o;  // the daemon's defaults: capacity 4096, batching on
    // Longer than a std::string keeps inline, so that filling it in could allocate.
    o.host = "fileserver-01.example.org";
    std::vector<std::unique_ptr<AuditOutput>> outputs;
    outputs.push_back(std::make_unique<RecordingOutput>(delivered_));
    sink_ = std::make_unique<AuditSink>(std::move(o), std::move(outputs));
  }

  // A typical open: every field an open event carries, a 120-character path through
  // `redactor`, a 60-character rule. pid names the test thread and count numbers its
  // events, so that the order can be checked.
  bool EmplaceOpen(const PathRedactor& redactor, int32_t thread, uint64_t seq) {
    return sink_->Emplace([&](AuditEvent& e) {
      e.event = audit_events::kOpen;
      e.result = AuditResult::kAllow;
      e.severity = AuditSeverity::kInfo;
      e.user = "margaret.hamilton";
      e.uid = 1001;
      e.pid = thread;
      e.process = "soffice.bin";
      e.matter = "acme-v-smith-2024-0117";
      redactor.Apply(path_, e);
      e.access = "read";
      e.rule = rule_;
      e.count = seq;
    });
  }

  // Fills every ring slot (and the writer's own event) at least once with events of the
  // measured sizes, in both path modes, without ever filling the ring.
  void WarmUp() {
    const size_t chunk = sink_->ring_slots() / 2;
    for (size_t round = 0; round < 5; ++round) {
      for (size_t i = 0; i < chunk; ++i) {
        ASSERT_TRUE(sink_->Emplace([&](AuditEvent& e) {
          e.event = audit_events::kOpen;
          e.user = "margaret.hamilton";
          e.pid = -1;
          e.process = "soffice.bin";
          e.matter = "acme-v-smith-2024-0117";
          plain_->Apply(path_, e);  // grows path
          hash_->Apply(path_, e);   // grows path_hash (path is cleared, keeping capacity)
          e.access = "read";
          e.rule = rule_;
        }));
      }
      ASSERT_TRUE(sink_->WaitIdle(10s));
    }
  }

  // Delivered events of `thread`, in order: 0, 1, 2, ... n-1.
  void ExpectInOrder(int32_t thread, uint64_t n) {
    std::lock_guard<std::mutex> lk(delivered_->mu);
    uint64_t next = 0;
    for (const auto& [pid, seq] : delivered_->order) {
      if (pid != thread) continue;
      EXPECT_EQ(seq, next) << "thread " << thread;
      next = seq + 1;
    }
    EXPECT_EQ(next, n) << "thread " << thread;
  }

  const std::string path_ = Padded("/srv/matterfs/acme-v-smith-2024-0117/pleadings/", kPathLength);
  const std::string rule_ =
      Padded("matter acme-v-smith-2024-0117: read = litigation ", kRuleLength);
  std::unique_ptr<PathRedactor> plain_;
  std::unique_ptr<PathRedactor> hash_;
  std::shared_ptr<Delivered> delivered_ = std::make_shared<Delivered>();
  std::unique_ptr<AuditSink> sink_;
};

TEST_F(AuditFastPathTest, EmplaceTakesNoLockAndAllocatesNothingAfterWarmUp) {
  ASSERT_EQ(sink_->ring_slots(), AuditSink::kMaxRingSlots);
  WarmUp();
  constexpr uint64_t kEach = 200;  // per mode; both modes together stay below the ring size
  bool all_queued = true;
  const Counts plain = Count([&] {
    for (uint64_t i = 0; i < kEach; ++i) all_queued &= EmplaceOpen(*plain_, 0, i);
  });
  const Counts hashed = Count([&] {
    for (uint64_t i = kEach; i < 2 * kEach; ++i) all_queued &= EmplaceOpen(*hash_, 0, i);
  });
  EXPECT_TRUE(all_queued);
  EXPECT_EQ(plain.allocations, 0u);
  EXPECT_EQ(plain.locks, 0u);
  EXPECT_EQ(hashed.allocations, 0u);
  EXPECT_EQ(hashed.locks, 0u);

  ASSERT_TRUE(sink_->Close().ok());
  ExpectInOrder(0, 2 * kEach);
  std::lock_guard<std::mutex> lk(delivered_->mu);
  EXPECT_EQ(delivered_->plain_paths, kEach);
  EXPECT_EQ(delivered_->hashed_paths, 5 * (sink_->ring_slots() / 2) + kEach);
  EXPECT_EQ(delivered_->wrong_fields, 0u);
}

TEST_F(AuditFastPathTest, FourThreadsAtOnceTakeNoLockAndKeepTheirOrder) {
  WarmUp();
  constexpr int kThreads = 4;
  constexpr uint64_t kEach = 200;  // 4 x 200 stay below the ring size: nobody overflows
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<Counts> counts(kThreads);
  std::vector<int> queued(kThreads, 0);
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const PathRedactor& redactor = t % 2 == 0 ? *plain_ : *hash_;
      ready.fetch_add(1);
      while (!go.load()) std::this_thread::yield();
      counts[static_cast<size_t>(t)] = Count([&] {
        for (uint64_t i = 0; i < kEach; ++i) {
          queued[static_cast<size_t>(t)] += EmplaceOpen(redactor, t, i) ? 1 : 0;
        }
      });
    });
  }
  while (ready.load() < kThreads) std::this_thread::yield();
  go.store(true);
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    const Counts& c = counts[static_cast<size_t>(t)];
    EXPECT_EQ(queued[static_cast<size_t>(t)], static_cast<int>(kEach)) << "thread " << t;
    EXPECT_EQ(c.allocations, 0u) << "thread " << t;
    EXPECT_EQ(c.locks, 0u) << "thread " << t;
  }

  ASSERT_TRUE(sink_->Close().ok());
  for (int t = 0; t < kThreads; ++t) ExpectInOrder(t, kEach);
  std::lock_guard<std::mutex> lk(delivered_->mu);
  EXPECT_EQ(delivered_->wrong_fields, 0u);
  EXPECT_EQ(sink_->stats().written, delivered_->order.size());
}

}  // namespace
}  // namespace matterfs::audit
