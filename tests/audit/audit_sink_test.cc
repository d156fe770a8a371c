// The bounded queue: order, drop and strict modes when full, the later audit-dropped
// report, retries, bounded shutdown, and the syslog output against sockets that nobody
// reads, that vanish and that come back.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "audit/sink.h"
#include "audit/syslog_output.h"
#include "tests/audit/test_util.h"
#include "util/unique_fd.h"

namespace matterfs::audit {
namespace {

using namespace std::chrono_literals;
using testing::SampleEvent;
using testing::TempDir;

// Records what it is given. Can fail the next N writes, or hold every write until the
// test opens the gate. Shared with the test through a shared_ptr-owned state.
struct Recorded {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<AuditEvent> events;
  int fail_next = 0;
  Code fail_code = Code::kIo;
  bool gate_open = true;
  int writes_started = 0;
  int ticks = 0;
  bool closed = false;

  std::vector<AuditEvent> Snapshot() {
    std::lock_guard<std::mutex> lk(mu);
    return events;
  }
  void SetGate(bool open) {
    std::lock_guard<std::mutex> lk(mu);
    gate_open = open;
    cv.notify_all();
  }
  bool WaitWritesStarted(int n) {
    std::unique_lock<std::mutex> lk(mu);
    return cv.wait_for(lk, 5s, [&] { return writes_started >= n; });
  }
};

class RecordingOutput : public AuditOutput {
 public:
  explicit RecordingOutput(std::shared_ptr<Recorded> r) : r_(std::move(r)) {}
  Status Write(const AuditEvent& e) override {
    std::unique_lock<std::mutex> lk(r_->mu);
    ++r_->writes_started;
    r_->cv.notify_all();
    r_->cv.wait(lk, [&] { return r_->gate_open; });
    if (r_->fail_next > 0) {
      --r_->fail_next;
      return Error(r_->fail_code, "injected failure");
    }
    r_->events.push_back(e);
    return {};
  }
  Status Tick() override {
    std::lock_guard<std::mutex> lk(r_->mu);
    ++r_->ticks;
    return {};
  }
  Status Close() override {
    std::lock_guard<std::mutex> lk(r_->mu);
    r_->closed = true;
    return {};
  }
  std::string Name() const override { return "recorder"; }

