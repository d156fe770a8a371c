// AuditSink: the bounded queue between the threads that make audit events (FUSE
// threads, the control socket) and the outputs that store them (syslog, the local log).
//
//   FUSE thread --Emplace()/Submit()--> [ ring | overflow, capacity N ] --writer--> outputs
//
// Submit() and Emplace() never block on I/O. In the common case they take no lock and
// allocate nothing (see "Locking" below). When the queue is full they do what
// QueueFullMode says:
//   kDrop    the event is dropped and counted; Submit returns true. Once the writer has
//            made room it queues one "audit-dropped" event (severity alert) whose count
//            is the number lost since the last such report.
//   kStrict  Submit returns false and queues nothing; the caller must then refuse the
//            access it was about to allow, so no access goes unrecorded. The writer
//            later reports how many were refused in an "audit-dropped" event too.
//
// The writer delivers each event to every output, in order: events submitted by one
// thread are delivered in the order that thread submitted them (events of different
// threads that race are delivered in some order). An output that fails (syslog
// restarting, a full disk) is retried with a growing pause (retry_min up to retry_max)
// until it succeeds, so a stalled output holds the queue back rather than silently
// skipping events; the queue then fills and the full-queue rule applies. An output's
// kInvalidArgument error is permanent for that event (e.g. a message too big for the
// socket): it is counted in write_errors and not retried.
//
// Close() (also run by the destructor) stops accepting events, lets the writer drain
// the queue for at most shutdown_timeout, counts whatever is left as lost, then closes
// the outputs (the local log writes its final checkpoint). Outputs must not block
// indefinitely in Write(), or Close() waits for them. A Submit that races with Close is
// either queued (and then delivered, or counted lost if the drain times out, as any
// queued event) or refused: it returns false and is counted lost. None vanishes.
//
// Locking. The queue is a ring of min(capacity, kMaxRingSlots) preallocated events
// (a bounded multi-producer, single-consumer queue with a sequence number per slot)
// followed by an overflow list for the rest of the capacity:
//   - fast path (Submit, Emplace): claim a ring slot with one compare-and-swap, fill the
//     event in place, publish it, and wake the writer with a futex only if it sleeps. No
//     mutex; no allocation once the slots' strings have grown to the events' sizes (the
//     writer swaps each event out for one of its own, so the capacity stays in the ring;
//     it frees strings that grew beyond kKeepCapacity so that one long path does not
//     stay resident).
//   - slow path, under mu_: the ring is full (the event goes to the overflow list,
//     which allocates, or is dropped/refused when the whole capacity is used), events
//     are in the overflow list or losses are not yet reported (then every producer goes
//     to the overflow list, behind them, which keeps each thread's order: the writer
//     takes from the overflow list only when the ring is empty), or the sink is closing.
// mu_ also guards the counters other than `written`, the state flags and the output
// changes; it is held only for O(1) work and never across an output call. The outputs
// are touched by the writer thread only (and by Close after the writer has stopped), so
// they need no lock of their own. Resume, WaitIdle, stats, Reconfigure and Close may be
// called from any thread and take mu_.
// Fork: create the sink after daemonizing; a thread does not survive fork().
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "audit/event.h"
#include "util/result.h"

