#include "tests/mount_support/mounts.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "tests/mount_support/files.h"
#include "tests/mount_support/process.h"

namespace matterfs::mount_support {

namespace {

// Decodes the octal escapes of /proc/self/mountinfo ("\040" for a space).
std::string Unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() + 1) {
      out.push_back(static_cast<char>(std::strtol(s.substr(i + 1, 3).c_str(), nullptr, 8)));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

void CreateVault(const std::string& vault, const std::string& pass_file,
                 const std::vector<std::string>& matters) {
  CmdResult init = Matterctl(
      {"init", vault, "--passphrase-file", pass_file, "--kdf-memory", "8", "--kdf-ops", "1"});
  ASSERT_EQ(init.status, 0) << ::testing::PrintToString(init);
  for (const std::string& m : matters) {
    CmdResult made = Matterctl({"matter", "create", vault, m, "--passphrase-file", pass_file});
    ASSERT_EQ(made.status, 0) << ::testing::PrintToString(made);
  }
}

std::vector<std::string> MountPoints() {
  std::vector<std::string> out;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, devno, root, mnt;
    fields >> id >> parent >> devno >> root >> mnt;
    out.push_back(Unescape(mnt));
  }
  return out;
}

bool IsMountPoint(const std::string& path) {
  std::string want = path;
  while (want.size() > 1 && want.back() == '/') want.pop_back();
  for (const std::string& m : MountPoints()) {
    if (m == want) return true;
  }
  return false;
}

std::vector<pid_t> DaemonsFor(const std::string& mountpoint) {
  std::vector<pid_t> out;
  for (const std::string& p : ListDir("/proc").value_or(std::vector<std::string>{})) {
    if (p.find_first_not_of("0123456789") != std::string::npos) continue;
    auto cmdline = ReadFile("/proc/" + p + "/cmdline");
    if (!cmdline) continue;
    std::vector<std::string> args;
    std::string one;
    for (char c : *cmdline) {
      if (c == '\0') {
        args.push_back(one);
        one.clear();
      } else {
        one.push_back(c);
      }
    }
    if (args.size() >= 3 && args[0] == MatterfsPath() && args[2] == mountpoint) {
      out.push_back(static_cast<pid_t>(std::atoi(p.c_str())));
    }
  }
  return out;
}

void FuseUnmount(const std::string& path) {
  if (!IsMountPoint(path)) return;
  CmdResult r;
  for (int attempt = 0; attempt < 20; ++attempt) {
    r = RunCommand({"fusermount3", "-u", path}, 30);
    if (r.status == 0 || !IsMountPoint(path)) return;
    ::usleep(100000);  // e.g. a child of the test still closing its files
  }
  ADD_FAILURE() << "fusermount3 -u " << path << " failed: " << r.err << "; trying umount -l";
  CmdResult lazy = RunCommand({"umount", "-l", path}, 30);
  EXPECT_EQ(lazy.status, 0) << ::testing::PrintToString(lazy);
}

void WaitForDaemonExit(pid_t pid) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) {
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
          << "the daemon ended with status 0x" << std::hex << status;
      return;
    }
    if (w < 0 && errno == ECHILD && ::kill(pid, 0) != 0 && errno == ESRCH) return;
    ::usleep(20000);
  }
  ADD_FAILURE() << "the daemon (pid " << pid << ") did not exit within 10 s of the unmount";
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

void UnmountAndWait(const std::string& path) {
  const std::vector<pid_t> daemons = DaemonsFor(path);
  FuseUnmount(path);
  for (pid_t pid : daemons) WaitForDaemonExit(pid);
}

}  // namespace matterfs::mount_support
