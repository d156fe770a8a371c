#include "fs/control_handler.h"

#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <thread>

#include "fs/fuse/open_file.h"
#include "fs/vault/admin.h"
#include "fs/vault/rotation.h"
#include "policy/timestamp.h"
#include "util/unix_time.h"

namespace matterfs::daemon {

namespace {

control::Response Fail(const char* code, const std::string& message) {
  control::Response r;
  r.ok = false;
  r.code = code;
  r.message = message;
  return r;
}

std::string Arg(const control::Request& req, const char* key) {
  auto it = req.args.find(key);
  return it == req.args.end() ? "" : it->second;
}

}  // namespace

control::Response ControlHandler::Handle(const control::Request& req, const control::Peer& peer) {
  const fuse::Caller caller{peer.uid, peer.gid, peer.pid};
  if (req.command == "status") return ShowStatus(caller);
  if (req.command == "break-glass") return BreakGlass(req, caller);
  if (req.command == "matter-status") return ChangeStatus(req, caller);
  if (req.command == "reload") return Reload(caller);
  if (req.command == "rotate") return Rotate(req, caller);
  if (req.command == "wipe") return Wipe(req, caller);
  if (req.command == "wipe-finish") return WipeFinish(req, caller);
  return Fail("EINVAL", "unknown command '" + req.command + "'");
}

control::Response ControlHandler::ShowStatus(const fuse::Caller& caller) {
  fuse::AccessControl& access = fs_.access();
  control::Response r;
  auto pol = access.policy();
  auto stats = access.audit_stats();
  const fuse::DecisionStats decisions = access.decision_stats();
  r.rows.push_back({{"kind", "mount"},
                    {"vault", fs_.vault().path()},
                    {"policy", pol->source.empty() ? "(owner only)" : pol->source},
                    {"audit_queued", std::to_string(stats.queued)},
                    {"audit_dropped", std::to_string(stats.dropped)},
                    {"audit_refused", std::to_string(stats.refused)},
                    {"syslog", access.syslog_socket()},
                    {"syslog_problem", access.SyslogProblem()},
                    {"audit_error", stats.last_error},
                    {"decisions_computed", std::to_string(decisions.computed)},
                    {"decisions_cached", std::to_string(decisions.cached)}});
  // Root and the daemon's own user (the operators, who hold the vault's key anyway) see
  // every matter; everyone else the matters the policy shows them.
  const bool operator_user = caller.uid == 0 || caller.uid == ::geteuid();
  auto list = fs_.vault().ListMatters();
  if (list.ok()) {
    for (const auto& m : *list) {
      auto status = fs_.MatterStatusByName(m.name).value_or(m.status);
      if (!operator_user && !access.Visible(caller, m.name, fuse::PolicyStatusOf(status))) {
        continue;
      }
      r.rows.push_back({{"kind", "matter"},
                        {"name", m.name},
                        {"status", vault::MatterStatusName(status)},
                        {"key_version", std::to_string(m.key_version)},
                        {"rotation_unfinished", m.key_versions > 1 ? "1" : "0"},
                        {"rotated", m.rotated == 0 ? "" : FormatUnixTime(m.rotated)}});
    }
  }
  // The rotation under way: for the operators and those who administer the matter.
  {
    std::lock_guard<std::mutex> g(rotating_mu_);
    if (!rotating_.matter.empty() &&
        (operator_user ||
         access.Quiet(
             caller, rotating_.matter,
             fuse::PolicyStatusOf(
                 fs_.MatterStatusByName(rotating_.matter).value_or(vault::MatterStatus::kOpen)),
             policy::Action::kAdmin, nullptr, "") == 0)) {
      const auto& p = rotating_.progress;
      const double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - rotating_.started)
              .count();
      r.rows.push_back({{"kind", "rotation"},
                        {"matter", rotating_.matter},
                        {"files", std::to_string(p.files)},
                        {"total", std::to_string(p.total)},
                        {"rewrapped", std::to_string(p.rewrapped)},
                        {"seconds", std::to_string(secs)}});
    }
  }
  // The wipe under way: for the operators and those who may wipe the matter.
  {
    std::lock_guard<std::mutex> g(rotating_mu_);
    if (!wiping_.matter.empty() &&
        (operator_user || access.Quiet(caller, wiping_.matter, policy::MatterStatus::kClosed,
                                       policy::Action::kWipe, nullptr, "") == 0)) {
      const auto& p = wiping_.progress;
      r.rows.push_back({{"kind", "wipe"},
                        {"matter", wiping_.matter},
                        {"files", std::to_string(p.files)},
                        {"total", std::to_string(p.total)},
                        {"bytes", std::to_string(p.bytes)},
                        {"total_bytes", std::to_string(p.total_bytes)}});
    }
  }
  // A break-glass grant says who looked at which matter and why: shown to the user who
  // holds it, to those who administer the matter, and to root and the daemon's own user
  // (who read the audit trail anyway), to no one else.
  auto me = access.SubjectOf(caller.uid);
  for (const auto& g : access.ActiveGrants()) {
    const bool own = operator_user || (me.ok() && me->user == g.user);
    const bool admin = access.Quiet(caller, g.matter,
                                    fuse::PolicyStatusOf(fs_.MatterStatusByName(g.matter).value_or(
                                        vault::MatterStatus::kOpen)),
                                    policy::Action::kAdmin, nullptr, "") == 0;
    if (!own && !admin) continue;
    r.rows.push_back({{"kind", "break-glass"},
                      {"user", g.user},
                      {"matter", g.matter},
                      {"until", policy::FormatTime(g.until)},
                      {"reason", g.reason}});
  }
  return r;
}

