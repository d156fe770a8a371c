#include "audit/event.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <ctime>

#include "crypto/kdf.h"
#include "util/json.h"

namespace matterfs::audit {

namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 if the bytes there are not
// one (overlong forms, surrogates and code points above U+10FFFF are invalid).
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto b0 = static_cast<uint8_t>(s[i]);
  if (b0 < 0x80) return 1;
  size_t len = 0;
  uint32_t min = 0;
  uint32_t cp = 0;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2;
    min = 0x80;
    cp = b0 & 0x1Fu;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3;
    min = 0x800;
    cp = b0 & 0x0Fu;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4;
    min = 0x10000;
    cp = b0 & 0x07u;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    const auto b = static_cast<uint8_t>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3Fu);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

bool IsControl(uint8_t b) { return b < 0x20 || b == 0x7F; }

void AppendHexByte(uint8_t b, std::string& out) {
  static const char kDigits[] = "0123456789abcdef";
  out.push_back(kDigits[b >> 4]);
  out.push_back(kDigits[b & 15]);
}

// RFC 5424 header fields are PRINTUSASCII (33..126) with a length limit; "-" is NILVALUE.
std::string HeaderField(std::string_view v, size_t max_len) {
  if (v.empty()) return "-";
  std::string out(v.substr(0, max_len));
  for (char& c : out) {
    const auto b = static_cast<uint8_t>(c);
    if (b < 33 || b > 126) c = '_';
  }
  return out;
}

// Text for the MSG part: valid UTF-8 kept, control characters become a space (a line
// break must never reach a line-based log), invalid bytes U+FFFD.
std::string SanitizeText(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (size_t i = 0; i < v.size();) {
    const size_t n = Utf8SequenceLength(v, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else if (n == 1 && IsControl(static_cast<uint8_t>(v[i]))) {
      out.push_back(' ');
      ++i;
    } else {
      out.append(v.substr(i, n));
      i += n;
    }
  }
  return out;
}

void AppendSdParam(std::string_view name, std::string_view value, std::string& out) {
  if (value.empty()) return;
  out.push_back(' ');
  out.append(name);
  out.append("=\"");
  out.append(EscapeSdParam(value));
  out.push_back('"');
}

}  // namespace

const char* AuditResultName(AuditResult r) {
  switch (r) {
    case AuditResult::kAllow:
      return "allow";
    case AuditResult::kDeny:
      return "deny";
    case AuditResult::kOk:
      return "ok";
    case AuditResult::kError:
      return "error";
  }
  return "error";
}

const char* AuditSeverityName(AuditSeverity s) {
  switch (s) {
    case AuditSeverity::kAlert:
      return "alert";
    case AuditSeverity::kWarning:
      return "warning";
    case AuditSeverity::kNotice:
      return "notice";
    case AuditSeverity::kInfo:
      return "info";
  }
  return "alert";
}

