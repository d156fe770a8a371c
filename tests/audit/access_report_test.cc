// The access report (audit/access_report.h) and `matterctl audit report`, on a local log
// written by the audit library's own writer (AuditLog) with events shaped as the daemon
// makes them; and `matterctl audit verify --json`. Checked against the events written:
// rows, filters (--since, --until, --user, --matter), the summary, CSV quoting, JSON,
// and a tampered log refused.
#include "audit/access_report.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "audit/local_log.h"
#include "crypto/signing.h"
#include "tests/audit/test_util.h"
#include "tools/audit_cmd.h"

namespace matterfs::tools {
namespace {

using audit::AuditEvent;
using audit::AuditResult;
using audit::testing::ReadAll;
using audit::testing::TempDir;
using audit::testing::WriteAll;

// 2026-12-01T00:00:00Z
constexpr int64_t kDec1 = 1796083200;

audit::AuditTime At(int64_t seconds_after_dec1) {
  return audit::AuditTime(std::chrono::seconds(kDec1 + seconds_after_dec1));
}

const std::string kOddName = "pleadings/smith, \"final\".docx";

AuditEvent Access(int64_t at, const std::string& user, uint32_t uid, const std::string& event,
                  const std::string& matter, const std::string& path, const std::string& access,
                  bool allowed, const std::string& rule) {
  AuditEvent e;
  e.time = At(at);
  e.host = "files1";
  e.event = event;
  e.result = allowed ? AuditResult::kAllow : AuditResult::kDeny;
  e.severity = allowed ? audit::AuditSeverity::kInfo : audit::AuditSeverity::kWarning;
  e.user = user;
  e.uid = uid;
  e.pid = 4242;
  e.process = "soffice.bin";
  e.matter = matter;
  e.path = path.empty() ? matter : matter + "/" + path;
  e.access = access;
  e.rule = rule;
  return e;
}

struct CmdRun {
  int code;
  std::string out;
  std::string err;
};

template <typename F>
CmdRun Capture(F f) {
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  const int code = f();
  return {code, ::testing::internal::GetCapturedStdout(), ::testing::internal::GetCapturedStderr()};
}

class AccessReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto log = audit::AuditLog::Open(path_, key_);
    ASSERT_TRUE(log.ok());
    const std::string wall = "matter acme: deny carol (ethical wall)";
    const std::string grant = "matter acme: write = bob";
    AuditEvent mount;
    mount.time = At(0);
    mount.host = "files1";
    mount.event = "mount";
    mount.result = AuditResult::kOk;
    mount.severity = audit::AuditSeverity::kNotice;
    std::vector<AuditEvent> events = {
        mount,
        // 1 Dec 09:00 .. 2 Dec 09:00
        Access(9 * 3600, "bob", 1001, "open", "acme", "brief.txt", "read", true, grant),
        Access(9 * 3600 + 60, "bob", 1001, "open", "globex", "deal.txt", "read", true, "x"),
        Access(10 * 3600, "bob", 1001, "create", "acme", kOddName, "write", true, grant),
        Access(11 * 3600, "carol", 1003, "open", "acme", "brief.txt", "read", false, wall),
        Access(86400 + 8 * 3600, "carol", 1003, "lookup", "acme", "secret", "read", false, wall),
        Access(86400 + 9 * 3600, "bob", 1001, "unlink", "acme", "old.txt", "delete", true, grant),
        Access(86400 + 9 * 3600 + 5, "bob", 1001, "open", "acme", kOddName, "read-write", true,
               grant)};
    events[5].count = 4;  // a throttled denial: 4 more before it, not logged one by one
    events[5].message = "4 more like it in the minute before, not logged one by one";
    AuditEvent close;
    close.time = At(86400 + 10 * 3600);
    close.host = "files1";
    close.event = "matter-close";
    close.result = AuditResult::kOk;
    close.severity = audit::AuditSeverity::kNotice;
    close.user = "alice";
    close.uid = 1000;
    close.matter = "acme";
    close.access = "admin";
    close.message = "open -> closed (offline, matterctl)";
    events.push_back(close);
    for (const auto& e : events) ASSERT_TRUE((*log)->Append(e).ok());
    ASSERT_TRUE((*log)->Close().ok());
  }

