// The access report of one matter (docs/AUDIT.md "Access reports"): who opened, changed
// or was denied what in a matter over a period, read from the local audit log
// (audit/local_log.h) after verifying it. What firms produce for disqualification
// motions and breach assessments; `matterctl audit report` formats it as a table, CSV
// or JSON.
//
// The log is read once: the verifier hands each record it checks to the report, so the
// rows are the very bytes whose chain and signatures were verified. A log that does not
// verify yields no rows.
//
// Thread-safety: pure functions of the file's contents. Errors: as VerifyLog (kNotFound
// for a missing log, kIo when it cannot be read); tampering is not an error but
// `verify.intact == false` in the result.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "audit/event.h"
#include "audit/local_log.h"
#include "util/bytes.h"
#include "util/result.h"

namespace matterfs::audit {

struct ReportQuery {
  std::string matter;               // only events of this matter (exact name)
  std::optional<AuditTime> since;   // events at or after it
  std::optional<AuditTime> until;   // events before it (exclusive)
  std::optional<std::string> user;  // only this user: a name, or a uid in decimal
};

// What an event counts as in the summary.
enum class AccessKind {
  kRead,    // allowed: open for reading, a listing, a metadata read
  kChange,  // allowed: open for writing, create, mkdir, unlink, rmdir, rename, link,
            // symlink, setattr, setxattr, removexattr
  kDenied,  // result "deny", whatever the operation
  kOther,   // everything else: status changes, rotation, wipe, break-glass, tamper, ...
};
const char* AccessKindName(AccessKind k);  // "read", "change", "denied", "other"

struct ReportRow {
  uint64_t seq = 0;
  std::string time;             // as recorded, UTC with microseconds: 2026-12-01T09:30:00.123456Z
  std::optional<AuditTime> at;  // `time` parsed (nullopt if the record's time is malformed)
  std::string user;
  std::optional<uint32_t> uid;
  std::string event;      // "open", "create", "unlink", "matter-close", ...
  std::string access;     // "read", "write", "read-write", "delete", "admin", ...
  std::string action;     // "open read", "open write", "open read-write"; else the event
  std::string path;       // within the matter ("" for the matter itself, or none recorded)
  std::string path_hash;  // audit_path = hash: the keyed hash instead of the path
  std::string decision;   // the result: "allow", "deny", "ok", "error"
  std::string rule;       // the policy rule that decided
  std::string message;    // free text (a reason, an error, "N more like it ...")
  AccessKind kind = AccessKind::kOther;
  // How many accesses the row stands for: 1, or for a throttled denial 1 + the repeats
  // before it that were not recorded one by one (its "count", docs/AUDIT.md).
  uint64_t occurrences = 1;
  // The rule if there is one, else the message.
  const std::string& reason() const { return rule.empty() ? message : rule; }
};

struct UserSummary {
  std::string user;
  std::optional<uint32_t> uid;
  uint64_t reads = 0;  // occurrences of each kind
  uint64_t changes = 0;
  uint64_t denials = 0;
  uint64_t other = 0;
};

struct AccessReport {
  VerifyReport verify;
  std::vector<ReportRow> rows;     // in log order; empty unless verify.intact
  std::vector<UserSummary> users;  // one per (user, uid) in the rows, by name then uid
};

// Verifies the log at `path` (as VerifyLog, with `expected_key`) and collects the events
// of `query.matter` that the query selects.
Result<AccessReport> BuildAccessReport(const std::string& path, const ReportQuery& query,
                                       std::optional<ByteSpan> expected_key = std::nullopt);

}  // namespace matterfs::audit
