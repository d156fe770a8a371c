// The decision: may this subject do this action on this matter, now? And which rule said
// so. docs/POLICY.md "Decision order" describes the same steps in prose.
//
// Decide and MayBreakGlass are pure functions of their arguments: no I/O, no clock, no
// user or group lookups (the caller resolves the subject and passes the time, the
// matter's status and the active break-glass grants). Thread-safe; they allocate only the
// rule string.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "policy/policy.h"
#include "policy/timestamp.h"

namespace matterfs::policy {

// Who is asking: resolved by the caller (the daemon through NSS, from the request's uid).
// Root is not special: uid 0 gets exactly what the policy grants the user named "root".
struct Subject {
  std::string user;                 // login name, as the policy names users
  uint32_t uid = 0;                 // for audit; decisions go by name
  std::vector<std::string> groups;  // primary and supplementary group names
};

// What the subject wants to do. The mapping of filesystem operations is in POLICY.md.
enum class Action : uint8_t {
  kRead,          // open for reading, opendir/readdir, lookup and readlink inside a matter
  kWrite,         // create, write, mkdir, symlink, link, setattr, setxattr, removexattr
  kDelete,        // unlink, rmdir, rename (the source), truncate, open with O_TRUNC
  kAdmin,         // matterctl matter close|reopen|hold|release
  kCreateMatter,  // mkdir of a new matter at the mount root, matterctl matter create
  kList,          // see the matter in the root listing (and look it up)
  kWipe,          // matterctl matter wipe: admin, and never under legal hold
};

// The matter's status as stored in the vault; the daemon maps the vault's own enum.
enum class MatterStatus : uint8_t { kOpen, kClosed, kHold };

const char* ActionName(Action a);              // "read", "create_matter", …
const char* MatterStatusName(MatterStatus s);  // "open", "closed", "hold"
std::optional<Action> ParseAction(std::string_view s);
std::optional<MatterStatus> ParseMatterStatus(std::string_view s);

// A break-glass grant the daemon holds after MayBreakGlass allowed it: read access to one
// matter for one user until `until` (exclusive). Not persisted by the policy layer.
struct BreakGlassGrant {
  std::string user;
  std::string matter;
  Time until;
  std::string reason;  // as the user stated it, for audit
};

// Why a decision came out as it did; the daemon maps denials to errno (POLICY.md):
// kWall, kNoGrant -> EACCES; kClosed -> EROFS; kHold -> EPERM; a denied kList -> the
// matter is hidden (ENOENT on lookup, absent from readdir).
enum class Basis : uint8_t {
  kGrant,       // allowed: a read/write/admin grant, or create_matters / break_glass
  kBreakGlass,  // allowed: an active break-glass grant (read only)
  kListAll,     // allowed: list, because hide_denied = no
  kWall,        // denied: a deny list (ethical wall)
  kNoGrant,     // denied: nothing grants it (default deny)
  kClosed,      // denied: the matter is closed (read-only for everyone)
  kHold,        // denied: the matter is on legal hold (nothing may be deleted)
  kInvalid,     // denied: a malformed request (MayBreakGlass: bad duration or matter name)
};
const char* BasisName(Basis b);  // "grant", "break-glass", … (for audit fields)

struct Decision {
  bool allowed = false;
  Basis basis = Basis::kNoGrant;
  // What decided, for audit and `matterctl policy explain`, e.g.
  //   "matter acme-v-smith: deny carol (ethical wall)"
  //   "matter acme-v-smith: write partners (role, via @lit-partners)"
  //   "status closed: read-only"      "status hold: nothing may be deleted"
  //   "break-glass by dave until 2026-11-22T12:00Z"      "default deny"
  std::string rule;
  // When an allowing grant ends (the earliest until= on the path that granted it, or the
  // break-glass end); none: it does not expire. Callers caching a decision must not keep
  // it past this. For MayBreakGlass: the end of the grant to create.
  std::optional<Time> until;
};

// The decision for `subject` doing `action` on `matter` (a matter name at the mount root;
// for kCreateMatter, the name of the matter to create; `status` is then ignored).
// `active` may hold grants for any user and matter, expired ones included; only those for
// this subject and matter, unexpired, whose user is still in break_glass, count.
Decision Decide(const Policy& policy, const Subject& subject, std::string_view matter,
                MatterStatus status, Action action, Time now,
                std::span<const BreakGlassGrant> active = {});

// The first moment after `now` at which some until= in the policy passes, or none. No
// decision (allowed or denied, for any subject) can change between `now` and then unless
// the policy, the subject's groups, the status or the break-glass grants change: callers
// caching decisions keep them no longer than this.
std::optional<Time> NextExpiry(const Policy& policy, Time now);

// May `subject` take break-glass read access to `matter` for `duration`, starting now?
// Allowed only to members of [policy] break_glass, for 0 < duration <= break_glass_max,
// and never to a user walled off the matter. The caller checks that the matter exists in
// the vault and that a reason was given, then creates
// BreakGlassGrant{subject.user, matter, decision.until, reason}.
Decision MayBreakGlass(const Policy& policy, const Subject& subject, std::string_view matter,
                       Duration duration, Time now);

}  // namespace matterfs::policy
