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
// kExitError (1) if the log cannot be read.
int AuditVerify(const std::string& log, std::optional<std::string> public_key_hex);

}  // namespace matterfs::tools
