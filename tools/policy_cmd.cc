#include "tools/policy_cmd.h"

#include <algorithm>
#include <chrono>
#include <iostream>
#include <vector>

#include "policy/nss_resolver.h"
#include "util/exit_codes.h"

namespace matterfs::tools {

namespace {

// Loads the policy, printing every problem. On failure returns the exit code.
std::optional<int> Load(const std::string& file, const policy::Resolver& resolver,
                        policy::Policy& out_policy, std::ostream& err) {
  std::vector<policy::Problem> problems;
  auto loaded = policy::LoadPolicyFile(file, resolver, &problems);
  if (loaded.ok()) {
    out_policy = std::move(loaded).value();
    return std::nullopt;
  }
  switch (loaded.error().code()) {
    case Code::kNotFound:
      err << "matterctl: " << file << ": no such file\n";
      return kExitNotFound;
    case Code::kInvalidArgument:
      if (problems.empty() || problems[0].line == 0) {
        err << "matterctl: " << loaded.error().message() << "\n";  // e.g. too large
      } else {
        for (const policy::Problem& p : problems) err << policy::FormatProblem(file, p) << "\n";
        err << "matterctl: " << file << ": invalid policy (" << problems.size()
            << (problems.size() == 1 ? " problem)\n" : " problems)\n");
      }
      return kExitError;
    default:
      err << "matterctl: " << loaded.error().message() << "\n";
      return kExitError;
  }
}

std::string JoinGroups(const std::vector<std::string>& groups) {
  std::string out;
  for (const std::string& g : groups) out += (out.empty() ? "" : ", ") + g;
  return out.empty() ? "none" : out;
}

// Levenshtein distance, for "did you mean".
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

policy::Time Now() {
  return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
}

}  // namespace

int PolicyCheck(const std::string& file, const policy::Resolver& resolver, std::ostream& out,
                std::ostream& err, const std::optional<KnownMatters>& known) {
  policy::Policy p;
  if (auto code = Load(file, resolver, p, err)) return *code;
  size_t warnings = 0;
  if (known) {
    for (const auto& [name, rules] : p.matters) {
      if (std::find(known->names.begin(), known->names.end(), name) != known->names.end()) {
        continue;
      }
      ++warnings;
      err << file << ":" << rules.line << ": warning: [matter " << name << "] names no matter in "
          << known->where;
      std::string nearest;
      size_t best = 3;  // suggest only names at most 2 edits away
      for (const std::string& m : known->names) {
        size_t d = EditDistance(name, m);
        if (d < best) {
          best = d;
          nearest = m;
        }
      }
      if (!nearest.empty()) err << " (did you mean '" << nearest << "'?)";
      err << "\n";
    }
  }
  size_t roles = p.roles.size();
  size_t matters = p.matters.size();
  out << file << ": ok (" << roles << (roles == 1 ? " role, " : " roles, ") << matters
      << (matters == 1 ? " matter" : " matters");
  if (warnings > 0) out << ", " << warnings << (warnings == 1 ? " warning" : " warnings");
  out << ")\n";
  return kExitOk;
}

int PolicyCheck(const std::string& file, const std::optional<KnownMatters>& matters) {
  policy::NssResolver nss;
  return PolicyCheck(file, nss, std::cout, std::cerr, matters);
}

int PolicyExplain(const std::string& file, const std::string& user, const std::string& matter,
                  const std::string& action_text, const std::optional<std::string>& status_text,
                  const std::optional<std::string>& time_text, const policy::Resolver& resolver,
                  const SubjectLookup& lookup, policy::Time now, std::ostream& out,
                  std::ostream& err) {
  // Arguments first: a typo should not wait for a directory lookup.
  auto action = policy::ParseAction(action_text);
  if (!action) {
    err << "matterctl: unknown action '" << action_text
        << "' (read, write, delete, admin, wipe, create_matter or list)\n";
    return kExitUsage;
  }
  policy::MatterStatus status = policy::MatterStatus::kOpen;
  if (status_text) {
    auto s = policy::ParseMatterStatus(*status_text);
    if (!s) {
      err << "matterctl: unknown status '" << *status_text << "' (open, closed or hold)\n";
      return kExitUsage;
    }
    status = *s;
  }
  if (time_text) {
    auto t = policy::ParseTime(*time_text);
    if (!t.ok()) {
      err << "matterctl: --time: " << t.error().message() << "\n";
      return kExitUsage;
    }
    now = *t;
  }
  if (!policy::IsValidMatterName(matter)) {
    err << "matterctl: bad matter name '" << matter << "'\n";
    return kExitUsage;
  }

  policy::Policy p;
  if (auto code = Load(file, resolver, p, err)) return *code;

  auto subject = lookup(user);
  if (!subject.ok()) {
    err << "matterctl: " << subject.error().message() << "\n";
    return subject.error().code() == Code::kNotFound ? kExitNotFound : kExitError;
  }

  policy::Decision d = policy::Decide(p, *subject, matter, status, *action, now);
  out << subject->user << " (uid " << subject->uid << "; groups " << JoinGroups(subject->groups)
      << ") " << policy::ActionName(*action) << " " << matter;
  if (*action != policy::Action::kCreateMatter) {
    out << " (status " << policy::MatterStatusName(status) << ")";
  }
  out << " at " << policy::FormatTime(now) << "\n";
  out << (d.allowed ? "allow: " : "deny: ") << d.rule << "\n";
  return d.allowed ? kExitOk : kExitDenied;
}

int PolicyExplain(const std::string& file, const std::string& user, const std::string& matter,
                  const std::string& action, const std::optional<std::string>& status,
                  const std::optional<std::string>& time) {
  policy::NssResolver nss;
  SubjectLookup lookup = [](const std::string& name) { return policy::LookupSubject(name); };
  return PolicyExplain(file, user, matter, action, status, time, nss, lookup, Now(), std::cout,
                       std::cerr);
}

}  // namespace matterfs::tools