control::Response ControlHandler::BreakGlass(const control::Request& req,
                                             const fuse::Caller& caller) {
  const std::string matter = Arg(req, "matter");
  const std::string reason = Arg(req, "reason");
  if (matter.empty() || reason.empty()) {
    return Fail("EINVAL", "break-glass needs a matter and a reason");
  }
  auto duration = policy::ParseDuration(Arg(req, "duration"));
  if (!duration.ok()) return Fail("EINVAL", duration.error().message());
  // The policy decides first (and the decision is audited); only a caller it allows
  // learns whether the matter exists.
  auto grant =
      fs_.access().BreakGlass(caller, matter, *duration, reason, [&]() -> matterfs::Status {
        auto info = fs_.vault().FindMatter(matter);
        if (!info.ok()) return info.error();
        return {};
      });
  if (!grant.ok()) {
    if (grant.error().code() == Code::kNotFound) {
      return Fail("ENOENT", "no matter named '" + matter + "'");
    }
    if (grant.error().code() == Code::kPermissionDenied) {
      return Fail("EACCES", grant.error().message());
    }
    return Fail("EIO", grant.error().message());
  }
  control::Response r;
  r.rows.push_back({{"user", grant->user},
                    {"matter", grant->matter},
                    {"until", policy::FormatTime(grant->until)}});
  return r;
}

control::Response ControlHandler::ChangeStatus(const control::Request& req,
                                               const fuse::Caller& caller) {
  const std::string matter = Arg(req, "matter");
  const std::string verb = Arg(req, "verb");
  const char* event = vault::StatusEventName(verb);
  if (event == nullptr) {
    return Fail("EINVAL", "unknown verb '" + verb + "' (close, reopen, hold or release)");
  }
  fuse::AccessControl& access = fs_.access();
  // Decided before the matter is looked up (an admin decision does not depend on the
  // status), so a caller without the grant gets this one answer whether it exists or not.
  if (access.Check(caller, matter, policy::MatterStatus::kOpen, policy::Action::kAdmin, event, "",
                   "admin") != 0) {
    return Fail("EACCES", "the policy does not let you administer a matter named '" + matter + "'");
  }
  vault::AdminContext ctx;
  audit::AuditEvent who = access.CallerEvent(caller);
  ctx.actor = {who.user, caller.uid, caller.pid, who.process};
  ctx.online = true;
  ctx.events = [&access](audit::AuditEvent e) { return access.Submit(std::move(e)); };
  auto change = vault::ChangeMatterStatus(fs_.vault(), matter, verb, ctx);
  if (!change.ok()) {
    switch (change.error().code()) {
      case Code::kNotFound:
        return Fail("ENOENT", "no matter named '" + matter + "'");
      case Code::kInvalidArgument:
        return Fail("EINVAL", change.error().message());
      default:
        return Fail("EIO", change.error().message());
    }
  }
  // Every later operation of this daemon sees the new keyring (and so the new status)
  // before we answer.
  if (auto loaded = fs_.matters().Find(matter)) {
    if (!fs_.matters().Reload(matter).ok()) loaded->set_status(change->to);
  }
  control::Response r;
  r.rows.push_back({{"matter", matter},
                    {"from", vault::MatterStatusName(change->from)},
                    {"to", vault::MatterStatusName(change->to)}});
  return r;
}

