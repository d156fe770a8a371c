#include "tools/audit_cmd.h"

#include <algorithm>
#include <chrono>
#include <iostream>
#include <tuple>
#include <vector>

#include "audit/access_report.h"
#include "audit/local_log.h"
#include "crypto/signing.h"
#include "util/bytes.h"
#include "util/csv.h"
#include "util/exit_codes.h"
#include "util/json.h"
#include "util/unix_time.h"

namespace matterfs::tools {

namespace {

constexpr char kVerifyFormat[] = "matterfs-audit-verify";

nlohmann::ordered_json Header(const char* format, const std::string& log) {
  nlohmann::ordered_json doc;
  doc["format"] = format;
  doc["version"] = 1;
  doc["log"] = log;
  return doc;
}

// The error document of a command that could not run: one line on stderr as always, and
// {"format", "version", "log", "ok": false, "error", "exit"} on stdout with --json.
int Fail(const char* format, const std::string& log, bool json, int code,
         const std::string& message) {
  std::cerr << "matterctl: " << message << "\n";
  if (json) {
    nlohmann::ordered_json doc = Header(format, log);
    doc["ok"] = false;
    doc["error"] = message;
    doc["exit"] = code;
    std::cout << DumpJson(doc, 2) << "\n";
  }
  return code;
}

nlohmann::ordered_json TextOrNull(const std::string& s) {
  return s.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(s);
}

nlohmann::ordered_json VerifyJson(const std::string& log, const audit::VerifyReport& r, int code) {
  nlohmann::ordered_json doc = Header(kVerifyFormat, log);
  doc["ok"] = r.intact;
  doc["records"] = r.records;
  doc["checkpoints"] = r.checkpoints;
  doc["last_seq"] = r.last_seq;
  doc["signed_seq"] = r.signed_seq;
  doc["unsigned_records"] = r.unsigned_records;
  doc["first_time"] = TextOrNull(r.first_time);
  doc["last_time"] = TextOrNull(r.last_time);
  doc["key"] = TextOrNull(r.key_hex);
  doc["key_pinned"] = r.key_pinned;
  doc["problems"] = r.problems;
  doc["warnings"] = r.warnings;
  doc["error"] =
      r.intact ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(r.problems.front());
  doc["exit"] = code;
  return doc;
}

// The --public-key argument: nullopt without one, an error message if malformed.
std::optional<std::string> ParseKey(const std::optional<std::string>& hex,
                                    std::optional<Bytes>& key) {
  if (!hex) return std::nullopt;
  key = FromHex(*hex);
  if (!key || key->size() != crypto::kSignPublicKeySize) {
    return "--public-key must be 64 hex characters";
  }
  return std::nullopt;
}

std::string Plural(uint64_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// "intact: 5 records (seq 1..5), 1 checkpoint, signed by the expected key" or
// "TAMPERED: 2 problems, first: line 6: ...".
std::string Verdict(const audit::VerifyReport& r) {
  if (!r.intact) {
    return "TAMPERED: " + Plural(r.problems.size(), "problem", "problems") +
           ", first: " + r.problems.front();
  }
  std::string out = "intact: " + Plural(r.records, "record", "records");
  if (r.records > 0) out += " (seq 1.." + std::to_string(r.last_seq) + ")";
  out += ", " + Plural(r.checkpoints, "checkpoint", "checkpoints");
  if (r.checkpoints > 0) {
    out += r.key_pinned ? ", signed by the expected key"
                        : ", signed by the key in the log (not pinned)";
  }
  if (r.unsigned_records > 0) {
    out += "; warning: last " + std::to_string(r.unsigned_records) + " record(s) unsigned";
  }
  return out;
}

}  // namespace

int AuditVerify(const std::string& log, std::optional<std::string> public_key_hex, bool json) {
  std::optional<Bytes> key;
  if (auto bad = ParseKey(public_key_hex, key)) {
    return Fail(kVerifyFormat, log, json, kExitUsage, "audit verify: " + *bad);
  }
  auto report = audit::VerifyLog(
      log, key ? std::optional<ByteSpan>(ByteSpan(*key)) : std::optional<ByteSpan>());
  if (!report.ok()) {
    const bool missing = report.error().code() == Code::kNotFound;
    const int code = missing ? kExitNotFound : kExitError;
    if (missing && !json) std::cout << log << ": MISSING\n";
    return Fail(kVerifyFormat, log, json, code, "audit verify: " + report.error().message());
  }
  const audit::VerifyReport& r = *report;
  for (const auto& p : r.problems)
    std::cerr << "matterctl: audit verify: " << log << ": " << p << "\n";
  for (const auto& w : r.warnings) {
    std::cerr << "matterctl: audit verify: " << log << ": warning: " << w << "\n";
  }
  if (json) {
    const int code = r.intact ? kExitOk : kExitCorrupt;
    std::cout << DumpJson(VerifyJson(log, r, code), 2) << "\n";
    return code;
  }
  std::cout << log << ": " << Verdict(r) << "\n";
  return r.intact ? kExitOk : kExitCorrupt;
}

// ---- audit report ----

namespace {

constexpr char kReportFormat[] = "matterfs-access-report";

// A table cell: control characters (a hostile file name could hold terminal escapes)
// shown as '?'; the text is otherwise as recorded.
std::string Cell(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) c = '?';
  }
  return out;
}

// Columns on a terminal: UTF-8 code points (continuation bytes take no column).
size_t Width(std::string_view s) {
  return static_cast<size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xc0) != 0x80; }));
}

