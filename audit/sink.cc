#include "audit/sink.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <ctime>

namespace matterfs::audit {

namespace {

using SteadyClock = std::chrono::steady_clock;

// The writer sleeps on a futex whose word is the atomic's own storage (as libstdc++'s own
// atomic wait does on Linux), so producers wake it without a mutex.
static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t) &&
              std::atomic<uint32_t>::is_always_lock_free);

uint32_t* FutexWord(std::atomic<uint32_t>& word) { return reinterpret_cast<uint32_t*>(&word); }

// Sleeps while `word` holds `expected`, for at most `timeout`. May return early (a signal,
// a spurious wake-up): callers check their condition again.
void FutexWait(std::atomic<uint32_t>& word, uint32_t expected, std::chrono::nanoseconds timeout) {
  timeout = std::clamp<std::chrono::nanoseconds>(timeout, std::chrono::nanoseconds(0),
                                                 std::chrono::hours(1));
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(timeout.count() / 1000000000);
  ts.tv_nsec = static_cast<long>(timeout.count() % 1000000000);
  (void)::syscall(SYS_futex, FutexWord(word), FUTEX_WAIT_PRIVATE, expected, &ts, nullptr, 0);
}

void FutexWakeOne(std::atomic<uint32_t>& word) {
  (void)::syscall(SYS_futex, FutexWord(word), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Makes `e` a default AuditEvent again, keeping its strings' buffers (up to
// kKeepCapacity) for the next event filled into it.
void ResetEvent(AuditEvent& e) {
  // Naming every member: a member added to AuditEvent breaks the build here until it is
  // reset too.
  auto& [time, host, event, result, severity, user, uid, pid, process, matter, path, path_hash,
         access, rule, count, message] = e;
  const AuditEvent fresh;
  for (std::string* s :
       {&host, &event, &user, &process, &matter, &path, &path_hash, &access, &rule, &message}) {
    if (s->capacity() > AuditSink::kKeepCapacity) {
      std::string().swap(*s);
    } else {
      s->clear();
    }
  }
  time = fresh.time;
  result = fresh.result;
  severity = fresh.severity;
  uid = fresh.uid;
  pid = fresh.pid;
  count = fresh.count;
}

std::string LocalHostName() {
  char buf[HOST_NAME_MAX + 1] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "";
  return buf;
}

}  // namespace

Result<QueueFullMode> ParseQueueFullMode(std::string_view name) {
  if (name == "drop") return QueueFullMode::kDrop;
  if (name == "strict") return QueueFullMode::kStrict;
  return Error(Code::kInvalidArgument,
               "unknown audit queue mode '" + std::string(name) + "' (use drop or strict)");
}

AuditSink::AuditSink(AuditSinkOptions options, std::vector<std::unique_ptr<AuditOutput>> outputs)
    : options_([&] {
        AuditSinkOptions o = std::move(options);
        o.capacity = std::max<size_t>(o.capacity, 2);
        if (o.host.empty()) o.host = LocalHostName();
        if (o.retry_min.count() <= 0) o.retry_min = std::chrono::milliseconds(1);
        o.retry_max = std::max(o.retry_max, o.retry_min);
        if (o.tick_interval.count() <= 0) o.tick_interval = std::chrono::milliseconds(1000);
        return o;
      }()),
      ring_size_(std::min(options_.capacity, kMaxRingSlots)),
      full_mode_(options_.full_mode),
      outputs_(std::move(outputs)),
      slots_(std::make_unique<Slot[]>(ring_size_)),
      paused_(options_.start_paused) {
  for (size_t i = 0; i < ring_size_; ++i) slots_[i].seq.store(i, std::memory_order_relaxed);
  writer_ = std::thread([this] {
    // Nothing thrown on the writer thread (an allocation failure) may end the daemon:
    // the event being delivered is counted lost and the writer starts over.
    for (;;) {
      try {
        Run();
        return;
      } catch (...) {
        in_flight_.store(false);
        ResetEvent(current_);
        try {
          std::lock_guard<std::mutex> g(mu_);
          ++stats_.lost;
          stats_.last_error = "audit writer: out of memory";
        } catch (...) {
        }
      }
      std::this_thread::sleep_for(options_.retry_max);
    }
  });
}

AuditSink::~AuditSink() { (void)Close(); }

AuditTime AuditSink::Now() const {
  if (options_.clock) return options_.clock();
  return std::chrono::floor<std::chrono::microseconds>(AuditClock::now());
}

uint64_t AuditSink::RingQueued() const {
  // head first: it never passes the tail, so the difference cannot go negative.
  const uint64_t head = head_.load();
  const uint64_t tail = tail_.load() & ~kClosedBit;
  return tail - head;
}

uint64_t AuditSink::Queued() const { return RingQueued() + overflow_size_.load(); }

bool AuditSink::PastDeadline() const {
  // deadline_ is written once, before closing_ is set (release), and never again.
  return closing_.load(std::memory_order_acquire) && SteadyClock::now() >= deadline_;
}

void AuditSink::UpdateFlagsLocked() {
  const bool slow = !overflow_.empty() || pending_dropped_ + pending_refused_ > 0;
  overflow_size_.store(overflow_.size());
  producers_slow_.store(slow);
  attention_.store(slow || closing_.load() || !pending_changes_.empty());
}

void AuditSink::WakeWriter() {
  wake_epoch_.fetch_add(1);
  FutexWakeOne(wake_epoch_);
}

void AuditSink::WakeWriterFor(uint64_t pos) {
  // Only the first producer past wake_at_ wakes the writer: it takes the wake-up (the
  // writer sets wake_at_ again before its next sleep), so that those that publish while
  // the writer is being scheduled do not each make a futex call. Whoever swaps out an
  // armed value must wake the writer, even if the writer re-armed it in between.
  if (pos >= wake_at_.load() && wake_at_.exchange(kNoWake) != kNoWake) WakeWriter();
}

template <typename Ready>
void AuditSink::WaitForWork(uint64_t wake_at, SteadyClock::time_point until, Ready ready) {
  while (!ready()) {
    const auto now = SteadyClock::now();
    if (now >= until) return;
    const uint32_t epoch = wake_epoch_.load();
    // A producer publishes its slot, then reads wake_at_; the writer stores wake_at_,
    // then (in ready()) reads what producers publish. All four are seq_cst, so either
    // ready() sees the event or the producer sees wake_at_ and bumps the epoch, which
    // makes the futex wait return at once.
    wake_at_.store(wake_at);
    if (!ready()) FutexWait(wake_epoch_, epoch, until - now);
    wake_at_.store(kNoWake, std::memory_order_relaxed);
  }
}

void AuditSink::NotifyIdle() {
  // Taking mu_ orders this after a WaitIdle that checked its condition under mu_ and is
  // about to wait, so the notification cannot fall between its check and its wait.
  { std::lock_guard<std::mutex> lk(mu_); }
  idle_cv_.notify_all();
}

void AuditSink::FillEvent(FillFunction fill, void* context, AuditEvent& event) const {
  fill(context, event);
  if (event.time == AuditTime{}) event.time = Now();
  if (event.host.empty()) event.host = options_.host;  // reuses the slot's capacity
}

bool AuditSink::Submit(AuditEvent event) {
  return Emplace([&event](AuditEvent& slot) { slot = std::move(event); });
}

bool AuditSink::EmplaceWith(FillFunction fill, void* context) {
  if (producers_slow_.load(std::memory_order_acquire)) return EmplaceSlow(fill, context);
  uint64_t pos = tail_.load(std::memory_order_relaxed);
  Slot* slot = nullptr;
  for (;;) {
    if ((pos & kClosedBit) != 0) return EmplaceSlow(fill, context);
    slot = &slots_[pos % ring_size_];
    const uint64_t seq = slot->seq.load(std::memory_order_acquire);
    if (seq == pos) {
      // seq_cst, so that a writer that sees no claim here also gets this producer's
      // wake-up (see WaitForWork).
      if (tail_.compare_exchange_weak(pos, pos + 1, std::memory_order_seq_cst,
                                      std::memory_order_relaxed)) {
        break;
      }
    } else if (seq < pos) {
      return EmplaceSlow(fill, context);  // the ring is full
    } else {
      pos = tail_.load(std::memory_order_relaxed);  // another producer took pos
    }
  }
  auto publish = [&] {
    slot->seq.store(pos + 1);
    WakeWriterFor(pos);
  };
  try {
    FillEvent(fill, context, slot->event);
  } catch (...) {
    // The slot is claimed and the writer waits for it: publish it as empty.
    slot->skip = true;
    skipped_.fetch_add(1, std::memory_order_relaxed);
    publish();
    throw;
  }
  publish();
  return true;
}

bool AuditSink::EmplaceSlow(FillFunction fill, void* context) {
  bool accepted = true;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (closing_.load()) {
      ++stats_.lost;
      return false;
    }
    // Unreported losses are reported first, where they happened in the stream.
    QueueReportLocked();
    if (Queued() >= options_.capacity) {
      if (full_mode_.load() == QueueFullMode::kStrict) {
        ++stats_.refused;
        ++pending_refused_;
        accepted = false;
      } else {
        ++stats_.dropped;
        ++pending_dropped_;
      }
    } else {
      // Behind everything in the ring: the writer takes from here only when the ring is
      // empty, and while this list is not empty every producer comes here too.
      overflow_.emplace_back();
      try {
        FillEvent(fill, context, overflow_.back());
      } catch (...) {
        overflow_.pop_back();
        UpdateFlagsLocked();
        throw;
      }
      ++stats_.submitted;
    }
    UpdateFlagsLocked();
  }
  WakeWriterFor(kAnyPosition);  // if it sleeps at all: it re-checks its condition
  return accepted;
}