  AuditReportArgs Args(std::string format = "table") {
    AuditReportArgs a;
    a.log = path_;
    a.matter = "acme";
    a.public_key_hex = key_hex_;
    a.format = std::move(format);
    return a;
  }
  CmdRun Report(const AuditReportArgs& a) {
    return Capture([&] { return AuditReport(a); });
  }
  nlohmann::json Json(AuditReportArgs a) {
    a.format = "json";
    CmdRun r = Report(a);
    EXPECT_EQ(r.code, 0) << r.err;
    return nlohmann::json::parse(r.out);
  }
  static std::vector<std::string> Actions(const nlohmann::json& doc) {
    std::vector<std::string> out;
    for (const auto& e : doc["events"]) {
      out.push_back(e["user"].get<std::string>() + " " + e["action"].get<std::string>());
    }
    return out;
  }

  TempDir dir_;
  std::string path_ = dir_.File("audit.jsonl");
  crypto::SigningKey key_ = crypto::SigningKey::FromSeed(Bytes(32, 3));
  std::string key_hex_ = ToHex(key_.public_key());
};

TEST_F(AccessReportTest, JsonRowsAreTheMattersEvents) {
  const auto doc = Json(Args());
  EXPECT_EQ(doc["format"], "matterfs-access-report");
  EXPECT_EQ(doc["matter"], "acme");
  EXPECT_EQ(doc["verification"]["ok"], true);
  EXPECT_EQ(doc["verification"]["records"], 9);
  EXPECT_EQ(doc["verification"]["key_pinned"], true);
  EXPECT_TRUE(doc["since"].is_null());
  // globex's open and the mount are not acme's.
  EXPECT_EQ(Actions(doc), (std::vector<std::string>{"bob open read", "bob create",
                                                    "carol open read", "carol lookup", "bob unlink",
                                                    "bob open read-write", "alice matter-close"}));
  const auto& first = doc["events"][0];
  EXPECT_EQ(first["seq"], 2);
  EXPECT_EQ(first["time"], "2026-12-01T09:00:00.000000Z");
  EXPECT_EQ(first["time_unix"], kDec1 + 9 * 3600);
  EXPECT_EQ(first["uid"], 1001);
  EXPECT_EQ(first["path"], "brief.txt") << "relative to the matter";
  EXPECT_EQ(first["decision"], "allow");
  EXPECT_EQ(first["kind"], "read");
  EXPECT_EQ(first["reason"], "matter acme: write = bob");
  EXPECT_EQ(doc["events"][1]["path"], kOddName);
  EXPECT_EQ(doc["events"][1]["kind"], "change");
  const auto& denied = doc["events"][2];
  EXPECT_EQ(denied["decision"], "deny");
  EXPECT_EQ(denied["kind"], "denied");
  EXPECT_EQ(denied["reason"], "matter acme: deny carol (ethical wall)");
  EXPECT_EQ(doc["events"][3]["count"], 5) << "the record and its 4 unlogged repeats";
  EXPECT_EQ(doc["events"][6]["kind"], "other");
  EXPECT_EQ(doc["events"][6]["path"], "") << "the matter itself";
  EXPECT_EQ(doc["events"][6]["reason"], "open -> closed (offline, matterctl)");
  // The summary, by user name.
  ASSERT_EQ(doc["users"].size(), 3u);
  EXPECT_EQ(doc["users"][0], nlohmann::json::parse(R"({"user":"alice","uid":1000,"reads":0,
            "changes":0,"denials":0,"other":1})"));
  EXPECT_EQ(doc["users"][1], nlohmann::json::parse(R"({"user":"bob","uid":1001,"reads":1,
            "changes":3,"denials":0,"other":0})"));
  EXPECT_EQ(doc["users"][2], nlohmann::json::parse(R"({"user":"carol","uid":1003,"reads":0,
            "changes":0,"denials":6,"other":0})"));
}

TEST_F(AccessReportTest, SinceIsInclusiveUntilExclusive) {
  AuditReportArgs a = Args();
  a.since = "2026-12-02";
  auto doc = Json(a);
  EXPECT_EQ(doc["since"], "2026-12-02T00:00:00Z");
  EXPECT_EQ(doc["since_unix"], kDec1 + 86400);
  EXPECT_EQ(Actions(doc), (std::vector<std::string>{"carol lookup", "bob unlink",
                                                    "bob open read-write", "alice matter-close"}));
  a.since = "2026-12-01T10:00:00Z";  // bob's create is at exactly 10:00:00
  a.until = "2026-12-02T09:00:00Z";  // bob's unlink is at exactly 09:00:00 the next day
  doc = Json(a);
  EXPECT_EQ(Actions(doc),
            (std::vector<std::string>{"bob create", "carol open read", "carol lookup"}));
  EXPECT_EQ(doc["users"].size(), 2u);
}