 private:
  std::shared_ptr<Recorded> r_;
};

std::vector<std::unique_ptr<AuditOutput>> Outputs(const std::shared_ptr<Recorded>& r) {
  std::vector<std::unique_ptr<AuditOutput>> v;
  v.push_back(std::make_unique<RecordingOutput>(r));
  return v;
}

AuditEvent Numbered(int i) {
  AuditEvent e = SampleEvent();
  e.message = "event " + std::to_string(i);
  return e;
}

AuditSinkOptions Options(size_t capacity, QueueFullMode mode, bool paused) {
  AuditSinkOptions o;
  o.capacity = capacity;
  o.full_mode = mode;
  o.start_paused = paused;
  o.host = "testhost";
  o.retry_min = 1ms;
  o.retry_max = 5ms;
  o.clock = [] { return testing::SampleTime(); };
  return o;
}

TEST(AuditSinkTest, DeliversEveryEventInOrderAndFillsTimeAndHost) {
  auto rec = std::make_shared<Recorded>();
  AuditSink sink(Options(16, QueueFullMode::kDrop, false), Outputs(rec));
  for (int i = 0; i < 100; ++i) {
    AuditEvent e = Numbered(i);
    e.host.clear();
    e.time = AuditTime{};
    ASSERT_TRUE(sink.Submit(e));
    if (i % 10 == 9) {
      ASSERT_TRUE(sink.WaitIdle(5s));  // never let the small queue fill
    }
  }
  ASSERT_TRUE(sink.Close().ok());
  auto got = rec->Snapshot();
  ASSERT_EQ(got.size(), 100u);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(got[i].message, "event " + std::to_string(i));
    EXPECT_EQ(got[i].host, "testhost");
    EXPECT_EQ(got[i].time, testing::SampleTime());
  }
  auto st = sink.stats();
  EXPECT_EQ(st.submitted, 100u);
  EXPECT_EQ(st.written, 100u);
  EXPECT_EQ(st.dropped, 0u);
  EXPECT_TRUE(rec->closed);
}

TEST(AuditSinkTest, DropModeDropsCountsAndReportsLater) {
  auto rec = std::make_shared<Recorded>();
  AuditSink sink(Options(4, QueueFullMode::kDrop, /*paused=*/true), Outputs(rec));
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(sink.Submit(Numbered(i))) << i;  // never refuses
  auto st = sink.stats();
  EXPECT_EQ(st.submitted, 4u);
  EXPECT_EQ(st.dropped, 6u);
  EXPECT_EQ(st.queued, 4u);
  EXPECT_TRUE(rec->Snapshot().empty());  // paused: nothing written yet

  sink.Resume();
  ASSERT_TRUE(sink.WaitIdle(5s));
  auto got = rec->Snapshot();
  ASSERT_EQ(got.size(), 5u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(got[i].message, "event " + std::to_string(i));
  const AuditEvent& report = got[4];
  EXPECT_EQ(report.event, "audit-dropped");
  EXPECT_EQ(report.result, AuditResult::kError);
  EXPECT_EQ(report.severity, AuditSeverity::kAlert);
  ASSERT_TRUE(report.count.has_value());
  EXPECT_EQ(*report.count, 6u);
  EXPECT_EQ(report.host, "testhost");
  EXPECT_NE(report.message.find("6 audit events dropped"), std::string::npos);

  // Later events come after the report, and a later overflow starts a new count.
  EXPECT_TRUE(sink.Submit(Numbered(10)));
  ASSERT_TRUE(sink.Close().ok());
  got = rec->Snapshot();
  ASSERT_EQ(got.size(), 6u);
  EXPECT_EQ(got[5].message, "event 10");
  EXPECT_EQ(sink.stats().written, 6u);
}

TEST(AuditSinkTest, StrictModeRefusesWhenFullAndLosesNothingItAccepted) {
  auto rec = std::make_shared<Recorded>();
  AuditSink sink(Options(4, QueueFullMode::kStrict, /*paused=*/true), Outputs(rec));
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(sink.Submit(Numbered(i))) << i;
  EXPECT_FALSE(sink.Submit(Numbered(4)));  // the caller must now deny the access
  EXPECT_FALSE(sink.Submit(Numbered(5)));
  auto st = sink.stats();
  EXPECT_EQ(st.submitted, 4u);
  EXPECT_EQ(st.refused, 2u);
  EXPECT_EQ(st.dropped, 0u);

  sink.Resume();
  ASSERT_TRUE(sink.WaitIdle(5s));
  EXPECT_TRUE(sink.Submit(Numbered(6)));  // room again
  ASSERT_TRUE(sink.Close().ok());
  auto got = rec->Snapshot();
  ASSERT_EQ(got.size(), 6u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(got[i].message, "event " + std::to_string(i));
  EXPECT_EQ(got[4].event, "audit-dropped");
  EXPECT_EQ(got[4].count.value_or(0), 2u);
  EXPECT_NE(got[4].message.find("2 accesses refused"), std::string::npos);
  EXPECT_EQ(got[5].message, "event 6");
}

TEST(AuditSinkTest, ReportComesOnceTheBlockedWriterMakesRoom) {
  auto rec = std::make_shared<Recorded>();
  rec->gate_open = false;
  AuditSink sink(Options(2, QueueFullMode::kDrop, false), Outputs(rec));
  ASSERT_TRUE(sink.Submit(Numbered(0)));
  ASSERT_TRUE(rec->WaitWritesStarted(1));  // the writer holds event 0, blocked in Write
  ASSERT_TRUE(sink.Submit(Numbered(1)));
  ASSERT_TRUE(sink.Submit(Numbered(2)));  // queue (capacity 2) is full
  ASSERT_TRUE(sink.Submit(Numbered(3)));  // dropped
  ASSERT_TRUE(sink.Submit(Numbered(4)));  // dropped
  EXPECT_EQ(sink.stats().dropped, 2u);
  EXPECT_TRUE(rec->Snapshot().empty());
  rec->SetGate(true);
  ASSERT_TRUE(sink.WaitIdle(5s));
  auto got = rec->Snapshot();
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].message, "event 0");
  EXPECT_EQ(got[1].message, "event 1");
  EXPECT_EQ(got[2].message, "event 2");
  EXPECT_EQ(got[3].event, "audit-dropped");
  EXPECT_EQ(got[3].count.value_or(0), 2u);
}

TEST(AuditSinkTest, RetriesATransientFailureWithoutDuplicating) {
  auto rec = std::make_shared<Recorded>();
  rec->fail_next = 3;
  AuditSink sink(Options(8, QueueFullMode::kDrop, false), Outputs(rec));
  ASSERT_TRUE(sink.Submit(Numbered(0)));
  ASSERT_TRUE(sink.Submit(Numbered(1)));
  ASSERT_TRUE(sink.WaitIdle(5s));
  auto got = rec->Snapshot();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].message, "event 0");
  EXPECT_EQ(got[1].message, "event 1");
  auto st = sink.stats();
  EXPECT_EQ(st.write_errors, 3u);
  EXPECT_NE(st.last_error.find("injected failure"), std::string::npos);
}