void AuditSink::QueueReportLocked() {
  if (pending_dropped_ + pending_refused_ == 0 || Queued() >= options_.capacity) return;
  overflow_.push_back(MakeDroppedReport(pending_dropped_, pending_refused_));
  pending_dropped_ = pending_refused_ = 0;
  UpdateFlagsLocked();
}

void AuditSink::Resume() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    paused_.store(false);
  }
  WakeWriter();
}

bool AuditSink::WaitIdle(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lk(mu_);
  return idle_cv_.wait_for(lk, timeout, [&] {
    // Queued() before in_flight_: the writer sets in_flight_ before it advances head_.
    return writer_done_ ||
           (Queued() == 0 && !in_flight_.load() && pending_dropped_ == 0 && pending_refused_ == 0);
  });
}

AuditSinkStats AuditSink::stats() const {
  std::lock_guard<std::mutex> lk(mu_);
  AuditSinkStats s = stats_;
  const uint64_t head = head_.load();
  const uint64_t claimed = tail_.load() & ~kClosedBit;
  s.submitted += claimed - skipped_.load();
  s.written = written_.load();
  s.queued = static_cast<size_t>(claimed - head) + overflow_.size();
  return s;
}

AuditEvent AuditSink::MakeDroppedReport(uint64_t dropped, uint64_t refused) const {
  AuditEvent e;
  e.time = Now();
  e.host = options_.host;
  e.event = audit_events::kAuditDropped;
  e.result = AuditResult::kError;
  e.severity = AuditSeverity::kAlert;
  e.count = dropped + refused;
  if (dropped > 0) {
    e.message = std::to_string(dropped) + " audit events dropped: queue full";
  }
  if (refused > 0) {
    if (!e.message.empty()) e.message += "; ";
    e.message +=
        std::to_string(refused) + " accesses refused and not recorded: queue full (strict audit)";
  }
  return e;
}

