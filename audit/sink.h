// AuditSink: the bounded queue between the threads that make audit events (FUSE
// threads, the control socket) and the outputs that store them (syslog, the local log).
//
//   FUSE thread --Submit()--> [ queue, capacity N ] --writer thread--> output 1, 2, ...
//
// Submit() never blocks on I/O: it takes one mutex for a push and returns. When the
// queue is full it does what QueueFullMode says:
//   kDrop    the event is dropped and counted; Submit returns true. Once the writer has
//            made room it queues one "audit-dropped" event (severity alert) whose count
//            is the number lost since the last such report.
//   kStrict  Submit returns false and queues nothing; the caller must then refuse the
//            access it was about to allow, so no access goes unrecorded. The writer
//            later reports how many were refused in an "audit-dropped" event too.
//
// The writer delivers each event to every output, in order. An output that fails
// (syslog restarting, a full disk) is retried with a growing pause (retry_min up to
// retry_max) until it succeeds, so a stalled output holds the queue back rather than
// silently skipping events; the queue then fills and the full-queue rule applies. An
// output's kInvalidArgument error is permanent for that event (e.g. a message too big
// for the socket): it is counted in write_errors and not retried.
//
// Close() (also run by the destructor) stops accepting events, lets the writer drain
// the queue for at most shutdown_timeout, counts whatever is left as lost, then closes
// the outputs (the local log writes its final checkpoint). Outputs must not block
// indefinitely in Write(), or Close() waits for them.
//
// Thread-safety and locking: Submit, Resume, WaitIdle, stats and Close may be called
// from any thread. One mutex (mu_) guards the queue, the counters and the state flags;
// it is held only for O(1) work and never across an output call, so Submit waits at
// most for another thread's push or pop. The outputs are touched by the writer thread
// only (and by Close after the writer has stopped), so they need no lock of their own.
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
  // Starts the writer thread (std::system_error if it cannot). capacity < 2 is raised to 2.
  AuditSink(AuditSinkOptions options, std::vector<std::unique_ptr<AuditOutput>> outputs);
  ~AuditSink();
  AuditSink(const AuditSink&) = delete;
  AuditSink& operator=(const AuditSink&) = delete;

  // Queues `event`, filling in time and host if unset. Never blocks on I/O. Returns false
  // only in kStrict mode when the queue is full, and after Close().
  bool Submit(AuditEvent event);

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

  // A change to the outputs (add, remove, reconfigure one), applied by the writer thread
  // before it delivers the next event, so that no output is touched by two threads.
  // Returns at once; changes run in the order given.
  using OutputChange = std::function<void(std::vector<std::unique_ptr<AuditOutput>>&)>;
  void Reconfigure(OutputChange change);

 private:
  void Run();
  // Delivers one event to every output; false if shutdown's deadline passed first.
  bool Deliver(const AuditEvent& event);
  AuditEvent MakeDroppedReport(uint64_t dropped, uint64_t refused) const;
  AuditTime Now() const;

  const AuditSinkOptions options_;
  std::atomic<QueueFullMode> full_mode_;
  std::vector<std::unique_ptr<AuditOutput>> outputs_;  // writer thread only (see above)

  mutable std::mutex mu_;
  std::condition_variable work_cv_;  // writer waits: events, Resume, Close
  std::condition_variable idle_cv_;  // WaitIdle and Close wait: queue drained, writer done
  std::deque<AuditEvent> queue_;     // guarded by mu_
  bool paused_ = false;              // guarded by mu_
  bool closing_ = false;             // guarded by mu_: no more Submit
  bool in_flight_ = false;           // guarded by mu_: writer is delivering an event
  bool gathered_ = false;            // guarded by mu_: the queued batch has been gathered
  bool writer_done_ = false;         // guarded by mu_
  std::chrono::steady_clock::time_point deadline_;  // guarded by mu_; set by Close
  uint64_t pending_dropped_ = 0;                    // guarded by mu_: not yet reported
  uint64_t pending_refused_ = 0;                    // guarded by mu_: not yet reported
  std::vector<OutputChange> pending_changes_;       // guarded by mu_: for the writer
  AuditSinkStats stats_;                            // guarded by mu_ (queued computed on read)

  std::mutex close_mu_;  // serialises Close(); taken before mu_, never inside it
  bool closed_ = false;  // guarded by close_mu_
  Status close_status_;  // guarded by close_mu_
  std::thread writer_;
};

}  // namespace matterfs::audit