namespace {

struct FacilityEntry {
  const char* name;
  SyslogFacility facility;
};
constexpr std::array<FacilityEntry, 11> kFacilities = {{
    {"authpriv", SyslogFacility::kAuthpriv},
    {"auth", SyslogFacility::kAuth},
    {"daemon", SyslogFacility::kDaemon},
    {"local0", SyslogFacility::kLocal0},
    {"local1", SyslogFacility::kLocal1},
    {"local2", SyslogFacility::kLocal2},
    {"local3", SyslogFacility::kLocal3},
    {"local4", SyslogFacility::kLocal4},
    {"local5", SyslogFacility::kLocal5},
    {"local6", SyslogFacility::kLocal6},
    {"local7", SyslogFacility::kLocal7},
}};

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

Result<SyslogFacility> ParseFacility(std::string_view name) {
  const std::string lower = Lower(name);
  for (const auto& f : kFacilities) {
    if (lower == f.name) return f.facility;
  }
  return Error(Code::kInvalidArgument, "unknown syslog facility '" + std::string(name) +
                                           "' (use authpriv, auth, daemon or local0..local7)");
}

const char* FacilityName(SyslogFacility f) {
  for (const auto& e : kFacilities) {
    if (e.facility == f) return e.name;
  }
  return "authpriv";
}

int SyslogPri(SyslogFacility f, AuditSeverity s) {
  return static_cast<int>(f) * 8 + static_cast<int>(s);
}

Result<PathMode> ParsePathMode(std::string_view name) {
  const std::string lower = Lower(name);
  if (lower == "plain") return PathMode::kPlain;
  if (lower == "hash") return PathMode::kHash;
  if (lower == "omit") return PathMode::kOmit;
  return Error(Code::kInvalidArgument,
               "unknown audit path mode '" + std::string(name) + "' (use plain, hash or omit)");
}

const char* PathModeName(PathMode m) {
  switch (m) {
    case PathMode::kPlain:
      return "plain";
    case PathMode::kHash:
      return "hash";
    case PathMode::kOmit:
      return "omit";
  }
  return "omit";
}

Result<PathRedactor> PathRedactor::Make(PathMode mode, ByteSpan hash_key) {
  if (mode != PathMode::kHash) return PathRedactor(mode, crypto::SecureBuffer());
  if (hash_key.size() != kKeySize) {
    return Error(Code::kInvalidArgument, "the audit path-hash key must be 32 bytes");
  }
  crypto::SecureBuffer key(kKeySize);
  std::copy(hash_key.begin(), hash_key.end(), key.data());
  key.ReadOnly();
  return PathRedactor(mode, std::move(key));
}

void PathRedactor::AppendHash(std::string_view path, std::string& out) const {
  std::array<uint8_t, 32> full{};
  crypto::Blake2bInto(full, AsBytes(path), key_.span());
  out.reserve(out.size() + 2 * kHashSize);
  for (size_t i = 0; i < kHashSize; ++i) AppendHexByte(full[i], out);
}

std::string PathRedactor::Hash(std::string_view path) const {
  std::string out;
  if (mode_ == PathMode::kHash) AppendHash(path, out);
  return out;
}

void PathRedactor::Apply(std::string_view path, AuditEvent& event) const {
  // Written in place, so that an event whose strings already have the room (a reused
  // queue slot, AuditSink::Emplace) costs no allocation.
  event.path.clear();
  event.path_hash.clear();
  switch (mode_) {
    case PathMode::kPlain:
      event.path.assign(path);
      break;
    case PathMode::kHash:
      AppendHash(path, event.path_hash);
      break;
    case PathMode::kOmit:
      break;
  }
}

std::string FormatAuditTime(AuditTime t) {
  using std::chrono::duration_cast;
  using std::chrono::seconds;
  const auto since_epoch = t.time_since_epoch();
  auto secs = duration_cast<seconds>(since_epoch);
  auto micros = (since_epoch - secs).count();
  if (micros < 0) {  // times before 1970: floor, so the fraction stays positive
    secs -= seconds(1);
    micros += 1000000;
  }
  const auto tt = static_cast<time_t>(secs.count());
  struct tm tm {};
  gmtime_r(&tt, &tm);
  char buf[128];  // room for any int fields, so GCC can prove no truncation
  (void)std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
                      tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                      static_cast<long long>(micros));
  return buf;
}

std::optional<AuditTime> ParseAuditTime(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS.ffffffZ, 27 characters.
  if (s.size() != 27 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
      s[16] != ':' || s[19] != '.' || s[26] != 'Z') {
    return std::nullopt;
  }
  auto num = [&](size_t pos, size_t len) -> std::optional<int> {
    int v = 0;
    for (size_t i = pos; i < pos + len; ++i) {
      if (s[i] < '0' || s[i] > '9') return std::nullopt;
      v = v * 10 + (s[i] - '0');
    }
    return v;
  };
  auto year = num(0, 4), mon = num(5, 2), day = num(8, 2), hour = num(11, 2), min = num(14, 2),
       sec = num(17, 2), frac = num(20, 6);
  if (!year || !mon || !day || !hour || !min || !sec || !frac) return std::nullopt;
  const std::chrono::year_month_day ymd{std::chrono::year(*year),
                                        std::chrono::month(static_cast<unsigned>(*mon)),
                                        std::chrono::day(static_cast<unsigned>(*day))};
  if (!ymd.ok() || *hour > 23 || *min > 59 || *sec > 60) return std::nullopt;
  const auto days = std::chrono::sys_days(ymd);
  return AuditTime(std::chrono::duration_cast<std::chrono::microseconds>(days.time_since_epoch()) +
                   std::chrono::hours(*hour) + std::chrono::minutes(*min) +
                   std::chrono::seconds(*sec) + std::chrono::microseconds(*frac));
}