namespace matterfs::audit {

// Somewhere events are stored. Called only from the sink's writer thread.
class AuditOutput {
 public:
  virtual ~AuditOutput() = default;
  // Stores one event. Any error but kInvalidArgument means "try again later".
  virtual Status Write(const AuditEvent& event) = 0;
  // Called about once per AuditSinkOptions::tick_interval, between events, for time-based
  // work (the local log signs records that have waited). Errors are counted, not retried.
  virtual Status Tick() { return {}; }
  // Flushes and releases; called once, after the last Write.
  virtual Status Close() { return {}; }
  // For messages: "syslog /dev/log", "audit log /var/log/matterfs/audit.jsonl".
  virtual std::string Name() const = 0;
};

enum class QueueFullMode { kDrop, kStrict };
// "drop" or "strict"; kInvalidArgument otherwise.
Result<QueueFullMode> ParseQueueFullMode(std::string_view name);

struct AuditSinkOptions {
  size_t capacity = 4096;  // events; at least 2 (one slot for the audit-dropped report)
  QueueFullMode full_mode = QueueFullMode::kDrop;
  // Filled into events that have no host; empty means gethostname() at construction.
  std::string host;
  std::chrono::milliseconds shutdown_timeout{5000};
  std::chrono::milliseconds tick_interval{1000};  // how often outputs' Tick() runs
  std::chrono::milliseconds retry_min{10};
  std::chrono::milliseconds retry_max{1000};
  // Batching: once woken by an event, the writer waits up to this long for more (or for
  // batch_size of them) before it delivers, so that a burst of events (an unpacked
  // archive logs several per file) costs one writer wake-up per batch instead of one per
  // event. Submit wakes the writer only for the first event of a batch. 0: no waiting.
  std::chrono::microseconds batch_delay{2000};
  size_t batch_size = 64;
  // Test hook (also usable to queue events before the outputs are ready): the writer
  // takes nothing from the queue until Resume(). Close() resumes it.
  bool start_paused = false;
  // The clock for events without a time and for audit-dropped reports (tests fix it).
  std::function<AuditTime()> clock;
};

struct AuditSinkStats {
  uint64_t submitted = 0;     // accepted into the queue
  uint64_t written = 0;       // delivered to every output (audit-dropped reports included)
  uint64_t dropped = 0;       // kDrop: discarded because the queue was full
  uint64_t refused = 0;       // kStrict: Submit returned false because the queue was full
  uint64_t lost = 0;          // submitted after Close, or still queued when it timed out
  uint64_t write_errors = 0;  // failed output calls (each retry counts)
  size_t queued = 0;          // in the queue now
  std::string last_error;     // the most recent output error, for status displays
};

class AuditSink {
 public:
  // The ring in front of the overflow list holds min(capacity, kMaxRingSlots) events, so
  // that the preallocated events of a large queue stay under 1 MB (384 bytes a slot on
  // x86-64, plus the buffers its strings grow to: about 740 KiB for typical open events).
  static constexpr size_t kMaxRingSlots = 1024;
  // A string of a delivered event that grew beyond this many bytes is freed rather than
  // kept for the next event in its slot.
  static constexpr size_t kKeepCapacity = 512;

  // Starts the writer thread (std::system_error if it cannot). capacity < 2 is raised to 2.
  AuditSink(AuditSinkOptions options, std::vector<std::unique_ptr<AuditOutput>> outputs);
  ~AuditSink();
  AuditSink(const AuditSink&) = delete;
  AuditSink& operator=(const AuditSink&) = delete;

  // Queues `event`, filling in time and host if unset. Never blocks on I/O. Returns false
  // only in kStrict mode when the queue is full, and after Close().
  bool Submit(AuditEvent event);

  // Fills an event in place in a queue slot and queues it. `fill(AuditEvent&)` receives a
  // reset event (every field empty or default; strings cleared but keeping their capacity)
  // and sets the fields; the sink then fills in time and host if unset, as Submit does.
  // Same return value and full-queue and closed behaviour as Submit. Takes no mutex and,
  // once the slots' strings have grown to the events' sizes, allocates nothing, unless the
  // ring is full or the queue is in one of the slow cases above. `fill` runs on the
  // calling thread, must not call this sink, and should be quick (the writer waits for
  // the slot); if it throws, nothing is queued and the exception propagates.
  template <typename Fill>
  bool Emplace(Fill&& fill) {
    using F = std::remove_reference_t<Fill>;
    return EmplaceWith([](void* context, AuditEvent& event) { (*static_cast<F*>(context))(event); },
                       const_cast<void*>(static_cast<const void*>(std::addressof(fill))));
  }

  // Lets a sink made with start_paused start writing.
  void Resume();

  // Waits until the queue is empty and the writer is not delivering an event. False if
  // `timeout` passed first. For tests and for "flush before reporting status".
  bool WaitIdle(std::chrono::milliseconds timeout);

  // Drains (bounded by shutdown_timeout), stops the writer, closes the outputs.
  // Idempotent. kIo naming the outputs that failed to close or the events lost.
  Status Close();

  AuditSinkStats stats() const;
  QueueFullMode full_mode() const { return full_mode_.load(); }
  // Changes what a full queue does from now on (a policy reload).
  void SetFullMode(QueueFullMode mode) { full_mode_ = mode; }
  // The number of preallocated ring slots: min(capacity, kMaxRingSlots).
  size_t ring_slots() const { return ring_size_; }

  // A change to the outputs (add, remove, reconfigure one), applied by the writer thread
  // before it delivers the next event, so that no output is touched by two threads.
  // Returns at once; changes run in the order given.
  using OutputChange = std::function<void(std::vector<std::unique_ptr<AuditOutput>>&)>;
  void Reconfigure(OutputChange change);

 private:
  using FillFunction = void (*)(void* context, AuditEvent& event);
  // One ring slot. `seq` says whose turn it is (Vyukov's bounded MPMC queue): equal to the
  // position p when free for the producer of p, p + 1 once that producer has published,
  // p + ring size once the writer has taken the event out.
  struct alignas(64) Slot {  // whole cache lines (384 bytes on x86-64), none shared
    std::atomic<uint64_t> seq{0};
    bool skip = false;  // the fill threw: nothing to deliver (written before publishing)
    AuditEvent event;
  };
  // The top bit of tail_: set by Close, so that no ring slot is claimed after it.
  static constexpr uint64_t kClosedBit = uint64_t{1} << 63;
  static constexpr uint64_t kNoWake = UINT64_MAX;  // wake_at_ while the writer is awake
  static constexpr uint64_t kAnyPosition = kNoWake - 1;

