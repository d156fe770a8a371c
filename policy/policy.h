// The policy file (docs/POLICY.md): who may read, write and administer which matter, the
// ethical walls, break-glass, and the audit settings the daemon reads from it.
//
// ParsePolicy turns the INI text into a Policy or into the list of ALL its problems, each
// "file:line: reason". Nothing is ever defaulted silently: an unknown section or key, a
// malformed value, a duplicate section or key, a name that is both a role and a user, or
// a name that is neither a defined role nor an existing user/group is a problem.
//
// Layering: this library knows nothing of FUSE or the vault. Parsing reads the file (in
// LoadPolicyFile only) and asks a Resolver whether users and groups exist; the decision
// (policy/decision.h) does no I/O at all. The NSS-backed Resolver lives apart, in
// policy/nss_resolver.h (library mfs_policy_nss), linked only by tools and the daemon.
//
// Thread-safety: a Policy is a plain value, built once by ParsePolicy and then only read;
// share it as std::shared_ptr<const Policy> and swap the pointer on reload. Reading one
// Policy from many threads is safe. Parse functions are reentrant (inih keeps no state).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/timestamp.h"
#include "util/matter_name.h"
#include "util/result.h"

namespace matterfs::policy {

// One entry of a list: `bob`, `@paralegals`, `partners`, optionally `until=…`.
enum class PrincipalKind : uint8_t { kUser, kGroup, kRole };

struct Principal {
  PrincipalKind kind = PrincipalKind::kUser;
  std::string name;           // without the '@' of a group
  std::optional<Time> until;  // the entry holds while now < until; none: no expiry
  std::string until_text;     // as written ("2026-12-31"), for rules; empty without until
  int line = 0;               // where it was written (0: built in code)

  // "bob", "@paralegals" or "partners".
  std::string Display() const;
  bool ExpiredAt(Time now) const { return until && now >= *until; }
};
using PrincipalList = std::vector<Principal>;

// [role NAME]
struct Role {
  std::string name;
  int line = 0;
  PrincipalList members;  // users, @groups and other roles (no cycles)
};

// [matter NAME], or [matter *] (name "*"): defaults added to every matter.
struct MatterRules {
  std::string name;
  int line = 0;
  PrincipalList read;   // may read
  PrincipalList write;  // may read, write and delete (status permitting)
  PrincipalList admin;  // all of that, and close/reopen/hold/release/wipe via matterctl
  PrincipalList deny;   // ethical wall: beats every grant, admin and break-glass
};

// `audit = drop|strict`: what the daemon does when its audit queue is full.
enum class AuditMode : uint8_t { kDrop, kStrict };
// `audit_path = plain|hash|omit`: how a file path appears in audit events (same order
// as PathMode in audit/event.h).
enum class AuditPath : uint8_t { kPlain, kHash, kOmit };
// `syslog_facility = …`. (audit/event.h has the audit writer's own SyslogFacility,
// numbered by RFC 5424 code; convert with ParseFacility(SyslogFacilityName(f)).)
enum class LogFacility : uint8_t {
  kAuth,
  kAuthpriv,
  kDaemon,
  kLocal0,
  kLocal1,
  kLocal2,
  kLocal3,
  kLocal4,
  kLocal5,
  kLocal6,
  kLocal7,
};

const char* AuditModeName(AuditMode m);
const char* AuditPathName(AuditPath p);
const char* SyslogFacilityName(LogFacility f);  // "authpriv"
// The RFC 5424 facility number (auth 4, daemon 3, authpriv 10, local0..7 16..23);
// PRI = number * 8 + severity.
int SyslogFacilityCode(LogFacility f);

struct Policy {
  std::string source;  // the file it came from, for messages ("" when built in code)

  // [policy]
  bool hide_denied = true;       // matters a user may not read are not listed
  PrincipalList create_matters;  // may mkdir a new matter at the mount root
  PrincipalList break_glass;     // may take break-glass read access
  Duration break_glass_max = std::chrono::hours(4);
  uint32_t bulk_threshold = 200;  // opens of one matter within bulk_window; 0 = off
  Duration bulk_window = std::chrono::seconds(60);
  AuditMode audit = AuditMode::kDrop;
  AuditPath audit_path = AuditPath::kPlain;
  LogFacility syslog_facility = LogFacility::kAuthpriv;
  std::string audit_log;  // absolute path of the local JSON-lines log, or empty

  std::map<std::string, Role, std::less<>> roles;
  std::map<std::string, MatterRules, std::less<>> matters;  // by matter name, without "*"
  std::optional<MatterRules> every_matter;                  // [matter *]

  // The [matter NAME] section, or nullptr (the matter then has only [matter *] rules).
  const MatterRules* FindMatter(std::string_view name) const;
  const Role* FindRole(std::string_view name) const;

  // The policy the daemon uses without --policy (the workstation case): `user` may
  // create matters and administer every matter; nobody else has any access.
  static Policy OwnerOnly(std::string user);
};

// Whether the policy can name a matter: util/matter_name.h, the vault's own rule.
// ("*" is [matter *], the defaults, not a matter.)
using ::matterfs::IsValidMatterName;

// Answers whether users and groups exist. Parsing uses it to tell users from undefined
// roles and to refuse names that are both. An Error (e.g. the directory service is down)
// becomes a problem at the line that named the user or group.
class Resolver {
 public:
  virtual ~Resolver() = default;
  virtual Result<bool> UserExists(std::string_view user) const = 0;
  virtual Result<bool> GroupExists(std::string_view group) const = 0;
};

// One problem in a policy file. line 0 means the file as a whole.
struct Problem {
  int line = 0;
  std::string reason;
};

// "file:line: reason" ("file: reason" for line 0).
std::string FormatProblem(std::string_view file, const Problem& p);

// Parses policy text; `file` names it in messages and becomes Policy::source.
// Invalid: kInvalidArgument whose message is every problem, "file:line: reason", one per
// line, in line order; `problems` (if given) receives them too.
Result<Policy> ParsePolicy(std::string_view text, std::string_view file, const Resolver& resolver,
                           std::vector<Problem>* problems = nullptr);

// Reads `path` (at most kMaxPolicyFileSize bytes) and parses it.
// Errors: kNotFound if there is no such file, kIo if it cannot be read, kInvalidArgument
// for a file that is too large or invalid (as ParsePolicy).
inline constexpr size_t kMaxPolicyFileSize = 1 << 20;
Result<Policy> LoadPolicyFile(const std::string& path, const Resolver& resolver,
                              std::vector<Problem>* problems = nullptr);

}  // namespace matterfs::policy