TEST(AuditSinkTest, APermanentFailureSkipsOnlyThatEvent) {
  auto rec = std::make_shared<Recorded>();
  rec->fail_next = 1;
  rec->fail_code = Code::kInvalidArgument;
  AuditSink sink(Options(8, QueueFullMode::kDrop, false), Outputs(rec));
  ASSERT_TRUE(sink.Submit(Numbered(0)));
  ASSERT_TRUE(sink.Submit(Numbered(1)));
  ASSERT_TRUE(sink.WaitIdle(5s));
  auto got = rec->Snapshot();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].message, "event 1");
  EXPECT_EQ(sink.stats().write_errors, 1u);
}

TEST(AuditSinkTest, CloseFlushesTheQueue) {
  auto rec = std::make_shared<Recorded>();
  AuditSink sink(Options(1000, QueueFullMode::kStrict, /*paused=*/true), Outputs(rec));
  for (int i = 0; i < 500; ++i) ASSERT_TRUE(sink.Submit(Numbered(i)));
  ASSERT_TRUE(sink.Close().ok());  // resumes the paused writer and drains
  EXPECT_EQ(rec->Snapshot().size(), 500u);
  EXPECT_TRUE(rec->closed);
  EXPECT_FALSE(sink.Submit(Numbered(500)));  // closed
  EXPECT_EQ(sink.stats().lost, 1u);
}

// Batching: the writer, woken by a batch's first event, waits for more up to
// batch_delay. With a delay of an hour, only a full batch or Close can end the wait, so
// these pass only if both do (and fail, by timing out, if either did not).
TEST(AuditSinkTest, AFullBatchIsDeliveredWithoutWaitingForTheDelay) {
  auto rec = std::make_shared<Recorded>();
  AuditSinkOptions o = Options(100, QueueFullMode::kDrop, false);
  o.batch_delay = std::chrono::hours(1);
  o.batch_size = 8;
  AuditSink sink(o, Outputs(rec));
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(sink.Submit(Numbered(i)));
  ASSERT_TRUE(sink.WaitIdle(10s)) << "a full batch waited for the delay";
  EXPECT_EQ(rec->Snapshot().size(), 8u);
  // The next batch starts afresh: seven more stay gathered, the eighth sends them.
  for (int i = 8; i < 15; ++i) ASSERT_TRUE(sink.Submit(Numbered(i)));
  EXPECT_FALSE(sink.WaitIdle(200ms));
  ASSERT_TRUE(sink.Submit(Numbered(15)));
  ASSERT_TRUE(sink.WaitIdle(10s));
  auto got = rec->Snapshot();
  ASSERT_EQ(got.size(), 16u);
  for (int i = 0; i < 16; ++i) EXPECT_EQ(got[i].message, "event " + std::to_string(i));
}

