#include "audit/access_report.h"

#include <algorithm>
#include <array>
#include <map>
#include <nlohmann/json.hpp>
#include <string_view>

namespace matterfs::audit {

namespace {

std::string Text(const nlohmann::json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::optional<uint64_t> Number(const nlohmann::json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_number_unsigned()) return std::nullopt;
  return it->get<uint64_t>();
}

// docs/AUDIT.md's filesystem events, by what they do when allowed. An allowed lookup,
// readdir or metadata read is recorded only by newer daemons or not at all; it counts
// as a read when it is.
constexpr std::array<std::string_view, 5> kReadEvents = {"readdir", "lookup", "readlink",
                                                         "getxattr", "listxattr"};
constexpr std::array<std::string_view, 10> kChangeEvents = {
    "create", "mkdir",   "unlink",  "rmdir",    "rename",
    "link",   "symlink", "setattr", "setxattr", "removexattr"};

bool In(std::string_view e, const auto& set) {
  return std::find(set.begin(), set.end(), e) != set.end();
}

AccessKind KindOf(const ReportRow& r) {
  if (r.decision == "deny") return AccessKind::kDenied;
  if (r.decision != "allow") return AccessKind::kOther;
  if (r.event == "open") return r.access == "read" ? AccessKind::kRead : AccessKind::kChange;
  if (In(r.event, kReadEvents)) return AccessKind::kRead;
  if (In(r.event, kChangeEvents)) return AccessKind::kChange;
  return AccessKind::kOther;  // an allowed break-glass request
}

ReportRow RowOf(const nlohmann::json& record, const std::string& matter) {
  ReportRow r;
  r.seq = Number(record, "seq").value_or(0);
  r.time = Text(record, "time");
  r.at = ParseAuditTime(r.time);
  r.user = Text(record, "user");
  if (auto uid = Number(record, "uid"); uid && *uid <= UINT32_MAX) {
    r.uid = static_cast<uint32_t>(*uid);
  }
  r.event = Text(record, "event");
  r.access = Text(record, "access");
  r.action = r.event == "open" && !r.access.empty() ? "open " + r.access : r.event;
  // Paths are recorded from the mount's root: "MATTER/dir/file".
  const std::string path = Text(record, "path");
  if (path == matter) {
    r.path.clear();
  } else if (path.size() > matter.size() && path.compare(0, matter.size(), matter) == 0 &&
             path[matter.size()] == '/') {
    r.path = path.substr(matter.size() + 1);
  } else {
    r.path = path;
  }
  r.path_hash = Text(record, "path_hash");
  r.decision = Text(record, "result");
  r.rule = Text(record, "rule");
  r.message = Text(record, "message");
  r.kind = KindOf(r);
  if (r.kind == AccessKind::kDenied) r.occurrences += Number(record, "count").value_or(0);
  return r;
}

bool Selected(const ReportRow& r, const ReportQuery& q) {
  if ((q.since || q.until) && !r.at) return false;  // no time: outside any period
  if (q.since && *r.at < *q.since) return false;
  if (q.until && *r.at >= *q.until) return false;
  if (q.user) {
    const bool by_uid = r.uid && std::to_string(*r.uid) == *q.user;
    if (r.user != *q.user && !by_uid) return false;
  }
  return true;
}

}  // namespace

const char* AccessKindName(AccessKind k) {
  switch (k) {
    case AccessKind::kRead:
      return "read";
    case AccessKind::kChange:
      return "change";
    case AccessKind::kDenied:
      return "denied";
    case AccessKind::kOther:
      return "other";
  }
  return "other";
}

// The summary's counter of each AccessKind, in the enum's order.
constexpr uint64_t UserSummary::*kCounterOf[] = {&UserSummary::reads, &UserSummary::changes,
                                                 &UserSummary::denials, &UserSummary::other};

Result<AccessReport> BuildAccessReport(const std::string& path, const ReportQuery& query,
                                       std::optional<ByteSpan> expected_key) {
  AccessReport report;
  auto verified =
      VerifyLog(path, expected_key, [&](uint64_t /*line*/, const nlohmann::json& record) {
        auto it = record.find("matter");
        if (it == record.end() || !it->is_string() ||
            it->get_ref<const std::string&>() != query.matter) {
          return;
        }
        ReportRow row = RowOf(record, query.matter);
        if (Selected(row, query)) report.rows.push_back(std::move(row));
      });
  if (!verified.ok()) return verified.error();
  report.verify = std::move(verified).value();
  if (!report.verify.intact) {
    report.rows.clear();  // nothing of a log that does not verify is reported
    return report;
  }
  std::map<std::pair<std::string, std::optional<uint32_t>>, UserSummary> users;
  for (const ReportRow& r : report.rows) {
    UserSummary& s = users[{r.user, r.uid}];
    s.user = r.user;
    s.uid = r.uid;
    s.*kCounterOf[static_cast<size_t>(r.kind)] += r.occurrences;
  }
  for (auto& [key, s] : users) report.users.push_back(std::move(s));
  return report;
}

}  // namespace matterfs::audit
