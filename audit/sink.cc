#include "audit/sink.h"

#include <unistd.h>

#include <algorithm>
#include <climits>

namespace matterfs::audit {

namespace {

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
      full_mode_(options_.full_mode),
      outputs_(std::move(outputs)),
      paused_(options_.start_paused) {
  writer_ = std::thread([this] {
    // Nothing thrown on the writer thread (an allocation failure) may end the daemon:
    // the event being delivered is counted lost and the writer starts over.
    for (;;) {
      try {
        Run();
        return;
      } catch (...) {
        try {
          std::lock_guard<std::mutex> g(mu_);
          in_flight_ = false;
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

bool AuditSink::Submit(AuditEvent event) {
  // Filled in before taking the lock: the clock and the string copy are not queue work.
  if (event.time == AuditTime{}) event.time = Now();
  if (event.host.empty()) event.host = options_.host;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (closing_) {
      ++stats_.lost;
      return false;
    }
    if (queue_.size() >= options_.capacity) {
      if (full_mode_.load() == QueueFullMode::kStrict) {
        ++stats_.refused;
        ++pending_refused_;
        return false;
      }
      ++stats_.dropped;
      ++pending_dropped_;
      return true;
    }
    queue_.push_back(std::move(event));
    ++stats_.submitted;
    // The writer is woken by the first event of a batch, and again when a batch is full;
    // in between it is either delivering or gathering the batch (batch_delay).
    const size_t n = queue_.size();
    if (n != 1 && n != options_.batch_size) return true;
  }
  work_cv_.notify_one();
  return true;
}

void AuditSink::Resume() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    paused_ = false;
  }
  work_cv_.notify_one();
}

bool AuditSink::WaitIdle(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lk(mu_);
  return idle_cv_.wait_for(lk, timeout, [&] {
    return writer_done_ ||
           (queue_.empty() && !in_flight_ && pending_dropped_ == 0 && pending_refused_ == 0);
  });
}

AuditSinkStats AuditSink::stats() const {
  std::lock_guard<std::mutex> lk(mu_);
  AuditSinkStats s = stats_;
  s.queued = queue_.size();
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
  }
  work_cv_.notify_all();
}

void AuditSink::Run() {
  auto has_work = [&] {
    return !paused_ && (!queue_.empty() || closing_ || pending_dropped_ + pending_refused_ > 0 ||
                        !pending_changes_.empty());
  };
  auto next_tick = std::chrono::steady_clock::now() + options_.tick_interval;
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    work_cv_.wait_until(lk, next_tick, has_work);
    // Ticks come between events too, so a steady trickle of events cannot postpone
    // time-based work (signing a waiting tail) for ever.
    // (While paused the tick is skipped but still rescheduled, or this loop would spin.)
    if (std::chrono::steady_clock::now() >= next_tick) {
      if (!paused_) {
        lk.unlock();
        for (auto& out : outputs_) {
          Status st = out->Tick();
          if (!st.ok()) {
            std::lock_guard<std::mutex> g(mu_);
            ++stats_.write_errors;
            stats_.last_error = out->Name() + ": " + st.error().message();
          }
        }
        lk.lock();
      }
      next_tick = std::chrono::steady_clock::now() + options_.tick_interval;
    }
    if (!has_work()) continue;
    if (options_.batch_delay.count() > 0 && !closing_ && pending_changes_.empty() &&
        !queue_.empty() && queue_.size() < options_.batch_size && !gathered_) {
      // Gather a batch: more events, up to batch_size, for at most batch_delay.
      work_cv_.wait_for(lk, options_.batch_delay, [&] {
        return closing_ || paused_ || !pending_changes_.empty() ||
               queue_.size() >= options_.batch_size;
      });
      gathered_ = true;
      continue;
    }
    if (!pending_changes_.empty()) {
      std::vector<OutputChange> changes;
      changes.swap(pending_changes_);
      lk.unlock();
      for (auto& change : changes) change(outputs_);
      lk.lock();
      continue;
    }
    const bool past_deadline = closing_ && std::chrono::steady_clock::now() >= deadline_;
    if (past_deadline) {
      stats_.lost += queue_.size();
      queue_.clear();
      break;
    }
    if (queue_.empty()) {
      if (pending_dropped_ + pending_refused_ > 0) {
        queue_.push_back(MakeDroppedReport(pending_dropped_, pending_refused_));
        pending_dropped_ = pending_refused_ = 0;
      } else if (closing_) {
        break;
      } else {
        continue;
      }
    }
    // Delivering: what is queued now is this batch, whether it was gathered or arrived
    // whole; no pause for more until the queue has been emptied.
    gathered_ = true;
    AuditEvent event = std::move(queue_.front());
    queue_.pop_front();
    // The pop made room: report losses now, under the same lock, so that a busy
    // submitter cannot take the slot first. The report lands behind the events that were
    // queued before the losses and ahead of those submitted after.
    if (pending_dropped_ + pending_refused_ > 0) {
      queue_.push_back(MakeDroppedReport(pending_dropped_, pending_refused_));
      pending_dropped_ = pending_refused_ = 0;
    }
    in_flight_ = true;
    lk.unlock();
    const bool delivered = Deliver(event);
    lk.lock();
    in_flight_ = false;
    if (delivered) {
      ++stats_.written;
    } else {
      ++stats_.lost;
    }
    if (queue_.empty()) {
      gathered_ = false;  // the next event starts a new batch
      idle_cv_.notify_all();
    }
  }
  writer_done_ = true;
  in_flight_ = false;
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
    std::unique_lock<std::mutex> lk(mu_);
    auto past_deadline = [&] { return closing_ && std::chrono::steady_clock::now() >= deadline_; };
    if (past_deadline()) return false;
    work_cv_.wait_for(lk, backoff, past_deadline);
    if (past_deadline()) return false;
    backoff = std::min(backoff * 2, options_.retry_max);
  }
}

Status AuditSink::Close() {
  std::lock_guard<std::mutex> close_lk(close_mu_);
  if (closed_) return close_status_;
  closed_ = true;
  {
    std::lock_guard<std::mutex> lk(mu_);
    closing_ = true;
    paused_ = false;
    deadline_ = std::chrono::steady_clock::now() + options_.shutdown_timeout;
  }
  work_cv_.notify_all();
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
