// Fuzzes the local audit log verifier, VerifyLog (line reading, JSON records and
// checkpoints, the hash chain, the numbering, the Ed25519 checkpoint signatures), over
// the input as a file (a memfd, by its /proc/self/fd path), with and without the fixed
// expected key. Invariants: the log is reported intact exactly when no problem is listed;
// the counts agree with each other; pinning a key never makes a log more intact.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "audit/local_log.h"
#include "tests/fuzz/fuzz_support.h"

using namespace matterfs;

namespace {
void CheckReport(const audit::VerifyReport& r) {
  FUZZ_CHECK(r.intact == r.problems.empty());
  FUZZ_CHECK(r.problems.size() <= 101);
  FUZZ_CHECK(r.records + r.checkpoints <= r.lines);
  FUZZ_CHECK(r.signed_seq <= r.last_seq || !r.intact);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 256 * 1024) return 0;
  static const crypto::SigningKey key = fuzz::FixedSigningKey();
  UniqueFd fd = fuzz::MemFile(data, size);
  const std::string path = "/proc/self/fd/" + std::to_string(fd.get());
  auto any = audit::VerifyLog(path);
  FUZZ_CHECK(any.ok());
  CheckReport(*any);
  auto pinned = audit::VerifyLog(path, key.public_key());
  FUZZ_CHECK(pinned.ok());
  CheckReport(*pinned);
  FUZZ_CHECK(!pinned->intact || any->intact);
  FUZZ_CHECK(pinned->lines == any->lines && pinned->records == any->records);
  return 0;
}
