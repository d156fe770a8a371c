#include "policy/decision.h"

#include <algorithm>
#include <array>
#include <utility>

namespace matterfs::policy {

namespace {

constexpr std::array<std::pair<Action, const char*>, 7> kActions = {{
    {Action::kRead, "read"},
    {Action::kWrite, "write"},
    {Action::kDelete, "delete"},
    {Action::kAdmin, "admin"},
    {Action::kCreateMatter, "create_matter"},
    {Action::kList, "list"},
    {Action::kWipe, "wipe"},
}};

constexpr std::array<std::pair<MatterStatus, const char*>, 3> kStatuses = {{
    {MatterStatus::kOpen, "open"},
    {MatterStatus::kClosed, "closed"},
    {MatterStatus::kHold, "hold"},
}};

// Roles cannot include each other in a parsed policy; the bound protects a Policy built
// in code from recursing forever.
constexpr int kMaxRoleDepth = 32;

// How the subject matched an entry.
struct Path {
  std::string via;            // "" (directly), "@lit-partners", "associates / @lit-associates"
  std::optional<Time> until;  // the earliest until= along the way
  std::string until_text;     // that until= as written
};

const char* KindName(PrincipalKind k) {
  switch (k) {
    case PrincipalKind::kUser:
      return "user";
    case PrincipalKind::kGroup:
      return "group";
    case PrincipalKind::kRole:
      return "role";
  }
  return "?";
}

// Matches list entries against one subject at one time, and remembers the first entry
// that would have matched but has expired, so that a denial can say so.
class Matcher {
 public:
  Matcher(const Policy& policy, const Subject& subject, Time now)
      : policy_(policy), subject_(subject), now_(now) {}

  // `context` describes where `e` is written: "matter acme: read", "role partners: member".
  std::optional<Path> Match(const Principal& e, const std::string& context, int depth = 0) {
    if (depth > kMaxRoleDepth) return std::nullopt;
    if (e.ExpiredAt(now_)) {
      if (expired_.empty() && MatchesIgnoringTime(e, depth)) {
        expired_ = context + " " + e.Display() + " (until " + e.until_text + ") has expired";
      }
      return std::nullopt;
    }
    switch (e.kind) {
      case PrincipalKind::kUser:
        if (e.name == subject_.user) return Path{"", e.until, e.until_text};
        return std::nullopt;
      case PrincipalKind::kGroup:
        if (std::find(subject_.groups.begin(), subject_.groups.end(), e.name) !=
            subject_.groups.end()) {
          return Path{"", e.until, e.until_text};
        }
        return std::nullopt;
      case PrincipalKind::kRole: {
        const Role* role = policy_.FindRole(e.name);
        if (role == nullptr) return std::nullopt;
        std::string inner = "role " + role->name + ": member";
        for (const Principal& m : role->members) {
          auto sub = Match(m, inner, depth + 1);
          if (!sub) continue;
          Path p;
          if (m.kind != PrincipalKind::kUser) {
            p.via = m.Display() + (sub->via.empty() ? "" : " / " + sub->via);
          }
          if (e.until && (!sub->until || *e.until <= *sub->until)) {
            p.until = e.until;
            p.until_text = e.until_text;
          } else {
            p.until = sub->until;
            p.until_text = sub->until_text;
          }
          return p;
        }
        return std::nullopt;
      }
    }
    return std::nullopt;
  }

  // First match in `list`, with the entry that matched.
  std::optional<std::pair<const Principal*, Path>> First(const PrincipalList& list,
                                                         const std::string& context) {
    for (const Principal& e : list) {
      if (auto p = Match(e, context)) return std::make_pair(&e, std::move(*p));
    }
    return std::nullopt;
  }

  // " (matter acme: read bob (until 2026-01-01) has expired)", or "".
  std::string ExpiredNote() const { return expired_.empty() ? "" : " (" + expired_ + ")"; }

 private:
  bool MatchesIgnoringTime(const Principal& e, int depth) const {
    if (depth > kMaxRoleDepth) return false;
    switch (e.kind) {
      case PrincipalKind::kUser:
        return e.name == subject_.user;
      case PrincipalKind::kGroup:
        return std::find(subject_.groups.begin(), subject_.groups.end(), e.name) !=
               subject_.groups.end();
      case PrincipalKind::kRole: {
        const Role* role = policy_.FindRole(e.name);
        if (role == nullptr) return false;
        return std::any_of(role->members.begin(), role->members.end(),
                           [&](const Principal& m) { return MatchesIgnoringTime(m, depth + 1); });
      }
    }
    return false;
  }

