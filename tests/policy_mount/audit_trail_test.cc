// The audit trail of a mount (docs/AUDIT.md): the bulk-access alert, the full queue in
// strict and drop mode, the local hash-chained log checked by `matterctl audit verify`,
// and a round trip of the daemon's events through a real rsyslogd.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/policy_mount/policy_mount_fixture.h"

namespace matterfs::policy_mount_test {
namespace {

using Clock = std::chrono::steady_clock;

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

// ---- bulk access -----------------------------------------------------------------

class BulkAccessTest : public PolicyMountTest {
 protected:
  std::string Policy() const override {
    return StandardPolicy({.policy_extra = "bulk_threshold  = 5\nbulk_window     = 60s\n"});
  }
};

TEST_F(BulkAccessTest, MoreThanThresholdOpensRaiseAnAlert) {
  for (int i = 1; i <= 8; ++i) {
    const std::string name = "acme/bulk-" + std::to_string(i) + ".txt";
    ASSERT_EQ(WriteAs(clerk_, M(name), "bulk\n").rc, 5) << name;
  }
  const size_t mark = receiver_->Mark();
  // Five opens: not more than the threshold.
  for (int i = 1; i <= 5; ++i) {
    ASSERT_EQ(ReadAs(erin_, M("acme/bulk-" + std::to_string(i) + ".txt")).data, "bulk\n");
  }
  // Give a (wrong) alert time to arrive: the open events of all five have.
  for (int i = 1; i <= 5; ++i) {
    ASSERT_TRUE(ExpectEvent({.event = "open",
                             .result = "allow",
                             .user = kErin,
                             .matter = "acme",
                             .path = "acme/bulk-" + std::to_string(i) + ".txt"},
                            mark));
  }
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(receiver_->All({.event = "bulk-access", .user = kErin}, mark).empty())
      << "an alert after only 5 opens (threshold 5):\n"
      << receiver_->Tail();
  // The sixth raises it.
  ASSERT_EQ(ReadAs(erin_, M("acme/bulk-6.txt")).data, "bulk\n");
  auto e = ExpectEvent({.event = "bulk-access", .user = kErin, .matter = "acme"}, mark);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->severity(), 1) << "bulk-access is alert priority: " << e->raw;
  EXPECT_EQ(e->Field("count"), "6") << e->raw;
  EXPECT_EQ(e->Field("uid"), std::to_string(erin_.uid)) << e->raw;
  EXPECT_EQ(e->Field("result"), "ok") << e->raw;
  // Once per window, not once per open.
  ASSERT_EQ(ReadAs(erin_, M("acme/bulk-7.txt")).data, "bulk\n");
  ASSERT_EQ(ReadAs(erin_, M("acme/bulk-8.txt")).data, "bulk\n");
  ASSERT_TRUE(ExpectEvent({.event = "open", .user = kErin, .path = "acme/bulk-8.txt"}, mark));
  EXPECT_EQ(receiver_->All({.event = "bulk-access", .user = kErin}, mark).size(), 1u);
  // Counted per user: bob's two opens raise nothing.
  ASSERT_GE(ReadAs(bob_, M("acme/bulk-1.txt")).rc, 0);
  ASSERT_GE(ReadAs(bob_, M("acme/bulk-2.txt")).rc, 0);
  ASSERT_TRUE(ExpectEvent({.event = "open", .user = kBob, .path = "acme/bulk-2.txt"}, mark));
  EXPECT_TRUE(receiver_->All({.event = "bulk-access", .user = kBob}, mark).empty());
}

// ---- a full audit queue ----------------------------------------------------------

// Opens (and closes) `path` as `user` up to `max` times, stopping at the first failure:
// rc = the number of successful opens, err = the failure's errno (0 if none).
Sys OpenFlood(const TestUser& user, const std::string& path, long max) {
  return AsUser(
      user,
      [&] {
        Sys s;
        s.rc = 0;
        for (long i = 0; i < max; ++i) {
          const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
          if (fd < 0) {
            s.err = errno;
            return s;
          }
          ::close(fd);
          ++s.rc;
        }
        return s;
      },
      120);
}

class StrictAuditTest : public PolicyMountTest {
 protected:
  std::string Policy() const override {
    return StandardPolicy({.policy_extra = "audit           = strict\n"});
  }
};

TEST_F(StrictAuditTest, MountsAndAuditsNormally) {
  const size_t mark = receiver_->Mark();
  ASSERT_EQ(ReadAs(bob_, M("acme/brief.txt")).data, "acme brief v1\n");
  ExpectEvent({.event = "open", .result = "allow", .user = kBob, .matter = "acme"}, mark);
  EXPECT_EQ(OpenAs(erin_, M("acme/brief.txt"), O_WRONLY).err, EACCES);
  ExpectEvent({.event = "open", .result = "deny", .user = kErin, .matter = "acme"}, mark);
}

// The receiver stops reading: the socket's queue fills, the daemon's writer cannot
// send, its bounded queue (4096 events) fills, and then strict mode refuses the access
// rather than let it happen unrecorded.
TEST_F(StrictAuditTest, FullQueueRefusesAccessInsteadOfLosingItsEvent) {
  ASSERT_EQ(ReadAs(bob_, M("acme/brief.txt")).rc, 14);
  const size_t mark = receiver_->Mark();
  receiver_->Pause();
  Sys flood = OpenFlood(bob_, M("acme/brief.txt"), 30000);
  EXPECT_EQ(flood.err, EACCES) << "after " << flood.rc
                               << " opens: " << ::testing::PrintToString(flood);
  EXPECT_GE(flood.rc, 4000) << "refused before the 4096-event queue could have filled";
  EXPECT_LT(flood.rc, 30000);
  Sys refused = OpenAs(bob_, M("acme/docs/memo.txt"), O_RDONLY);
  EXPECT_EQ(refused.err, EACCES) << "the queue is still full: "
                                 << ::testing::PrintToString(refused);

  // Syslog is back: the queue drains, access works again, and the loss is reported.
  receiver_->Resume();
  const auto deadline = Clock::now() + 30s;
  Sys again;
  do {
    again = ReadAs(bob_, M("acme/brief.txt"));
    if (again.rc >= 0) break;
    std::this_thread::sleep_for(200ms);
  } while (Clock::now() < deadline);
  EXPECT_EQ(again.data, "acme brief v1\n") << ::testing::PrintToString(again);
  auto e = ExpectEvent({.event = "audit-dropped", .result = "error"}, mark, 30s);
  if (e) {
    EXPECT_EQ(e->severity(), 1) << e->raw;
    EXPECT_GE(std::atol(e->Field("count").c_str()), 1) << e->raw;
  }
  // Every access that happened was recorded: as many allowed open events for bob as
  // opens that succeeded (the flood's, plus the read before and after).
  const auto deadline2 = Clock::now() + 20s;
  size_t allowed = 0;
  while (Clock::now() < deadline2) {
    allowed = receiver_->All({.event = "open", .result = "allow", .user = kBob}, mark).size();
    if (allowed >= static_cast<size_t>(flood.rc) + 1) break;
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_GE(allowed, static_cast<size_t>(flood.rc) + 1)
      << "an access allowed in strict mode has no event";
}

class DropAuditTest : public PolicyMountTest {
 protected:
  // The command line overrides the policy's `audit = strict`.
  std::string Policy() const override {
    return StandardPolicy({.policy_extra = "audit           = strict\n"});
  }
  std::vector<std::string> ExtraArgs() const override { return {"--audit", "drop"}; }
};

TEST_F(DropAuditTest, FullQueueDropsAndCountsButNeverRefuses) {
  const size_t mark = receiver_->Mark();
  receiver_->Pause();
  Sys flood = OpenFlood(bob_, M("acme/brief.txt"), 6000);
  EXPECT_EQ(flood.rc, 6000) << "drop mode refused an access: " << ::testing::PrintToString(flood);
  EXPECT_EQ(flood.err, 0);
  receiver_->Resume();
  auto e = ExpectEvent({.event = "audit-dropped", .result = "error"}, mark, 30s);
  if (e) {
    EXPECT_EQ(e->severity(), 1) << e->raw;
    EXPECT_GE(std::atol(e->Field("count").c_str()), 1) << e->raw;
  }
  // And the daemon keeps auditing afterwards.
  const size_t later = receiver_->Mark();
  ASSERT_EQ(ReadAs(erin_, M("acme/brief.txt")).rc, 14);
  ExpectEvent({.event = "open", .result = "allow", .user = kErin}, later, 30s);
}

// ---- the local audit log ---------------------------------------------------------

class AuditLogTest : public PolicyMountTest {
 protected:
  std::string LogPath() const { return dir_ + "/audit.jsonl"; }
  std::string Policy() const override {
    return StandardPolicy(
        {.hide_denied = false, .policy_extra = "audit_log       = " + LogPath() + "\n"});
  }
};

TEST_F(AuditLogTest, VerifiesAfterUnmountAndDetectsAnEditedLine) {
  ASSERT_EQ(ReadAs(bob_, M("acme/brief.txt")).rc, 14);
  ASSERT_EQ(OpenAs(frank_, M("acme/brief.txt"), O_RDONLY).err, EACCES);
  ASSERT_EQ(ReadAs(erin_, M("globex/deal.txt")).rc, 12);
  ASSERT_EQ(WriteAs(bob_, M("globex/memo.txt"), "memo").rc, 4);
  ASSERT_NO_FATAL_FAILURE(Unmount());

  const std::string log = ReadText(LogPath());
  ASSERT_FALSE(log.empty()) << LogPath() << " is empty";
  struct stat st;
  ASSERT_EQ(::stat(LogPath().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u) << "the local log must be private";
  EXPECT_NE(log.find("\"user\":\"mfs-t-frank\""), std::string::npos) << log.substr(0, 2000);
  EXPECT_NE(log.find("\"checkpoint\""), std::string::npos) << "no checkpoint at unmount";
  EXPECT_NE(log.find("\"event\":\"mount\""), std::string::npos);
  EXPECT_NE(log.find("\"event\":\"unmount\""), std::string::npos);

  CmdResult ok = Matterctl({"audit", "verify", LogPath(), "--vault", vault_});
  EXPECT_EQ(ok.status, 0) << ::testing::PrintToString(ok);
  EXPECT_NE(ok.out.find("intact"), std::string::npos) << ok.out;

  // Edit one record (bob's name in his open event), keeping the JSON valid.
  std::vector<std::string> lines = Lines(log);
  ASSERT_GE(lines.size(), 3u);
  size_t edit = lines.size();
  for (size_t i = 0; i + 1 < lines.size(); ++i) {
    if (lines[i].find("\"user\":\"mfs-t-bob\"") != std::string::npos &&
        lines[i].find("\"checkpoint\"") == std::string::npos) {
      edit = i;
      break;
    }
  }
  ASSERT_LT(edit, lines.size()) << "no record of bob's access to edit:\n" << log;
  const size_t at = lines[edit].find("mfs-t-bob");
  lines[edit].replace(at, 9, "mfs-t-bom");
  std::string edited;
  for (const std::string& l : lines) edited += l + "\n";
  {
    std::ofstream out(LogPath(), std::ios::binary | std::ios::trunc);
    out << edited;
  }
  CmdResult bad = Matterctl({"audit", "verify", LogPath(), "--vault", vault_});
  EXPECT_EQ(bad.status, 4) << ::testing::PrintToString(bad);
  EXPECT_NE(bad.out.find("TAMPERED"), std::string::npos) << bad.out;
}

// `matterctl audit report` over the log of a real mount: the rows name the real users
// and what they did in the matter, and only that matter.
TEST_F(AuditLogTest, AccessReportNamesWhoOpenedChangedOrWasDenied) {
  const std::string odd = "smith, \"final\".txt";
  ASSERT_EQ(ReadAs(bob_, M("acme/brief.txt")).rc, 14);
  ASSERT_EQ(OpenAs(frank_, M("acme/brief.txt"), O_RDONLY).err, EACCES);
  ASSERT_EQ(WriteAs(bob_, M("acme/" + odd), "memo").rc, 4);
  ASSERT_EQ(ReadAs(erin_, M("globex/deal.txt")).rc, 12);
  ASSERT_NO_FATAL_FAILURE(Unmount());

  CmdResult r = Matterctl(
      {"audit", "report", LogPath(), "--matter", "acme", "--vault", vault_, "--format", "json"});
  ASSERT_EQ(r.status, 0) << ::testing::PrintToString(r);
  const auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["verification"]["ok"], true);
  EXPECT_EQ(doc["verification"]["key_pinned"], true);
  auto find = [&](const std::string& user, const std::string& action, const std::string& path) {
    for (const auto& e : doc["events"]) {
      if (e["user"] == user && e["action"] == action && e["path"] == path) return e;
    }
    return nlohmann::json();
  };
  const auto read = find(kBob, "open read", "brief.txt");
  ASSERT_FALSE(read.is_null()) << r.out;
  EXPECT_EQ(read["uid"], bob_.uid);
  EXPECT_EQ(read["decision"], "allow");
  // frank has no grant: his open is refused at the lookup of the name.
  const auto denied = find(kFrank, "lookup", "brief.txt");
  ASSERT_FALSE(denied.is_null()) << r.out;
  EXPECT_EQ(denied["decision"], "deny");
  EXPECT_EQ(denied["uid"], frank_.uid);
  EXPECT_FALSE(denied["reason"].get<std::string>().empty());
  EXPECT_FALSE(find(kBob, "create", odd).is_null()) << r.out;
  for (const auto& e : doc["events"]) {
    EXPECT_NE(e["user"], kErin) << "erin read globex, not acme: " << e;
  }
  bool frank_counted = false;
  for (const auto& u : doc["users"]) {
    if (u["user"] == kFrank) {
      frank_counted = true;
      EXPECT_GE(u["denials"].get<int>(), 1);
      EXPECT_EQ(u["reads"], 0);
    }
  }
  EXPECT_TRUE(frank_counted) << r.out;

  CmdResult only = Matterctl({"audit", "report", LogPath(), "--matter", "acme", "--user", kFrank,
                              "--vault", vault_, "--format", "csv"});
  ASSERT_EQ(only.status, 0) << ::testing::PrintToString(only);
  EXPECT_NE(only.out.find("," + std::string(kFrank) + "," + std::to_string(frank_.uid) +
                          ",lookup,brief.txt,deny,"),
            std::string::npos)
      << only.out;
  EXPECT_EQ(only.out.find(kBob), std::string::npos) << only.out;
  CmdResult csv = Matterctl(
      {"audit", "report", LogPath(), "--matter", "acme", "--user", kBob, "--format", "csv"});
  EXPECT_NE(csv.out.find(",\"smith, \"\"final\"\".txt\","), std::string::npos) << csv.out;

  // One record edited: no report at all.
  std::string log = ReadText(LogPath());
  const size_t at = log.find("mfs-t-frank");
  ASSERT_NE(at, std::string::npos);
  log.replace(at, 11, "mfs-t-frenk");
  {
    std::ofstream out(LogPath(), std::ios::binary | std::ios::trunc);
    out << log;
  }
  CmdResult bad = Matterctl({"audit", "report", LogPath(), "--matter", "acme", "--vault", vault_});
  EXPECT_EQ(bad.status, 4) << ::testing::PrintToString(bad);
  EXPECT_EQ(bad.out, "");
  EXPECT_NE(bad.err.find("does not verify, no report"), std::string::npos) << bad.err;
}

// ---- a real rsyslogd -------------------------------------------------------------

constexpr char kRsyslogd[] = MATTERFS_TEST_RSYSLOGD;

// rsyslogd in the foreground (-n) as a child of the test; SIGTERM, then SIGKILL, at the
// end. Private config, socket, work directory, pid file and output files.
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
      ::close_range(3, ~0U, 0);
      ::execv(kRsyslogd, argv.data());
      ::_exit(127);
    }
  }
  ~Rsyslogd() { Stop(); }
  Rsyslogd(const Rsyslogd&) = delete;
  Rsyslogd& operator=(const Rsyslogd&) = delete;

  bool Running() {
    if (pid_ <= 0) return false;
    if (::waitpid(pid_, nullptr, WNOHANG) == 0) return true;
    pid_ = -1;
    return false;
  }
  void Stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 100; ++i) {
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

class RsyslogTest : public ListedPolicyTest {
 protected:
  bool MountAtStart() const override { return false; }
  std::string RsyslogDir() const { return dir_ + "/rsyslog"; }
  std::string SyslogSocket() const override { return RsyslogDir() + "/log.sock"; }
  // docs/AUDIT.md's configuration for a dedicated matterfs socket, on private paths,
  // with two outputs: the parsed header fields and the parsed structured data as JSON.
  std::string Config() const {
    const std::string d = RsyslogDir();
    return "global(workDirectory=\"" + d + "/work\")\n" +
           "module(load=\"imuxsock\" SysSock.Use=\"off\")\n" + "module(load=\"mmpstrucdata\")\n" +
           "template(name=\"fields\" type=\"string\" string=\"pri=%pri% host=%hostname% "
           "app=%app-name% procid=%procid% msgid=%msgid% sd=%structured-data% msg=%msg%\\n\")\n" +
           "template(name=\"sdjson\" type=\"list\") {\n" +
           "  property(name=\"$!rfc5424-sd!matterfs@32473\")\n" + "  constant(value=\"\\n\")\n" +
           "}\n" + "input(type=\"imuxsock\" Socket=\"" + SyslogSocket() +
           "\" UseSpecialParser=\"off\"\n" +
           "      ParseHostname=\"on\" IgnoreTimestamp=\"off\" ruleset=\"matterfs\")\n" +
           "ruleset(name=\"matterfs\") {\n" + "  action(type=\"mmpstrucdata\")\n" +
           "  action(type=\"omfile\" file=\"" + d + "/out.log\" template=\"fields\")\n" +
           "  action(type=\"omfile\" file=\"" + d + "/sd.jsonl\" template=\"sdjson\")\n" + "}\n";
  }
};

TEST_F(RsyslogTest, DaemonEventsArriveThroughRsyslogWithTheirFieldsIntact) {
  ASSERT_EQ(::access(kRsyslogd, X_OK), 0)
      << kRsyslogd << " is not installed: this test needs the Debian rsyslog package "
      << "(scripts/install-deps installs it).";
  ASSERT_EQ(::mkdir(RsyslogDir().c_str(), 0700), 0);
  ASSERT_EQ(::mkdir((RsyslogDir() + "/work").c_str(), 0700), 0);
  const std::string conf = RsyslogDir() + "/rsyslog.conf";
  {
    std::ofstream out(conf);
    out << Config();
  }
  const std::string output = RsyslogDir() + "/rsyslogd.out";
  Rsyslogd rsyslogd(conf, RsyslogDir() + "/rsyslogd.pid", output);
  const auto up_deadline = Clock::now() + 10s;
  struct stat st;
  while (::stat(SyslogSocket().c_str(), &st) != 0) {
    ASSERT_TRUE(rsyslogd.Running()) << "rsyslogd exited: " << ReadText(output);
    ASSERT_LT(Clock::now(), up_deadline) << "rsyslogd made no socket: " << ReadText(output);
    std::this_thread::sleep_for(20ms);
  }

  ASSERT_NO_FATAL_FAILURE(Mount());
  ASSERT_NO_FATAL_FAILURE(Seed());
  const pid_t daemon = daemon_pid();
  ASSERT_EQ(ReadAs(bob_, M("acme/brief.txt")).rc, 14);
  ASSERT_EQ(OpenAs(carol_, M("acme/brief.txt"), O_RDONLY).err, EACCES);

  // Find bob's allowed open and carol's denied one in both outputs (same order).
  std::vector<std::string> lines, sd;
  size_t bob_at = SIZE_MAX, carol_at = SIZE_MAX;
  const auto deadline = Clock::now() + 15s;
  while (Clock::now() < deadline) {
    lines = Lines(ReadText(RsyslogDir() + "/out.log"));
    sd = Lines(ReadText(RsyslogDir() + "/sd.jsonl"));
    for (size_t i = 0; i < lines.size() && i < sd.size(); ++i) {
      // bob's allowed open; carol's denial comes from the lookup of the file (with
      // hide_denied = no the path walk into the matter is checked before any open).
      if (lines[i].find("msgid=open ") == std::string::npos &&
          lines[i].find("msgid=lookup ") == std::string::npos) {
        continue;
      }
      if (sd[i].find("\"user\": \"mfs-t-bob\"") != std::string::npos &&
          sd[i].find("brief.txt") != std::string::npos && bob_at == SIZE_MAX) {
        bob_at = i;
      }
      if (sd[i].find("\"user\": \"mfs-t-carol\"") != std::string::npos) carol_at = i;
    }
    if (bob_at != SIZE_MAX && carol_at != SIZE_MAX) break;
    ASSERT_TRUE(rsyslogd.Running()) << "rsyslogd exited: " << ReadText(output);
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_NE(bob_at, SIZE_MAX) << "bob's open never reached rsyslog; it wrote:\n"
                              << ReadText(RsyslogDir() + "/out.log") << ReadText(output);
  ASSERT_NE(carol_at, SIZE_MAX) << "carol's denied open never reached rsyslog; it wrote:\n"
                                << ReadText(RsyslogDir() + "/out.log");

  // Header fields parsed by rsyslog as RFC 5424: authpriv.info = 86, authpriv.warning = 84.
  const std::string procid = "procid=" + std::to_string(daemon) + " ";
  EXPECT_EQ(lines[bob_at].rfind("pri=86 ", 0), 0u) << lines[bob_at];
  EXPECT_NE(lines[bob_at].find(" app=matterfs "), std::string::npos) << lines[bob_at];
  EXPECT_NE(lines[bob_at].find(procid), std::string::npos) << lines[bob_at];
  EXPECT_EQ(lines[carol_at].rfind("pri=84 ", 0), 0u) << lines[carol_at];
  EXPECT_NE(lines[carol_at].find(" msg=lookup deny user=mfs-t-carol matter=acme access=read"),
            std::string::npos)
      << lines[carol_at];

  // Structured data, unescaped by mmpstrucdata: every field as the daemon decided it.
  auto has = [](const std::string& json, const std::string& key, const std::string& value) {
    EXPECT_NE(json.find("\"" + key + "\": \"" + value + "\""), std::string::npos)
        << key << "=" << value << " in " << json;
  };
  const std::string& b = sd[bob_at];
  has(b, "result", "allow");
  has(b, "severity", "info");
  has(b, "user", kBob);
  has(b, "uid", std::to_string(bob_.uid));
  has(b, "matter", "acme");
  has(b, "access", "read");
  has(b, "rule", "matter acme: read associates (role)");
  has(b, "process", "policy_mount_te");  // the forked child's comm: the test binary's, cut to 15
  EXPECT_NE(b.find("\"pid\": \""), std::string::npos) << b;
  EXPECT_NE(b.find("brief.txt\""), std::string::npos) << b;
  const std::string& c = sd[carol_at];
  has(c, "result", "deny");
  has(c, "severity", "warning");
  has(c, "user", kCarol);
  has(c, "uid", std::to_string(carol_.uid));
  has(c, "matter", "acme");
  has(c, "rule", "matter acme: deny mfs-t-carol (ethical wall)");

  // Unmount while rsyslogd still listens, so that the daemon's last events are taken.
  ASSERT_NO_FATAL_FAILURE(Unmount());
  rsyslogd.Stop();
}

}  // namespace
}  // namespace matterfs::policy_mount_test
