// Master key rotation through the real matterctl and daemon (issue 9, item 4): a vault
// written through a mount, rotated offline with `matterctl rotate-master`, mounts again
// and reads back everything; rotate-master is refused while mounted; killed with SIGKILL
// at each crash point, the vault is refused by the daemon and by matterctl ("interrupted",
// exit 9) until a rerun completes it; and the old config with the old passphrase opens
// nothing any more.
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "fs/vault/format.h"
#include "tests/mount/mount_fixture.h"
#include "util/unique_fd.h"

namespace matterfs::mount_test {
namespace {

const std::string kInterrupted =
    "a master key rotation was interrupted; run matterctl rotate-master";

bool FileExists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

class MasterRotationMountTest : public TwoMatterTest {
 protected:
  // Files in both matters, of several shapes; returns what each should read ("alpha/x").
  std::map<std::string, std::string> MakeFiles() {
    std::map<std::string, std::string> files = {
        {"alpha/empty", ""},
        {"alpha/one", "1"},
        {"alpha/block+1", Pattern(4097, 1)},
        {"alpha/big", Pattern((1 << 20) + 17, 2)},
        {"beta/offer.txt", "USD 2,500,000"},
    };
    EXPECT_EQ(::mkdir(M("dir").c_str(), 0755), 0);
    EXPECT_EQ(::mkdir(M("dir/" + std::string(200, 'd')).c_str(), 0755), 0);
    files["alpha/dir/" + std::string(200, 'd') + "/" + std::string(230, 'n')] = "long names";
    for (const auto& [rel, content] : files) {
      EXPECT_TRUE(WriteFile(mnt_ + "/" + rel, content)) << rel;
    }
    EXPECT_EQ(::symlink("one", M("link").c_str()), 0);
    EXPECT_EQ(::setxattr(M("one").c_str(), "user.note", "kept", 4, 0), 0);
    return files;
  }
  void ExpectFiles(const std::map<std::string, std::string>& files) {
    for (const auto& [rel, content] : files) {
      EXPECT_TRUE(ReadFile(mnt_ + "/" + rel) == content) << rel;
    }
    char target[16] = {};
    EXPECT_EQ(::readlink(M("link").c_str(), target, sizeof target), 3);
    EXPECT_EQ(std::string(target), "one");
    char v[8] = {};
    EXPECT_EQ(::getxattr(M("one").c_str(), "user.note", v, sizeof v), 4);
    EXPECT_EQ(std::string(v, 4), "kept");
  }
  // Offline, without a mount: every file through matterctl cat.
  void ExpectFilesOffline(const std::map<std::string, std::string>& files,
                          const std::string& where) {
    for (const auto& [rel, content] : files) {
      CmdResult cat = Matterctl({"cat", vault_, rel, "--passphrase-file", pass_});
      EXPECT_EQ(cat.status, 0) << where << ": " << rel << ": " << cat.err;
      EXPECT_TRUE(cat.out == content) << where << ": " << rel;
    }
  }
  // The contents of the backing files (headers and blocks), sorted: the matter
  // directories are renamed, the bytes of the files must not change.
  std::vector<std::string> BackingContents() const {
    std::vector<std::string> out;
    for (const std::string& p : BackingFiles()) out.push_back(ReadFile(p).value_or("?"));
    std::sort(out.begin(), out.end());
    return out;
  }
  CmdResult RotateMaster(const std::vector<std::string>& more = {}) {
    std::vector<std::string> args = {
        "rotate-master", vault_, "--passphrase-file", pass_, "--syslog-socket", receiver_->path()};
    args.insert(args.end(), more.begin(), more.end());
    return Matterctl(args);
  }
};

TEST_F(MasterRotationMountTest, MountWriteUnmountRotateMasterMountAgainAndRead) {
  auto files = MakeFiles();
  // Refused while mounted, changing nothing.
  CmdResult busy = RotateMaster();
  EXPECT_EQ(busy.status, 8) << ::testing::PrintToString(busy);
  EXPECT_NE(busy.err.find("is mounted"), std::string::npos) << busy.err;
  ASSERT_NO_FATAL_FAILURE(Unmount());
  const auto backing = BackingContents();
  const std::string old_config = ReadFile(vault_ + "/matterfs.vault").value_or("");
  ASSERT_FALSE(old_config.empty());

  const size_t mark = receiver_->Mark();
  CmdResult r = RotateMaster();
  ASSERT_EQ(r.status, 0) << ::testing::PrintToString(r);
  EXPECT_NE(r.out.find("vault master key replaced: 2 matters rewrapped, 1 keyslots kept, 0 "
                       "dropped; "),
            std::string::npos)
      << r.out;
  EventQuery q;
  q.event = "master-rotate";
  q.result = "ok";
  auto started = ExpectEvent(q, mark);
  ASSERT_TRUE(started);
  EXPECT_NE(started->msg.find("started: 2 matters"), std::string::npos) << started->raw;
  auto finished = receiver_->WaitMatching(
      [](const AuditMsg& m) {
        return m.msgid == "master-rotate" && m.msg.find("finished") != std::string::npos;
      },
      mark, std::chrono::seconds(10));
  EXPECT_TRUE(finished);
  EXPECT_EQ(BackingContents(), backing);  // file headers and blocks untouched
  EXPECT_FALSE(FileExists(vault_ + "/" + std::string(vault::kMasterJournalName)));

  ASSERT_NO_FATAL_FAILURE(Mount());
  ExpectFiles(files);
  // The vault works as before: a new file, a new matter.
  ASSERT_TRUE(WriteFile(M("after"), "written after the rotation"));
  ASSERT_EQ(::mkdir((mnt_ + "/gamma").c_str(), 0755), 0);
  ASSERT_TRUE(WriteFile(mnt_ + "/gamma/g", "gamma"));
  ASSERT_NO_FATAL_FAILURE(Remount());
  ExpectFiles(files);
  EXPECT_EQ(ReadFile(M("after")).value_or("?"), "written after the rotation");
  EXPECT_EQ(ReadFile(mnt_ + "/gamma/g").value_or("?"), "gamma");
  ASSERT_NO_FATAL_FAILURE(Unmount());

  // The old config with the old passphrase still unlocks, but opens no matter.
  const std::string new_config = ReadFile(vault_ + "/matterfs.vault").value_or("");
  ASSERT_TRUE(WriteFile(vault_ + "/matterfs.vault", old_config, 0600));
  CmdResult list = Matterctl({"matter", "list", vault_, "--passphrase-file", pass_});
  EXPECT_EQ(list.status, 4) << ::testing::PrintToString(list);
  // (The matter's name is not even found: its entry is encrypted under the new key.)
  CmdResult cat = Matterctl({"cat", vault_, "alpha/one", "--passphrase-file", pass_});
  EXPECT_EQ(cat.status, 5) << ::testing::PrintToString(cat);
  EXPECT_EQ(cat.out, "");
  ASSERT_TRUE(WriteFile(vault_ + "/matterfs.vault", new_config, 0600));
  ExpectFilesOffline(files, "after");
}

TEST_F(MasterRotationMountTest, KilledAtEachPointTheVaultIsRefusedUntilARerunCompletes) {
  auto files = MakeFiles();
  ASSERT_NO_FATAL_FAILURE(Unmount());
  const auto backing = BackingContents();
  const std::string first_config = ReadFile(vault_ + "/matterfs.vault").value_or("");
  const std::string journal = vault_ + "/" + std::string(vault::kMasterJournalName);
  for (const std::string point :
       {"journal", "config", "matter:1:copy", "matter:1:keyring", "matter:1:binding", "matter:1",
        "matter:2:copy", "matter:2", "final-config"}) {
    SCOPED_TRACE(point);
    ::setenv("MATTERFS_FAULT_INJECT_MASTER_KILL_AT", point.c_str(), 1);
    CmdResult killed = RotateMaster();
    ::unsetenv("MATTERFS_FAULT_INJECT_MASTER_KILL_AT");
    ASSERT_EQ(killed.status, 128 + SIGKILL) << ::testing::PrintToString(killed);
    EXPECT_TRUE(FileExists(journal));
    const bool unfinished = point != "journal" && point != "final-config";
    if (unfinished) {
      // The daemon and every matterctl command but rotate-master refuse, with one line.
      CmdResult mount = RunMatterfs(DaemonArgs());
      EXPECT_EQ(mount.status, 9) << ::testing::PrintToString(mount);
      EXPECT_NE(mount.err.find(kInterrupted), std::string::npos) << mount.err;
      EXPECT_FALSE(IsMountPoint(mnt_));
      CmdResult list = Matterctl({"matter", "list", vault_, "--passphrase-file", pass_});
      EXPECT_EQ(list.status, 9) << ::testing::PrintToString(list);
      EXPECT_EQ(list.err, "matterctl: vault " + vault_ + ": " + kInterrupted + " " + vault_ +
                              " to finish it\n");
      EXPECT_EQ(list.out, "");
      CmdResult cat = Matterctl({"cat", vault_, "alpha/one", "--passphrase-file", pass_});
      EXPECT_EQ(cat.status, 9) << ::testing::PrintToString(cat);
      CmdResult add =
          Matterctl({"keyslot", "add", vault_, "--passphrase-file", pass_, "--new-passphrase-file",
                     pass_, "--kdf-memory", "8", "--kdf-ops", "1"});
      EXPECT_EQ(add.status, 9) << ::testing::PrintToString(add);
      // keyslot list reads only the config.
      CmdResult slots = Matterctl({"keyslot", "list", vault_});
      EXPECT_EQ(slots.status, 0) << ::testing::PrintToString(slots);
    } else {
      // Before the new config, or after the final one: the vault opens as usual.
      ExpectFilesOffline(files, point);
    }
    CmdResult rerun = RotateMaster();
    ASSERT_EQ(rerun.status, 0) << ::testing::PrintToString(rerun);
    if (unfinished) {
      EXPECT_NE(rerun.out.find("(an interrupted rotation, completed): 2 matters rewrapped"),
                std::string::npos)
          << rerun.out;
    }
    EXPECT_FALSE(FileExists(journal));
    ExpectFilesOffline(files, point);
    EXPECT_EQ(BackingContents(), backing);
  }
  // The first config (and passphrase) opens nothing; the vault mounts and reads.
  const std::string now = ReadFile(vault_ + "/matterfs.vault").value_or("");
  ASSERT_TRUE(WriteFile(vault_ + "/matterfs.vault", first_config, 0600));
  CmdResult list = Matterctl({"matter", "list", vault_, "--passphrase-file", pass_});
  EXPECT_EQ(list.status, 4) << ::testing::PrintToString(list);
  ASSERT_TRUE(WriteFile(vault_ + "/matterfs.vault", now, 0600));
  ASSERT_NO_FATAL_FAILURE(Mount());
  ExpectFiles(files);
}

TEST_F(MasterRotationMountTest, KeyslotOptionsKeepOrDropTheOtherSlots) {
  ASSERT_NO_FATAL_FAILURE(Unmount());
  const std::string pass2 = dir_ + "/pass2";
  const std::string key = dir_ + "/server.key";
  ASSERT_TRUE(WriteFile(pass2, "a second partner's passphrase\n", 0600));
  ASSERT_EQ(Matterctl({"genkey", key}).status, 0);
  ASSERT_EQ(Matterctl({"keyslot", "add", vault_, "--passphrase-file", pass_,
                       "--new-passphrase-file", pass2, "--kdf-memory", "8", "--kdf-ops", "1"})
                .status,
            0);
  ASSERT_EQ(Matterctl({"keyslot", "add", vault_, "--passphrase-file", pass_, "--new-key-file", key})
                .status,
            0);
  const std::string config = ReadFile(vault_ + "/matterfs.vault").value_or("");
  CmdResult refused = RotateMaster();
  EXPECT_EQ(refused.status, 2) << ::testing::PrintToString(refused);
  EXPECT_NE(refused.err.find("keyslots 1 (passphrase, created "), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("--drop-other-slots"), std::string::npos) << refused.err;
  EXPECT_EQ(ReadFile(vault_ + "/matterfs.vault").value_or(""), config);

  CmdResult kept = RotateMaster({"--keep-passphrase-file", pass2, "--keep-key-file", key});
  EXPECT_EQ(kept.status, 0) << ::testing::PrintToString(kept);
  EXPECT_NE(kept.out.find("3 keyslots kept, 0 dropped"), std::string::npos) << kept.out;
  for (const std::vector<std::string>& cred : std::vector<std::vector<std::string>>{
           {"--passphrase-file", pass_}, {"--passphrase-file", pass2}, {"--key-file", key}}) {
    std::vector<std::string> args = {"matter", "list", vault_};
    args.insert(args.end(), cred.begin(), cred.end());
    CmdResult list = Matterctl(args);
    EXPECT_EQ(list.status, 0) << cred[1] << ": " << list.err;
    EXPECT_NE(list.out.find("alpha\topen\t"), std::string::npos) << list.out;
  }

  CmdResult dropped = Matterctl({"rotate-master", vault_, "--key-file", key, "--drop-other-slots",
                                 "--syslog-socket", receiver_->path()});
  EXPECT_EQ(dropped.status, 0) << ::testing::PrintToString(dropped);
  EXPECT_NE(dropped.out.find("1 keyslots kept, 2 dropped"), std::string::npos) << dropped.out;
  CmdResult gone = Matterctl({"matter", "list", vault_, "--passphrase-file", pass_});
  EXPECT_EQ(gone.status, 3) << ::testing::PrintToString(gone);
  CmdResult by_key = Matterctl({"matter", "list", vault_, "--key-file", key});
  EXPECT_EQ(by_key.status, 0) << ::testing::PrintToString(by_key);
  EXPECT_NE(by_key.out.find("beta\topen\t"), std::string::npos) << by_key.out;
}

// Key custody (issue 14): each use of a keyslot, escrow or config command is an audit
// event in syslog, with the slot or firm key it concerns; a failed recovery too.
TEST_F(MasterRotationMountTest, KeyCustodyCommandsAreAuditEvents) {
  ASSERT_NO_FATAL_FAILURE(Unmount());
  const std::string priv = dir_ + "/firm.key";
  const std::string pub = dir_ + "/firm.pub";
  const std::string other = dir_ + "/other.key";
  const std::string new_pass = dir_ + "/recovered.pass";
  const std::string backup = dir_ + "/config.backup";
  ASSERT_TRUE(WriteFile(new_pass, "a recovered passphrase, long enough\n"));
  ASSERT_EQ(Matterctl({"escrow", "keygen", priv, pub}).status, 0);
  ASSERT_EQ(Matterctl({"escrow", "keygen", other, dir_ + "/other.pub"}).status, 0);
  const std::vector<std::string> syslog = {"--syslog-socket", receiver_->path()};
  auto run = [&](std::vector<std::string> args) {
    args.insert(args.end(), syslog.begin(), syslog.end());
    return Matterctl(args);
  };
  auto expect = [&](const char* event, const char* result, const std::string& text, size_t mark) {
    auto got = receiver_->WaitMatching(
        [&](const AuditMsg& m) {
          return m.msgid == event && m.Field("result") == result &&
                 m.msg.find(text) != std::string::npos;
        },
        mark, std::chrono::seconds(10));
    EXPECT_TRUE(got) << event << " " << text << "\n" << ::testing::PrintToString(receiver_->Raw());
  };
  size_t mark = receiver_->Mark();
  CmdResult added = run({"escrow", "add", vault_, "--public-key", pub, "--passphrase-file", pass_});
  ASSERT_EQ(added.status, 0) << added.err;
  expect("escrow-add", "ok", "escrow keyslot 1 added for the firm key ", mark);
  mark = receiver_->Mark();
  EXPECT_EQ(run({"recover", vault_, "--escrow-key", other, "--new-passphrase-file", new_pass,
                 "--kdf-ops", "1", "--kdf-memory", "8"})
                .status,
            3);
  expect("escrow-recover", "error", "escrow recovery failed: this escrow key opens no", mark);
  mark = receiver_->Mark();
  CmdResult recovered = run({"recover", vault_, "--escrow-key", priv, "--new-passphrase-file",
                             new_pass, "--kdf-ops", "1", "--kdf-memory", "8"});
  ASSERT_EQ(recovered.status, 0) << recovered.err;
  expect("escrow-recover", "ok", "vault opened with escrow keyslot 1; new keyslot 2 (passphrase)",
         mark);
  ASSERT_EQ(Matterctl({"config", "backup", vault_, backup}).status, 0);
  mark = receiver_->Mark();
  ASSERT_EQ(run({"keyslot", "remove", vault_, "2", "--passphrase-file", pass_}).status, 0);
  expect("keyslot-remove", "ok", "keyslot 2 removed (passphrase)", mark);
  mark = receiver_->Mark();
  CmdResult restored = run({"config", "restore", vault_, backup, "--passphrase-file", new_pass});
  ASSERT_EQ(restored.status, 0) << restored.err;
  expect("config-restore", "ok", "config restored from a backup (3 keyslots)", mark);
  mark = receiver_->Mark();
  const std::string key = dir_ + "/laptop.key";
  ASSERT_EQ(Matterctl({"genkey", key}).status, 0);
  ASSERT_EQ(
      run({"keyslot", "add", vault_, "--passphrase-file", new_pass, "--new-key-file", key}).status,
      0);
  expect("keyslot-add", "ok", "keyslot 3 added (key-file)", mark);
  // The vault still mounts and reads with its first passphrase.
  ASSERT_NO_FATAL_FAILURE(Mount());
}

}  // namespace
}  // namespace matterfs::mount_test