  const Policy& policy_;
  const Subject& subject_;
  Time now_;
  std::string expired_;
};

// "partners (role, via @lit-partners, until 2026-12-31)"
std::string Describe(const Principal& e, const Path& p, bool wall) {
  std::string out = e.Display() + " (";
  if (wall) {
    out += "ethical wall";
    if (e.kind != PrincipalKind::kUser) out += ", ";
  }
  if (!wall || e.kind != PrincipalKind::kUser) out += KindName(e.kind);
  if (!p.via.empty()) out += ", via " + p.via;
  if (p.until) out += ", until " + (p.until_text.empty() ? FormatTime(*p.until) : p.until_text);
  out += ")";
  return out;
}

Decision Allow(Basis basis, std::string rule, std::optional<Time> until = std::nullopt) {
  return Decision{true, basis, std::move(rule), until};
}

Decision Deny(Basis basis, std::string rule) {
  return Decision{false, basis, std::move(rule), std::nullopt};
}

// The [matter NAME] section (if any) and [matter *] (if any), most specific first.
struct Sections {
  std::array<const MatterRules*, 2> rules{};
  size_t count = 0;
};

Sections SectionsFor(const Policy& policy, std::string_view matter) {
  Sections s;
  if (const MatterRules* m = policy.FindMatter(matter)) s.rules[s.count++] = m;
  if (policy.every_matter) s.rules[s.count++] = &*policy.every_matter;
  return s;
}

std::optional<Decision> CheckWalls(Matcher& m, const Sections& sections) {
  for (size_t i = 0; i < sections.count; ++i) {
    const MatterRules& r = *sections.rules[i];
    std::string label = "matter " + r.name + ": deny";
    if (auto hit = m.First(r.deny, label)) {
      return Deny(Basis::kWall, label + " " + Describe(*hit->first, hit->second, true));
    }
  }
  return std::nullopt;
}

}  // namespace

const char* ActionName(Action a) {
  for (const auto& [action, name] : kActions) {
    if (action == a) return name;
  }
  return "?";
}

const char* MatterStatusName(MatterStatus s) {
  for (const auto& [status, name] : kStatuses) {
    if (status == s) return name;
  }
  return "?";
}

std::optional<Action> ParseAction(std::string_view s) {
  for (const auto& [action, name] : kActions) {
    if (s == name) return action;
  }
  return std::nullopt;
}

std::optional<MatterStatus> ParseMatterStatus(std::string_view s) {
  for (const auto& [status, name] : kStatuses) {
    if (s == name) return status;
  }
  return std::nullopt;
}

const char* BasisName(Basis b) {
  switch (b) {
    case Basis::kGrant:
      return "grant";
    case Basis::kBreakGlass:
      return "break-glass";
    case Basis::kListAll:
      return "list-all";
    case Basis::kWall:
      return "wall";
    case Basis::kNoGrant:
      return "no-grant";
    case Basis::kClosed:
      return "closed";
    case Basis::kHold:
      return "hold";
    case Basis::kInvalid:
      return "invalid";
  }
  return "?";
}

Decision Decide(const Policy& policy, const Subject& subject, std::string_view matter,
                MatterStatus status, Action action, Time now,
                std::span<const BreakGlassGrant> active) {
  // 1. list: everything is listed unless hide_denied; otherwise as read.
  if (action == Action::kList) {
    if (!policy.hide_denied) {
      return Allow(Basis::kListAll, "hide_denied = no: every matter is listed");
    }
    action = Action::kRead;
  }

  Matcher m(policy, subject, now);
  Sections sections = SectionsFor(policy, matter);

  // 2. Ethical walls beat everything: grants, admin, create_matters and break-glass.
  if (auto wall = CheckWalls(m, sections)) return *wall;

  // 3. create_matter is granted in [policy], not per matter, and knows no status.
  if (action == Action::kCreateMatter) {
    if (auto hit = m.First(policy.create_matters, "[policy] create_matters")) {
      return Allow(Basis::kGrant,
                   "[policy] create_matters " + Describe(*hit->first, hit->second, false),
                   hit->second.until);
    }
    return Deny(Basis::kNoGrant, "default deny: not in [policy] create_matters" + m.ExpiredNote());
  }

  // 4. A grant that confers the action: admin implies write and read; write implies
  // read and delete.
  struct ListRef {
    const char* key;
    PrincipalList MatterRules::*list;
  };
  static constexpr ListRef kRead[] = {
      {"read", &MatterRules::read}, {"write", &MatterRules::write}, {"admin", &MatterRules::admin}};
  static constexpr ListRef kWrite[] = {{"write", &MatterRules::write},
                                       {"admin", &MatterRules::admin}};
  static constexpr ListRef kAdmin[] = {{"admin", &MatterRules::admin}};
  std::span<const ListRef> lists;
  switch (action) {
    case Action::kRead:
      lists = kRead;
      break;
    case Action::kWrite:
    case Action::kDelete:
      lists = kWrite;
      break;
    case Action::kAdmin:
    case Action::kWipe:
      lists = kAdmin;
      break;
    case Action::kList:
    case Action::kCreateMatter:
      break;  // handled above
  }

  std::optional<Decision> granted;
  for (size_t i = 0; i < sections.count && !granted; ++i) {
    const MatterRules& r = *sections.rules[i];
    for (const ListRef& ref : lists) {
      std::string label = "matter " + r.name + ": " + ref.key;
      if (auto hit = m.First(r.*(ref.list), label)) {
        granted = Allow(Basis::kGrant, label + " " + Describe(*hit->first, hit->second, false),
                        hit->second.until);
        break;
      }
    }
  }

  if (!granted) {
    // 5. Break-glass: read only, for a user still entitled to break glass.
    if (action == Action::kRead) {
      for (const BreakGlassGrant& g : active) {
        if (g.user != subject.user || g.matter != matter || now >= g.until) continue;
        if (!m.First(policy.break_glass, "[policy] break_glass")) continue;
        return Allow(Basis::kBreakGlass,
                     "break-glass by " + g.user + " until " + FormatTime(g.until), g.until);
      }
    }
    return Deny(Basis::kNoGrant, "default deny" + m.ExpiredNote());
  }

  // 6. Status, for those the grants admit: closed is read-only for everyone (admin may
  // still reopen); hold forbids deleting anything, wipe included.
  if (status == MatterStatus::kClosed && (action == Action::kWrite || action == Action::kDelete)) {
    return Deny(Basis::kClosed, "status closed: read-only");
  }
  if (status == MatterStatus::kHold && (action == Action::kDelete || action == Action::kWipe)) {
    return Deny(Basis::kHold, "status hold: nothing may be deleted");
  }
  return *granted;
}

std::optional<Time> NextExpiry(const Policy& policy, Time now) {
  std::optional<Time> next;
  auto scan = [&](const PrincipalList& list) {
    for (const Principal& e : list) {
      if (e.until && *e.until > now && (!next || *e.until < *next)) next = e.until;
    }
  };
  scan(policy.create_matters);
  scan(policy.break_glass);
  for (const auto& [name, role] : policy.roles) scan(role.members);
  auto scan_rules = [&](const MatterRules& r) {
    scan(r.read);
    scan(r.write);
    scan(r.admin);
    scan(r.deny);
  };
  for (const auto& [name, rules] : policy.matters) scan_rules(rules);
  if (policy.every_matter) scan_rules(*policy.every_matter);
  return next;
}

Decision MayBreakGlass(const Policy& policy, const Subject& subject, std::string_view matter,
                       Duration duration, Time now) {
  if (!IsValidMatterName(matter)) {
    return Deny(Basis::kInvalid, "bad matter name '" + std::string(matter) + "'");
  }
  Matcher m(policy, subject, now);
  if (auto wall = CheckWalls(m, SectionsFor(policy, matter))) {
    wall->rule += "; ethical walls cannot be broken";
    return *wall;
  }
  if (policy.break_glass.empty()) {
    return Deny(Basis::kNoGrant, "default deny: break-glass is off ([policy] break_glass unset)");
  }
  auto hit = m.First(policy.break_glass, "[policy] break_glass");
  if (!hit) {
    return Deny(Basis::kNoGrant, "default deny: " + subject.user +
                                     " is not in [policy] break_glass" + m.ExpiredNote());
  }
  if (duration <= Duration::zero()) {
    return Deny(Basis::kInvalid, "break-glass duration must be positive");
  }
  if (duration > policy.break_glass_max) {
    return Deny(Basis::kInvalid,
                "break-glass for " + FormatDuration(duration) +
                    " exceeds break_glass_max = " + FormatDuration(policy.break_glass_max));
  }
  // Access ends with the membership that allowed it, if that comes first (Decide checks
  // membership again on every use anyway).
  Time until = now + duration;
  if (hit->second.until) until = std::min(until, *hit->second.until);
  return Allow(Basis::kBreakGlass,
               "break-glass by " + subject.user + " until " + FormatTime(until) +
                   ": [policy] break_glass " + Describe(*hit->first, hit->second, false),
               until);
}

}  // namespace matterfs::policy