TEST_F(AccessReportTest, UserByNameOrUid) {
  AuditReportArgs a = Args();
  a.user = "carol";
  auto doc = Json(a);
  EXPECT_EQ(Actions(doc), (std::vector<std::string>{"carol open read", "carol lookup"}));
  a.user = "1001";
  doc = Json(a);
  EXPECT_EQ(doc["events"].size(), 4u);
  EXPECT_EQ(doc["user"], "1001");
  a.user = "nobody";
  doc = Json(a);
  EXPECT_TRUE(doc["events"].empty());
  EXPECT_TRUE(doc["users"].empty());
}

TEST_F(AccessReportTest, AnotherMatter) {
  AuditReportArgs a = Args();
  a.matter = "globex";
  const auto doc = Json(a);
  ASSERT_EQ(doc["events"].size(), 1u);
  EXPECT_EQ(doc["events"][0]["path"], "deal.txt");
}

TEST_F(AccessReportTest, TableIsAlignedWithTheVerdictInItsHeader) {
  AuditReportArgs a = Args();
  a.user = "carol";
  CmdRun r = Report(a);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out,
            "access report: matter acme\n"
            "log:     " +
                path_ +
                ": intact: 9 records (seq 1..9), 1 checkpoint, signed by the "
                "expected key\n"
                "period:  the whole log\n"
                "user:    carol\n"
                "events:  2\n"
                "\n"
                "TIME                         USER   UID   ACTION     PATH       DECISION  REASON\n"
                "2026-12-01T11:00:00.000000Z  carol  1003  open read  brief.txt  deny      matter "
                "acme: deny carol (ethical wall)\n"
                "2026-12-02T08:00:00.000000Z  carol  1003  lookup     secret     deny x5   matter "
                "acme: deny carol (ethical wall)\n"
                "\n"
                "summary per user:\n"
                "USER   UID   READS  CHANGES  DENIALS  OTHER\n"
                "carol  1003  0      0        6        0\n");
}

TEST_F(AccessReportTest, CsvQuotesACommaAndAQuote) {
  AuditReportArgs a = Args("csv");
  a.until = "2026-12-01T10:00:01Z";
  CmdRun r = Report(a);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out,
            "time,user,uid,action,path,decision,reason,count,event,access,path_hash,seq\r\n"
            "2026-12-01T09:00:00.000000Z,bob,1001,open read,brief.txt,allow,matter acme: write = "
            "bob,1,open,read,,2\r\n"
            "2026-12-01T10:00:00.000000Z,bob,1001,create,\"pleadings/smith, \"\"final\"\".docx\","
            "allow,matter acme: write = bob,1,create,write,,4\r\n"
            "\r\n"
            "user,uid,reads,changes,denials,other\r\n"
            "bob,1001,1,1,0,0\r\n");
}

TEST_F(AccessReportTest, ATamperedLogGivesNoReport) {
  std::string s = ReadAll(path_);
  s.replace(s.find("\"user\":\"carol\""), 14, "\"user\":\"erin_\"");
  WriteAll(path_, s);
  for (const char* format : {"table", "csv"}) {
    CmdRun r = Report(Args(format));
    EXPECT_EQ(r.code, 4) << format;
    EXPECT_EQ(r.out, "") << "no report";
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_EQ(r.err.rfind("matterctl: audit report: " + path_ +
                              ": the log does not verify, no "
                              "report (TAMPERED: 1 problem, first: line 6",
                          0),
              0u)
        << r.err;
  }
  CmdRun j = Report(Args("json"));
  EXPECT_EQ(j.code, 4);
  const auto doc = nlohmann::json::parse(j.out);
  EXPECT_EQ(doc["ok"], false);
  EXPECT_EQ(doc["exit"], 4);
  EXPECT_FALSE(doc.contains("events"));
}

