// Formatting of audit events: time, PRI, RFC 5424 structure and SD-PARAM escaping,
// JSON escaping, and the path modes.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "audit/event.h"
#include "crypto/kdf.h"
#include "tests/audit/test_util.h"
#include "util/json.h"

namespace matterfs::audit {
namespace {

using testing::SampleEvent;
using testing::SampleTime;

// A strict reader for the RFC 5424 messages we write: the header fields, then exactly one
// SD-ELEMENT, parsed by the RFC's grammar (section 6.3) with its three escapes undone.
struct ParsedSyslog {
  int pri = -1;
  std::string version, timestamp, host, app, procid, msgid, sd_id, msg;
  std::map<std::string, std::string> params;
};

std::optional<ParsedSyslog> ParseSyslog(const std::string& s) {
  ParsedSyslog p;
  if (s.empty() || s[0] != '<') return std::nullopt;
  size_t gt = s.find('>');
  if (gt == std::string::npos || gt > 4) return std::nullopt;
  p.pri = std::stoi(s.substr(1, gt - 1));
  size_t i = gt + 1;
  auto field = [&](std::string& out) {
    size_t sp = s.find(' ', i);
    if (sp == std::string::npos) return false;
    out = s.substr(i, sp - i);
    i = sp + 1;
    for (char c : out) {
      if (c < 33 || c > 126) return false;
    }
    return !out.empty();
  };
  if (!field(p.version) || !field(p.timestamp) || !field(p.host) || !field(p.app) ||
      !field(p.procid) || !field(p.msgid)) {
    return std::nullopt;
  }
  if (i >= s.size() || s[i] != '[') return std::nullopt;
  ++i;
  auto is_name_char = [](char c) {
    return c >= 33 && c <= 126 && c != '=' && c != ']' && c != '"' && c != ' ';
  };
  while (i < s.size() && is_name_char(s[i])) p.sd_id += s[i++];
  while (i < s.size() && s[i] == ' ') {
    ++i;
    std::string name;
    while (i < s.size() && is_name_char(s[i])) name += s[i++];
    if (name.empty() || i + 1 >= s.size() || s[i] != '=' || s[i + 1] != '"') return std::nullopt;
    i += 2;
    std::string value;
    for (;;) {
      if (i >= s.size()) return std::nullopt;
      char c = s[i++];
      if (c == '"') break;
      if (c == '\\' && i < s.size() && (s[i] == '"' || s[i] == '\\' || s[i] == ']')) {
        value += s[i++];
        continue;
      }
      if (c == ']') return std::nullopt;  // an unescaped ']' inside a value is malformed
      value += c;
    }
    if (!p.params.emplace(name, value).second) return std::nullopt;
  }
  if (i >= s.size() || s[i] != ']') return std::nullopt;
  ++i;
  if (i < s.size()) {
    if (s[i] != ' ') return std::nullopt;
    p.msg = s.substr(i + 1);
  }
  return p;
}

TEST(AuditTimeTest, FormatsUtcWithMicroseconds) {
  EXPECT_EQ(FormatAuditTime(SampleTime()), "2024-05-01T12:34:56.123456Z");
  EXPECT_EQ(FormatAuditTime(AuditTime{}), "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(FormatAuditTime(AuditTime(std::chrono::microseconds(-1))),
            "1969-12-31T23:59:59.999999Z");
}

TEST(AuditTimeTest, ParsesWhatItFormats) {
  for (int64_t us : {int64_t{0}, int64_t{1714566896123456}, int64_t{951782400000001}}) {
    const AuditTime t{std::chrono::microseconds(us)};
    auto parsed = ParseAuditTime(FormatAuditTime(t));
    ASSERT_TRUE(parsed.has_value()) << us;
    EXPECT_EQ(*parsed, t);
  }
  EXPECT_FALSE(ParseAuditTime("2024-05-01T12:34:56Z").has_value());
  EXPECT_FALSE(ParseAuditTime("2024-02-30T12:34:56.000000Z").has_value());
}

TEST(SyslogPriTest, IsFacilityTimesEightPlusSeverity) {
  EXPECT_EQ(SyslogPri(SyslogFacility::kAuthpriv, AuditSeverity::kInfo), 86);
  EXPECT_EQ(SyslogPri(SyslogFacility::kAuthpriv, AuditSeverity::kAlert), 81);
  EXPECT_EQ(SyslogPri(SyslogFacility::kAuth, AuditSeverity::kWarning), 36);
  EXPECT_EQ(SyslogPri(SyslogFacility::kDaemon, AuditSeverity::kNotice), 29);
  EXPECT_EQ(SyslogPri(SyslogFacility::kLocal0, AuditSeverity::kInfo), 134);
  EXPECT_EQ(SyslogPri(SyslogFacility::kLocal7, AuditSeverity::kAlert), 185);
}

TEST(SyslogFacilityTest, ParsesTheDocumentedNames) {
  const std::map<std::string, int> expected = {{"authpriv", 10}, {"auth", 4},    {"daemon", 3},
                                               {"local0", 16},   {"local1", 17}, {"local2", 18},
                                               {"local3", 19},   {"local4", 20}, {"local5", 21},
                                               {"local6", 22},   {"local7", 23}, {"AuthPriv", 10}};
  for (const auto& [name, code] : expected) {
    auto f = ParseFacility(name);
    ASSERT_TRUE(f.ok()) << name;
    EXPECT_EQ(static_cast<int>(*f), code) << name;
  }
  for (const char* bad : {"", "user", "local8", "kern", "authpriv "}) {
    auto f = ParseFacility(bad);
    ASSERT_FALSE(f.ok()) << bad;
    EXPECT_EQ(f.error().code(), Code::kInvalidArgument);
  }
  EXPECT_STREQ(FacilityName(SyslogFacility::kLocal3), "local3");
}

TEST(Rfc5424Test, FormatsTheWholeMessage) {
  SyslogHeader h;
  h.procid = 777;
  EXPECT_EQ(FormatRfc5424(SampleEvent(), h),
            "<84>1 2024-05-01T12:34:56.123456Z files1 matterfs 777 open [matterfs@32473 "
            "result=\"deny\" severity=\"warning\" user=\"bob\" uid=\"1001\" pid=\"4242\" "
            "process=\"soffice.bin\" matter=\"acme-v-smith\" "
            "path=\"acme-v-smith/pleadings/draft.docx\" access=\"read\" "
            "rule=\"matter acme-v-smith: deny = carol\"] "
            "open deny user=bob matter=acme-v-smith access=read");
}

TEST(Rfc5424Test, ParsesBackWithEveryField) {
  SyslogHeader h;
  h.facility = SyslogFacility::kLocal4;
  h.procid = 31337;
  AuditEvent e = SampleEvent();
  e.count = 12;
  e.message = "opened 12 files in 60 s";
  auto p = ParseSyslog(FormatRfc5424(e, h));
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->pri, 20 * 8 + 4);
  EXPECT_EQ(p->version, "1");
  EXPECT_EQ(p->timestamp, "2024-05-01T12:34:56.123456Z");
  EXPECT_EQ(p->host, "files1");
  EXPECT_EQ(p->app, "matterfs");
  EXPECT_EQ(p->procid, "31337");
  EXPECT_EQ(p->msgid, "open");
  EXPECT_EQ(p->sd_id, "matterfs@32473");
  const std::map<std::string, std::string> want = {{"result", "deny"},
                                                   {"severity", "warning"},
                                                   {"user", "bob"},
                                                   {"uid", "1001"},
                                                   {"pid", "4242"},
                                                   {"process", "soffice.bin"},
                                                   {"matter", "acme-v-smith"},
                                                   {"path", "acme-v-smith/pleadings/draft.docx"},
                                                   {"access", "read"},
                                                   {"rule", "matter acme-v-smith: deny = carol"},
                                                   {"count", "12"}};
  EXPECT_EQ(p->params, want);
  EXPECT_EQ(p->msg,
            "open deny user=bob matter=acme-v-smith access=read count=12: opened 12 "
            "files in 60 s");
}

TEST(Rfc5424Test, LeavesEmptyFieldsOutAndUsesNilValues) {
  AuditEvent e;
  e.time = SampleTime();
  e.event = audit_events::kMount;
  e.severity = AuditSeverity::kNotice;
  SyslogHeader h;  // procid 0: NILVALUE
  EXPECT_EQ(FormatRfc5424(e, h),
            "<85>1 2024-05-01T12:34:56.123456Z - matterfs - mount [matterfs@32473 "
            "result=\"ok\" severity=\"notice\"] mount ok");
}

TEST(Rfc5424Test, EscapesQuoteBackslashAndBracketInParamValues) {
  EXPECT_EQ(EscapeSdParam(R"(a"b\c]d)"), R"(a\"b\\c\]d)");
  EXPECT_EQ(EscapeSdParam("plain [text] = ok"), "plain [text\\] = ok");
  // Control characters and invalid UTF-8 become \xNN text; valid UTF-8 stays.
  EXPECT_EQ(EscapeSdParam("a\nb\tc\x7f"), "a\\x0ab\\x09c\\x7f");
  EXPECT_EQ(EscapeSdParam("caf\xC3\xA9 \xFF\xC0\xAF"), "caf\xC3\xA9 \\xff\\xc0\\xaf");
  EXPECT_EQ(EscapeSdParam(std::string("nul\0byte", 8)), "nul\\x00byte");
}

TEST(Rfc5424Test, HostileValuesCannotForgeStructuredData) {
  // Every field a user controls, stuffed with the characters that could end a value, an
  // element or the message.
  const std::string evil = "x\"] [matterfs@32473 user=\"root\" result=\"allow\"] \\\"\n<13>1 - -";
  AuditEvent e = SampleEvent();
  e.user = evil;
  e.process = evil;
  e.path = evil;
  e.rule = evil;
  e.matter = evil;
  e.message = evil;
  const std::string s = FormatRfc5424(e, SyslogHeader{});
  EXPECT_EQ(s.find('\n'), std::string::npos);
  auto p = ParseSyslog(s);
  ASSERT_TRUE(p.has_value()) << s;
  EXPECT_EQ(p->params.at("result"), "deny");
  // The escaped control character reads back as \x0a text, the rest verbatim.
  std::string expect = evil;
  expect.replace(expect.find('\n'), 1, "\\x0a");
  EXPECT_EQ(p->params.at("user"), expect);
  EXPECT_EQ(p->params.at("path"), expect);
  EXPECT_EQ(p->params.at("rule"), expect);
}

TEST(Rfc5424Test, SanitisesHeaderFields) {
  AuditEvent e = SampleEvent();
  e.host = "files 1\n";
  e.event = std::string(40, 'e');
  SyslogHeader h;
  h.app_name = "matter fs";
  auto p = ParseSyslog(FormatRfc5424(e, h));
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->host, "files_1_");
  EXPECT_EQ(p->app, "matter_fs");
  EXPECT_EQ(p->msgid, std::string(32, 'e'));  // RFC 5424: MSGID is at most 32 characters
}

