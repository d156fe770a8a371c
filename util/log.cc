#include "util/log.h"

#include <syslog.h>
#include <unistd.h>

#include <mutex>

namespace matterfs::log {

namespace {
struct State {
  std::mutex mu;
  Options options;
  bool syslog_open = false;
  std::function<std::string(std::string_view)> redactor;
};

State& S() {
  static State* s = new State();  // never destroyed: threads may log during exit
  return *s;
}

int Priority(Level level) {
  switch (level) {
    case Level::kError:
      return LOG_ERR;
    case Level::kWarning:
      return LOG_WARNING;
    case Level::kNotice:
      return LOG_NOTICE;
    case Level::kInfo:
      return LOG_INFO;
  }
  return LOG_NOTICE;
}

std::string Clean(std::string_view message) {
  std::string out(message);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return out;
}
}  // namespace

void Init(const Options& options) {
  State& s = S();
  std::lock_guard<std::mutex> g(s.mu);
  s.options = options;
  if (options.to_syslog && !s.syslog_open) {
    ::openlog(s.options.program.c_str(), LOG_PID, LOG_DAEMON);
    s.syslog_open = true;
  }
}

void SetStderr(bool enabled) {
  State& s = S();
  std::lock_guard<std::mutex> g(s.mu);
  s.options.to_stderr = enabled;
}

void Write(Level level, std::string_view message) {
  State& s = S();
  const std::string line = Clean(message);
  std::lock_guard<std::mutex> g(s.mu);
  if (s.options.to_stderr) {
    std::string out = s.options.program + ": " + line + "\n";
    (void)!::write(STDERR_FILENO, out.data(), out.size());
  }
  if (s.syslog_open) ::syslog(Priority(level), "%s", line.c_str());
}

std::string Path(std::string_view path) {
  State& s = S();
  std::function<std::string(std::string_view)> redactor;
  {
    std::lock_guard<std::mutex> g(s.mu);
    redactor = s.redactor;
  }
  return redactor ? redactor(path) : std::string(path);
}

void SetPathRedactor(std::function<std::string(std::string_view)> redactor) {
  State& s = S();
  std::lock_guard<std::mutex> g(s.mu);
  s.redactor = std::move(redactor);
}

}  // namespace matterfs::log
