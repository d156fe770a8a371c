#include "tools/audit_cmd.h"

#include <iostream>

#include "audit/local_log.h"
#include "crypto/signing.h"
#include "util/bytes.h"
#include "util/exit_codes.h"

namespace matterfs::tools {

int AuditVerify(const std::string& log, std::optional<std::string> public_key_hex) {
  std::optional<Bytes> key;
  if (public_key_hex) {
    key = FromHex(*public_key_hex);
    if (!key || key->size() != crypto::kSignPublicKeySize) {
      std::cerr << "matterctl: audit verify: --public-key must be 64 hex characters\n";
      return kExitUsage;
    }
  }
  auto report = audit::VerifyLog(
      log, key ? std::optional<ByteSpan>(ByteSpan(*key)) : std::optional<ByteSpan>());
  if (!report.ok()) {
    std::cerr << "matterctl: audit verify: " << report.error().message() << "\n";
    if (report.error().code() == Code::kNotFound) {
      std::cout << log << ": MISSING\n";
      return kExitNotFound;
    }
    return kExitError;
  }
  const audit::VerifyReport& r = *report;
  for (const auto& p : r.problems)
    std::cerr << "matterctl: audit verify: " << log << ": " << p << "\n";
  for (const auto& w : r.warnings) {
    std::cerr << "matterctl: audit verify: " << log << ": warning: " << w << "\n";
  }
  if (!r.intact) {
    std::cout << log << ": TAMPERED: " << r.problems.size()
              << (r.problems.size() == 1 ? " problem" : " problems")
              << ", first: " << r.problems.front() << "\n";
    return kExitCorrupt;
  }
  auto plural = [](uint64_t n, const char* one, const char* many) {
    return std::to_string(n) + " " + (n == 1 ? one : many);
  };
  std::cout << log << ": intact: " << plural(r.records, "record", "records");
  if (r.records > 0) std::cout << " (seq 1.." << r.last_seq << ")";
  std::cout << ", " << plural(r.checkpoints, "checkpoint", "checkpoints");
  if (r.checkpoints > 0) {
    std::cout << (r.key_pinned ? ", signed by the expected key"
                               : ", signed by the key in the log (not pinned)");
  }
  if (r.unsigned_records > 0) {
    std::cout << "; warning: last " << r.unsigned_records << " record(s) unsigned";
  }
  std::cout << "\n";
  return kExitOk;
}

}  // namespace matterfs::tools