TEST_F(AccessReportTest, ALogSignedByAnotherKeyGivesNoReport) {
  AuditReportArgs a = Args();
  a.public_key_hex = ToHex(crypto::SigningKey::FromSeed(Bytes(32, 4)).public_key());
  EXPECT_EQ(Report(a).code, 4);
}

TEST_F(AccessReportTest, BadArgumentsAreUsageErrors) {
  for (const char* t : {"yesterday", "2026-13-01", "2026-12-01T09:30", "2026-12-01 09:30:00Z"}) {
    AuditReportArgs a = Args();
    a.since = t;
    CmdRun r = Report(a);
    EXPECT_EQ(r.code, 2) << t;
    EXPECT_NE(r.err.find("is not a UTC date or time"), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
  }
  AuditReportArgs a = Args();
  a.since = "2026-12-02";
  a.until = "2026-12-01";
  EXPECT_EQ(Report(a).code, 2);
  EXPECT_EQ(Report(Args("xml")).code, 2);
  a = Args();
  a.public_key_hex = "abc";
  EXPECT_EQ(Report(a).code, 2);
  a = Args();
  a.log = dir_.File("missing.jsonl");
  EXPECT_EQ(Report(a).code, 5);
}

TEST_F(AccessReportTest, LibraryRowsCarryTheParsedTime) {
  audit::ReportQuery q;
  q.matter = "acme";
  auto rep = audit::BuildAccessReport(path_, q, ByteSpan(key_.public_key()));
  ASSERT_TRUE(rep.ok());
  ASSERT_EQ(rep->rows.size(), 7u);
  ASSERT_TRUE(rep->rows[0].at.has_value());
  EXPECT_EQ(*rep->rows[0].at, At(9 * 3600));
}

// ---- audit verify --json ----

TEST_F(AccessReportTest, VerifyJsonCountsWhatWasWritten) {
  CmdRun r = Capture([&] { return AuditVerify(path_, key_hex_, true); });
  ASSERT_EQ(r.code, 0) << r.err;
  const auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["format"], "matterfs-audit-verify");
  EXPECT_EQ(doc["log"], path_);
  EXPECT_EQ(doc["ok"], true);
  EXPECT_EQ(doc["records"], 9);
  EXPECT_EQ(doc["checkpoints"], 1);
  EXPECT_EQ(doc["last_seq"], 9);
  EXPECT_EQ(doc["signed_seq"], 9);
  EXPECT_EQ(doc["unsigned_records"], 0);
  EXPECT_EQ(doc["first_time"], "2026-12-01T00:00:00.000000Z");
  EXPECT_EQ(doc["last_time"], "2026-12-02T10:00:00.000000Z");
  EXPECT_EQ(doc["key"], key_hex_);
  EXPECT_EQ(doc["key_pinned"], true);
  EXPECT_TRUE(doc["problems"].empty());
  EXPECT_TRUE(doc["error"].is_null());
  EXPECT_EQ(doc["exit"], 0);
}

TEST_F(AccessReportTest, VerifyJsonOfATamperedLog) {
  std::string s = ReadAll(path_);
  s.replace(s.find("\"user\":\"carol\""), 14, "\"user\":\"erin_\"");
  WriteAll(path_, s);
  CmdRun r = Capture([&] { return AuditVerify(path_, key_hex_, true); });
  EXPECT_EQ(r.code, 4);
  const auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["ok"], false);
  EXPECT_EQ(doc["exit"], 4);
  ASSERT_EQ(doc["problems"].size(), 1u);
  EXPECT_EQ(doc["error"], doc["problems"][0]);
  EXPECT_EQ(doc["problems"][0].get<std::string>().rfind("line 6: seq 6: prev does not match", 0),
            0u)
      << doc["problems"][0];
}

TEST_F(AccessReportTest, VerifyJsonOfAMissingLog) {
  CmdRun r = Capture([&] { return AuditVerify(dir_.File("none.jsonl"), std::nullopt, true); });
  EXPECT_EQ(r.code, 5);
  const auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["ok"], false);
  EXPECT_EQ(doc["exit"], 5);
  EXPECT_NE(doc["error"].get<std::string>().find("does not exist"), std::string::npos);
  EXPECT_EQ("matterctl: " + doc["error"].get<std::string>() + "\n", r.err);
}

}  // namespace
}  // namespace matterfs::tools