control::Response ControlHandler::Reload(const fuse::Caller& caller) {
  fuse::AccessControl& access = fs_.access();
  if (caller.uid != 0 && caller.uid != ::geteuid()) {
    audit::AuditEvent e = access.CallerEvent(caller);
    e.event = audit::audit_events::kPolicyReload;
    e.result = audit::AuditResult::kDeny;
    e.severity = audit::AuditSeverity::kWarning;
    e.access = "admin";
    e.rule = "only root or the daemon's user may reload the policy";
    access.Submit(std::move(e));
    return Fail("EACCES", "only root may reload the policy");
  }
  matterfs::Status s = access.Reload();
  if (!s.ok()) return Fail("EINVAL", s.error().message());
  return {};
}

control::Response ControlHandler::Rotate(const control::Request& req, const fuse::Caller& caller) {
  fuse::AccessControl& access = fs_.access();
  std::vector<std::string> names;
  const bool all = Arg(req, "all") == "1";
  if (all) {
    // Every matter: for the operators (root, the daemon's user), who hold the key anyway.
    if (caller.uid != 0 && caller.uid != ::geteuid()) {
      return Fail("EACCES", "only root may rotate every matter; name one matter");
    }
    auto list = fs_.vault().ListMatters();
    if (!list.ok()) return Fail("EIO", list.error().message());
    for (const auto& m : *list) names.push_back(m.name);
    std::sort(names.begin(), names.end());
  } else {
    names.push_back(Arg(req, "matter"));
  }
  std::lock_guard<std::mutex> one_at_a_time(rotate_mu_);
  control::Response r;
  for (const std::string& matter : names) {
    // Decided before the matter is looked up, as for status changes.
    if (access.Check(caller, matter, policy::MatterStatus::kOpen, policy::Action::kAdmin,
                     audit::audit_events::kMatterRotate, "", "admin") != 0) {
      return Fail("EACCES",
                  "the policy does not let you administer a matter named '" + matter + "'");
    }
    vault::AdminContext ctx;
    audit::AuditEvent who = access.CallerEvent(caller);
    ctx.actor = {who.user, caller.uid, caller.pid, who.process};
    ctx.online = true;
    ctx.events = [&access](audit::AuditEvent e) { return access.Submit(std::move(e)); };
    vault::RotateOptions opts;
    const fuse::FileContext files = fs_.files();
    opts.rewrap_file = [files](vault::WalkItem& item, const vault::Keyring& ring) {
      return fuse::RewrapForRotation(files, item, ring);
    };
    // New files use the new version from here on; after the destruction the daemon holds
    // no old version either.
    opts.keyring_changed = [this, &matter](const vault::Keyring&) {
      (void)fs_.matters().Reload(matter);
    };
    // Tests: while the file MATTERFS_FAULT_INJECT_ROTATE_PAUSE_FILE names exists, the
    // rotation waits after each file (so that its progress can be watched).
    const char* pause = std::getenv("MATTERFS_FAULT_INJECT_ROTATE_PAUSE_FILE");
    const std::string pause_file = pause != nullptr ? pause : "";
    // Crash tests (tests/mount/crash_test.cc): the daemon kills itself with SIGKILL once
    // MATTERFS_FAULT_INJECT_DAEMON_ROTATE_KILL_AFTER headers are rewrapped.
    const char* kill_env = std::getenv("MATTERFS_FAULT_INJECT_DAEMON_ROTATE_KILL_AFTER");
    const long kill_after = kill_env != nullptr ? std::atol(kill_env) : -1;
    opts.progress = [this, pause_file, kill_after](const vault::RotateProgress& p) {
      {
        std::lock_guard<std::mutex> g(rotating_mu_);
        rotating_.progress = p;
      }
      if (kill_after >= 0 && p.rewrapped >= static_cast<uint64_t>(kill_after)) ::raise(SIGKILL);
      while (!pause_file.empty() && ::access(pause_file.c_str(), F_OK) == 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    };
    {
      std::lock_guard<std::mutex> g(rotating_mu_);
      rotating_ = {matter, {}, std::chrono::steady_clock::now()};
    }
    struct Done {
      ControlHandler* self;
      ~Done() {
        std::lock_guard<std::mutex> g(self->rotating_mu_);
        self->rotating_.matter.clear();
      }
    } done{this};
    // Other servers re-read keyrings every second (docs/MATTERFS.md: within 2 s).
    if (fs_.shared()) opts.settle = std::chrono::milliseconds(2500);
    auto rotated = vault::RotateMatter(fs_.vault(), matter, ctx, opts);
    // --all goes on with the other matters and marks the row of one that failed.
    if (!rotated.ok()) {
      if (all) {
        r.rows.push_back({{"matter", matter},
                          {"summary", "matter " + matter + ": " + rotated.error().message()},
                          {"failed", "1"}});
        continue;
      }
      return Fail(rotated.error().code() == Code::kNotFound ? "ENOENT" : "EIO",
                  rotated.error().code() == Code::kNotFound ? "no matter named '" + matter + "'"
                                                            : rotated.error().message());
    }
    std::string first = rotated->failures.empty() ? "" : " (" + rotated->failures[0] + ")";
    if (rotated->KeptOldVersions() && !all) {
      return Fail("EIO", vault::RotateSummary(*rotated) + first);
    }
    r.rows.push_back(
        {{"matter", matter},
         {"summary", vault::RotateSummary(*rotated) + (rotated->KeptOldVersions() ? first : "")},
         {"failed", rotated->KeptOldVersions() ? "1" : "0"}});
  }
  return r;
}

namespace {
// The policy's wipe decision, made before the matter is looked up (a wipe needs admin on
// the matter; the status part of the rule, no wipe under legal hold, is the vault
// library's refusal, the same offline), so a caller without the grant gets one answer
// whether the matter exists or not. Audited.
int DecideWipe(fuse::AccessControl& access, const fuse::Caller& caller, const std::string& matter) {
  return access.Check(caller, matter, policy::MatterStatus::kClosed, policy::Action::kWipe,
                      audit::audit_events::kMatterWipe, "", "wipe");
}

control::Response WipeDenied(const std::string& matter) {
  return Fail("EACCES", "the policy does not let you wipe a matter named '" + matter +
                            "' (it needs the wipe grant: admin on the matter); nothing was "
                            "changed");
}
}  // namespace

control::Response ControlHandler::Wipe(const control::Request& req, const fuse::Caller& caller) {
  fuse::AccessControl& access = fs_.access();
  const std::string matter = Arg(req, "matter");
  if (matter.empty()) return Fail("EINVAL", "wipe needs a matter");
  uint32_t passes = 1;
  if (const std::string p = Arg(req, "passes"); !p.empty()) {
    char* end = nullptr;
    const unsigned long n = std::strtoul(p.c_str(), &end, 10);
    if (*end != '\0' || p[0] == '-' || n > vault::kMaxWipePasses) {
      return Fail("EINVAL", "--passes must be 0 to " + std::to_string(vault::kMaxWipePasses));
    }
    passes = static_cast<uint32_t>(n);
  }
  if (DecideWipe(access, caller, matter) != 0) return WipeDenied(matter);
  std::lock_guard<std::mutex> one_at_a_time(rotate_mu_);
  vault::AdminContext ctx;
  audit::AuditEvent who = access.CallerEvent(caller);
  ctx.actor = {who.user, caller.uid, caller.pid, who.process};
  ctx.online = true;
  ctx.events = [&access](audit::AuditEvent e) { return access.Submit(std::move(e)); };
  vault::WipeOptions opts;
  opts.confirm = Arg(req, "confirm");
  opts.passes = passes;
  opts.change_lock = true;  // matter creation writes the key table under it too
  // Once the refusals are past: the matter disappears for every user, its open handles
  // fail (EIO), and no lookup loads it again while the wipe runs.
  bool barred = false;
  opts.starting = [&](const vault::MatterId&) {
    fs_.matters().Bar(matter);
    barred = true;
  };
  opts.progress = [this](const vault::WipeProgress& p) {
    std::lock_guard<std::mutex> g(rotating_mu_);
    wiping_.progress = p;
  };
  // Crash tests (tests/mount/crash_test.cc): the daemon kills itself with SIGKILL at the
  // point of the wipe (wipe.h) that MATTERFS_FAULT_INJECT_DAEMON_WIPE_KILL_AT names.
  if (const char* at = std::getenv("MATTERFS_FAULT_INJECT_DAEMON_WIPE_KILL_AT")) {
    const std::string kill_at = at;
    opts.reached = [kill_at](std::string_view point) {
      if (point == kill_at) ::raise(SIGKILL);
    };
  }
  {
    std::lock_guard<std::mutex> g(rotating_mu_);
    wiping_ = {matter, {}};
  }
  auto wiped = vault::WipeMatter(fs_.vault(), matter, ctx, opts);
  {
    std::lock_guard<std::mutex> g(rotating_mu_);
    wiping_.matter.clear();
  }
  // Wiped, or stopped: either its name is gone from the vault (a rerun completes the wipe)
  // or, stopped before it moved, the matter is intact and may be used again.
  if (barred) fs_.matters().Unbar(matter);
  if (!wiped.ok()) {
    switch (wiped.error().code()) {
      case Code::kNotFound:
        return Fail("ENOENT", "no matter named '" + matter + "'");
      case Code::kInvalidArgument:
        return Fail("EINVAL", wiped.error().message());
      default:
        return Fail("EIO", wiped.error().message());
    }
  }
  control::Response r;
  r.rows.push_back({{"matter", matter},
                    {"vault", fs_.vault().path()},
                    {"matter_id", ToHex(wiped->journal.matter_id)},
                    {"summary", vault::WipeSummary(*wiped)},
                    {"resumed", wiped->resumed ? "1" : "0"},
                    {"legacy_keyring", wiped->legacy_keyring ? "1" : "0"},
                    {"certificate", wiped->certificate_text}});
  return r;
}

control::Response ControlHandler::WipeFinish(const control::Request& req,
                                             const fuse::Caller& caller) {
  fuse::AccessControl& access = fs_.access();
  const std::string matter = Arg(req, "matter");
  if (matter.empty()) return Fail("EINVAL", "wipe-finish needs a matter");
  if (DecideWipe(access, caller, matter) != 0) return WipeDenied(matter);
  std::lock_guard<std::mutex> one_at_a_time(rotate_mu_);
  auto journal = vault::FindWipeJournal(fs_.vault(), matter);
  if (!journal.ok()) return Fail("EIO", journal.error().message());
  if (!*journal) return Fail("ENOENT", "no wipe of a matter named '" + matter + "' to finish");
  matterfs::Status st = vault::FinishWipe(fs_.vault(), (*journal)->matter_id);
  if (!st.ok()) {
    return Fail(st.error().code() == Code::kInvalidArgument ? "EINVAL" : "EIO",
                st.error().message());
  }
  return {};
}

}  // namespace matterfs::daemon
