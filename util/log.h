// The one logging path for diagnostics of the daemon and the tools (not audit events:
// those go through audit/). Every line is "PROGRAM: message" on stderr while a terminal
// or the caller's stderr is attached, and, in the daemon, also syslog(3) with the
// daemon facility.
//
// Secrets never reach a log line: keys and passphrases live in secure memory and have
// no string form. Paths can be confidential (a file name may name a client), so a path
// goes into a message through Path(), which applies the mount's audit_path setting
// (plain, keyed hash, or omitted) once the daemon has installed it with
// SetPathRedactor(). Control characters in messages are replaced with '?', so a hostile
// file name cannot forge a second log line.
//
// Thread-safety: Write and Path may be called from any thread at any time; Init,
// SetStderr and SetPathRedactor are called by the main thread during start-up and
// detaching (they take the same mutex as Write).
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace matterfs::log {

enum class Level { kError, kWarning, kNotice, kInfo };

struct Options {
  std::string program = "matterfs";
  bool to_stderr = true;
  bool to_syslog = false;  // openlog(program, LOG_PID, LOG_DAEMON)
};

void Init(const Options& options);
// The daemon detaches from its terminal: stderr is /dev/null from then on.
void SetStderr(bool enabled);
void Write(Level level, std::string_view message);
inline void Error(std::string_view m) { Write(Level::kError, m); }
inline void Warning(std::string_view m) { Write(Level::kWarning, m); }
inline void Notice(std::string_view m) { Write(Level::kNotice, m); }

// Renders a path for a log line: plain until a redactor is installed.
std::string Path(std::string_view path);
void SetPathRedactor(std::function<std::string(std::string_view)> redactor);

}  // namespace matterfs::log
