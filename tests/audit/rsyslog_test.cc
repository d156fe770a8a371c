// Round trip through a real rsyslogd (the Debian package), started by the test on private
// paths: its own config, socket, work directory, pid file and output files in a temporary
// directory. No system syslog daemon is involved, and the daemon is killed at the end.
// The config is the one docs/AUDIT.md recommends for a dedicated matterfs socket.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <thread>

#include "audit/sink.h"
#include "audit/syslog_output.h"
#include "tests/audit/test_util.h"

namespace matterfs::audit {
namespace {

using namespace std::chrono_literals;
using testing::ReadAll;
using testing::SampleEvent;
using testing::SplitLines;
using testing::TempDir;

constexpr char kRsyslogd[] = "/usr/sbin/rsyslogd";

// Runs rsyslogd in the foreground (-n) as a child; SIGTERM, then SIGKILL, on destruction.
class Rsyslogd {
 public:
  Rsyslogd(const std::string& conf, const std::string& pidfile, const std::string& output) {
    std::vector<std::string> args = {kRsyslogd, "-n", "-f", conf, "-i", pidfile};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      // Only async-signal-safe calls between fork and exec (the test has threads).
      const int fd = ::open(output.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      if (fd >= 0) {
        ::dup2(fd, STDOUT_FILENO);
        ::dup2(fd, STDERR_FILENO);
      }
      ::execv(kRsyslogd, argv.data());
      ::_exit(127);
    }
  }
  ~Rsyslogd() { Stop(); }
  Rsyslogd(const Rsyslogd&) = delete;
  Rsyslogd& operator=(const Rsyslogd&) = delete;