TEST(AuditSinkTest, CloseDeliversABatchStillBeingGathered) {
  auto rec = std::make_shared<Recorded>();
  AuditSinkOptions o = Options(100, QueueFullMode::kDrop, false);
  o.batch_delay = std::chrono::hours(1);
  o.batch_size = 64;
  AuditSink sink(o, Outputs(rec));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(sink.Submit(Numbered(i)));
  ASSERT_TRUE(sink.Close().ok());
  EXPECT_EQ(rec->Snapshot().size(), 3u);
  EXPECT_EQ(sink.stats().written, 3u);
  EXPECT_EQ(sink.stats().lost, 0u);
}

TEST(AuditSinkTest, CloseGivesUpAfterTheTimeoutAndCountsTheLoss) {
  auto rec = std::make_shared<Recorded>();
  rec->fail_next = 1 << 30;  // the output never recovers
  AuditSinkOptions o = Options(100, QueueFullMode::kDrop, false);
  o.shutdown_timeout = 200ms;
  AuditSink sink(o, Outputs(rec));
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(sink.Submit(Numbered(i)));
  const auto start = std::chrono::steady_clock::now();
  Status st = sink.Close();
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, 3s);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("10 audit events lost"), std::string::npos)
      << st.error().message();
  EXPECT_EQ(sink.stats().lost, 10u);
  EXPECT_TRUE(rec->closed);
}

TEST(AuditSinkTest, ManyThreadsSubmitSafely) {
  auto rec = std::make_shared<Recorded>();
  AuditSink sink(Options(100000, QueueFullMode::kStrict, false), Outputs(rec));
  constexpr int kThreads = 8;
  constexpr int kEach = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        AuditEvent e = SampleEvent();
        e.pid = t;
        e.count = static_cast<uint64_t>(i);
        ASSERT_TRUE(sink.Submit(std::move(e)));
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE(sink.Close().ok());
  auto got = rec->Snapshot();
  ASSERT_EQ(got.size(), static_cast<size_t>(kThreads * kEach));
  std::vector<uint64_t> next(kThreads, 0);
  for (const auto& e : got) {  // each thread's events stay in its order
    const auto t = static_cast<size_t>(*e.pid);
    EXPECT_EQ(*e.count, next[t]);
    next[t] = *e.count + 1;
  }
}

// Emplace fills a slot in place. Each fill must find every field at its default, even in
// a slot that has carried events with every field set (a capacity of 2: two slots).
TEST(AuditSinkTest, EmplaceGetsAResetEventAndFillsTimeAndHost) {
  auto rec = std::make_shared<Recorded>();
  AuditSink sink(Options(2, QueueFullMode::kDrop, false), Outputs(rec));
  ASSERT_EQ(sink.ring_slots(), 2u);
  int not_reset = 0;
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(sink.Emplace([&](AuditEvent& e) {
      const AuditEvent fresh;
      if (e.time != fresh.time || !e.host.empty() || !e.event.empty() || e.result != fresh.result ||
          e.severity != fresh.severity || !e.user.empty() || e.uid.has_value() ||
          e.pid.has_value() || !e.process.empty() || !e.matter.empty() || !e.path.empty() ||
          !e.path_hash.empty() || !e.access.empty() || !e.rule.empty() || e.count.has_value() ||
          !e.message.empty()) {
        ++not_reset;
      }
      e = SampleEvent();
      e.path_hash = std::string(32, 'a');
      e.count = 7;
      e.message = "event " + std::to_string(i);
      if (i % 2 == 1) {  // left for the sink to fill in
        e.time = AuditTime{};
        e.host.clear();
      }
    }));
    ASSERT_TRUE(sink.WaitIdle(5s));
  }
  EXPECT_EQ(not_reset, 0);
  ASSERT_TRUE(sink.Close().ok());
  auto got = rec->Snapshot();
  ASSERT_EQ(got.size(), 8u);
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(got[i].message, "event " + std::to_string(i));
    EXPECT_EQ(got[i].host, i % 2 == 1 ? "testhost" : "files1");
    EXPECT_EQ(got[i].time, testing::SampleTime());
    EXPECT_EQ(got[i].rule, SampleEvent().rule);
  }
}

