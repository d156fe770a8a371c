// AccessControl: the daemon's policy enforcement and audit trail (docs/POLICY.md,
// docs/AUDIT.md). It knows no FUSE: the adapter passes the request's uid, gid and pid.
//
// Owns the current policy (a shared_ptr swapped atomically on reload), a short-lived
// cache of subjects resolved through NSS, the active break-glass grants, the bulk-access
// counters and the audit sink (a bounded queue with its writer thread). Check() is called
// on every open, create, opendir and write-class operation from libfuse's worker
// threads; it takes only short internal mutexes, never waits on syslog, and returns 0 or
// the errno to answer with. Each decision becomes one audit event.
// Thread-safety: every public method may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "audit/event.h"
#include "audit/sink.h"
#include "crypto/signing.h"
#include "fs/vault/keyring.h"
#include "policy/decision.h"
#include "policy/policy.h"

namespace matterfs::fuse {

struct Caller {
  uint32_t uid = 0;
  uint32_t gid = 0;
  int32_t pid = 0;
};

// The policy's view of a matter's status (kept in its keyring).
policy::MatterStatus PolicyStatusOf(vault::MatterStatus s);

struct AccessOptions {
  std::optional<std::string> policy_path;  // none: only the mounting user (OwnerOnly)
  std::string owner;                       // the mounting user's name
  std::string syslog_socket = "/dev/log";
  std::string mountpoint;
  std::string vault;
  std::optional<std::string> audit_mode;  // overrides the policy's `audit =`
};

// One decision as a thread's cache keeps it (AccessControl::Decide).
struct CachedDecision {
  uint64_t owner = 0;       // AccessControl::id_ of the instance that made it; 0: empty
  uint64_t generation = 0;  // AccessControl::generation_ when it was made
  int64_t expires_ns = 0;   // CLOCK_MONOTONIC_COARSE
  uint32_t uid = 0;
  policy::MatterStatus status = policy::MatterStatus::kOpen;
  policy::Action action = policy::Action::kRead;
  std::string matter;
  policy::Decision decision;
  std::string user;  // the subject's name ("" if the uid is unknown)
};

// The daemon's decision counters (matterctl status).
struct DecisionStats {
  uint64_t computed = 0;  // decisions taken by the policy engine (cache misses)
  uint64_t cached = 0;    // decisions answered from a thread's cache
};

class AccessControl {
 public:
  // Loads the policy (kInvalidArgument with every problem when it is invalid) and starts
  // the audit sink. The signing key (the vault's) signs the local log's checkpoints.
  static Result<std::unique_ptr<AccessControl>> Create(AccessOptions opts,
                                                       const crypto::SigningKey& signing_key,
                                                       ByteSpan path_hash_key);
  ~AccessControl();

  // The decision for an operation on a matter. Returns 0 (allowed) or the errno:
  // EACCES (wall, no grant), EROFS (closed), EPERM (hold), ENOENT (hidden, for kList).
  // `event` names the operation for the audit trail; `path` is inside the matter.
  int Check(const Caller& caller, const std::string& matter, policy::MatterStatus status,
            policy::Action action, const char* event, const std::string& path, const char* access);
  // For lookups and metadata reads (getattr, readlink, getxattr, the root listing): the
  // decision without an event when allowed (these happen on every path walk); a denial
  // is audited when `event` is given. Returns 0 or the errno.
  int Quiet(const Caller& caller, const std::string& matter, policy::MatterStatus status,
            policy::Action action, const char* event, const std::string& path);
  // Whether the policy allows it, nothing else (no event): the cached fast path.
  bool Allowed(const Caller& caller, const std::string& matter, policy::MatterStatus status,
               policy::Action action) {
    return Decide(caller, matter, status, action).decision.allowed;
  }
  // May the caller see the matter at the root? (Quiet kList, no event.)
  bool Visible(const Caller& caller, const std::string& matter, policy::MatterStatus status) {
    return Quiet(caller, matter, status, policy::Action::kList, nullptr, "") == 0;
  }
  // Empties every thread's decision cache (the next decision of each is computed
  // afresh). Reload and break-glass call it; so does anything else that changes what a
  // decision depends on besides its key (caller, matter, status, action).
  void InvalidateDecisions() { generation_.fetch_add(1, std::memory_order_acq_rel); }
  // Called after every policy that took effect (set before the watcher starts): the
  // daemon drops the kernel's cached entries that the old policy admitted.
  void SetReloadHook(std::function<void()> hook) { reload_hook_ = std::move(hook); }
  // Called with true when a reload starts and with false when it has ended, whatever its
  // outcome (set before the watcher and the control socket start): the daemon tells
  // systemd (RELOADING=1 ... READY=1). Runs on the reloading thread.
  void SetReloadObserver(std::function<void(bool reloading)> observer) {
    reload_observer_ = std::move(observer);
  }
  DecisionStats decision_stats() const {
    return {computed_.load(std::memory_order_relaxed), cached_.load(std::memory_order_relaxed)};
  }
  // Counts an open toward the bulk-access alert.
  void CountOpen(const Caller& caller, const std::string& matter);

