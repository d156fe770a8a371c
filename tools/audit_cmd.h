// `matterctl audit ...` commands, kept out of matterctl.cc so the audit layer's tools can
// be tested without a vault. Exit codes are matterctl's (tools/matterctl.h).
#pragma once

#include <optional>
#include <string>

namespace matterfs::tools {

// `matterctl audit verify LOG [--public-key HEX]`: checks the local audit log's hash
// chain, numbering and signed checkpoints (audit::VerifyLog). With a public key (64 hex
// characters, e.g. the vault's), every checkpoint must be signed by that key.
// Prints a one-line verdict on stdout ("intact" or "TAMPERED"), each problem and
// warning on stderr. Returns kExitOk (0) if intact, kExitCorrupt (4) if tampered,
// kExitNotFound (5) if the log is missing, kExitUsage (2) for a malformed key,
// kExitError (1) if the log cannot be read. With `json`, stdout is one JSON document
// instead of the verdict (docs/MATTERCTL.md "audit verify"); stderr is unchanged.
int AuditVerify(const std::string& log, std::optional<std::string> public_key_hex,
                bool json = false);

// `matterctl audit report LOG --matter M [--since T] [--until T] [--user U]
// [--format table|csv|json] [--public-key HEX]`: who opened, changed or was denied what
// in matter M (audit/access_report.h), after verifying the log as `audit verify` does.
// T: a UTC date (2026-12-01, midnight) or time (2026-12-01T09:30:00Z); --since is
// inclusive, --until exclusive. U: a user name or a uid. Prints the report on stdout
// (docs/AUDIT.md "Access reports"). Returns kExitOk, or without a report: kExitCorrupt
// (4) for a log that does not verify, kExitUsage (2) for a bad argument, kExitNotFound
// (5) for a missing log, kExitError (1) for an unreadable one; one line on stderr, and
// with --format json also the error document on stdout.
struct AuditReportArgs {
  std::string log;
  std::string matter;
  std::optional<std::string> since;
  std::optional<std::string> until;
  std::optional<std::string> user;
  std::optional<std::string> public_key_hex;
  std::string format = "table";
};
int AuditReport(const AuditReportArgs& args);

}  // namespace matterfs::tools
