#include "policy/timestamp.h"

#include <cstdint>
#include <cstdio>
#include <optional>

namespace matterfs::policy {

namespace {

using std::chrono::days;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

constexpr const char* kTimeSyntax =
    "expected YYYY-MM-DD, YYYY-MM-DDTHH:MMZ, YYYY-MM-DDTHH:MM:SSZ or an offset such as "
    "YYYY-MM-DDTHH:MM+01:00; times are UTC";

// Reads exactly `count` decimal digits at text[pos]; advances pos.
std::optional<int> Digits(std::string_view text, size_t& pos, size_t count) {
  if (pos + count > text.size()) return std::nullopt;
  int v = 0;
  for (size_t i = 0; i < count; ++i) {
    char c = text[pos + i];
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  pos += count;
  return v;
}

bool Expect(std::string_view text, size_t& pos, char c) {
  if (pos < text.size() && text[pos] == c) {
    ++pos;
    return true;
  }
  return false;
}

struct Parsed {
  Time time;
  bool date_only;
};

std::optional<Parsed> ParseImpl(std::string_view text) {
  size_t pos = 0;
  auto y = Digits(text, pos, 4);
  if (!y || !Expect(text, pos, '-')) return std::nullopt;
  auto mo = Digits(text, pos, 2);
  if (!mo || !Expect(text, pos, '-')) return std::nullopt;
  auto d = Digits(text, pos, 2);
  if (!d || *y < 1970) return std::nullopt;
  std::chrono::year_month_day ymd{std::chrono::year{*y},
                                  std::chrono::month{static_cast<unsigned>(*mo)},
                                  std::chrono::day{static_cast<unsigned>(*d)}};
  if (!ymd.ok()) return std::nullopt;
  Time t{std::chrono::sys_days{ymd}};
  if (pos == text.size()) return Parsed{t, true};

  if (!Expect(text, pos, 'T')) return std::nullopt;
  auto h = Digits(text, pos, 2);
  if (!h || !Expect(text, pos, ':')) return std::nullopt;
  auto mi = Digits(text, pos, 2);
  if (!mi || *h > 23 || *mi > 59) return std::nullopt;
  int s = 0;
  if (Expect(text, pos, ':')) {
    auto sec = Digits(text, pos, 2);
    if (!sec || *sec > 59) return std::nullopt;
    s = *sec;
  }
  t += hours(*h) + minutes(*mi) + seconds(s);
  if (Expect(text, pos, 'Z')) {
    return pos == text.size() ? std::optional<Parsed>(Parsed{t, false}) : std::nullopt;
  }
  if (pos >= text.size() || (text[pos] != '+' && text[pos] != '-')) return std::nullopt;
  bool east = text[pos++] == '+';
  auto oh = Digits(text, pos, 2);
  if (!oh || !Expect(text, pos, ':')) return std::nullopt;
  auto om = Digits(text, pos, 2);
  if (!om || *oh > 23 || *om > 59 || pos != text.size()) return std::nullopt;
  // 18:00+01:00 is 17:00Z.
  seconds offset = hours(*oh) + minutes(*om);
  t += east ? -offset : offset;
  return Parsed{t, false};
}

Error BadTime(std::string_view text) {
  return {Code::kInvalidArgument, "bad time '" + std::string(text) + "' (" + kTimeSyntax + ")"};
}

}  // namespace

Result<Time> ParseTime(std::string_view text) {
  auto p = ParseImpl(text);
  if (!p) return BadTime(text);
  return p->time;
}

Result<Time> ParseUntil(std::string_view text) {
  auto p = ParseImpl(text);
  if (!p) return BadTime(text);
  return p->date_only ? p->time + days(1) : p->time;
}

std::string FormatTime(Time t) {
  auto day = std::chrono::floor<days>(t);
  std::chrono::year_month_day ymd{day};
  std::chrono::hh_mm_ss hms{t - day};
  char buf[48];
  int year = static_cast<int>(ymd.year());
  auto month = static_cast<unsigned>(ymd.month());
  auto dd = static_cast<unsigned>(ymd.day());
  auto hh = static_cast<long>(hms.hours().count());
  auto mm = static_cast<long>(hms.minutes().count());
  auto ss = static_cast<long>(hms.seconds().count());
  if (ss != 0) {
    (void)std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02ld:%02ld:%02ldZ", year, month, dd, hh,
                        mm, ss);
  } else {
    (void)std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02ld:%02ldZ", year, month, dd, hh, mm);
  }
  return buf;
}

Result<Duration> ParseDuration(std::string_view text) {
  auto bad = [&] {
    return Error(Code::kInvalidArgument,
                 "bad duration '" + std::string(text) +
                     "' (expected a number and a unit s, m, h or d, e.g. 90s, 30m, 4h, 1h30m, 2d)");
  };
  if (text.empty()) return bad();
  int64_t total = 0;
  size_t pos = 0;
  char last_unit = 0;
  while (pos < text.size()) {
    int64_t n = 0;
    size_t start = pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      n = n * 10 + (text[pos] - '0');
      if (n > 100'000'000) return bad();  // far beyond kMaxDuration in any unit
      ++pos;
    }
    if (pos == start || pos == text.size()) return bad();
    char unit = text[pos++];
    int64_t scale = 0;
    switch (unit) {
      case 'd':
        scale = 86400;
        break;
      case 'h':
        scale = 3600;
        break;
      case 'm':
        scale = 60;
        break;
      case 's':
        scale = 1;
        break;
      default:
        return bad();
    }
    // Units in decreasing order, each once: "1h30m", not "30m1h" or "1h1h".
    auto rank = [](char u) { return u == 'd' ? 4 : u == 'h' ? 3 : u == 'm' ? 2 : 1; };
    if (last_unit != 0 && rank(unit) >= rank(last_unit)) return bad();
    last_unit = unit;
    total += n * scale;
  }
  if (total <= 0) {
    return Error(Code::kInvalidArgument, "duration '" + std::string(text) + "' must be positive");
  }
  if (total > kMaxDuration.count()) {
    return Error(Code::kInvalidArgument, "duration '" + std::string(text) + "' is longer than " +
                                             FormatDuration(kMaxDuration));
  }
  return Duration(total);
}

std::string FormatDuration(Duration d) {
  int64_t s = d.count();
  if (s <= 0) return "0s";
  std::string out;
  auto part = [&](int64_t unit, char name) {
    if (s >= unit) {
      out += std::to_string(s / unit);
      out += name;
      s %= unit;
    }
  };
  part(86400, 'd');
  part(3600, 'h');
  part(60, 'm');
  part(1, 's');
  return out;
}

}  // namespace matterfs::policy
