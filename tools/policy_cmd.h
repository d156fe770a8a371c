// `matterctl policy check FILE` and `matterctl policy explain FILE --user U --matter M
// --action A [--status S] [--time T]`: the command handlers, called by matterctl.cc.
// Exit codes (docs/POLICY.md "matterctl policy"):
//   check:    0 valid, 1 invalid (every problem printed as "file:line: reason" on stderr)
//             or unreadable, 5 no such file.
//   explain:  0 allowed, 10 denied, 1 invalid policy or lookup failure, 2 bad argument
//             (action, status, time or matter name), 5 no such file or no such user.
// Both print to stdout/stderr and never throw for expected failures.
#pragma once

#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "policy/decision.h"
#include "policy/policy.h"
#include "util/exit_codes.h"
#include "util/result.h"

namespace matterfs::tools {

// With `matters` (the matters of a vault or a mount, named `where` in messages), every
// [matter NAME] section that names none of them is a warning on `err`
// ("file:line: warning: ..."), with the nearest existing name when one is close. Warnings
// do not change the exit code: the file is still valid.
struct KnownMatters {
  std::vector<std::string> names;
  std::string where;
};
// Users and groups from NSS (policy/nss_resolver.h).
int PolicyCheck(const std::string& file, const std::optional<KnownMatters>& matters = std::nullopt);

// Resolves `user` and its groups through NSS; `time` defaults to the current time,
// `status` to open. The decision has no active break-glass grants (those live in the
// running daemon). With `json`, standard output is one JSON document
// (docs/MATTERCTL.md "policy explain"): the decision (exit 0 or 10), or, when there is
// none, {"format", "version", "error", "exit"}; standard error is as without it.
int PolicyExplain(const std::string& file, const std::string& user, const std::string& matter,
                  const std::string& action, const std::optional<std::string>& status = {},
                  const std::optional<std::string>& time = {}, bool json = false);

// The same with the name service, the clock and the streams supplied (for tests).
using SubjectLookup = std::function<Result<policy::Subject>(const std::string& user)>;

int PolicyCheck(const std::string& file, const policy::Resolver& resolver, std::ostream& out,
                std::ostream& err, const std::optional<KnownMatters>& matters = std::nullopt);

int PolicyExplain(const std::string& file, const std::string& user, const std::string& matter,
                  const std::string& action, const std::optional<std::string>& status,
                  const std::optional<std::string>& time, const policy::Resolver& resolver,
                  const SubjectLookup& lookup, policy::Time now, std::ostream& out,
                  std::ostream& err, bool json = false);

}  // namespace matterfs::tools
