#include "tools/policy_cmd.h"

#include <algorithm>
#include <chrono>
#include <iostream>
#include <sstream>
#include <vector>

#include "policy/nss_resolver.h"
#include "util/exit_codes.h"
#include "util/json.h"
#include "util/unix_time.h"

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

namespace {

constexpr char kExplainFormat[] = "matterfs-policy-explain";

nlohmann::ordered_json ExplainJson(const std::string& file, const policy::Subject& subject,
                                   const std::string& matter, policy::Action action,
                                   policy::MatterStatus status, policy::Time now,
                                   const policy::Decision& d) {
  // ISO 8601 with seconds, like every matterctl JSON time (the text output keeps the
  // policy's short form).
  auto seconds = [](policy::Time t) {
    return static_cast<uint64_t>(std::max<int64_t>(0, t.time_since_epoch().count()));
  };
  nlohmann::ordered_json doc;
  doc["format"] = kExplainFormat;
  doc["version"] = 1;
  doc["policy"] = file;
  doc["user"] = subject.user;
  doc["uid"] = subject.uid;
  doc["groups"] = subject.groups;
  doc["matter"] = matter;
  doc["action"] = policy::ActionName(action);
  doc["status"] = action == policy::Action::kCreateMatter
                      ? nlohmann::ordered_json(nullptr)
                      : nlohmann::ordered_json(policy::MatterStatusName(status));
  doc["time"] = FormatUnixTime(seconds(now));
  doc["time_unix"] = seconds(now);
  doc["decision"] = d.allowed ? "allow" : "deny";
  doc["reason"] = policy::BasisName(d.basis);
  doc["rule"] = d.rule;
  doc["until"] = d.until ? nlohmann::ordered_json(FormatUnixTime(seconds(*d.until))) : nullptr;
  doc["until_unix"] = d.until ? nlohmann::ordered_json(seconds(*d.until)) : nullptr;
  doc["exit"] = d.allowed ? kExitOk : kExitDenied;
  return doc;
}

// The explanation, in text or (json_out set) as a document.
int Explain(const std::string& file, const std::string& user, const std::string& matter,
            const std::string& action_text, const std::optional<std::string>& status_text,
            const std::optional<std::string>& time_text, const policy::Resolver& resolver,
            const SubjectLookup& lookup, policy::Time now, std::ostream& out, std::ostream& err,
            nlohmann::ordered_json* json_out) {
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
  if (json_out != nullptr) {
    *json_out = ExplainJson(file, *subject, matter, *action, status, now, d);
    return d.allowed ? kExitOk : kExitDenied;
  }
  out << subject->user << " (uid " << subject->uid << "; groups " << JoinGroups(subject->groups)
      << ") " << policy::ActionName(*action) << " " << matter;
  if (*action != policy::Action::kCreateMatter) {
    out << " (status " << policy::MatterStatusName(status) << ")";
  }
  out << " at " << policy::FormatTime(now) << "\n";
  out << (d.allowed ? "allow: " : "deny: ") << d.rule << "\n";
  return d.allowed ? kExitOk : kExitDenied;
}

}  // namespace

int PolicyExplain(const std::string& file, const std::string& user, const std::string& matter,
                  const std::string& action, const std::optional<std::string>& status,
                  const std::optional<std::string>& time, const policy::Resolver& resolver,
                  const SubjectLookup& lookup, policy::Time now, std::ostream& out,
                  std::ostream& err, bool json) {
  if (!json) {
    return Explain(file, user, matter, action, status, time, resolver, lookup, now, out, err,
                   nullptr);
  }
  // Errors are written as without --json, and the last one, the "matterctl: ..." line,
  // is also the document's "error".
  std::ostringstream errors;
  nlohmann::ordered_json doc;
  const int code =
      Explain(file, user, matter, action, status, time, resolver, lookup, now, out, errors, &doc);
  const std::string text = errors.str();
  err << text;
  if (doc.is_null()) {
    std::string message = text;
    while (!message.empty() && message.back() == '\n') message.pop_back();
    message =
        message.substr(message.rfind('\n') == std::string::npos ? 0 : message.rfind('\n') + 1);
    if (message.rfind("matterctl: ", 0) == 0) message.erase(0, 11);
    doc["format"] = kExplainFormat;
    doc["version"] = 1;
    doc["error"] = message;
    doc["exit"] = code;
  }
  out << DumpJson(doc, 2) << "\n";
  return code;
}

int PolicyExplain(const std::string& file, const std::string& user, const std::string& matter,
                  const std::string& action, const std::optional<std::string>& status,
                  const std::optional<std::string>& time, bool json) {
  policy::NssResolver nss;
  SubjectLookup lookup = [](const std::string& name) { return policy::LookupSubject(name); };
  return PolicyExplain(file, user, matter, action, status, time, nss, lookup, Now(), std::cout,
                       std::cerr, json);
}

}  // namespace matterfs::tools
