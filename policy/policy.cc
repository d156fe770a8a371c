#include "policy/policy.h"

#include <fcntl.h>
#include <ini.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <span>
#include <utility>

#include "util/file_io.h"

namespace matterfs::policy {

std::string Principal::Display() const { return kind == PrincipalKind::kGroup ? "@" + name : name; }

const MatterRules* Policy::FindMatter(std::string_view name) const {
  auto it = matters.find(name);
  return it == matters.end() ? nullptr : &it->second;
}

const Role* Policy::FindRole(std::string_view name) const {
  auto it = roles.find(name);
  return it == roles.end() ? nullptr : &it->second;
}

Policy Policy::OwnerOnly(std::string user) {
  Policy p;
  p.source = "(built-in: only " + user + ")";
  Principal owner{PrincipalKind::kUser, std::move(user), std::nullopt, "", 0};
  p.create_matters.push_back(owner);
  MatterRules every;
  every.name = "*";
  every.admin.push_back(owner);
  p.every_matter = std::move(every);
  return p;
}

const char* AuditModeName(AuditMode m) { return m == AuditMode::kStrict ? "strict" : "drop"; }

const char* AuditPathName(AuditPath p) {
  switch (p) {
    case AuditPath::kPlain:
      return "plain";
    case AuditPath::kHash:
      return "hash";
    case AuditPath::kOmit:
      return "omit";
  }
  return "plain";
}

namespace {

struct FacilityEntry {
  const char* name;
  int code;  // RFC 5424
  LogFacility facility;
};
constexpr FacilityEntry kFacilities[] = {
    {"auth", 4, LogFacility::kAuth},      {"authpriv", 10, LogFacility::kAuthpriv},
    {"daemon", 3, LogFacility::kDaemon},  {"local0", 16, LogFacility::kLocal0},
    {"local1", 17, LogFacility::kLocal1}, {"local2", 18, LogFacility::kLocal2},
    {"local3", 19, LogFacility::kLocal3}, {"local4", 20, LogFacility::kLocal4},
    {"local5", 21, LogFacility::kLocal5}, {"local6", 22, LogFacility::kLocal6},
    {"local7", 23, LogFacility::kLocal7},
};

}  // namespace

const char* SyslogFacilityName(LogFacility f) {
  for (const auto& e : kFacilities) {
    if (e.facility == f) return e.name;
  }
  return "authpriv";
}

int SyslogFacilityCode(LogFacility f) {
  for (const auto& e : kFacilities) {
    if (e.facility == f) return e.code;
  }
  return 10;
}

std::string FormatProblem(std::string_view file, const Problem& p) {
  std::string out(file);
  if (p.line > 0) out += ":" + std::to_string(p.line);
  out += ": ";
  out += p.reason;
  return out;
}

namespace {

// ---------------------------------------------------------------------------------------
// Text helpers

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

// inih's rule (ini_find_chars_or_comment): the index of the first char of `chars`, or of
// an inline comment (';' after whitespace), or s.size().
size_t FindCharsOrComment(std::string_view s, std::string_view chars) {
  bool was_space = false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (chars.find(s[i]) != std::string_view::npos) return i;
    if (was_space && s[i] == ';') return i;
    was_space = IsSpace(s[i]);
  }
  return s.size();
}

std::string Quote(std::string_view s) { return "'" + std::string(s) + "'"; }

// A user name or (after '@') a group name: anything printable without the characters the
// policy syntax uses, so "DOMAIN\alice" and "alice@corp.example" work.
bool ValidPrincipalName(std::string_view s) {
  if (s.empty() || s.size() > 256 || s == "*") return false;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x21 || u == 0x7f) return false;
    if (std::strchr(",;=#[]\"'", c) != nullptr) return false;
  }
  return true;
}

bool ValidRoleName(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (!alnum(s[0])) return false;
  return std::all_of(s.begin(), s.end(),
                     [&](char c) { return alnum(c) || c == '.' || c == '_' || c == '-'; });
}

std::optional<bool> ParseBool(std::string_view v) {
  std::string s(v);
  std::transform(s.begin(), s.end(), s.begin(),
                 [](char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c); });
  if (s == "yes" || s == "true" || s == "on" || s == "1") return true;
  if (s == "no" || s == "false" || s == "off" || s == "0") return false;
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------
// Raw structure collected while inih runs; turned into a Policy afterwards.