  bool EmplaceWith(FillFunction fill, void* context);
  // The slow path of EmplaceWith, under mu_.
  bool EmplaceSlow(FillFunction fill, void* context);
  // Runs the fill, then fills time and host.
  void FillEvent(FillFunction fill, void* context, AuditEvent& event) const;
  void Run();
  // Delivers one event to every output; false if shutdown's deadline passed first.
  bool Deliver(const AuditEvent& event);
  AuditEvent MakeDroppedReport(uint64_t dropped, uint64_t refused) const;
  AuditTime Now() const;

  // Ring slots claimed and not yet taken by the writer (filled or being filled).
  uint64_t RingQueued() const;
  // RingQueued() plus the overflow list.
  uint64_t Queued() const;
  bool PastDeadline() const;
  // Recomputes producers_slow_, attention_ and overflow_size_; caller holds mu_.
  void UpdateFlagsLocked();
  // Queues the audit-dropped report if losses are pending and there is room; mu_ held.
  void QueueReportLocked();
  // Writer: sleeps until `ready()`, until `until`, or until woken. A producer that
  // publishes position `wake_at` or later wakes it; slow-path changes always do.
  template <typename Ready>
  void WaitForWork(uint64_t wake_at, std::chrono::steady_clock::time_point until, Ready ready);
  // Wakes the writer unconditionally (slow paths: Resume, Reconfigure, Close).
  void WakeWriter();
  // Wakes the writer if it sleeps waiting for position `pos` or earlier (the fast path;
  // kAnyPosition: if it sleeps at all).
  void WakeWriterFor(uint64_t pos);
  // Writer: lets WaitIdle callers re-check (takes mu_, so that none misses the change).
  void NotifyIdle();

  const AuditSinkOptions options_;
  const size_t ring_size_;
  std::atomic<QueueFullMode> full_mode_;
  std::vector<std::unique_ptr<AuditOutput>> outputs_;  // writer thread only (see above)

  // ---- The ring (lock-free) ----
  std::unique_ptr<Slot[]> slots_;
  alignas(64) std::atomic<uint64_t> tail_{0};  // next position to claim, | kClosedBit
  alignas(64) std::atomic<uint64_t> head_{0};  // next position to take; set by the writer
  std::atomic<bool> in_flight_{false};         // the writer holds an event it took
  std::atomic<uint64_t> written_{0};           // stats().written; writer only
  std::atomic<uint64_t> skipped_{0};           // claimed slots whose fill threw
  // Read by every producer, written under mu_ (UpdateFlagsLocked).
  alignas(64) std::atomic<bool> producers_slow_{false};  // take the slow path
  std::atomic<bool> attention_{false};  // the writer must look at the state under mu_
  std::atomic<size_t> overflow_size_{0};
  std::atomic<bool> paused_;
  std::atomic<bool> closing_{false};  // no more events; set once, under mu_
  // The writer's sleep: it waits on the futex word wake_epoch_ after publishing in
  // wake_at_ the first ring position whose producer must wake it (kNoWake when awake).
  alignas(64) std::atomic<uint64_t> wake_at_{kNoWake};
  std::atomic<uint32_t> wake_epoch_{0};
  // Writer only: the event being delivered, swapped with a slot's. Off the line above,
  // which every producer reads.
  alignas(64) AuditEvent current_;

  // ---- The slow path ----
  mutable std::mutex mu_;
  std::condition_variable idle_cv_;  // WaitIdle and Close wait: queue drained, writer done
  std::deque<AuditEvent> overflow_;  // guarded by mu_: after the ring, in order
  bool writer_done_ = false;         // guarded by mu_
  std::chrono::steady_clock::time_point deadline_;  // written by Close before closing_
  uint64_t pending_dropped_ = 0;                    // guarded by mu_: not yet reported
  uint64_t pending_refused_ = 0;                    // guarded by mu_: not yet reported
  std::vector<OutputChange> pending_changes_;       // guarded by mu_: for the writer
  // Guarded by mu_. submitted counts the overflow list only (the ring's count is tail_);
  // written is written_; queued is computed on read.
  AuditSinkStats stats_;

  std::mutex close_mu_;  // serialises Close(); taken before mu_, never inside it
  bool closed_ = false;  // guarded by close_mu_
  Status close_status_;  // guarded by close_mu_
  std::thread writer_;
};

}  // namespace matterfs::audit