// Rows of cells, each column padded to its widest cell, two spaces apart; the last
// column is not padded.
void PrintTable(std::ostream& out, const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()), 0);
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], Width(row[i]));
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - Width(row[i]) + 2, ' ');
    }
    out << line << "\n";
  }
}

std::string UidText(const std::optional<uint32_t>& uid) {
  return uid ? std::to_string(*uid) : std::string();
}

// The path column of table and CSV: the path, or the hash when the log holds only that.
std::string PathText(const audit::ReportRow& r) {
  if (!r.path.empty() || r.path_hash.empty()) return r.path;
  return "hash:" + r.path_hash;
}

std::string DecisionText(const audit::ReportRow& r) {
  return r.occurrences > 1 ? r.decision + " x" + std::to_string(r.occurrences) : r.decision;
}

std::string Period(const std::optional<uint64_t>& since, const std::optional<uint64_t>& until) {
  if (since && until) return FormatUnixTime(*since) + " to " + FormatUnixTime(*until);
  if (since) return "from " + FormatUnixTime(*since);
  if (until) return "before " + FormatUnixTime(*until);
  return "the whole log";
}

void PrintReportTable(const AuditReportArgs& a, const audit::AccessReport& rep,
                      const std::optional<uint64_t>& since, const std::optional<uint64_t>& until) {
  std::cout << "access report: matter " << Cell(a.matter) << "\n"
            << "log:     " << Cell(a.log) << ": " << Cell(Verdict(rep.verify)) << "\n"
            << "period:  " << Period(since, until) << (until ? " (until exclusive)" : "") << "\n"
            << "user:    " << (a.user ? Cell(*a.user) : std::string("all users")) << "\n"
            << "events:  " << rep.rows.size() << "\n";
  if (rep.rows.empty()) return;
  std::vector<std::vector<std::string>> rows = {
      {"TIME", "USER", "UID", "ACTION", "PATH", "DECISION", "REASON"}};
  for (const auto& r : rep.rows) {
    rows.push_back({Cell(r.time), Cell(r.user.empty() ? "-" : r.user), UidText(r.uid),
                    Cell(r.action), Cell(PathText(r).empty() ? "-" : PathText(r)),
                    Cell(DecisionText(r)), Cell(r.reason())});
  }
  std::cout << "\n";
  PrintTable(std::cout, rows);
  std::vector<std::vector<std::string>> users = {
      {"USER", "UID", "READS", "CHANGES", "DENIALS", "OTHER"}};
  for (const auto& u : rep.users) {
    users.push_back({Cell(u.user.empty() ? "-" : u.user), UidText(u.uid), std::to_string(u.reads),
                     std::to_string(u.changes), std::to_string(u.denials),
                     std::to_string(u.other)});
  }
  std::cout << "\nsummary per user:\n";
  PrintTable(std::cout, users);
}

// Events, a blank line, then the summary per user, each with its header record.
void PrintReportCsv(const audit::AccessReport& rep) {
  std::cout << CsvRecord({"time", "user", "uid", "action", "path", "decision", "reason", "count",
                          "event", "access", "path_hash", "seq"});
  for (const auto& r : rep.rows) {
    std::cout << CsvRecord({r.time, r.user, UidText(r.uid), r.action, r.path, r.decision,
                            r.reason(), std::to_string(r.occurrences), r.event, r.access,
                            r.path_hash, std::to_string(r.seq)});
  }
  std::cout << "\r\n" << CsvRecord({"user", "uid", "reads", "changes", "denials", "other"});
  for (const auto& u : rep.users) {
    std::cout << CsvRecord({u.user, UidText(u.uid), std::to_string(u.reads),
                            std::to_string(u.changes), std::to_string(u.denials),
                            std::to_string(u.other)});
  }
}

void TimePair(nlohmann::ordered_json& obj, const char* name, const std::optional<uint64_t>& t) {
  obj[name] = t ? nlohmann::ordered_json(FormatUnixTime(*t)) : nullptr;
  obj[std::string(name) + "_unix"] = t ? nlohmann::ordered_json(*t) : nullptr;
}

