// How the daemon unlocks under systemd, emulated as systemd does it: the service's
// credentials in $CREDENTIALS_DIRECTORY (`key` before `passphrase`), and, with no
// terminal, a question through systemd-ask-password (a fake one first in PATH that
// prints a passphrase and records how it was asked; INVOCATION_ID set as systemd sets it
// for a service: outside systemd nobody would answer, and no question is asked). A wrong secret is
// exit 3 with one line on stderr, whichever way it came.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "tests/mount_support/fixture.h"

namespace matterfs::systemd_test {
namespace {

using namespace ::matterfs::mount_support;

class ServiceCredentialsTest : public MountFixture {
 protected:
  std::vector<std::string> Matters() const override { return {"alpha"}; }
  bool MountAtStart() const override { return false; }

  void SetUp() override {
    MountFixture::SetUp();
    if (HasFatalFailure()) return;
    creds_ = dir_ + "/credentials";
    ASSERT_EQ(::mkdir(creds_.c_str(), 0700), 0);
    bin_ = dir_ + "/bin";
    ASSERT_EQ(::mkdir(bin_.c_str(), 0755), 0);
  }

  // `matterfs VAULT MNT --syslog-socket S` with no unlock option, no terminal (a new
  // session: setsid -w), and only the environment given.
  CmdResult Run(const std::vector<std::string>& env) {
    std::vector<std::string> argv = {"setsid", "-w", "env", "-i"};
    for (const std::string& e : env) argv.push_back(e);
    if (std::find_if(env.begin(), env.end(),
                     [](const std::string& e) { return e.rfind("PATH=", 0) == 0; }) == env.end()) {
      argv.push_back("PATH=/usr/sbin:/usr/bin:/sbin:/bin");
    }
    for (const std::string& a :
         {MatterfsPath(), vault_, mnt_, std::string("--syslog-socket"), SyslogSocket()}) {
      argv.push_back(a);
    }
    return RunCommand(argv, 60);
  }

  void ExpectMountedThenUnmount(const CmdResult& r) {
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_TRUE(IsMountPoint(mnt_));
    UnmountAndWait(mnt_);
  }

  void ExpectWrongKey(const CmdResult& r) {
    EXPECT_EQ(r.status, 3) << r.err;
    EXPECT_FALSE(IsMountPoint(mnt_));
    EXPECT_FALSE(r.err.empty());
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }

  // A systemd-ask-password that writes its arguments to dir_/asked and prints `answer`.
  void FakeAskPassword(const std::string& answer) {
    const std::string script = "#!/bin/sh\nprintf '%s\\n' \"$@\" > " + Quote(dir_ + "/asked") +
                               "\nprintf '%s\\n' " + Quote(answer) + "\n";
    ASSERT_TRUE(WriteFile(bin_ + "/systemd-ask-password", script, 0755));
  }

  std::string Passphrase() const { return ReadFile(pass_).value_or(""); }

  // A passphrase + key-file keyslot: its key file `key_` and passphrase file `second_`.
  void AddTwoFactorSlot() {
    key_ = dir_ + "/vault.key";
    second_ = dir_ + "/second.pass";
    ASSERT_EQ(Matterctl({"genkey", key_}).status, 0);
    ASSERT_TRUE(WriteFile(second_, "the server's own long passphrase\n", 0600));
    CmdResult added =
        Matterctl({"keyslot", "add", vault_, "--passphrase-file", pass_, "--new-passphrase-file",
                   second_, "--new-key-file", key_, "--kdf-ops", "1", "--kdf-memory", "8"});
    ASSERT_EQ(added.status, 0) << added.err;
    ASSERT_NE(added.out.find("passphrase+key-file"), std::string::npos) << added.out;
  }
  std::string key_, second_;

