// Fuzzes the policy parser, ParsePolicy (inih, every section and key, principals,
// times, durations, role cycles), with a fixed name service. Invariants: a policy is
// returned exactly when no problem is listed; every problem has a line within the text;
// parsing is deterministic.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>

#include "policy/policy.h"
#include "tests/fuzz/fuzz_support.h"

using namespace matterfs;

namespace {
class FixedResolver final : public policy::Resolver {
 public:
  Result<bool> UserExists(std::string_view user) const override {
    if (user == "ldap-down") return Error(Code::kIo, "directory unavailable");
    return user == "alice" || user == "bob" || user == "carol" || user == "root";
  }
  Result<bool> GroupExists(std::string_view group) const override {
    return group == "partners" || group == "staff";
  }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;
  static const FixedResolver resolver;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<policy::Problem> problems;
  auto parsed = policy::ParsePolicy(text, "fuzz.ini", resolver, &problems);
  FUZZ_CHECK(parsed.ok() == problems.empty());
  const long lines = static_cast<long>(std::count(text.begin(), text.end(), '\n')) + 1;
  for (const policy::Problem& p : problems) FUZZ_CHECK(p.line >= 0 && p.line <= lines);
  std::vector<policy::Problem> again;
  auto parsed_again = policy::ParsePolicy(text, "fuzz.ini", resolver, &again);
  FUZZ_CHECK(parsed_again.ok() == parsed.ok() && again.size() == problems.size());
  for (size_t i = 0; i < again.size(); ++i) {
    FUZZ_CHECK(again[i].line == problems[i].line && again[i].reason == problems[i].reason);
  }
  return 0;
}