std::string EscapeSdParam(std::string_view value) {
  std::string out;
  out.reserve(value.size() + 8);
  for (size_t i = 0; i < value.size();) {
    const size_t n = Utf8SequenceLength(value, i);
    const auto b = static_cast<uint8_t>(value[i]);
    if (n == 0 || (n == 1 && IsControl(b))) {
      out.append("\\x");
      AppendHexByte(b, out);
      ++i;
      continue;
    }
    if (n == 1 && (b == '"' || b == '\\' || b == ']')) out.push_back('\\');
    out.append(value.substr(i, n));
    i += n;
  }
  return out;
}

std::string AuditSummary(const AuditEvent& e) {
  std::string s = e.event.empty() ? "event" : e.event;
  s += ' ';
  s += AuditResultName(e.result);
  if (!e.user.empty()) s += " user=" + e.user;
  if (!e.matter.empty()) s += " matter=" + e.matter;
  if (!e.access.empty()) s += " access=" + e.access;
  if (e.count) s += " count=" + std::to_string(*e.count);
  if (!e.message.empty()) s += ": " + e.message;
  return SanitizeText(s);
}

std::string FormatRfc5424(const AuditEvent& e, const SyslogHeader& header) {
  std::string out;
  out.reserve(256 + e.path.size() + e.rule.size() + e.message.size());
  out.push_back('<');
  out.append(std::to_string(SyslogPri(header.facility, e.severity)));
  out.append(">1 ");
  out.append(FormatAuditTime(e.time));
  out.push_back(' ');
  out.append(HeaderField(e.host, 255));
  out.push_back(' ');
  out.append(HeaderField(header.app_name, 48));
  out.push_back(' ');
  out.append(header.procid > 0 ? std::to_string(header.procid) : "-");
  out.push_back(' ');
  out.append(HeaderField(e.event, 32));
  out.append(" [");
  out.append(kSdId);
  AppendSdParam("result", AuditResultName(e.result), out);
  AppendSdParam("severity", AuditSeverityName(e.severity), out);
  AppendSdParam("user", e.user, out);
  if (e.uid) AppendSdParam("uid", std::to_string(*e.uid), out);
  if (e.pid) AppendSdParam("pid", std::to_string(*e.pid), out);
  AppendSdParam("process", e.process, out);
  AppendSdParam("matter", e.matter, out);
  AppendSdParam("path", e.path, out);
  AppendSdParam("path_hash", e.path_hash, out);
  AppendSdParam("access", e.access, out);
  AppendSdParam("rule", e.rule, out);
  if (e.count) AppendSdParam("count", std::to_string(*e.count), out);
  out.append("] ");
  out.append(AuditSummary(e));
  return out;
}

nlohmann::ordered_json EventJson(const AuditEvent& e) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  const auto text = [&j](const char* key, const std::string& value) {
    if (!value.empty()) j[key] = value;
  };
  const auto number = [&j](const char* key, const auto& value) {
    if (value) j[key] = *value;
  };
  text("time", FormatAuditTime(e.time));
  text("host", e.host);
  text("event", e.event);
  text("result", AuditResultName(e.result));
  text("severity", AuditSeverityName(e.severity));
  text("user", e.user);
  number("uid", e.uid);
  number("pid", e.pid);
  text("process", e.process);
  text("matter", e.matter);
  text("path", e.path);
  text("path_hash", e.path_hash);
  text("access", e.access);
  text("rule", e.rule);
  number("count", e.count);
  text("message", e.message);
  return j;
}

std::string FormatJson(const AuditEvent& e) { return DumpJson(EventJson(e)); }

}  // namespace matterfs::audit