  std::string creds_;
  std::string bin_;
};

TEST_F(ServiceCredentialsTest, PassphraseCredentialUnlocks) {
  ASSERT_TRUE(WriteFile(creds_ + "/passphrase", Passphrase(), 0400));
  ExpectMountedThenUnmount(Run({"CREDENTIALS_DIRECTORY=" + creds_}));
}

TEST_F(ServiceCredentialsTest, KeyCredentialUnlocksAndWinsOverAPassphrase) {
  const std::string key = dir_ + "/vault.key";
  ASSERT_EQ(Matterctl({"genkey", key}).status, 0);
  CmdResult added =
      Matterctl({"keyslot", "add", vault_, "--passphrase-file", pass_, "--new-key-file", key});
  ASSERT_EQ(added.status, 0) << added.err;
  ASSERT_TRUE(WriteFile(creds_ + "/key", ReadFile(key).value_or(""), 0400));
  // Both present: the key is used (the passphrase beside it is wrong).
  ASSERT_TRUE(WriteFile(creds_ + "/passphrase", "not the passphrase\n", 0400));
  ExpectMountedThenUnmount(Run({"CREDENTIALS_DIRECTORY=" + creds_}));
}

// Server unlock with two factors (docs/OPERATIONS.md "Key custody"): `key` and
// `passphrase` together open a passphrase + key-file keyslot; each alone, or a wrong
// one beside the right one, does not.
TEST_F(ServiceCredentialsTest, KeyAndPassphraseCredentialsTogetherOpenATwoFactorSlot) {
  ASSERT_NO_FATAL_FAILURE(AddTwoFactorSlot());
  const std::string& key = key_;
  const std::string& second = second_;
  // The key alone: the vault has no key-file-only slot, and no terminal to ask.
  ASSERT_TRUE(WriteFile(creds_ + "/key", ReadFile(key).value_or(""), 0400));
  CmdResult alone = Run({"CREDENTIALS_DIRECTORY=" + creds_});
  EXPECT_NE(alone.status, 0) << alone.err;
  EXPECT_FALSE(IsMountPoint(mnt_));
  ASSERT_TRUE(WriteFile(creds_ + "/passphrase", "not the passphrase\n", 0400));
  ExpectWrongKey(Run({"CREDENTIALS_DIRECTORY=" + creds_}));
  ASSERT_EQ(::unlink((creds_ + "/passphrase").c_str()), 0);
  ASSERT_TRUE(WriteFile(creds_ + "/passphrase", ReadFile(second).value_or(""), 0400));
  ExpectMountedThenUnmount(Run({"CREDENTIALS_DIRECTORY=" + creds_}));
}

// The same two factors as /etc/fstab gives them: -o passphrase_file=F,key_file=K.
TEST_F(ServiceCredentialsTest, MountOptionsWithBothFilesOpenATwoFactorSlot) {
  ASSERT_NO_FATAL_FAILURE(AddTwoFactorSlot());
  const std::string& key = key_;
  const std::string& second = second_;
  const std::string other = dir_ + "/other.key";
  ASSERT_EQ(Matterctl({"genkey", other}).status, 0);
  auto mount = [&](const std::string& key_file) {
    return RunCommand(
        {"setsid", "-w", MatterfsPath(), vault_, mnt_, "-o",
         "passphrase_file=" + second + ",key_file=" + key_file, "--syslog-socket", SyslogSocket()},
        60);
  };
  ExpectWrongKey(mount(other));
  ExpectMountedThenUnmount(mount(key));
}

TEST_F(ServiceCredentialsTest, WrongPassphraseCredentialIsExit3) {
  ASSERT_TRUE(WriteFile(creds_ + "/passphrase", "not the passphrase\n", 0400));
  ExpectWrongKey(Run({"CREDENTIALS_DIRECTORY=" + creds_}));
}

TEST_F(ServiceCredentialsTest, WrongKeyCredentialIsExit3) {
  const std::string key = dir_ + "/other.key";
  ASSERT_EQ(Matterctl({"genkey", key}).status, 0);
  ASSERT_TRUE(WriteFile(creds_ + "/key", ReadFile(key).value_or(""), 0400));
  ExpectWrongKey(Run({"CREDENTIALS_DIRECTORY=" + creds_}));
}

TEST_F(ServiceCredentialsTest, WithoutCredentialOrTerminalAsksSystemdAskPassword) {
  ASSERT_NO_FATAL_FAILURE(FakeAskPassword(Passphrase()));
  // An empty credentials directory is no credential: the question goes to the agent.
  ExpectMountedThenUnmount(Run({"CREDENTIALS_DIRECTORY=" + creds_, "INVOCATION_ID=0123456789abcdef",
                                "PATH=" + bin_ + ":/usr/sbin:/usr/bin:/sbin:/bin"}));
  EXPECT_EQ(ReadFile(dir_ + "/asked").value_or(""),
            "--id=matterfs:" + vault_ + "\nPassphrase for " + vault_ + ":\n");
}

TEST_F(ServiceCredentialsTest, AWrongAnswerOfSystemdAskPasswordIsExit3) {
  ASSERT_NO_FATAL_FAILURE(FakeAskPassword("not the passphrase"));
  ExpectWrongKey(
      Run({"INVOCATION_ID=0123456789abcdef", "PATH=" + bin_ + ":/usr/sbin:/usr/bin:/sbin:/bin"}));
}

TEST_F(ServiceCredentialsTest, ACancelledQuestionIsAUsageErrorOnOneLine) {
  ASSERT_TRUE(WriteFile(bin_ + "/systemd-ask-password", "#!/bin/sh\nexit 1\n", 0755));
  CmdResult r =
      Run({"INVOCATION_ID=0123456789abcdef", "PATH=" + bin_ + ":/usr/sbin:/usr/bin:/sbin:/bin"});
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_NE(r.err.find("systemd-ask-password"), std::string::npos) << r.err;
  EXPECT_FALSE(IsMountPoint(mnt_));
}

TEST_F(ServiceCredentialsTest, OutsideSystemdNoTerminalFailsAtOnceWithoutAskingAnAgent) {
  ASSERT_NO_FATAL_FAILURE(FakeAskPassword(Passphrase()));
  // Neither INVOCATION_ID nor NOTIFY_SOCKET: not a service. On a machine that systemd
  // booted (sd_booted: /run/systemd/system) an agent may answer, so the question is asked.
  CmdResult r = Run({"PATH=" + bin_ + ":/usr/sbin:/usr/bin:/sbin:/bin"});
  struct stat st;
  if (::stat("/run/systemd/system", &st) == 0) {
    EXPECT_EQ(r.status, 0) << r.err;
    UnmountAndWait(mnt_);
    return;
  }
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_NE(r.err.find("no terminal"), std::string::npos) << r.err;
  EXPECT_FALSE(ReadFile(dir_ + "/asked").has_value()) << "systemd-ask-password was run";
  EXPECT_FALSE(IsMountPoint(mnt_));
}

}  // namespace
}  // namespace matterfs::systemd_test