// A fill that throws queues nothing and the exception reaches the caller, whether the
// event was going into the ring or into the overflow list behind it.
TEST(AuditSinkTest, AFillThatThrowsQueuesNothing) {
  auto rec = std::make_shared<Recorded>();
  const size_t capacity = AuditSink::kMaxRingSlots + 8;
  AuditSink sink(Options(capacity, QueueFullMode::kStrict, /*paused=*/true), Outputs(rec));
  auto fill_and_throw = [](AuditEvent& e) {
    e = SampleEvent();
    throw std::runtime_error("fill failed");
  };
  EXPECT_THROW(sink.Emplace(fill_and_throw), std::runtime_error);  // a ring slot
  ASSERT_TRUE(sink.Submit(Numbered(0)));
  for (size_t i = 1; i < AuditSink::kMaxRingSlots; ++i) {
    ASSERT_TRUE(sink.Submit(Numbered(static_cast<int>(i))));
  }
  // The ring is full (the failed slot holds one place until the writer skips it).
  EXPECT_THROW(sink.Emplace(fill_and_throw), std::runtime_error);  // the overflow list
  ASSERT_TRUE(sink.Submit(Numbered(static_cast<int>(AuditSink::kMaxRingSlots))));
  EXPECT_EQ(sink.stats().submitted, AuditSink::kMaxRingSlots + 1);
  sink.Resume();
  ASSERT_TRUE(sink.Close().ok());
  auto got = rec->Snapshot();
  ASSERT_EQ(got.size(), AuditSink::kMaxRingSlots + 1);
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].message, "event " + std::to_string(i));
  }
  EXPECT_EQ(sink.stats().written, AuditSink::kMaxRingSlots + 1);
  EXPECT_EQ(sink.stats().lost, 0u);
}

// A queue larger than the ring holds `capacity` events (the rest after the ring's in an
// overflow list) and delivers them in order, the report of the drops last.
TEST(AuditSinkTest, AQueueLargerThanTheRingKeepsItsCapacityAndOrder) {
  auto rec = std::make_shared<Recorded>();
  const size_t capacity = AuditSink::kMaxRingSlots + 300;
  AuditSink sink(Options(capacity, QueueFullMode::kDrop, /*paused=*/true), Outputs(rec));
  EXPECT_EQ(sink.ring_slots(), AuditSink::kMaxRingSlots);
  const int total = static_cast<int>(capacity) + 50;
  for (int i = 0; i < total; ++i) ASSERT_TRUE(sink.Submit(Numbered(i)));
  auto st = sink.stats();
  EXPECT_EQ(st.submitted, capacity);
  EXPECT_EQ(st.queued, capacity);
  EXPECT_EQ(st.dropped, 50u);
  sink.Resume();
  ASSERT_TRUE(sink.WaitIdle(10s));
  ASSERT_TRUE(sink.Submit(Numbered(total)));
  ASSERT_TRUE(sink.Close().ok());
  auto got = rec->Snapshot();
  ASSERT_EQ(got.size(), capacity + 2);
  for (size_t i = 0; i < capacity; ++i) {
    EXPECT_EQ(got[i].message, "event " + std::to_string(i));
  }
  EXPECT_EQ(got[capacity].event, "audit-dropped");
  EXPECT_EQ(got[capacity].count.value_or(0), 50u);
  EXPECT_EQ(got[capacity + 1].message, "event " + std::to_string(total));
}