  bool started() const { return pid_ > 0; }
  // True while the child runs; false (with its status) once it has exited.
  bool Running(std::string* status = nullptr) {
    if (pid_ <= 0) return false;
    int st = 0;
    const pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == 0) return true;
    if (status) {
      *status = WIFEXITED(st) ? "exit code " + std::to_string(WEXITSTATUS(st))
                              : "signal " + std::to_string(WTERMSIG(st));
    }
    pid_ = -1;
    return false;
  }
  void Stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 100; ++i) {  // 5 s for a clean exit
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(50ms);
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
};

bool Exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

std::string Config(const TempDir& dir) {
  const std::string& d = dir.path();
  return "global(workDirectory=\"" + d +
         "/work\")\n"
         "module(load=\"imuxsock\" SysSock.Use=\"off\")\n"
         "module(load=\"mmpstrucdata\")\n"
         "template(name=\"fields\" type=\"string\" string=\"pri=%pri% host=%hostname% "
         "app=%app-name% procid=%procid% msgid=%msgid% time=%timereported:::date-rfc3339% "
         "sd=%structured-data% msg=%msg%\\n\")\n"
         "template(name=\"sdjson\" type=\"list\") {\n"
         "  property(name=\"$!rfc5424-sd!matterfs@32473\")\n"
         "  constant(value=\"\\n\")\n"
         "}\n"
         "input(type=\"imuxsock\" Socket=\"" +
         d +
         "/log.sock\" UseSpecialParser=\"off\"\n"
         "      ParseHostname=\"on\" IgnoreTimestamp=\"off\" ruleset=\"matterfs\")\n"
         "ruleset(name=\"matterfs\") {\n"
         "  action(type=\"mmpstrucdata\")\n"
         "  action(type=\"omfile\" file=\"" +
         d +
         "/out.log\" template=\"fields\")\n"
         "  action(type=\"omfile\" file=\"" +
         d +
         "/sd.jsonl\" template=\"sdjson\")\n"
         "}\n";
}

TEST(RsyslogTest, EventsArriveWithTheirFieldsIntact) {
  ASSERT_EQ(::access(kRsyslogd, X_OK), 0)
      << kRsyslogd << " is not installed: this test needs the Debian rsyslog package. "
      << "Run scripts/install-deps (as root) to install it.";

  TempDir dir;
  ASSERT_EQ(::mkdir((dir.path() + "/work").c_str(), 0700), 0);
  const std::string conf = dir.File("rsyslog.conf");
  testing::WriteAll(conf, Config(dir));
  const std::string sock = dir.File("log.sock");
  const std::string daemon_output = dir.File("rsyslogd.out");
  Rsyslogd rsyslogd(conf, dir.File("rsyslogd.pid"), daemon_output);
  ASSERT_TRUE(rsyslogd.started());

  // Wait (bounded) for the socket.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  std::string exit_status;
  while (!Exists(sock)) {
    ASSERT_TRUE(rsyslogd.Running(&exit_status))
        << "rsyslogd exited (" << exit_status << "): " << ReadAll(daemon_output);
    ASSERT_LT(std::chrono::steady_clock::now(), deadline)
        << "rsyslogd did not create " << sock << ": " << ReadAll(daemon_output);
    std::this_thread::sleep_for(20ms);
  }

  // Three events through the real sink and syslog output.
  AuditEvent deny = SampleEvent();
  deny.rule = R"(matter acme-v-smith: deny = carol "wall" [x] \ end)";
  deny.path = "acme-v-smith/Pleadings/r\xC3\xA9ponse\nfinal.docx";
  AuditEvent allow = SampleEvent("alice", 1000);
  allow.result = AuditResult::kAllow;
  allow.severity = AuditSeverity::kInfo;
  allow.access = "read-write";
  allow.rule = "matter acme-v-smith: write = partners";
  AuditEvent glass = SampleEvent("dave", 1003);
  glass.event = audit_events::kBreakGlass;
  glass.result = AuditResult::kOk;
  glass.severity = AuditSeverity::kAlert;
  glass.access = "read";
  glass.rule = "break-glass: roles = partners";
  glass.path.clear();
  glass.message = "urgent filing, 2h";
  const std::vector<AuditEvent> sent = {deny, allow, glass};

  SyslogOutputOptions so;
  so.socket_path = sock;
  so.header.procid = 4321;
  auto out = SyslogOutput::Make(so);
  ASSERT_TRUE(out.ok());
  std::vector<std::unique_ptr<AuditOutput>> outs;
  outs.push_back(std::move(out).value());
  AuditSinkOptions o;
  o.host = "files1";
  AuditSink sink(o, std::move(outs));
  for (const auto& e : sent) ASSERT_TRUE(sink.Submit(e));
  ASSERT_TRUE(sink.Close().ok());

  // Wait (bounded) for rsyslogd to write them.
  std::vector<std::string> lines, sd_lines;
  const auto write_deadline = std::chrono::steady_clock::now() + 10s;
  for (;;) {
    lines = SplitLines(ReadAll(dir.File("out.log")));
    sd_lines = SplitLines(ReadAll(dir.File("sd.jsonl")));
    if (lines.size() >= sent.size() && sd_lines.size() >= sent.size()) break;
    ASSERT_TRUE(rsyslogd.Running(&exit_status))
        << "rsyslogd exited (" << exit_status << "): " << ReadAll(daemon_output);
    ASSERT_LT(std::chrono::steady_clock::now(), write_deadline)
        << "rsyslogd wrote " << lines.size() << " of " << sent.size()
        << " events; its output: " << ReadAll(daemon_output);
    std::this_thread::sleep_for(50ms);
  }
  rsyslogd.Stop();
  ASSERT_EQ(lines.size(), sent.size());

  const SyslogHeader header{SyslogFacility::kAuthpriv, "matterfs", 4321};
  for (size_t i = 0; i < sent.size(); ++i) {
    const AuditEvent& e = sent[i];
    const std::string& line = lines[i];
    SCOPED_TRACE(line);
    // rsyslog parsed our header as RFC 5424: every field landed in its own property.
    const std::string wire = FormatRfc5424(e, header);
    const size_t sd_start = wire.find(" [") + 1;
    const size_t sd_end = wire.size() - AuditSummary(e).size() - 1;  // "...] MSG"
    const std::string expected =
        "pri=" + std::to_string(SyslogPri(SyslogFacility::kAuthpriv, e.severity)) +
        " host=files1 app=matterfs procid=4321 msgid=" + e.event +
        " time=" + FormatAuditTime(e.time) + " sd=" + wire.substr(sd_start, sd_end - sd_start) +
        " msg=" + AuditSummary(e);
    EXPECT_EQ(line, expected);

    // And mmpstrucdata undid the SD escapes: the values are the ones we sent.
    const std::string& json = sd_lines[i];
    auto has = [&](const std::string& key, const std::string& json_value) {
      EXPECT_NE(json.find("\"" + key + "\": \"" + json_value + "\""), std::string::npos)
          << key << " in " << json;
    };
    has("user", e.user);
    has("uid", std::to_string(*e.uid));
    has("pid", std::to_string(*e.pid));
    has("matter", e.matter);
    has("result", AuditResultName(e.result));
    has("access", e.access);
    std::string rule_json;  // rsyslog's JSON escaping of the rule
    for (char c : e.rule) {
      if (c == '"' || c == '\\') rule_json += '\\';
      rule_json += c;
    }
    has("rule", rule_json);
  }
  // The path's newline travelled as the text \x0a (JSON: \\x0a), the é as UTF-8
  // (rsyslog's JSON writes '/' as "\/").
  EXPECT_NE(
      sd_lines[0].find("\"path\": \"acme-v-smith\\/Pleadings\\/r\xC3\xA9ponse\\\\x0afinal.docx\""),
      std::string::npos)
      << sd_lines[0];
  EXPECT_EQ(sd_lines[2].find("\"path\""), std::string::npos);
}

}  // namespace
}  // namespace matterfs::audit