  // Break-glass (from the control socket): the policy's decision is taken and audited
  // first (kPermissionDenied with the rule if refused); then `check_matter` (may be
  // empty) must succeed before the grant is recorded.
  Result<policy::BreakGlassGrant> BreakGlass(const Caller& caller, const std::string& matter,
                                             policy::Duration duration, const std::string& reason,
                                             const std::function<Status()>& check_matter = {});
  std::vector<policy::BreakGlassGrant> ActiveGrants();

  // The subject behind a uid (cached), or an error if NSS does not know it.
  Result<policy::Subject> SubjectOf(uint32_t uid);

  // A path as log lines may show it under the current audit_path setting: the path, its
  // keyed hash ("hash:<hex>"), or "(path omitted)".
  std::string LogPath(std::string_view path) const;

  // An event with the caller's user, uid, pid and process filled in.
  audit::AuditEvent CallerEvent(const Caller& caller);
  // Queues an event as it is; false when audit = strict refused it (queue full).
  bool Submit(audit::AuditEvent e) { return SubmitEvent(std::move(e)); }

  // Admin actions and notices (mount, reload, tamper, matter status ...).
  void Notice(const char* event, audit::AuditResult result, audit::AuditSeverity severity,
              const Caller* caller, const std::string& matter, const std::string& message,
              const std::string& path = "");

  // Reloads the policy now (SIGHUP, control socket). An invalid file keeps the old
  // policy; either way an event records it. Returns the problems, if any.
  Status Reload();
  std::shared_ptr<const policy::Policy> policy() const { return std::atomic_load(&policy_); }
  audit::AuditSinkStats audit_stats() const { return sink_->stats(); }

  // Starts the watcher that reloads when the policy file changes (polls its identity
  // every second) and calls `tick` on each round (the daemon refreshes matter status).
  void StartWatcher(std::function<void()> tick);
  void RequestReload() { reload_requested_ = true; }
  // The syslog socket events go to, and whether something listens there now ("" when it
  // is fine, else what is wrong: "missing", "not a socket", "refuses connections").
  const std::string& syslog_socket() const { return opts_.syslog_socket; }
  std::string SyslogProblem() const;

  // Stops the watcher (before the session goes away); idempotent.
  void StopWatcher();