// Threads that fill a queue larger than the ring faster than the writer empties it: the
// events go to the ring, to the overflow list and are dropped, in any interleaving. Each
// thread's delivered events stay in its order, and the reports account for every drop.
TEST(AuditSinkTest, ThreadsOverflowingTheRingKeepTheirOrderAndEveryDropIsReported) {
  auto rec = std::make_shared<Recorded>();
  AuditSink sink(Options(AuditSink::kMaxRingSlots + 100, QueueFullMode::kDrop, false),
                 Outputs(rec));
  constexpr int kThreads = 6;
  constexpr uint64_t kEach = 5000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (uint64_t i = 0; i < kEach; ++i) {
        ASSERT_TRUE(sink.Emplace([&](AuditEvent& e) {
          e.event = audit_events::kOpen;
          e.pid = t;
          e.count = i;
        }));
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE(sink.Close().ok());
  const auto st = sink.stats();
  auto got = rec->Snapshot();
  std::vector<int64_t> last(kThreads, -1);
  uint64_t events = 0;
  uint64_t reported = 0;
  for (const auto& e : got) {
    if (e.event == "audit-dropped") {
      reported += e.count.value_or(0);
      continue;
    }
    ++events;
    const auto t = static_cast<size_t>(*e.pid);
    EXPECT_GT(static_cast<int64_t>(*e.count), last[t]) << "thread " << t;
    last[t] = static_cast<int64_t>(*e.count);
  }
  EXPECT_EQ(events + st.dropped, kThreads * kEach);
  EXPECT_EQ(reported, st.dropped);
  EXPECT_EQ(st.written, got.size());
  EXPECT_EQ(st.submitted, events);
  EXPECT_EQ(st.lost, 0u);
}

// Submits that race with Close: each one is delivered, dropped (full queue) or refused
// as closed, in which case it returns false and is counted lost; none vanishes.
TEST(AuditSinkTest, SubmitRacingWithCloseIsDeliveredOrCountedLost) {
  auto rec = std::make_shared<Recorded>();
  AuditSinkOptions o = Options(64, QueueFullMode::kDrop, false);
  o.shutdown_timeout = std::chrono::hours(1);  // drained in full: nothing lost to time
  AuditSink sink(o, Outputs(rec));
  constexpr int kThreads = 4;
  std::vector<uint64_t> accepted(kThreads, 0);
  std::atomic<int> started{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      started.fetch_add(1);
      for (uint64_t i = 0;; ++i) {
        AuditEvent e = SampleEvent();
        e.pid = t;
        e.count = i;
        if (!sink.Submit(std::move(e))) return;  // closed
        ++accepted[static_cast<size_t>(t)];
      }
    });
  }
  while (started.load() < kThreads) std::this_thread::yield();
  // Not ok() when a thread's refused Submit is counted before Close reads the count.
  (void)sink.Close();
  for (auto& th : threads) th.join();
  const auto st = sink.stats();
  uint64_t total_accepted = 0;
  for (uint64_t a : accepted) total_accepted += a;
  auto got = rec->Snapshot();
  uint64_t events = 0;
  uint64_t reported = 0;
  for (const auto& e : got) {
    if (e.event == "audit-dropped") {
      reported += e.count.value_or(0);
    } else {
      ++events;
    }
  }
  EXPECT_EQ(st.lost, static_cast<uint64_t>(kThreads));  // the one false of each thread
  EXPECT_EQ(events + st.dropped, total_accepted);
  EXPECT_EQ(st.submitted, events);
  EXPECT_EQ(st.written, got.size());
  EXPECT_EQ(reported, st.dropped);  // the writer reports them before it stops
}

TEST(AuditSinkTest, TicksKeepComingUnderSteadyTraffic) {
  auto rec = std::make_shared<Recorded>();
  AuditSinkOptions o = Options(64, QueueFullMode::kDrop, false);
  o.tick_interval = 20ms;
  AuditSink sink(o, Outputs(rec));
  // An event every 5 ms never leaves the writer waiting a whole tick interval.
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(sink.Submit(Numbered(i)));
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_TRUE(sink.Close().ok());
  std::lock_guard<std::mutex> lk(rec->mu);
  EXPECT_GE(rec->ticks, 3);
  EXPECT_EQ(rec->events.size(), 40u);
}

TEST(AuditSinkTest, NoTicksWhilePaused) {
  auto rec = std::make_shared<Recorded>();
  AuditSinkOptions o = Options(64, QueueFullMode::kDrop, true);
  o.tick_interval = 5ms;
  AuditSink sink(o, Outputs(rec));
  timespec cpu0{}, cpu1{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu0);
  std::this_thread::sleep_for(100ms);
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu1);
  {
    std::lock_guard<std::mutex> lk(rec->mu);
    EXPECT_EQ(rec->ticks, 0);
  }
  // A paused writer sleeps; it must not spin waiting for its next tick.
  const int64_t cpu_ns =
      (int64_t{cpu1.tv_sec} - cpu0.tv_sec) * 1000000000 + (int64_t{cpu1.tv_nsec} - cpu0.tv_nsec);
  EXPECT_LT(cpu_ns, 50000000) << "CPU time while paused";
  ASSERT_TRUE(sink.Close().ok());
}