void PrintReportJson(const AuditReportArgs& a, const audit::AccessReport& rep,
                     const std::optional<uint64_t>& since, const std::optional<uint64_t>& until) {
  nlohmann::ordered_json doc = Header(kReportFormat, a.log);
  doc["matter"] = a.matter;
  TimePair(doc, "since", since);
  TimePair(doc, "until", until);
  doc["user"] = a.user ? nlohmann::ordered_json(*a.user) : nullptr;
  const audit::VerifyReport& v = rep.verify;
  doc["verification"] = {{"ok", v.intact},
                         {"verdict", Verdict(v)},
                         {"records", v.records},
                         {"checkpoints", v.checkpoints},
                         {"last_seq", v.last_seq},
                         {"signed_seq", v.signed_seq},
                         {"unsigned_records", v.unsigned_records},
                         {"key", TextOrNull(v.key_hex)},
                         {"key_pinned", v.key_pinned},
                         {"warnings", v.warnings}};
  nlohmann::ordered_json events = nlohmann::ordered_json::array();
  for (const auto& r : rep.rows) {
    nlohmann::ordered_json e;
    e["seq"] = r.seq;
    e["time"] = r.time;
    e["time_unix"] =
        r.at ? nlohmann::ordered_json(
                   std::chrono::floor<std::chrono::seconds>(*r.at).time_since_epoch().count())
             : nullptr;
    e["user"] = r.user;
    e["uid"] = r.uid ? nlohmann::ordered_json(*r.uid) : nullptr;
    e["action"] = r.action;
    e["event"] = r.event;
    e["access"] = r.access;
    e["path"] = r.path;
    e["path_hash"] = TextOrNull(r.path_hash);
    e["decision"] = r.decision;
    e["kind"] = audit::AccessKindName(r.kind);
    e["reason"] = r.reason();
    e["rule"] = r.rule;
    e["message"] = r.message;
    e["count"] = r.occurrences;
    events.push_back(std::move(e));
  }
  doc["events"] = std::move(events);
  nlohmann::ordered_json users = nlohmann::ordered_json::array();
  for (const auto& u : rep.users) {
    users.push_back({{"user", u.user},
                     {"uid", u.uid ? nlohmann::ordered_json(*u.uid) : nullptr},
                     {"reads", u.reads},
                     {"changes", u.changes},
                     {"denials", u.denials},
                     {"other", u.other}});
  }
  doc["users"] = std::move(users);
  doc["exit"] = kExitOk;
  std::cout << DumpJson(doc, 2) << "\n";
}

}  // namespace

int AuditReport(const AuditReportArgs& a) {
  const bool json = a.format == "json";
  auto usage = [&](const std::string& message) {
    return Fail(kReportFormat, a.log, json, kExitUsage, "audit report: " + message);
  };
  if (a.format != "table" && a.format != "csv" && !json) {
    return usage("--format must be table, csv or json, not '" + a.format + "'");
  }
  if (a.matter.empty()) return usage("--matter must name a matter");
  std::optional<uint64_t> since, until;
  for (auto [text, out, name] :
       {std::tuple{&a.since, &since, "--since"}, std::tuple{&a.until, &until, "--until"}}) {
    if (!*text) continue;
    *out = ParseDateOrUnixTime(**text);
    if (!*out) {
      return usage(std::string(name) + " '" + **text +
                   "' is not a UTC date or time (2026-12-01 or 2026-12-01T09:30:00Z)");
    }
  }
  if (since && until && *until <= *since) return usage("--until must be after --since");
  std::optional<Bytes> key;
  if (auto bad = ParseKey(a.public_key_hex, key)) return usage(*bad);

  audit::ReportQuery q;
  q.matter = a.matter;
  auto at = [](uint64_t s) { return audit::AuditTime(std::chrono::seconds(s)); };
  if (since) q.since = at(*since);
  if (until) q.until = at(*until);
  q.user = a.user;
  auto report = audit::BuildAccessReport(
      a.log, q, key ? std::optional<ByteSpan>(ByteSpan(*key)) : std::optional<ByteSpan>());
  if (!report.ok()) {
    const int code = report.error().code() == Code::kNotFound ? kExitNotFound : kExitError;
    return Fail(kReportFormat, a.log, json, code, "audit report: " + report.error().message());
  }
  if (!report->verify.intact) {
    return Fail(kReportFormat, a.log, json, kExitCorrupt,
                "audit report: " + a.log + ": the log does not verify, no report (" +
                    Verdict(report->verify) + "; see matterctl audit verify)");
  }
  for (const auto& w : report->verify.warnings) {
    std::cerr << "matterctl: audit report: " << a.log << ": warning: " << w << "\n";
  }
  if (json) {
    PrintReportJson(a, *report, since, until);
  } else if (a.format == "csv") {
    PrintReportCsv(*report);
  } else {
    PrintReportTable(a, *report, since, until);
  }
  return kExitOk;
}

}  // namespace matterfs::tools