void AuditSink::Reconfigure(OutputChange change) {
  {
    std::lock_guard<std::mutex> g(mu_);
    pending_changes_.push_back(std::move(change));
    UpdateFlagsLocked();
  }
  WakeWriter();
}

void AuditSink::Run() {
  auto next_tick = SteadyClock::now() + options_.tick_interval;
  // Set once the queued events are this batch (gathered, or arrived whole): no pause for
  // more until the queue has been emptied.
  bool gathered = false;
  for (;;) {
    // Ticks come between events too, so a steady trickle of events cannot postpone
    // time-based work (signing a waiting tail) for ever.
    // (While paused the tick is skipped but still rescheduled, or this loop would spin.)
    if (SteadyClock::now() >= next_tick) {
      if (!paused_.load()) {
        for (auto& out : outputs_) {
          Status st = out->Tick();
          if (!st.ok()) {
            std::lock_guard<std::mutex> g(mu_);
            ++stats_.write_errors;
            stats_.last_error = out->Name() + ": " + st.error().message();
          }
        }
      }
      next_tick = SteadyClock::now() + options_.tick_interval;
    }
    if (paused_.load()) {
      WaitForWork(kNoWake, next_tick, [&] { return !paused_.load(); });
      continue;
    }
    if (attention_.load()) {
      std::unique_lock<std::mutex> lk(mu_);
      if (!pending_changes_.empty()) {
        std::vector<OutputChange> changes;
        changes.swap(pending_changes_);
        UpdateFlagsLocked();
        lk.unlock();
        for (auto& change : changes) change(outputs_);
        continue;
      }
      if (PastDeadline()) {
        stats_.lost += Queued();
        overflow_.clear();
        // Whatever is left in the ring is counted: stats() shows an empty queue. (A
        // producer may still be filling a slot it claimed; nobody reads it any more.)
        head_.store(tail_.load() & ~kClosedBit);
        UpdateFlagsLocked();
        break;
      }
      QueueReportLocked();
      if (closing_.load() && Queued() == 0) break;
    }
    const uint64_t head = head_.load(std::memory_order_relaxed);
    if (Queued() == 0) {
      WaitForWork(head, next_tick, [&] { return RingQueued() > 0 || attention_.load(); });
      continue;
    }
    if (!gathered && options_.batch_delay.count() > 0 && !attention_.load() &&
        Queued() < options_.batch_size) {
      // Gather a batch: more events, up to batch_size, for at most batch_delay. The
      // producer of the batch's last position wakes the writer (or of the ring's last,
      // if the batch is larger: the rest would go to the slow path, which wakes it too).
      const uint64_t last = head + std::min<uint64_t>(options_.batch_size, ring_size_) - 1;
      WaitForWork(last, SteadyClock::now() + options_.batch_delay,
                  [&] { return attention_.load() || Queued() >= options_.batch_size; });
      gathered = true;
      continue;
    }
    gathered = true;

    bool skip = false;
    if (RingQueued() > 0) {
      Slot& slot = slots_[head % ring_size_];
      if (slot.seq.load(std::memory_order_acquire) != head + 1) {
        // Claimed, still being filled, which takes well under a microsecond: spin a
        // little before sleeping, or a writer that keeps up with its producers would
        // cost them a futex wake-up for every few events. If the producer is descheduled,
        // it wakes the writer when it publishes.
        for (int spin = 0; spin < 256 && slot.seq.load() != head + 1; ++spin) CpuRelax();
        const bool closing = closing_.load(std::memory_order_acquire);
        const auto until = closing ? std::min(next_tick, deadline_) : next_tick;
        WaitForWork(head, until,
                    [&] { return slot.seq.load() == head + 1 || closing_.load() != closing; });
        continue;
      }
      in_flight_.store(true);  // before head_ moves (see WaitIdle)
      // A swap, not a move: the slot keeps the capacity of the strings of current_.
      std::swap(slot.event, current_);
      skip = slot.skip;
      slot.skip = false;
      slot.seq.store(head + ring_size_, std::memory_order_release);
      head_.store(head + 1);
    } else {
      std::lock_guard<std::mutex> lk(mu_);
      // The ring first, checked again under mu_: an event claimed there before another
      // was put in the overflow list may come from the same thread.
      if (RingQueued() > 0 || overflow_.empty()) continue;
      in_flight_.store(true);
      std::swap(overflow_.front(), current_);
      overflow_.pop_front();
      UpdateFlagsLocked();
    }
    // Taking an event made room: report losses now, before the producers that wait in
    // the slow path fill it.
    if (producers_slow_.load()) {
      std::lock_guard<std::mutex> lk(mu_);
      QueueReportLocked();
    }
    if (!skip) {
      if (Deliver(current_)) {
        written_.fetch_add(1, std::memory_order_relaxed);
      } else {
        std::lock_guard<std::mutex> lk(mu_);
        ++stats_.lost;
      }
    }
    in_flight_.store(false);
    ResetEvent(current_);
    if (Queued() == 0) {
      gathered = false;  // the next event starts a new batch
      NotifyIdle();
    }
  }
  {
    std::lock_guard<std::mutex> lk(mu_);
    writer_done_ = true;
    in_flight_.store(false);
  }
  idle_cv_.notify_all();
}