// ---- SyslogOutput against real unix datagram sockets ----

UniqueFd BindDgram(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  path.copy(addr.sun_path, sizeof addr.sun_path - 1);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    ADD_FAILURE() << "bind " << path << ": "
                  << std::error_code(errno, std::generic_category()).message();
  }
  return fd;
}

// Receives one datagram, waiting at most `timeout`.
std::optional<std::string> Receive(int fd, std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char buf[65536];
  const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  if (n < 0) return std::nullopt;
  return std::string(buf, static_cast<size_t>(n));
}

// Fills the receiver's queue (net.unix.max_dgram_qlen datagrams) from another socket, as
// a syslog daemon that has stopped reading would leave it. Returns how many it sent.
int FillSocket(const std::string& path) {
  UniqueFd tx(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  path.copy(addr.sun_path, sizeof addr.sun_path - 1);
  if (::connect(tx.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) return -1;
  int n = 0;
  while (n < 100000 && ::send(tx.get(), "filler", 6, MSG_DONTWAIT) == 6) ++n;
  return errno == EAGAIN ? n : -1;
}

std::unique_ptr<AuditOutput> Syslog(const std::string& path) {
  SyslogOutputOptions o;
  o.socket_path = path;
  o.header.procid = 99;
  auto out = SyslogOutput::Make(o);
  EXPECT_TRUE(out.ok());
  return std::move(out).value();
}

TEST(SyslogOutputTest, SendsOneRfc5424DatagramPerEvent) {
  TempDir dir;
  const std::string path = dir.File("log.sock");
  UniqueFd rx = BindDgram(path);
  auto out = Syslog(path);
  ASSERT_TRUE(out->Write(SampleEvent()).ok());
  auto got = Receive(rx.get(), 2000ms);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got,
            FormatRfc5424(SampleEvent(), SyslogHeader{SyslogFacility::kAuthpriv, "matterfs", 99}));
}

TEST(SyslogOutputTest, RejectsAPathTooLongForASocket) {
  SyslogOutputOptions o;
  o.socket_path = "/" + std::string(200, 'x');
  auto out = SyslogOutput::Make(o);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().code(), Code::kInvalidArgument);
}

TEST(SyslogOutputTest, ReconnectsWhenTheDaemonRestarts) {
  TempDir dir;
  const std::string path = dir.File("log.sock");
  auto out = Syslog(path);
  // No socket yet: a transient error.
  Status st = out->Write(SampleEvent("first"));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), Code::kIo);
  {
    UniqueFd rx = BindDgram(path);
    ASSERT_TRUE(out->Write(SampleEvent("second")).ok());
    auto got = Receive(rx.get(), 2000ms);
    ASSERT_TRUE(got.has_value());
    EXPECT_NE(got->find("user=\"second\""), std::string::npos);
  }
  // The daemon went away and a new one bound the same path.
  ASSERT_EQ(::unlink(path.c_str()), 0);
  UniqueFd rx2 = BindDgram(path);
  ASSERT_TRUE(out->Write(SampleEvent("third")).ok());
  auto got = Receive(rx2.get(), 2000ms);
  ASSERT_TRUE(got.has_value());
  EXPECT_NE(got->find("user=\"third\""), std::string::npos);
}

TEST(SyslogOutputTest, SinkWaitsForASocketThatAppearsLater) {
  TempDir dir;
  const std::string path = dir.File("log.sock");
  std::vector<std::unique_ptr<AuditOutput>> outs;
  outs.push_back(Syslog(path));
  AuditSink sink(Options(16, QueueFullMode::kDrop, false), std::move(outs));
  ASSERT_TRUE(sink.Submit(SampleEvent("early")));
  std::this_thread::sleep_for(50ms);  // a few failed attempts
  UniqueFd rx = BindDgram(path);
  auto got = Receive(rx.get(), 5000ms);
  ASSERT_TRUE(got.has_value());
  EXPECT_NE(got->find("user=\"early\""), std::string::npos);
  EXPECT_GT(sink.stats().write_errors, 0u);
}