enum class SectionKind : uint8_t { kPolicy, kRole, kMatter, kIgnored };

struct Fragment {
  std::string text;
  int line;
};

struct KeyValue {
  std::string key;
  int line;
  std::vector<Fragment> fragments;  // the key's line, then its continuation lines
};

struct Section {
  SectionKind kind;
  std::string name;  // role or matter name ("*" for [matter *]); empty for [policy]
  int line;
  bool duplicate = false;  // checked for problems but not used
  std::vector<KeyValue> keys;
};

const char* KindWord(SectionKind k) {
  switch (k) {
    case SectionKind::kPolicy:
      return "policy";
    case SectionKind::kRole:
      return "role";
    case SectionKind::kMatter:
      return "matter";
    case SectionKind::kIgnored:
      break;
  }
  return "?";
}

std::string SectionTitle(const Section& s) {
  return s.kind == SectionKind::kPolicy ? "[policy]"
                                        : "[" + std::string(KindWord(s.kind)) + " " + s.name + "]";
}

constexpr std::string_view kPolicyKeys[] = {
    "hide_denied",     "create_matters", "break_glass",    "break_glass_max",
    "bulk_threshold",  "bulk_window",    "audit",          "audit_path",
    "syslog_facility", "audit_log",      "default_matter",
};
constexpr std::string_view kRoleKeys[] = {"members"};
constexpr std::string_view kMatterKeys[] = {"read", "write", "admin", "deny"};

std::span<const std::string_view> KeysOf(SectionKind k) {
  switch (k) {
    case SectionKind::kPolicy:
      return kPolicyKeys;
    case SectionKind::kRole:
      return kRoleKeys;
    case SectionKind::kMatter:
      return kMatterKeys;
    case SectionKind::kIgnored:
      break;
  }
  return {};
}