bool AuditSink::Deliver(const AuditEvent& event) {
  std::vector<bool> done(outputs_.size(), false);
  auto backoff = options_.retry_min;
  for (;;) {
    bool all_done = true;
    for (size_t i = 0; i < outputs_.size(); ++i) {
      if (done[i]) continue;
      Status st = outputs_[i]->Write(event);
      if (st.ok()) {
        done[i] = true;
        continue;
      }
      {
        std::lock_guard<std::mutex> lk(mu_);
        ++stats_.write_errors;
        stats_.last_error = outputs_[i]->Name() + ": " + st.error().message();
      }
      if (st.error().code() == Code::kInvalidArgument) {
        done[i] = true;  // permanent for this event; retrying cannot help
      } else {
        all_done = false;
      }
    }
    if (all_done) return true;
    // Pause before the retry; Close cuts the pause short at its deadline.
    const auto retry_at = SteadyClock::now() + backoff;
    for (;;) {
      if (PastDeadline()) return false;
      if (SteadyClock::now() >= retry_at) break;
      const bool closing = closing_.load(std::memory_order_acquire);
      const auto until = closing ? std::min(retry_at, deadline_) : retry_at;
      WaitForWork(kNoWake, until, [&] { return closing_.load() != closing; });
    }
    backoff = std::min(backoff * 2, options_.retry_max);
  }
}