// A socket nobody reads: the kernel queue fills (net.unix.max_dgram_qlen datagrams), the
// writer's sends fail with EAGAIN, the sink's queue fills and further events are dropped
// (or refused) without Submit ever blocking. Once somebody reads, everything accepted
// arrives, followed by the count of what was lost.
TEST(SyslogOutputTest, UnreadSocketFillsTheQueueThenDrainsWithAReport) {
  TempDir dir;
  const std::string path = dir.File("log.sock");
  UniqueFd rx = BindDgram(path);
  std::vector<std::unique_ptr<AuditOutput>> outs;
  outs.push_back(Syslog(path));
  const int filler = FillSocket(path);
  ASSERT_GT(filler, 0);
  AuditSink sink(Options(8, QueueFullMode::kDrop, false), std::move(outs));
  constexpr int kEvents = 2000;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kEvents; ++i) ASSERT_TRUE(sink.Submit(Numbered(i)));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s) << "Submit must not block";
  const auto st = sink.stats();
  EXPECT_GE(st.dropped, static_cast<uint64_t>(kEvents - 9));  // queue of 8 and one in flight
  EXPECT_EQ(st.submitted + st.dropped, static_cast<uint64_t>(kEvents));

  // Now read: every accepted event, in order, and audit-dropped reports whose counts add
  // up to what was dropped (the last one after the socket was unblocked).
  std::vector<std::string> events;
  uint64_t reported = 0;
  size_t reports = 0;
  bool last_was_report = false;
  while (reported < st.dropped || events.size() < st.submitted) {
    auto m = Receive(rx.get(), 3000ms);
    ASSERT_TRUE(m.has_value()) << "after " << events.size() << " events, " << reported
                               << " reported drops";
    if (*m == "filler") continue;
    last_was_report = m->find(" audit-dropped ") != std::string::npos;
    if (!last_was_report) {
      events.push_back(*m);
      continue;
    }
    ++reports;
    EXPECT_EQ(m->rfind("<81>1 ", 0), 0u) << "authpriv.alert: " << *m;
    const size_t at = m->find("count=\"");
    ASSERT_NE(at, std::string::npos) << *m;
    reported += std::stoull(m->substr(at + 7));
  }
  EXPECT_EQ(reported, st.dropped);
  EXPECT_EQ(events.size(), st.submitted);
  // One report per stretch of drops: usually one, two if the writer took its first event
  // while the loop above was already dropping (a slow thread start).
  EXPECT_GE(reports, 1u);
  EXPECT_LE(reports, 2u);
  EXPECT_FALSE(Receive(rx.get(), 100ms).has_value()) << "nothing more";
  int last = -1;
  for (const auto& ev : events) {
    const size_t at = ev.find(": event ");
    ASSERT_NE(at, std::string::npos);
    const int n = std::stoi(ev.substr(at + 8));
    EXPECT_GT(n, last);
    last = n;
  }
  ASSERT_TRUE(sink.Close().ok());
}

TEST(SyslogOutputTest, UnreadSocketInStrictModeRefuses) {
  TempDir dir;
  const std::string path = dir.File("log.sock");
  UniqueFd rx = BindDgram(path);
  std::vector<std::unique_ptr<AuditOutput>> outs;
  outs.push_back(Syslog(path));
  ASSERT_GT(FillSocket(path), 0);
  AuditSinkOptions o = Options(8, QueueFullMode::kStrict, false);
  o.shutdown_timeout = 100ms;
  AuditSink sink(o, std::move(outs));
  int refused = 0;
  for (int i = 0; i < 2000; ++i) refused += sink.Submit(Numbered(i)) ? 0 : 1;
  EXPECT_GE(refused, 2000 - 9);  // queue of 8 and one in flight
  EXPECT_EQ(sink.stats().refused, static_cast<uint64_t>(refused));
  EXPECT_EQ(sink.stats().dropped, 0u);
  Status st = sink.Close();  // nobody reads: the rest is lost after the timeout
  EXPECT_FALSE(st.ok());
}

}  // namespace
}  // namespace matterfs::audit