TEST(JsonTest, FormatsTheWholeObject) {
  EXPECT_EQ(FormatJson(SampleEvent()),
            R"({"time":"2024-05-01T12:34:56.123456Z","host":"files1","event":"open",)"
            R"("result":"deny","severity":"warning","user":"bob","uid":1001,"pid":4242,)"
            R"("process":"soffice.bin","matter":"acme-v-smith",)"
            R"("path":"acme-v-smith/pleadings/draft.docx","access":"read",)"
            R"("rule":"matter acme-v-smith: deny = carol"})");
}

TEST(JsonTest, EscapesStrings) {
  auto json = [](std::string_view s) { return DumpJson(nlohmann::ordered_json(std::string(s))); };
  EXPECT_EQ(json(R"(say "hi" \ bye)"), R"("say \"hi\" \\ bye")");
  EXPECT_EQ(json("a\nb\rc\td\be\ff"), R"("a\nb\rc\td\be\ff")");
  // Control characters: C0, DEL and C1 (U+0085).
  EXPECT_EQ(json(std::string("\x01\x1f\x7f\0\xC2\x85", 6)), R"("\u0001\u001f\u007f\u0000\u0085")");
  // Other non-ASCII characters (2, 3 and 4 bytes of UTF-8) are escaped too, so the output
  // is ASCII; '/' needs no escape.
  EXPECT_EQ(json("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x93\x81 a/b"),
            R"("caf\u00e9 \u20ac \ud83d\udcc1 a/b")");
  // Invalid UTF-8: a lone byte, an overlong '/', a surrogate and a code point above
  // U+10FFFF become U+FFFD per byte; a sequence cut off at the end becomes one U+FFFD.
  EXPECT_EQ(json("\xFF"), R"("\ufffd")");
  EXPECT_EQ(json("\xE2\x82"), R"("\ufffd")");
  EXPECT_EQ(json("\xE2\x82z"), R"("\ufffdz")");
  EXPECT_EQ(json("\xC0\xAF"), R"("\ufffd\ufffd")");
  EXPECT_EQ(json("\xED\xA0\x80"), R"("\ufffd\ufffd\ufffd")");
  EXPECT_EQ(json("\xF4\x90\x80\x80"), R"("\ufffd\ufffd\ufffd\ufffd")");
}

