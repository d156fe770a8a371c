#include "fs/fuse/access.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "audit/local_log.h"
#include "audit/syslog_output.h"
#include "policy/nss_resolver.h"
#include "util/file_io.h"
#include "util/log.h"

namespace matterfs::fuse {

namespace {
using Clock = std::chrono::steady_clock;
constexpr auto kSubjectTtl = std::chrono::seconds(5);
constexpr auto kCommTtl = std::chrono::seconds(2);
constexpr auto kDenialWindow = std::chrono::seconds(60);
// Per-thread decision cache size (a libfuse worker serves a few users and matters at a
// time; a collision only costs a recomputation).
constexpr int kDecisionSlotBits = 6;
constexpr size_t kDecisionSlots = size_t{1} << kDecisionSlotBits;
constexpr int64_t kCoarseMarginNs = 20'000'000;

// A few milliseconds' resolution, read from the vDSO without a system call.
int64_t MonotonicCoarseNs() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

policy::Time Now() {
  return std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
}

int ErrnoFor(const policy::Decision& d) {
  switch (d.basis) {
    case policy::Basis::kClosed:
      return EROFS;
    case policy::Basis::kHold:
      return EPERM;
    default:
      return EACCES;
  }
}

audit::SyslogFacility FacilityOf(const policy::Policy& p) {
  auto f = audit::ParseFacility(policy::SyslogFacilityName(p.syslog_facility));
  return f.ok() ? *f : audit::SyslogFacility::kAuthpriv;
}
}  // namespace

policy::MatterStatus PolicyStatusOf(vault::MatterStatus s) {
  switch (s) {
    case vault::MatterStatus::kClosed:
      return policy::MatterStatus::kClosed;
    case vault::MatterStatus::kHold:
      return policy::MatterStatus::kHold;
    default:
      return policy::MatterStatus::kOpen;
  }
}

Result<std::unique_ptr<AccessControl>> AccessControl::Create(AccessOptions opts,
                                                             const crypto::SigningKey& signing_key,
                                                             ByteSpan path_hash_key) {
  std::unique_ptr<AccessControl> ac(new AccessControl());
  ac->opts_ = std::move(opts);
  if (ac->opts_.policy_path) {
    policy::NssResolver resolver;
    MFS_ASSIGN(policy::Policy p, policy::LoadPolicyFile(*ac->opts_.policy_path, resolver));
    ac->policy_ = std::make_shared<const policy::Policy>(std::move(p));
    struct stat st;
    if (::stat(ac->opts_.policy_path->c_str(), &st) == 0) {
      ac->policy_file_id_ = {st.st_dev, st.st_ino,
                             int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec,
                             st.st_size};
    }
  } else {
    ac->policy_ =
        std::make_shared<const policy::Policy>(policy::Policy::OwnerOnly(ac->opts_.owner));
  }
  const policy::Policy& pol = *ac->policy_;
  ac->SetBulkSettings(pol);
  MFS_ASSIGN(
      audit::PathRedactor redactor,
      audit::PathRedactor::Make(static_cast<audit::PathMode>(pol.audit_path), path_hash_key));
  ac->redactor_.store(std::make_shared<const audit::PathRedactor>(std::move(redactor)));
  ac->signing_key_ = &signing_key;
  ac->path_hash_key_ = path_hash_key;

  std::vector<std::unique_ptr<audit::AuditOutput>> outputs;
  audit::SyslogOutputOptions so;
  so.socket_path = ac->opts_.syslog_socket;
  so.header.facility = FacilityOf(pol);
  so.header.procid = ::getpid();
  MFS_ASSIGN(auto syslog_out, audit::SyslogOutput::Make(so));
  outputs.push_back(std::move(syslog_out));
  if (!pol.audit_log.empty()) {
    MFS_ASSIGN(auto log, audit::AuditLog::Open(pol.audit_log, signing_key));
    outputs.push_back(std::move(log));
  }
  audit::AuditSinkOptions sink_opts;
  sink_opts.full_mode = pol.audit == policy::AuditMode::kStrict ? audit::QueueFullMode::kStrict
                                                                : audit::QueueFullMode::kDrop;
  if (ac->opts_.audit_mode) {
    MFS_ASSIGN(sink_opts.full_mode, audit::ParseQueueFullMode(*ac->opts_.audit_mode));
  }
  ac->sink_ = std::make_unique<audit::AuditSink>(std::move(sink_opts), std::move(outputs));
  return ac;
}

AccessControl::~AccessControl() {
  StopWatcher();
  if (sink_) (void)sink_->Close();
}

void AccessControl::StopWatcher() {
  {
    std::lock_guard<std::mutex> g(watch_mu_);
    stop_ = true;
  }
  watch_cv_.notify_all();
  if (watcher_.joinable()) watcher_.join();
}

Result<policy::Subject> AccessControl::SubjectOf(uint32_t uid) {
  Clock::time_point expires;
  return SubjectOf(uid, &expires);
}

Result<policy::Subject> AccessControl::SubjectOf(uint32_t uid, Clock::time_point* expires) {
  const auto now = Clock::now();
  {
    std::lock_guard<std::mutex> g(subjects_mu_);
    auto it = subjects_.find(uid);
    if (it != subjects_.end() && it->second.expires > now) {
      *expires = it->second.expires;
      return it->second.subject;
    }
  }
  MFS_ASSIGN(policy::Subject s, policy::LookupSubject(uid));
  std::lock_guard<std::mutex> g(subjects_mu_);
  if (subjects_.size() > 4096) subjects_.clear();
  subjects_[uid] = {s, now + kSubjectTtl};
  *expires = now + kSubjectTtl;
  return s;
}

uint64_t AccessControl::NextId() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

std::string AccessControl::ProcessName(int32_t pid) {
  if (pid <= 0) return "";
  // Each thread keeps a small direct-mapped cache (a process opening many files is asked
  // once per thread and kCommTtl): no lock shared between threads, and the name (at most
  // 15 bytes, TASK_COMM_LEN) fits std::string's inline buffer, so a hit allocates nothing.
  struct Slot {
    int32_t pid = 0;
    int64_t expires_ns = 0;
    uint8_t length = 0;
    char name[16] = {};
  };
  static thread_local std::array<Slot, 64> slots;
  Slot& slot = slots[static_cast<uint32_t>(pid) % slots.size()];
  const int64_t now_ns = MonotonicCoarseNs();
  if (slot.pid == pid && now_ns < slot.expires_ns) return std::string(slot.name, slot.length);
  // Read into the slot itself: a miss costs system calls, no allocation.
  char path[32];
  std::snprintf(path, sizeof path, "/proc/%d/comm", pid);
  ssize_t n = 0;
  if (UniqueFd fd(::open(path, O_RDONLY | O_CLOEXEC)); fd.valid()) {
    n = ::read(fd.get(), slot.name, sizeof slot.name);
  }
  size_t length = n > 0 ? static_cast<size_t>(n) : 0;
  while (length > 0 && slot.name[length - 1] == '\n') --length;
  slot.pid = pid;
  slot.length = static_cast<uint8_t>(length);
  slot.expires_ns = now_ns + std::chrono::duration_cast<std::chrono::nanoseconds>(kCommTtl).count();
  return std::string(slot.name, slot.length);
}

void AccessControl::FillCaller(audit::AuditEvent& e, const Caller& caller,
                               const std::string& user) {
  e.user = user;
  e.uid = caller.uid;
  if (caller.pid > 0) e.pid = caller.pid;
  e.process = ProcessName(caller.pid);
}

audit::AuditEvent AccessControl::BaseEvent(const Caller& caller, const std::string& user) {
  audit::AuditEvent e;
  FillCaller(e, caller, user);
  return e;
}

bool AccessControl::SubmitEvent(audit::AuditEvent e) { return sink_->Submit(std::move(e)); }

const CachedDecision& AccessControl::Decide(const Caller& caller, const std::string& matter,
                                            policy::MatterStatus status, policy::Action action) {
  // Each thread keeps its own small direct-mapped table: a hit reads only thread-local
  // memory and two atomics, so lookups and getattrs (one decision each) allocate nothing
  // and share no lock across libfuse's worker threads.
  static thread_local std::array<CachedDecision, kDecisionSlots> slots;
  const uint64_t generation = generation_.load(std::memory_order_acquire);
  const int64_t now_ns = MonotonicCoarseNs();
  uint64_t h = std::hash<std::string_view>{}(matter) +
               uint64_t{caller.uid} * 0xC2B2AE3D27D4EB4Full +
               uint64_t(action) * 0x165667B19E3779F9ull + uint64_t(status) * 0x27D4EB2F165667C5ull;
  h ^= h >> 29;
  h *= 0x9E3779B97F4A7C15ull;
  CachedDecision& slot = slots[h >> (64 - kDecisionSlotBits)];
  if (slot.owner == id_ && slot.generation == generation && now_ns < slot.expires_ns &&
      slot.uid == caller.uid && slot.action == action && slot.status == status &&
      slot.matter == matter) {
    cached_.fetch_add(1, std::memory_order_relaxed);
    return slot;
  }
  computed_.fetch_add(1, std::memory_order_relaxed);
  slot.owner = 0;  // until filled in again
  slot.uid = caller.uid;
  slot.action = action;
  slot.status = status;
  slot.matter = matter;
  slot.user.clear();
  auto pol = policy();
  Clock::time_point subject_expires;
  auto subject = SubjectOf(caller.uid, &subject_expires);
  if (!subject.ok()) {
    slot.decision = policy::Decision{};
    slot.decision.allowed = false;
    slot.decision.basis = policy::Basis::kNoGrant;
    slot.decision.rule = "uid " + std::to_string(caller.uid) + " unknown to the system (" +
                         subject.error().message() + ")";
    return slot;  // not cached: the next call asks NSS again (it may be back)
  }
  slot.user = subject->user;
  std::vector<policy::BreakGlassGrant> grants;
  {
    std::lock_guard<std::mutex> g(grants_mu_);
    grants = grants_;
  }
  const policy::Time now = Now();
  slot.decision = policy::Decide(*pol, *subject, matter, status, action, now, grants);
  // Kept while the subject's groups are (kSubjectTtl), and never past a moment at which
  // the decision could change by itself: an until= in the policy or the grant's end.
  int64_t expires_ns =
      now_ns +
      std::chrono::duration_cast<std::chrono::nanoseconds>(subject_expires - Clock::now()).count();
  // (Against the precise time: `now` is whole seconds, and the coarse clock may lag a
  // tick, hence the margin.)
  const auto precise = std::chrono::system_clock::now();
  auto cap = [&](policy::Time t) {
    const int64_t in_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(t - precise).count() - kCoarseMarginNs;
    expires_ns = std::min(expires_ns, now_ns + in_ns);
  };
  if (auto next = policy::NextExpiry(*pol, now)) cap(*next);
  if (slot.decision.until) cap(*slot.decision.until);
  for (const auto& g : grants) {
    if (g.until > now) cap(g.until);
  }
  slot.expires_ns = expires_ns;
  slot.generation = generation;
  slot.owner = id_;
  return slot;
}

std::optional<uint64_t> AccessControl::ThrottleDenial(uint32_t uid, const std::string& matter,
                                                      const char* event, const std::string& path) {
  const auto now = Clock::now();
  std::lock_guard<std::mutex> g(throttle_mu_);
  if (throttle_.size() > 65536) throttle_.clear();
  auto& slot = throttle_[std::make_tuple(uid, matter, std::string(event), path)];
  if (slot.reported != Clock::time_point() && now - slot.reported < kDenialWindow) {
    ++slot.suppressed;
    return std::nullopt;
  }
  const uint64_t repeats = slot.suppressed;
  slot.reported = now;
  slot.suppressed = 0;
  return repeats;
}

bool AccessControl::Audit(const Caller& caller, const std::string& user, const policy::Decision& d,
                          const std::string& matter, const char* event, const std::string& path,
                          const char* access, uint64_t repeats) {
  // Filled in place in a slot of the sink's queue: no lock, and no allocation once the
  // slot's strings have grown to an event's sizes (open_path_test counts both).
  auto redactor = redactor_.load();
  return sink_->Emplace([&](audit::AuditEvent& e) {
    FillCaller(e, caller, user);
    e.event = event;
    e.result = d.allowed ? audit::AuditResult::kAllow : audit::AuditResult::kDeny;
    e.severity = d.allowed ? audit::AuditSeverity::kInfo : audit::AuditSeverity::kWarning;
    e.matter = matter;
    if (!path.empty()) redactor->Apply(path, e);
    e.access = access;
    e.rule = d.rule;
    if (repeats > 0) {
      e.count = repeats;
      e.message =
          std::to_string(repeats) + " more like it in the minute before, not logged one by one";
    }
  });
}

int AccessControl::Check(const Caller& caller, const std::string& matter,
                         policy::MatterStatus status, policy::Action action, const char* event,
                         const std::string& path, const char* access) {
  const CachedDecision& c = Decide(caller, matter, status, action);
  const policy::Decision& d = c.decision;
  const bool recorded = Audit(caller, c.user, d, matter, event, path, access);
  if (!d.allowed) return ErrnoFor(d);
  // audit = strict: an access whose event cannot be recorded does not happen.
  if (!recorded) return EACCES;
  return 0;
}

int AccessControl::Quiet(const Caller& caller, const std::string& matter,
                         policy::MatterStatus status, policy::Action action, const char* event,
                         const std::string& path) {
  const CachedDecision& c = Decide(caller, matter, status, action);
  const policy::Decision& d = c.decision;
  if (d.allowed) return 0;
  if (event != nullptr) {
    // Metadata probes repeat (a file server's SMB daemon reads the same attributes of the
    // same folders again and again, as root): one event per caller, matter, operation
    // and path a minute, the repeats counted in the next one, so the trail keeps every
    // distinct probe without drowning.
    std::optional<uint64_t> repeats = ThrottleDenial(caller.uid, matter, event, path);
    if (repeats) {
      Audit(caller, c.user, d, matter, event, path, policy::ActionName(action), *repeats);
    }
  }
  // A matter hidden from the caller does not exist for them.
  return action == policy::Action::kList ? ENOENT : ErrnoFor(d);
}

void AccessControl::SetBulkSettings(const policy::Policy& pol) {
  bulk_window_s_.store(std::max<int64_t>(1, pol.bulk_window.count()), std::memory_order_relaxed);
  bulk_threshold_.store(pol.bulk_threshold, std::memory_order_release);
}

std::optional<uint64_t> AccessControl::CountBulk(uint32_t uid, const std::string& matter) {
  const uint32_t threshold = bulk_threshold_.load(std::memory_order_acquire);
  if (threshold == 0) return std::nullopt;
  const int64_t window = bulk_window_s_.load(std::memory_order_relaxed);
  const auto now = static_cast<uint32_t>(MonotonicCoarseNs() / 1000000000);
  uint64_t key = std::hash<std::string_view>{}(matter) ^ (uint64_t{uid} * 0x9E3779B97F4A7C15ull);
  key = (key ^ (key >> 31)) | 1;
  constexpr uint64_t kAlerted = uint64_t{1} << 31;
  constexpr uint64_t kCount = kAlerted - 1;
  auto start_of = [](uint64_t state) { return static_cast<uint32_t>(state >> 32); };
  auto live = [&](uint64_t state) {
    return state != 0 && int64_t{now} - int64_t{start_of(state)} < window;
  };
  // Our slot, a free one, one whose window has passed, or else the probe's oldest.
  BulkSlot* slot = nullptr;
  BulkSlot* oldest = nullptr;
  for (size_t i = 0; i < kBulkProbe && slot == nullptr; ++i) {
    BulkSlot& s = bulk_[(key + i) & (kBulkSlots - 1)];
    uint64_t k = s.key.load(std::memory_order_acquire);
    if (k == key) {
      slot = &s;
    } else if ((k == 0 || !live(s.state.load(std::memory_order_relaxed))) &&
               s.key.compare_exchange_strong(k, key, std::memory_order_acq_rel)) {
      s.state.store(0, std::memory_order_relaxed);  // a new window starts below
      slot = &s;
    } else if (oldest == nullptr || start_of(s.state.load(std::memory_order_relaxed)) <
                                        start_of(oldest->state.load(std::memory_order_relaxed))) {
      oldest = &s;
    }
  }
  if (slot == nullptr) {  // more live (uid, matter) pairs here than the probe holds
    slot = oldest;
    slot->key.store(key, std::memory_order_release);
    slot->state.store(0, std::memory_order_relaxed);
  }
  uint64_t state = slot->state.load(std::memory_order_relaxed);
  uint64_t next;
  do {
    next = live(state) && (state & kCount) < kCount ? state + 1 : (uint64_t{now} << 32) | 1;
    if ((next & kCount) > threshold && !(next & kAlerted)) next |= kAlerted;
  } while (!slot->state.compare_exchange_weak(state, next, std::memory_order_relaxed));
  if ((next & kAlerted) && !(state & kAlerted && live(state))) return next & kCount;
  return std::nullopt;
}

void AccessControl::CountOpen(const Caller& caller, const std::string& matter) {
  const std::optional<uint64_t> count = CountBulk(caller.uid, matter);
  if (!count) return;
  auto pol = policy();
  auto subject = SubjectOf(caller.uid);
  audit::AuditEvent e = BaseEvent(caller, subject.ok() ? subject->user : "");
  e.event = audit::audit_events::kBulkAccess;
  e.result = audit::AuditResult::kOk;
  e.severity = audit::AuditSeverity::kAlert;
  e.matter = matter;
  e.count = *count;
  e.rule = "bulk_threshold " + std::to_string(pol->bulk_threshold) + " within " +
           policy::FormatDuration(pol->bulk_window);
  e.message = "more than " + std::to_string(pol->bulk_threshold) + " opens in one matter within " +
              policy::FormatDuration(pol->bulk_window);
  SubmitEvent(std::move(e));
}

Result<policy::BreakGlassGrant> AccessControl::BreakGlass(
    const Caller& caller, const std::string& matter, policy::Duration duration,
    const std::string& reason, const std::function<Status()>& check_matter) {
  MFS_ASSIGN(policy::Subject subject, SubjectOf(caller.uid));
  auto pol = policy();
  policy::Decision d = policy::MayBreakGlass(*pol, subject, matter, duration, Now());
  audit::AuditEvent e = BaseEvent(caller, subject.user);
  e.event = audit::audit_events::kBreakGlass;
  e.matter = matter;
  e.access = "read";
  e.rule = d.rule;
  e.message = reason;
  e.severity = audit::AuditSeverity::kAlert;
  e.result = d.allowed ? audit::AuditResult::kAllow : audit::AuditResult::kDeny;
  Status matter_ok;
  if (d.allowed && check_matter) matter_ok = check_matter();
  if (!matter_ok.ok()) {
    e.result = audit::AuditResult::kError;
    e.message = reason + " (refused: " + matter_ok.error().message() + ")";
  }
  SubmitEvent(std::move(e));
  if (!d.allowed) return Error(Code::kPermissionDenied, d.rule);
  MFS_TRY(matter_ok);
  policy::BreakGlassGrant grant{subject.user, matter, d.until ? *d.until : Now() + duration,
                                reason};
  {
    std::lock_guard<std::mutex> g(grants_mu_);
    grants_.push_back(grant);
  }
  InvalidateDecisions();
  return grant;
}

std::vector<policy::BreakGlassGrant> AccessControl::ActiveGrants() {
  const auto now = Now();
  std::vector<policy::BreakGlassGrant> expired;
  std::vector<policy::BreakGlassGrant> out;
  {
    std::lock_guard<std::mutex> g(grants_mu_);
    for (auto it = grants_.begin(); it != grants_.end();) {
      if (it->until <= now) {
        expired.push_back(*it);
        it = grants_.erase(it);
      } else {
        ++it;
      }
    }
    out = grants_;
  }
  for (const auto& g : expired) {
    audit::AuditEvent e;
    e.event = audit::audit_events::kBreakGlass;
    e.user = g.user;
    e.matter = g.matter;
    e.result = audit::AuditResult::kOk;
    e.severity = audit::AuditSeverity::kNotice;
    e.message = "break-glass access expired";
    SubmitEvent(std::move(e));
  }
  return out;
}

std::string AccessControl::SyslogProblem() const {
  struct stat st;
  if (::stat(opts_.syslog_socket.c_str(), &st) != 0) return "missing";
  if (!S_ISSOCK(st.st_mode)) return "not a socket";
  UniqueFd probe(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (opts_.syslog_socket.size() >= sizeof addr.sun_path) return "path too long";
  std::memcpy(addr.sun_path, opts_.syslog_socket.c_str(), opts_.syslog_socket.size() + 1);
  if (!probe.valid() ||
      ::connect(probe.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return "refuses connections (is the syslog daemon running?)";
  }
  return "";
}

std::string AccessControl::LogPath(std::string_view path) const {
  auto r = redactor_.load();
  switch (r->mode()) {
    case audit::PathMode::kPlain:
      return std::string(path);
    case audit::PathMode::kHash:
      return "hash:" + r->Hash(path);
    case audit::PathMode::kOmit:
      return "(path omitted)";
  }
  return "(path omitted)";
}

audit::AuditEvent AccessControl::CallerEvent(const Caller& caller) {
  auto subject = SubjectOf(caller.uid);
  return BaseEvent(caller, subject.ok() ? subject->user : "");
}

void AccessControl::Notice(const char* event, audit::AuditResult result,
                           audit::AuditSeverity severity, const Caller* caller,
                           const std::string& matter, const std::string& message,
                           const std::string& path) {
  audit::AuditEvent e;
  if (caller != nullptr) {
    auto subject = SubjectOf(caller->uid);
    e = BaseEvent(*caller, subject.ok() ? subject->user : "");
  }
  e.event = event;
  e.result = result;
  e.severity = severity;
  e.matter = matter;
  if (!path.empty()) redactor_.load()->Apply(path, e);
  e.message = message;
  SubmitEvent(std::move(e));
}

Status AccessControl::Reload() {
  if (!opts_.policy_path) return {};
  std::lock_guard<std::mutex> serial(reload_mu_);  // SIGHUP, file change and socket at once
  if (reload_observer_) reload_observer_(true);
  struct Ended {
    const std::function<void(bool)>& observer;
    ~Ended() {
      if (observer) observer(false);
    }
  } ended{reload_observer_};
  policy::NssResolver resolver;
  auto loaded = policy::LoadPolicyFile(*opts_.policy_path, resolver);
  auto refuse = [&](const std::string& why) -> Status {
    Notice(audit::audit_events::kPolicyReload, audit::AuditResult::kError,
           audit::AuditSeverity::kAlert, nullptr, "",
           "invalid policy kept out, the previous one stays in force: " + why);
    return Error(Code::kInvalidArgument, why);
  };
  if (!loaded.ok()) return refuse(loaded.error().message());
  auto fresh = std::make_shared<const policy::Policy>(std::move(*loaded));
  auto old = policy();
  // The audit settings take effect too (docs/AUDIT.md "Reloading"). Anything that can
  // fail is prepared before the policy is swapped, so a failure keeps all of the old one.
  std::vector<std::string> changed;
  std::shared_ptr<const audit::PathRedactor> redactor;
  if (fresh->audit_path != old->audit_path) {
    auto made =
        audit::PathRedactor::Make(static_cast<audit::PathMode>(fresh->audit_path), path_hash_key_);
    if (!made.ok()) return refuse("audit_path: " + made.error().message());
    redactor = std::make_shared<const audit::PathRedactor>(std::move(*made));
    changed.push_back(std::string("audit_path ") +
                      audit::PathModeName(static_cast<audit::PathMode>(old->audit_path)) + " -> " +
                      audit::PathModeName(static_cast<audit::PathMode>(fresh->audit_path)));
  }
  std::shared_ptr<std::unique_ptr<audit::AuditOutput>> new_log;
  const bool log_changed = fresh->audit_log != old->audit_log;
  if (log_changed) {
    new_log = std::make_shared<std::unique_ptr<audit::AuditOutput>>();
    if (!fresh->audit_log.empty()) {
      auto opened = audit::AuditLog::Open(fresh->audit_log, *signing_key_);
      if (!opened.ok()) {
        return refuse("audit_log " + fresh->audit_log + ": " + opened.error().message());
      }
      *new_log = std::move(*opened);
    }
    changed.push_back("audit_log " + (old->audit_log.empty() ? "(none)" : old->audit_log) + " -> " +
                      (fresh->audit_log.empty() ? "(none)" : fresh->audit_log));
  }
  // Applied from here on.
  std::atomic_store(&policy_, fresh);
  SetBulkSettings(*fresh);
  InvalidateDecisions();
  if (reload_hook_) reload_hook_();
  if (redactor) redactor_.store(std::move(redactor));
  if (log_changed) {
    sink_->Reconfigure([new_log](std::vector<std::unique_ptr<audit::AuditOutput>>& outputs) {
      for (auto it = outputs.begin(); it != outputs.end();) {
        if (dynamic_cast<audit::AuditLog*>(it->get()) != nullptr) {
          (void)(*it)->Close();  // its final signed checkpoint
          it = outputs.erase(it);
        } else {
          ++it;
        }
      }
      if (*new_log) outputs.push_back(std::move(*new_log));
    });
  }
  if (fresh->syslog_facility != old->syslog_facility) {
    const audit::SyslogFacility facility = FacilityOf(*fresh);
    sink_->Reconfigure([facility](std::vector<std::unique_ptr<audit::AuditOutput>>& outputs) {
      for (auto& out : outputs) {
        if (auto* s = dynamic_cast<audit::SyslogOutput*>(out.get())) s->set_facility(facility);
      }
    });
    changed.push_back(std::string("syslog_facility ") +
                      policy::SyslogFacilityName(old->syslog_facility) + " -> " +
                      policy::SyslogFacilityName(fresh->syslog_facility));
  }
  if (fresh->audit != old->audit) {
    if (opts_.audit_mode) {
      changed.push_back(std::string("audit = ") + policy::AuditModeName(fresh->audit) +
                        " ignored: --audit " + *opts_.audit_mode + " given at mount wins");
    } else {
      sink_->SetFullMode(fresh->audit == policy::AuditMode::kStrict ? audit::QueueFullMode::kStrict
                                                                    : audit::QueueFullMode::kDrop);
      changed.push_back(std::string("audit ") + policy::AuditModeName(old->audit) + " -> " +
                        policy::AuditModeName(fresh->audit));
    }
  }
  {
    std::lock_guard<std::mutex> g(subjects_mu_);
    subjects_.clear();
  }
  std::string message = "policy reloaded from " + *opts_.policy_path;
  if (!changed.empty()) {
    message += "; audit settings:";
    for (size_t i = 0; i < changed.size(); ++i) message += (i == 0 ? " " : ", ") + changed[i];
  }
  Notice(audit::audit_events::kPolicyReload, audit::AuditResult::kOk, audit::AuditSeverity::kNotice,
         nullptr, "", message);
  return {};
}

void AccessControl::StartWatcher(std::function<void()> tick) {
  tick_ = std::move(tick);
  watcher_ = std::thread([this] {
    while (!stop_) {
      {
        std::unique_lock<std::mutex> g(watch_mu_);
        watch_cv_.wait_for(g, std::chrono::seconds(1),
                           [this] { return stop_.load() || reload_requested_.load(); });
      }
      if (stop_) break;
      bool reload = reload_requested_.exchange(false);
      if (opts_.policy_path) {
        struct stat st;
        FileId id;
        if (::stat(opts_.policy_path->c_str(), &st) == 0) {
          id = {st.st_dev, st.st_ino, int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec,
                st.st_size};
        }
        if (!(id == policy_file_id_)) {
          policy_file_id_ = id;
          reload = true;
        }
      }
      // Nothing thrown here may end the daemon (an allocation failure while a keyring is
      // re-read, say): each step is guarded on its own, reported, and tried again next round.
      Guarded("policy reload", [&] {
        if (reload) (void)Reload();
      });
      Guarded("break-glass expiry", [&] { (void)ActiveGrants(); });
      Guarded("matter refresh", [&] {
        if (tick_) tick_();
      });
    }
  });
}

void AccessControl::Guarded(const char* what, const std::function<void()>& step) noexcept {
  try {
    step();
    return;
  } catch (const std::exception& e) {
    const std::string message = std::string(what) + " failed: " + e.what();
    try {
      log::Error(message);
      Notice(audit::audit_events::kInternalError, audit::AuditResult::kError,
             audit::AuditSeverity::kAlert, nullptr, "", message);
    } catch (...) {
      // Out of memory even for the report: the next round tries again.
    }
  } catch (...) {
  }
}

}  // namespace matterfs::fuse
