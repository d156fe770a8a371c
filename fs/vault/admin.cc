#include "fs/vault/admin.h"

namespace matterfs::vault {

const char* StatusEventName(std::string_view verb) {
  if (verb == "close") return audit::audit_events::kMatterClose;
  if (verb == "reopen") return audit::audit_events::kMatterReopen;
  if (verb == "hold") return audit::audit_events::kMatterHold;
  if (verb == "release") return audit::audit_events::kMatterRelease;
  return nullptr;
}

audit::AuditEvent AdminEvent(const AdminContext& ctx, const char* event, std::string_view matter) {
  audit::AuditEvent e;
  e.event = event;
  e.result = audit::AuditResult::kOk;
  e.severity = audit::AuditSeverity::kNotice;
  e.user = ctx.actor.user;
  e.uid = ctx.actor.uid;
  if (ctx.actor.pid > 0) e.pid = ctx.actor.pid;
  e.process = ctx.actor.process;
  e.matter = std::string(matter);
  e.access = "admin";
  return e;
}

Result<StatusChange> ChangeMatterStatus(Vault& vault, std::string_view matter,
                                        std::string_view verb, const AdminContext& ctx) {
  const char* event = StatusEventName(verb);
  if (event == nullptr) {
    return Error(Code::kInvalidArgument,
                 "unknown verb '" + std::string(verb) + "' (close, reopen, hold or release)");
  }
  MFS_ASSIGN(MatterInfo info, vault.FindMatter(matter));
  if (ctx.authorize) MFS_TRY(ctx.authorize(info));
  const std::string how = ctx.online ? " (online)" : " (offline, matterctl)";
  auto fail = [&](const Error& e) -> Error {
    audit::AuditEvent ev = AdminEvent(ctx, event, matter);
    ev.result = audit::AuditResult::kError;
    ev.message = e.message() + how;
    if (ctx.events) ctx.events(std::move(ev));
    return e;
  };
  auto next = StatusAfter(verb, info.status);
  if (!next.ok()) {
    return fail(
        Error(Code::kInvalidArgument, "matter '" + info.name + "': " + next.error().message()));
  }
  auto old = vault.SetMatterStatus(matter, *next);
  if (!old.ok()) return fail(old.error());
  audit::AuditEvent ev = AdminEvent(ctx, event, matter);
  ev.message =
      std::string("matter ") + MatterStatusName(*old) + " -> " + MatterStatusName(*next) + how;
  if (ctx.events) ctx.events(std::move(ev));
  return StatusChange{info.name, *old, *next};
}

}  // namespace matterfs::vault
