// Shared by the policy tests: a name service with a fixed list of users and groups, and
// helpers to parse text and find a problem on a given line.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "policy/decision.h"
#include "policy/policy.h"

namespace matterfs::policy::testing {

class FakeResolver final : public Resolver {
 public:
  FakeResolver()
      : users_{"alice", "bob", "carol", "dave", "erin", "frank", "root", "DOMAIN\\zoe"},
        groups_{"lit-partners", "paralegals", "staff", "records"} {}
  FakeResolver(std::set<std::string, std::less<>> users, std::set<std::string, std::less<>> groups)
      : users_(std::move(users)), groups_(std::move(groups)) {}

  Result<bool> UserExists(std::string_view user) const override {
    ++lookups_;
    if (user == "ldap-down") return Error(Code::kIo, "directory unavailable");
    return users_.count(user) > 0;
  }
  Result<bool> GroupExists(std::string_view group) const override {
    ++lookups_;
    return groups_.count(group) > 0;
  }
  mutable int lookups_ = 0;

 private:
  std::set<std::string, std::less<>> users_;
  std::set<std::string, std::less<>> groups_;
};

struct Parsed {
  Result<Policy> policy;
  std::vector<Problem> problems;
};

inline Parsed Parse(std::string_view text) {
  FakeResolver resolver;
  std::vector<Problem> problems;
  auto p = ParsePolicy(text, "firm.ini", resolver, &problems);
  return Parsed{std::move(p), std::move(problems)};
}

// The valid policy in `text`; fails the test (and prints the problems) otherwise.
inline Policy MustParse(std::string_view text) {
  Parsed parsed = Parse(text);
  EXPECT_TRUE(parsed.policy.ok()) << parsed.policy.error().message();
  return parsed.policy.ok() ? std::move(parsed.policy).value() : Policy{};
}

inline ::testing::AssertionResult HasProblem(const Parsed& parsed, int line,
                                             std::string_view reason_part) {
  for (const Problem& p : parsed.problems) {
    if (p.line == line && p.reason.find(reason_part) != std::string::npos) {
      return ::testing::AssertionSuccess();
    }
  }
  std::string all;
  for (const Problem& p : parsed.problems) all += "\n  " + FormatProblem("firm.ini", p);
  return ::testing::AssertionFailure() << "no problem at line " << line << " containing '"
                                       << reason_part << "'; got:" << (all.empty() ? " none" : all);
}

inline Time At(std::string_view text) { return ParseTime(text).value(); }

inline Subject User(std::string name, std::vector<std::string> groups = {}, uint32_t uid = 1000) {
  if (groups.empty()) groups.push_back(name);  // the usual per-user primary group
  return Subject{std::move(name), uid, std::move(groups)};
}

}  // namespace matterfs::policy::testing