Status AuditSink::Close() {
  std::lock_guard<std::mutex> close_lk(close_mu_);
  if (closed_) return close_status_;
  closed_ = true;
  {
    std::lock_guard<std::mutex> lk(mu_);
    deadline_ = SteadyClock::now() + options_.shutdown_timeout;
    closing_.store(true, std::memory_order_release);
    paused_.store(false);
    // No ring slot can be claimed from now on; one claimed before is drained (or lost).
    tail_.fetch_or(kClosedBit);
    UpdateFlagsLocked();
  }
  WakeWriter();
  if (writer_.joinable()) writer_.join();

  std::string failures;
  for (auto& out : outputs_) {
    Status st = out->Close();
    if (!st.ok()) {
      if (!failures.empty()) failures += "; ";
      failures += out->Name() + ": " + st.error().message();
    }
  }
  uint64_t lost = 0;
  uint64_t unreported = 0;
  {
    std::lock_guard<std::mutex> lk(mu_);
    lost = stats_.lost;
    unreported = pending_dropped_ + pending_refused_;
  }
  if (lost > 0 || unreported > 0) {
    if (!failures.empty()) failures += "; ";
    failures += std::to_string(lost) + " audit events lost at shutdown";
    if (unreported > 0) {
      failures += ", " + std::to_string(unreported) + " drops never reported";
    }
  }
  if (!failures.empty()) close_status_ = Error(Code::kIo, failures);
  return close_status_;
}

}  // namespace matterfs::audit