TEST(JsonTest, InvalidUtf8InAnyFieldNeverThrows) {
  const std::string bad("\xFF\xC0\xAF\xED\xA0\x80\xE2\x82", 8);
  AuditEvent e = SampleEvent(bad);
  e.host = e.event = e.process = e.matter = e.path = e.path_hash = e.access = e.rule = e.message =
      bad;
  std::string s;
  EXPECT_NO_THROW(s = FormatJson(e));
  EXPECT_NE(s.find(R"("user":"\ufffd\ufffd\ufffd\ufffd\ufffd\ufffd\ufffd")"), std::string::npos)
      << s;
  // What is written is valid JSON that reads back.
  const auto back = nlohmann::json::parse(s, nullptr, false);
  ASSERT_FALSE(back.is_discarded()) << s;
  EXPECT_EQ(back["message"],
            "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(JsonTest, ValidTextReadsBackUnchanged) {
  AuditEvent e = SampleEvent();
  e.path = "acme/M\xC3\xBCller \"draft\" \\ v2\t\xF0\x9F\x93\x81.docx";
  e.message = std::string("line1\nline2\x7f\x01", 13);
  const auto back = nlohmann::json::parse(FormatJson(e));
  EXPECT_EQ(back["path"], e.path);
  EXPECT_EQ(back["message"], e.message);
  EXPECT_EQ(back["uid"], 1001);
}

TEST(JsonTest, OutputIsOneLineOfPrintableAscii) {
  AuditEvent e = SampleEvent();
  e.path = std::string("dir\n\r\x00\x1b[31m\xFF\xFE", 13);
  e.message = "line1\nline2";
  const std::string s = FormatJson(e);
  for (unsigned char c : s) {
    EXPECT_TRUE(c >= 0x20 && c < 0x7f) << "byte " << static_cast<int>(c) << " in " << s;
  }
  EXPECT_NE(s.find(R"("path":"dir\n\r\u0000\u001b[31m\ufffd\ufffd")"), std::string::npos) << s;
}

TEST(JsonTest, OmitsEmptyFields) {
  AuditEvent e;
  e.time = SampleTime();
  e.event = audit_events::kAuditDropped;
  e.result = AuditResult::kError;
  e.severity = AuditSeverity::kAlert;
  e.count = 7;
  EXPECT_EQ(FormatJson(e), R"({"time":"2024-05-01T12:34:56.123456Z","event":"audit-dropped",)"
                           R"("result":"error","severity":"alert","count":7})");
}

Bytes TestKey(uint8_t fill) { return Bytes(32, fill); }

TEST(PathModeTest, ParsesNames) {
  EXPECT_EQ(*ParsePathMode("plain"), PathMode::kPlain);
  EXPECT_EQ(*ParsePathMode("hash"), PathMode::kHash);
  EXPECT_EQ(*ParsePathMode("omit"), PathMode::kOmit);
  EXPECT_FALSE(ParsePathMode("hashed").ok());
}

TEST(PathModeTest, PlainKeepsThePath) {
  auto r = PathRedactor::Make(PathMode::kPlain);
  ASSERT_TRUE(r.ok());
  AuditEvent e;
  r->Apply("acme/a.docx", e);
  EXPECT_EQ(e.path, "acme/a.docx");
  EXPECT_EQ(e.path_hash, "");
}

TEST(PathModeTest, OmitLeavesNoTrace) {
  auto r = PathRedactor::Make(PathMode::kOmit);
  ASSERT_TRUE(r.ok());
  AuditEvent e = SampleEvent();
  r->Apply("acme/secret-client-name.docx", e);
  EXPECT_EQ(e.path, "");
  EXPECT_EQ(e.path_hash, "");
  EXPECT_EQ(FormatJson(e).find("secret"), std::string::npos);
  EXPECT_EQ(FormatRfc5424(e, SyslogHeader{}).find("path"), std::string::npos);
}

TEST(PathModeTest, HashIsKeyedBlake2bTruncatedTo16Bytes) {
  const Bytes key = TestKey(7);
  auto r = PathRedactor::Make(PathMode::kHash, key);
  ASSERT_TRUE(r.ok());
  AuditEvent e = SampleEvent();
  r->Apply("acme/secret-client-name.docx", e);
  EXPECT_EQ(e.path, "");
  ASSERT_EQ(e.path_hash.size(), 32u);
  const Bytes full = crypto::Blake2b(32, AsBytes("acme/secret-client-name.docx"), key);
  EXPECT_EQ(e.path_hash, ToHex(ByteSpan(full.data(), 16)));
  // The plain path appears nowhere in either format.
  EXPECT_EQ(FormatJson(e).find("secret"), std::string::npos);
  EXPECT_EQ(FormatRfc5424(e, SyslogHeader{}).find("secret"), std::string::npos);
  EXPECT_NE(FormatJson(e).find("\"path_hash\":\"" + e.path_hash + "\""), std::string::npos);
  EXPECT_NE(FormatRfc5424(e, SyslogHeader{}).find("path_hash=\"" + e.path_hash + "\""),
            std::string::npos);
}

TEST(PathModeTest, HashCorrelatesSamePathOnly) {
  auto r = PathRedactor::Make(PathMode::kHash, TestKey(7));
  auto other_key = PathRedactor::Make(PathMode::kHash, TestKey(8));
  ASSERT_TRUE(r.ok() && other_key.ok());
  EXPECT_EQ(r->Hash("acme/a.docx"), r->Hash("acme/a.docx"));
  EXPECT_NE(r->Hash("acme/a.docx"), r->Hash("acme/b.docx"));
  EXPECT_NE(r->Hash("acme/a.docx"), other_key->Hash("acme/a.docx"));
}

TEST(PathModeTest, HashNeedsA32ByteKey) {
  for (size_t len : {0, 16, 31, 33, 64}) {
    auto r = PathRedactor::Make(PathMode::kHash, Bytes(len, 1));
    ASSERT_FALSE(r.ok()) << len;
    EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
  }
}

}  // namespace
}  // namespace matterfs::audit