std::string JoinKeys(std::span<const std::string_view> keys) {
  std::string out;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (i > 0) out += i + 1 == keys.size() ? " or " : ", ";
    out += keys[i];
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Parser
//
// inih does the tokenising (name = value, inline comments, continuation lines) but, as
// Debian builds it, reports only the first error, passes no line numbers, truncates
// section names to 49 bytes and cuts lines at 199. So lines reach inih through
// NextLine(), which numbers them, checks each for the problems inih would report (all of
// them, with their lines), handles section headers itself (so matter names of any length
// work) and hands inih only lines it will accept. inih calls OnValue() for a line before
// it reads the next one, so line_ is the line of every OnValue() call.

class Parser {
 public:
  Parser(std::string_view text, std::string_view file, const Resolver& resolver)
      : file_(file), resolver_(resolver) {
    size_t start = 0;
    while (start < text.size()) {
      size_t nl = text.find('\n', start);
      if (nl == std::string_view::npos) nl = text.size();
      lines_.push_back(text.substr(start, nl - start));
      start = nl + 1;
    }
  }

  Result<Policy> Run(std::vector<Problem>* problems_out);

 private:
  static char* ReaderThunk(char* buf, int size, void* self) {
    return static_cast<Parser*>(self)->NextLine(buf, size);
  }
  static int HandlerThunk(void* self, const char* /*section*/, const char* name,
                          const char* value) {
    static_cast<Parser*>(self)->OnValue(name, value);
    return 1;  // problems are collected here, never reported through inih
  }

  char* NextLine(char* buf, int size);
  void OnValue(std::string_view name, std::string_view value);
  void StartSection(std::string_view header);
  void Report(int line, std::string reason) { problems_.push_back({line, std::move(reason)}); }

  // Building the Policy from sections_.
  void Build(Policy& p);
  void BuildPolicySection(const Section& s, Policy& p);
  std::optional<std::string> Single(const KeyValue& kv, const Section& s);
  PrincipalList ParseList(const KeyValue& kv, const Section& s);
  void Resolve(Policy& p);
  void ResolveList(PrincipalList& list, const Policy& p);
  Result<bool> UserExists(const std::string& name);
  Result<bool> GroupExists(const std::string& name);
  void CheckRoleCycles(const Policy& p);

  std::string file_;
  const Resolver& resolver_;
  std::vector<std::string_view> lines_;
  size_t next_ = 0;
  int line_ = 0;
  bool prev_key_ = false;      // inih's prev_name is set: an indented line continues it
  bool continuation_ = false;  // the line being handled continues the previous key
  std::vector<Section> sections_;
  Section* section_ = nullptr;  // the current section (nullptr before the first)
  KeyValue* key_ = nullptr;     // the key continuation lines add to (nullptr: ignore them)
  std::vector<Problem> problems_;
  std::map<std::string, Result<bool>, std::less<>> user_cache_;
  std::map<std::string, Result<bool>, std::less<>> group_cache_;
};

char* Parser::NextLine(char* buf, int size) {
  if (next_ >= lines_.size()) return nullptr;
  std::string_view raw = lines_[next_++];
  line_ = static_cast<int>(next_);
  continuation_ = false;
  auto feed = [&](std::string_view prefix, std::string_view s) {
    // Callers have checked that prefix + s + "\n" fits.
    std::memcpy(buf, prefix.data(), prefix.size());
    std::memcpy(buf + prefix.size(), s.data(), s.size());
    buf[prefix.size() + s.size()] = '\n';
    buf[prefix.size() + s.size() + 1] = '\0';
    return buf;
  };
  if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
  if (line_ == 1 && raw.substr(0, 3) == "\xEF\xBB\xBF") raw.remove_prefix(3);
  if (raw.find('\0') != std::string_view::npos) {
    Report(line_, "NUL byte in the line (is this a text file?)");
    return feed("", "");
  }
  std::string_view t = Trim(raw);
  if (t.empty() || t[0] == ';' || t[0] == '#') return feed("", "");  // comments of any length
  bool indented = t.data() != raw.data();
  auto too_long = [&](size_t extra) {
    // prefix + text + '\n' + '\0' must fit inih's buffer.
    if (t.size() + extra + 2 <= static_cast<size_t>(size)) return false;
    Report(line_, "line is longer than " + std::to_string(size - 2 - static_cast<int>(extra)) +
                      " characters; continue a long list on indented lines");
    return true;
  };

  // A header is a header even when indented (inih would take it for a continuation).
  if (t[0] == '[') {
    prev_key_ = false;
    key_ = nullptr;
    StartSection(t);
    return feed("", "[s]");  // inih's copy of the name is never used (see StartSection)
  }
  // Inline comments are cut here rather than by inih: Debian's inih (r55) leaves them on
  // continuation lines.
  t = Trim(t.substr(0, FindCharsOrComment(t, "")));
  if (indented && prev_key_) {
    if (too_long(1)) return feed("", "");
    continuation_ = true;
    return feed(" ", t);
  }
  size_t sep = FindCharsOrComment(t, "=:");
  if (sep == t.size() || t[sep] == ';') {
    Report(line_, "expected 'key = value', a [section] header or a comment, not " + Quote(t));
    key_ = nullptr;
    return feed("", "");
  }
  if (Trim(t.substr(0, sep)).empty()) {
    Report(line_, "missing key name before '" + std::string(1, t[sep]) + "'");
    key_ = nullptr;
    return feed("", "");
  }
  if (too_long(0)) {
    key_ = nullptr;
    return feed("", "");
  }
  prev_key_ = true;
  return feed("", t);
}

void Parser::StartSection(std::string_view header) {
  size_t close = FindCharsOrComment(header.substr(1), "]");
  if (close == header.size() - 1 || header[close + 1] != ']') {
    Report(line_, "section header without ']'");
    sections_.push_back({SectionKind::kIgnored, "", line_, false, {}});
    section_ = &sections_.back();
    return;
  }
  std::string_view rest = Trim(header.substr(close + 2));
  if (!rest.empty() && rest[0] != ';' && rest[0] != '#') {
    Report(line_, "unexpected text after ']': " + Quote(rest));
  }
  std::string_view inner = Trim(header.substr(1, close));
  size_t space = 0;
  while (space < inner.size() && !IsSpace(inner[space])) ++space;
  std::string_view word = inner.substr(0, space);
  std::string_view name = Trim(inner.substr(space));

  Section s{SectionKind::kIgnored, std::string(name), line_, false, {}};
  if (word == "policy") {
    if (name.empty()) {
      s.kind = SectionKind::kPolicy;
    } else {
      Report(line_, "[policy] takes no name; did you mean [matter " + std::string(name) + "]?");
    }
  } else if (word == "role") {
    if (name.empty()) {
      Report(line_, "[role] needs a name: [role NAME]");
    } else if (!ValidRoleName(name)) {
      Report(line_, "bad role name " + Quote(name) +
                        " (letters, digits, '.', '_' and '-', starting with a letter or digit; "
                        "at most 64)");
    } else {
      s.kind = SectionKind::kRole;
    }
  } else if (word == "matter") {
    if (name.empty()) {
      Report(line_, "[matter] needs a name: [matter NAME], or [matter *] for every matter");
    } else if (name != "*" && !IsValidMatterName(name)) {
      Report(line_, "bad matter name " + Quote(name) +
                        " (no '/', no control characters, not '.' or '..', at most 255 bytes)");
    } else {
      s.kind = SectionKind::kMatter;
    }
  } else {
    Report(line_, "unknown section [" + std::string(inner) +
                      "]; expected [policy], [role NAME] or [matter NAME]");
  }
  if (s.kind != SectionKind::kIgnored) {
    for (const Section& other : sections_) {
      if (other.kind == s.kind && other.name == s.name && !other.duplicate) {
        Report(line_, "duplicate section " + SectionTitle(s) + " (first at line " +
                          std::to_string(other.line) + ")");
        s.duplicate = true;
        break;
      }
    }
  }
  sections_.push_back(std::move(s));
  section_ = &sections_.back();
}

void Parser::OnValue(std::string_view name, std::string_view value) {
  if (continuation_) {
    if (key_ == nullptr) return;
    // "  write = bob" under "read = ..." continues read; say so rather than "bad name".
    size_t sep = value.find_first_of("=:");
    if (sep != std::string_view::npos) {
      std::string_view word = Trim(value.substr(0, sep));
      for (SectionKind k : {SectionKind::kPolicy, SectionKind::kRole, SectionKind::kMatter}) {
        auto keys = KeysOf(k);
        if (std::find(keys.begin(), keys.end(), word) != keys.end()) {
          Report(line_, "indented line continues " + Quote(key_->key) + " (line " +
                            std::to_string(key_->line) + "); to start key " + Quote(word) +
                            ", do not indent it");
          key_ = nullptr;
          return;
        }
      }
    }
    key_->fragments.push_back({std::string(value), line_});
    return;
  }
  key_ = nullptr;
  if (section_ == nullptr) {
    Report(line_, "key " + Quote(name) + " before any [section]");
    return;
  }
  if (section_->kind == SectionKind::kIgnored) return;  // the header's problem is reported
  auto keys = KeysOf(section_->kind);
  if (std::find(keys.begin(), keys.end(), name) == keys.end()) {
    Report(line_, "unknown key " + Quote(name) + " in " + SectionTitle(*section_) + "; expected " +
                      JoinKeys(keys));
    return;
  }
  for (KeyValue& kv : section_->keys) {
    if (kv.key == name) {
      Report(line_, "duplicate key " + Quote(name) + " in " + SectionTitle(*section_) +
                        " (first at line " + std::to_string(kv.line) +
                        "); list every name in one key, continuing on indented lines");
      return;
    }
  }
  section_->keys.push_back({std::string(name), line_, {{std::string(value), line_}}});
  key_ = &section_->keys.back();
}

std::optional<std::string> Parser::Single(const KeyValue& kv, const Section& s) {
  if (kv.fragments.size() > 1) {
    Report(kv.fragments[1].line,
           Quote(kv.key) + " in " + SectionTitle(s) + " takes one value, not a continued list");
    return std::nullopt;
  }
  std::string v = kv.fragments[0].text;
  if (v.empty()) {
    Report(kv.line, Quote(kv.key) + " needs a value");
    return std::nullopt;
  }
  return v;
}

PrincipalList Parser::ParseList(const KeyValue& kv, const Section& s) {
  PrincipalList out;
  for (size_t f = 0; f < kv.fragments.size(); ++f) {
    const Fragment& frag = kv.fragments[f];
    std::string_view text = frag.text;
    // "read =" followed by indented lines is fine: an empty first line of a continued list.
    if (Trim(text).empty() && kv.fragments.size() > 1) continue;
    size_t start = 0;
    for (;;) {
      size_t comma = text.find(',', start);
      bool last = comma == std::string_view::npos;
      std::string_view item =
          Trim(text.substr(start, last ? std::string_view::npos : comma - start));
      start = last ? text.size() : comma + 1;
      if (item.empty()) {
        // Allowed: a trailing comma before a continuation line ("a, b,"), and an empty
        // value (reported below as "lists nobody").
        bool trailing = last && f + 1 < kv.fragments.size();
        if (!trailing && !Trim(text).empty()) {
          Report(frag.line,
                 "empty entry in the list of " + Quote(kv.key) + " in " + SectionTitle(s));
        }
        if (last) break;
        continue;
      }
      // NAME [until=TIME]
      std::vector<std::string_view> tokens;
      size_t p = 0;
      while (p < item.size()) {
        while (p < item.size() && IsSpace(item[p])) ++p;
        size_t b = p;
        while (p < item.size() && !IsSpace(item[p])) ++p;
        if (p > b) tokens.push_back(item.substr(b, p - b));
      }
      Principal pr;
      pr.line = frag.line;
      std::string_view name = tokens[0];
      bool ok = true;
      if (name[0] == '@') {
        pr.kind = PrincipalKind::kGroup;
        name.remove_prefix(1);
        if (!ValidPrincipalName(name)) {
          Report(frag.line, "bad group name " + Quote(tokens[0]));
          ok = false;
        }
      } else if (!ValidPrincipalName(name)) {
        Report(frag.line, "bad name " + Quote(name) + " in " + Quote(kv.key));
        ok = false;
      }
      pr.name = std::string(name);
      for (size_t t = 1; t < tokens.size(); ++t) {
        std::string_view tok = tokens[t];
        if (tok.substr(0, 6) == "until=") {
          if (pr.until || !pr.until_text.empty()) {
            Report(frag.line, "two until= for " + Quote(tokens[0]));
            ok = false;
            continue;
          }
          pr.until_text = std::string(tok.substr(6));
          auto until = ParseUntil(pr.until_text);
          if (!until.ok()) {
            Report(frag.line,
                   "bad until date for " + Quote(tokens[0]) + ": " + until.error().message());
            ok = false;
          } else {
            pr.until = *until;
          }
        } else {
          Report(frag.line, "unexpected " + Quote(tok) + " after " + Quote(tokens[0]) +
                                " (names are separated by commas; the only option is "
                                "until=DATE)");
          ok = false;
          break;  // one problem per entry: the rest is likely the same mistake
        }
      }
      if (ok) {
        for (const Principal& seen : out) {
          if (seen.kind == pr.kind && seen.name == pr.name) {
            Report(frag.line, Quote(pr.Display()) + " is listed twice in " + Quote(kv.key) +
                                  " in " + SectionTitle(s) +
                                  (seen.line != frag.line
                                       ? " (first at line " + std::to_string(seen.line) + ")"
                                       : ""));
            ok = false;
            break;
          }
        }
      }
      if (ok) out.push_back(std::move(pr));
      if (last) break;
    }
  }
  bool any_text = std::any_of(kv.fragments.begin(), kv.fragments.end(),
                              [](const Fragment& fr) { return !Trim(fr.text).empty(); });
  if (!any_text) {
    Report(kv.line, Quote(kv.key) + " in " + SectionTitle(s) +
                        " lists nobody; to grant nothing, leave the key out");
  }
  return out;
}

void Parser::BuildPolicySection(const Section& s, Policy& p) {
  for (const KeyValue& kv : s.keys) {
    const std::string& k = kv.key;
    if (k == "create_matters") {
      p.create_matters = ParseList(kv, s);
      continue;
    }
    if (k == "break_glass") {
      p.break_glass = ParseList(kv, s);
      continue;
    }
    auto v = Single(kv, s);
    if (!v) continue;
    auto bad = [&](const std::string& expected) {
      Report(kv.line, Quote(k) + " must be " + expected + ", not " + Quote(*v));
    };
    if (k == "hide_denied") {
      auto b = ParseBool(*v);
      if (b)
        p.hide_denied = *b;
      else
        bad("yes or no");
    } else if (k == "break_glass_max" || k == "bulk_window") {
      auto d = ParseDuration(*v);
      if (!d.ok()) {
        Report(kv.line, Quote(k) + ": " + d.error().message());
      } else {
        (k == "bulk_window" ? p.bulk_window : p.break_glass_max) = *d;
      }
    } else if (k == "bulk_threshold") {
      if (*v == "off") {
        p.bulk_threshold = 0;
      } else {
        uint64_t n = 0;
        bool digits = v->size() <= 7 && std::all_of(v->begin(), v->end(),
                                                    [](char c) { return c >= '0' && c <= '9'; });
        if (digits) {
          for (char c : *v) n = n * 10 + static_cast<uint64_t>(c - '0');
        }
        if (!digits || n == 0 || n > 1'000'000) {
          bad("a number of opens from 1 to 1000000, or off");
        } else {
          p.bulk_threshold = static_cast<uint32_t>(n);
        }
      }
    } else if (k == "audit") {
      if (*v == "drop")
        p.audit = AuditMode::kDrop;
      else if (*v == "strict")
        p.audit = AuditMode::kStrict;
      else
        bad("drop or strict");
    } else if (k == "audit_path") {
      if (*v == "plain")
        p.audit_path = AuditPath::kPlain;
      else if (*v == "hash")
        p.audit_path = AuditPath::kHash;
      else if (*v == "omit")
        p.audit_path = AuditPath::kOmit;
      else
        bad("plain, hash or omit");
    } else if (k == "syslog_facility") {
      bool found = false;
      for (const auto& e : kFacilities) {
        if (*v == e.name) {
          p.syslog_facility = e.facility;
          found = true;
        }
      }
      if (!found) bad("auth, authpriv, daemon or local0 to local7");
    } else if (k == "audit_log") {
      bool clean = std::none_of(v->begin(), v->end(), [](char c) {
        return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
      });
      if ((*v)[0] != '/' || v->back() == '/' || !clean) {
        bad("an absolute file path");
      } else {
        p.audit_log = *v;
      }
    } else if (k == "default_matter") {
      if (*v != "deny") bad("deny (the only default: a matter grants nothing it does not list)");
    }
  }
}

void Parser::Build(Policy& p) {
  for (const Section& s : sections_) {
    switch (s.kind) {
      case SectionKind::kIgnored:
        break;
      case SectionKind::kPolicy: {
        if (s.duplicate) {
          Policy scratch;  // still report problems in the duplicate's keys
          BuildPolicySection(s, scratch);
        } else {
          BuildPolicySection(s, p);
        }
        break;
      }
      case SectionKind::kRole: {
        Role r{s.name, s.line, {}};
        bool has_members = false;
        for (const KeyValue& kv : s.keys) {
          r.members = ParseList(kv, s);  // the only key
          has_members = true;
        }
        if (!has_members) Report(s.line, "[role " + s.name + "] has no members");
        if (!s.duplicate) p.roles.emplace(s.name, std::move(r));
        break;
      }
      case SectionKind::kMatter: {
        MatterRules m;
        m.name = s.name;
        m.line = s.line;
        for (const KeyValue& kv : s.keys) {
          PrincipalList list = ParseList(kv, s);
          if (kv.key == "read")
            m.read = std::move(list);
          else if (kv.key == "write")
            m.write = std::move(list);
          else if (kv.key == "admin")
            m.admin = std::move(list);
          else
            m.deny = std::move(list);
        }
        if (s.duplicate) break;
        if (s.name == "*") {
          p.every_matter = std::move(m);
        } else {
          p.matters.emplace(s.name, std::move(m));
        }
        break;
      }
    }
  }
}

Result<bool> Parser::UserExists(const std::string& name) {
  auto it = user_cache_.find(name);
  if (it == user_cache_.end()) it = user_cache_.emplace(name, resolver_.UserExists(name)).first;
  return it->second;
}

Result<bool> Parser::GroupExists(const std::string& name) {
  auto it = group_cache_.find(name);
  if (it == group_cache_.end()) it = group_cache_.emplace(name, resolver_.GroupExists(name)).first;
  return it->second;
}

void Parser::ResolveList(PrincipalList& list, const Policy& p) {
  for (Principal& pr : list) {
    if (pr.kind == PrincipalKind::kGroup) {
      auto exists = GroupExists(pr.name);
      if (!exists.ok()) {
        Report(pr.line,
               "cannot look up group " + Quote("@" + pr.name) + ": " + exists.error().message());
      } else if (!*exists) {
        Report(pr.line, "unknown group " + Quote("@" + pr.name));
      }
      continue;
    }
    if (p.roles.count(pr.name) > 0) {
      pr.kind = PrincipalKind::kRole;  // a role that is also a user is reported at its header
      continue;
    }
    pr.kind = PrincipalKind::kUser;
    auto exists = UserExists(pr.name);
    if (!exists.ok()) {
      Report(pr.line, "cannot look up user " + Quote(pr.name) + ": " + exists.error().message());
    } else if (!*exists) {
      Report(pr.line, Quote(pr.name) +
                          " is neither a role defined in this file nor a known user (groups "
                          "are written @group)");
    }
  }
}

void Parser::CheckRoleCycles(const Policy& p) {
  std::map<std::string, int, std::less<>> state;  // 0 new, 1 on the path, 2 done
  std::vector<std::string> path;
  std::function<void(const Role&)> visit = [&](const Role& r) {
    state[r.name] = 1;
    path.push_back(r.name);
    for (const Principal& m : r.members) {
      if (m.kind != PrincipalKind::kRole) continue;
      int st = state[m.name];
      if (st == 1) {
        std::string cycle;
        auto from = std::find(path.begin(), path.end(), m.name);
        for (auto it = from; it != path.end(); ++it) cycle += *it + " -> ";
        Report(m.line, "roles include each other: " + cycle + m.name);
      } else if (st == 0) {
        if (const Role* next = p.FindRole(m.name)) visit(*next);
      }
    }
    path.pop_back();
    state[r.name] = 2;
  };
  for (const auto& [name, role] : p.roles) {
    if (state[name] == 0) visit(role);
  }
}

void Parser::Resolve(Policy& p) {
  for (const auto& [name, role] : p.roles) {
    auto is_user = UserExists(name);
    if (!is_user.ok()) {
      Report(role.line, "cannot check whether role " + Quote(name) +
                            " is also a user: " + is_user.error().message());
    } else if (*is_user) {
      Report(role.line, Quote(name) +
                            " is both a role and a user; rename the role (a name in "
                            "a list must mean one thing)");
    }
  }
  ResolveList(p.create_matters, p);
  ResolveList(p.break_glass, p);
  for (auto& [name, role] : p.roles) ResolveList(role.members, p);
  auto resolve_matter = [&](MatterRules& m) {
    ResolveList(m.read, p);
    ResolveList(m.write, p);
    ResolveList(m.admin, p);
    ResolveList(m.deny, p);
  };
  for (auto& [name, m] : p.matters) resolve_matter(m);
  if (p.every_matter) resolve_matter(*p.every_matter);
  CheckRoleCycles(p);
}

Result<Policy> Parser::Run(std::vector<Problem>* problems_out) {
  // sections_ must not reallocate under section_/key_; a file has at most one section per
  // line, so reserving that many keeps every pointer stable.
  sections_.reserve(lines_.size() + 1);
  int rc = ini_parse_stream(&Parser::ReaderThunk, this, &Parser::HandlerThunk, this);
  if (rc == -2) Report(0, "out of memory while parsing");
  if (rc > 0) {
    // NextLine hands inih only lines it accepts; report anything it still refused.
    bool known = std::any_of(problems_.begin(), problems_.end(),
                             [&](const Problem& pr) { return pr.line == rc; });
    if (!known) Report(rc, "malformed line");
  }
  Policy p;
  p.source = file_;
  Build(p);
  Resolve(p);
  std::stable_sort(problems_.begin(), problems_.end(),
                   [](const Problem& a, const Problem& b) { return a.line < b.line; });
  if (problems_out != nullptr) *problems_out = problems_;
  if (problems_.empty()) return p;
  std::string message;
  for (const Problem& pr : problems_) {
    if (!message.empty()) message += '\n';
    message += FormatProblem(file_, pr);
  }
  return Error(Code::kInvalidArgument, message);
}

}  // namespace

Result<Policy> ParsePolicy(std::string_view text, std::string_view file, const Resolver& resolver,
                           std::vector<Problem>* problems) {
  Parser parser(text, file, resolver);
  return parser.Run(problems);
}

Result<Policy> LoadPolicyFile(const std::string& path, const Resolver& resolver,
                              std::vector<Problem>* problems) {
  if (problems != nullptr) problems->clear();
  auto bytes = ReadWholeFile(AT_FDCWD, path, kMaxPolicyFileSize);
  if (!bytes.ok()) {
    if (problems != nullptr) problems->push_back({0, bytes.error().message()});
    return bytes.error();
  }
  std::string_view text(reinterpret_cast<const char*>(bytes->data()), bytes->size());
  return ParsePolicy(text, path, resolver, problems);
}

}  // namespace matterfs::policy
