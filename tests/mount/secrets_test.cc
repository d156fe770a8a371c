// Secrets stay secret (issue 12): the passphrase and the key file's bytes appear nowhere
// an attacker or a log reader could look (the vault, the daemon's audit events and log
// lines on syslog, the local audit log, its command line and environment, what it prints
// at start), and the daemon cannot be traced or dumped by its own user.
#include <fcntl.h>
#include <linux/capability.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "tests/mount/mount_fixture.h"
#include "util/unique_fd.h"

namespace matterfs::mount_test {
namespace {

std::string Hex(const std::string& bytes, const char* digits) {
  std::string out;
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::string Base64(const std::string& bytes) {
  static const char* kDigits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (uint32_t(uint8_t(bytes[i])) << 16) |
                       (uint32_t(uint8_t(bytes[i + 1])) << 8) | uint8_t(bytes[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += kDigits[(v >> s) & 63];
  }
  return out;  // the whole 3-byte groups: enough to find an encoding of the key
}

// Every form of `secret` a careless program could write: the bytes, hex, base64.
std::vector<std::string> FormsOf(const std::string& secret) {
  std::vector<std::string> forms = {secret, Hex(secret, "0123456789abcdef"),
                                    Hex(secret, "0123456789ABCDEF")};
  if (secret.size() >= 12) forms.push_back(Base64(secret));
  return forms;
}

class SecretsTest : public MountTest {
 protected:
  std::string Policy() const override {
    // The local audit log too, so that it is searched.
    return "[policy]\naudit_log = " + dir_ +
           "/audit.jsonl\n[matter alpha]\nread = root\n"
           "write = root\n";
  }

  // Exercises the daemon so that it logs: files made, read, renamed, removed, a status.
  void Exercise(const std::string& mnt) {
    ASSERT_TRUE(WriteFile(mnt + "/alpha/brief.txt", "the brief"));
    EXPECT_EQ(ReadFile(mnt + "/alpha/brief.txt"), "the brief");
    ASSERT_EQ(::rename((mnt + "/alpha/brief.txt").c_str(), (mnt + "/alpha/b2.txt").c_str()), 0);
    ASSERT_EQ(::unlink((mnt + "/alpha/b2.txt").c_str()), 0);
    struct stat st;
    EXPECT_NE(::stat((mnt + "/no-such-matter").c_str(), &st), 0);
    ASSERT_TRUE(WaitForSyslog({"unlink"}));
  }

  // Every place the secret must not be: one line per hit.
  std::vector<std::string> Hits(const std::vector<std::string>& needles, pid_t daemon,
                                const std::string& printed) {
    std::vector<std::string> hits = FindInVault(needles);
    auto search = [&](const std::string& where, const std::string& text) {
      for (const auto& n : needles) {
        if (text.find(n) != std::string::npos) hits.push_back("a secret in " + where);
      }
    };
    for (const std::string& m : SyslogMessages()) search("a syslog message: " + m, m);
    search("the local audit log", ReadFile(dir_ + "/audit.jsonl").value_or(""));
    search("the daemon's command line",
           ReadFile("/proc/" + std::to_string(daemon) + "/cmdline").value_or(""));
    search("the daemon's environment",
           ReadFile("/proc/" + std::to_string(daemon) + "/environ").value_or(""));
    search("what matterfs printed at start", printed);
    return hits;
  }
};

TEST_F(SecretsTest, ThePassphraseAppearsNowhere) {
  std::string pass = ReadFile(pass_).value_or("");
  while (!pass.empty() && pass.back() == '\n') pass.pop_back();
  ASSERT_GE(pass.size(), 8u);
  ASSERT_NO_FATAL_FAILURE(Exercise(mnt_));
  // A wrong passphrase given to the tools is not echoed either.
  ASSERT_TRUE(WriteFile(dir_ + "/wrong", pass + "-but-wrong\n", 0600));
  CmdResult wrong = Matterctl({"matter", "list", vault_, "--passphrase-file", dir_ + "/wrong"});
  EXPECT_NE(wrong.status, 0);
  EXPECT_EQ(wrong.out.find(pass), std::string::npos);
  EXPECT_EQ(wrong.err.find(pass), std::string::npos) << wrong.err;
  std::vector<std::string> hits = Hits(FormsOf(pass), daemon_pid(), "");
  EXPECT_TRUE(hits.empty()) << ::testing::PrintToString(hits);
  // The search finds what is there: the file name just written is in the local log.
  ASSERT_TRUE(WriteFile(mnt_ + "/alpha/visible-name.txt", "x"));
  ASSERT_TRUE(WaitForSyslog({"visible-name.txt"}));
  EXPECT_FALSE(Hits({"visible-name.txt"}, daemon_pid(), "").empty());
}

TEST_F(SecretsTest, TheKeyFilesBytesAppearNowhere) {
  const std::string key = dir_ + "/server.key";
  ASSERT_EQ(Matterctl({"genkey", key}).status, 0);
  CmdResult added =
      Matterctl({"keyslot", "add", vault_, "--passphrase-file", pass_, "--new-key-file", key});
  ASSERT_EQ(added.status, 0) << ::testing::PrintToString(added);
  const std::string key_bytes = ReadFile(key).value_or("");
  ASSERT_GE(key_bytes.size(), 32u);
  ASSERT_NO_FATAL_FAILURE(Unmount());
  const std::string mnt2 = dir_ + "/mnt2";
  ASSERT_EQ(::mkdir(mnt2.c_str(), 0755), 0);
  CmdResult mounted = RunMatterfs(mnt2, {"--key-file", key, "--policy", policy_path_});
  ASSERT_EQ(mounted.status, 0) << ::testing::PrintToString(mounted);
  const std::vector<pid_t> daemons = DaemonsFor(mnt2);
  ASSERT_EQ(daemons.size(), 1u);
  Exercise(mnt2);
  std::vector<std::string> hits = Hits(FormsOf(key_bytes), daemons[0], mounted.out + mounted.err);
  EXPECT_TRUE(hits.empty()) << hits.size() << " hit(s), the first: "
                            << (hits.empty() ? "" : hits[0].substr(0, 200));
  UnmountAndWait(mnt2);
}

// Drops CAP_SYS_PTRACE from this process (it stays uid 0 with every other capability):
// what another process of the daemon's user can do, short of the one capability that
// overrides "not dumpable" (the daemon drops it from its own sets too, so the kernel's
// rule that a tracer must hold every capability of its target is met).
bool DropPtraceCapability() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (::syscall(SYS_capget, &header, data) != 0) return false;
  const uint32_t bit = uint32_t{1} << (CAP_SYS_PTRACE % 32);
  data[CAP_SYS_PTRACE / 32].effective &= ~bit;
  data[CAP_SYS_PTRACE / 32].permitted &= ~bit;
  return ::syscall(SYS_capset, &header, data) == 0;
}

// The daemon cannot be traced, read through /proc or dumped by a process of its own user
// (not dumpable: only CAP_SYS_PTRACE may), while a dumpable process of that user can be
// (the check works). Fails if the daemon stays dumpable (checked).
TEST_F(SecretsTest, ItsOwnUserCannotTraceOrDumpTheDaemon) {
  const pid_t daemon = daemon_pid();
  ASSERT_GT(daemon, 0);
  const TestUser root{"root", 0, 0, {0}};
  Sys attach = AsUser(root, [daemon] {
    Sys s;
    if (!DropPtraceCapability()) return Sys{-2, errno, "capset"};
    s.rc = ::ptrace(PTRACE_ATTACH, daemon, nullptr, nullptr);
    s.err = s.rc < 0 ? errno : 0;
    if (s.rc == 0) {  // (the failure case) let the daemon go on: its stop, then detach
      int status = 0;
      ::waitpid(daemon, &status, __WALL);
      ::ptrace(PTRACE_DETACH, daemon, nullptr, nullptr);
    }
    return s;
  });
  EXPECT_EQ(attach.rc, -1);
  EXPECT_EQ(attach.err, EPERM) << ErrName(attach.err);
  // (Its environment stays readable to its user on Linux; nothing secret is in it, see
  // the tests above.)
  const std::string mem = "/proc/" + std::to_string(daemon) + "/mem";
  Sys opened = AsUser(root, [mem] {
    if (!DropPtraceCapability()) return Sys{-2, errno, "capset"};
    const int fd = ::open(mem.c_str(), O_RDONLY | O_CLOEXEC);
    Sys s{fd < 0 ? -1 : 0, fd < 0 ? errno : 0, ""};
    if (fd >= 0) ::close(fd);
    return s;
  });
  EXPECT_EQ(opened.rc, -1);
  EXPECT_EQ(opened.err, EACCES) << ErrName(opened.err);
  // Control: the same process traces a dumpable child of the same user.
  Sys control = AsUser(root, [] {
    if (!DropPtraceCapability()) return Sys{-2, errno, "capset"};
    const pid_t child = ::fork();
    if (child == 0) {
      ::pause();
      ::_exit(0);
    }
    Sys s;
    s.rc = ::ptrace(PTRACE_ATTACH, child, nullptr, nullptr);
    s.err = s.rc < 0 ? errno : 0;
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
    return s;
  });
  EXPECT_EQ(control.rc, 0) << ErrName(control.err);
  // No core file, whatever the limit it was started with.
  const std::string limits = ReadFile("/proc/" + std::to_string(daemon) + "/limits").value_or("");
  EXPECT_NE(limits.find("Max core file size        0                    0"), std::string::npos)
      << limits;
}

}  // namespace
}  // namespace matterfs::mount_test