 private:
  AccessControl() = default;
  audit::AuditEvent BaseEvent(const Caller& caller, const std::string& user);
  // Sets the caller's user, uid, pid and process name (no allocation for a cached name).
  void FillCaller(audit::AuditEvent& e, const Caller& caller, const std::string& user);
  // The decision with the subject's name, from this thread's cache when it holds a
  // current one (no allocation, no lock: the per-lookup path), else computed and cached.
  // The reference stays valid until this thread's next Decide.
  const CachedDecision& Decide(const Caller& caller, const std::string& matter,
                               policy::MatterStatus status, policy::Action action);
  // The subject behind a uid and until when (steady clock) its cached groups hold.
  Result<policy::Subject> SubjectOf(uint32_t uid, std::chrono::steady_clock::time_point* expires);
  bool Audit(const Caller& caller, const std::string& user, const policy::Decision& d,
             const std::string& matter, const char* event, const std::string& path,
             const char* access, uint64_t repeats = 0);
  // For a denied metadata read: nullopt when the same denial was reported within the
  // last minute (it is counted), else how many were not reported since the last one.
  std::optional<uint64_t> ThrottleDenial(uint32_t uid, const std::string& matter, const char* event,
                                         const std::string& path);
  std::string ProcessName(int32_t pid);
  // Runs one step of the watcher; an exception is logged and becomes an alert event.
  void Guarded(const char* what, const std::function<void()>& step) noexcept;
  bool SubmitEvent(audit::AuditEvent e);

  AccessOptions opts_;
  std::shared_ptr<const policy::Policy> policy_;
  std::unique_ptr<audit::AuditSink> sink_;
  std::atomic<std::shared_ptr<const audit::PathRedactor>> redactor_;
  const crypto::SigningKey* signing_key_ = nullptr;  // the vault's; outlives us
  ByteSpan path_hash_key_;                           // the vault's; outlives us
  std::mutex reload_mu_;                             // one reload at a time

  // Decision caching: entries carry the instance's id and the generation they were made
  // in; a bump of generation_ invalidates all of them at once, without touching them.
  const uint64_t id_ = NextId();
  std::atomic<uint64_t> generation_{1};
  std::atomic<uint64_t> computed_{0};
  std::atomic<uint64_t> cached_{0};
  static uint64_t NextId();

  std::mutex subjects_mu_;
  struct CachedSubject {
    policy::Subject subject;
    std::chrono::steady_clock::time_point expires;
  };
  std::map<uint32_t, CachedSubject> subjects_;

  std::mutex grants_mu_;
  std::vector<policy::BreakGlassGrant> grants_;

  std::mutex throttle_mu_;
  struct Throttled {
    std::chrono::steady_clock::time_point reported;
    uint64_t suppressed = 0;
  };
  std::map<std::tuple<uint32_t, std::string, std::string, std::string>, Throttled> throttle_;

  // Bulk-access counting, one slot per (uid, matter) in a table of atomics, so that an
  // open takes no lock: state = window start (seconds on the steady clock, high 32 bits),
  // alerted (bit 31), opens in the window (low 31 bits), changed by compare-and-swap.
  struct BulkSlot {
    std::atomic<uint64_t> key{0};  // hash of (uid, matter), never 0; 0 = free
    std::atomic<uint64_t> state{0};
  };
  static constexpr size_t kBulkSlots = 4096;  // a power of two
  static constexpr size_t kBulkProbe = 8;
  std::unique_ptr<BulkSlot[]> bulk_{new BulkSlot[kBulkSlots]};
  // The policy's bulk settings, read without loading the policy (std::atomic_load of a
  // shared_ptr takes a lock).
  std::atomic<uint32_t> bulk_threshold_{0};
  std::atomic<int64_t> bulk_window_s_{60};
  void SetBulkSettings(const policy::Policy& pol);
  // Counts one open; the count now if it crossed the threshold first in this window.
  std::optional<uint64_t> CountBulk(uint32_t uid, const std::string& matter);

  std::function<void()> tick_;
  std::function<void()> reload_hook_;
  std::function<void(bool)> reload_observer_;

  std::atomic<bool> reload_requested_{false};
  std::atomic<bool> stop_{false};
  std::thread watcher_;
  std::mutex watch_mu_;
  std::condition_variable watch_cv_;
  struct FileId {
    dev_t dev = 0;
    ino_t ino = 0;
    int64_t mtime_ns = 0;
    off_t size = -1;
    bool operator==(const FileId&) const = default;
  } policy_file_id_;
};

}  // namespace matterfs::fuse
