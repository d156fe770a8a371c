// Matter status on a mount (docs/POLICY.md "Matter status"): closed is read-only for
// everyone (write-class operations give EROFS), legal hold refuses every delete-class
// operation (EPERM) but allows writing; set offline on the vault before mounting, or
// online through the daemon's control socket by a matter admin.
#include <fcntl.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "tests/policy_mount/policy_mount_fixture.h"

namespace matterfs::policy_mount_test {
namespace {

class MatterStatusTest : public PolicyMountTest {
 protected:
  // Online status change as `who` through the control socket.
  CmdResult SetOnline(const std::string& verb, const std::string& matter, const TestUser& who) {
    return Matterctl({"matter", verb, mnt_, matter, "--control-socket", control_}, &who);
  }
  // Offline status change on the unmounted vault; the event goes to our receiver.
  void SetOffline(const std::string& verb, const std::string& matter) {
    ASSERT_NO_FATAL_FAILURE(Unmount());
    const size_t mark = receiver_->Mark();
    CmdResult r = Matterctl({"matter", verb, vault_, matter, "--passphrase-file", pass_,
                             "--syslog-socket", receiver_->path()});
    ASSERT_EQ(r.status, 0) << ::testing::PrintToString(r);
    ExpectEvent({.event = "matter-" + verb, .result = "ok", .user = "root", .matter = matter},
                mark);
    ASSERT_NO_FATAL_FAILURE(Mount());
  }

  // Every write-class operation by bob (who holds a write grant) on a closed matter.
  void ExpectReadOnly(const std::string& m, const std::string& file) {
    SCOPED_TRACE("closed matter " + m);
    Sys r = ReadAs(bob_, M(m + "/" + file));
    EXPECT_GE(r.rc, 0) << "reads stay allowed: " << ::testing::PrintToString(r);
    EXPECT_EQ(ListAs(bob_, M(m)).rc >= 0, true);
    const size_t mark = receiver_->Mark();
    Sys w = OpenAs(bob_, M(m + "/" + file), O_WRONLY);
    EXPECT_EQ(w.rc, -1);
    EXPECT_EQ(w.err, EROFS) << "open for writing: " << ::testing::PrintToString(w);
    ExpectEvent({.event = "open",
                 .result = "deny",
                 .user = kBob,
                 .matter = m,
                 .rule_has = "status closed: read-only",
                 .access = "write"},
                mark);
    Sys rw = OpenAs(bob_, M(m + "/" + file), O_RDWR);
    EXPECT_EQ(rw.err, EROFS) << "open read-write: " << ::testing::PrintToString(rw);
    Sys c = OpenAs(bob_, M(m + "/new.txt"), O_WRONLY | O_CREAT | O_EXCL);
    EXPECT_EQ(c.err, EROFS) << "create: " << ::testing::PrintToString(c);
    ExpectEvent({.event = "create",
                 .result = "deny",
                 .user = kBob,
                 .matter = m,
                 .rule_has = "status closed"},
                mark);
    EXPECT_EQ(MkdirAs(bob_, M(m + "/newdir")).err, EROFS);
    const std::string target = M(m + "/" + file);
    Sys x = AsUser(bob_, [&] {
      Sys out;
      out.rc = ::setxattr(target.c_str(), "user.note", "x", 1, 0);
      out.err = out.rc < 0 ? errno : 0;
      return out;
    });
    EXPECT_EQ(x.err, EROFS) << "setxattr: " << ::testing::PrintToString(x);
    EXPECT_EQ(UnlinkAs(bob_, M(m + "/" + file)).err, EROFS);
    const std::string hard = M(m + "/hardlink.txt");
    Sys l = AsUser(bob_, [&] {
      Sys out;
      out.rc = ::link(target.c_str(), hard.c_str());
      out.err = out.rc < 0 ? errno : 0;
      return out;
    });
    EXPECT_EQ(l.err, EROFS) << "link: " << ::testing::PrintToString(l);
    EXPECT_EQ(RenameAs(bob_, M(m + "/" + file), M(m + "/moved.txt")).err, EROFS);
    EXPECT_EQ(TruncateAs(bob_, M(m + "/" + file), 0).err, EROFS);
    EXPECT_EQ(OpenAs(bob_, M(m + "/" + file), O_WRONLY | O_TRUNC).err, EROFS);
    // The status is checked after the grants: erin, who may only read, is told "no
    // grant", not "read-only".
    EXPECT_EQ(OpenAs(erin_, M(m + "/" + file), O_WRONLY).err, EACCES);
    // Nothing changed.
    EXPECT_EQ(ReadAs(bob_, M(m + "/" + file)).data, r.data);
    EXPECT_EQ(StatAs(bob_, M(m + "/new.txt")).err, ENOENT);
  }
};

TEST_F(MatterStatusTest, ClosedOfflineBeforeMountIsReadOnly) {
  ASSERT_NO_FATAL_FAILURE(SetOffline("close", "globex"));
  ASSERT_NO_FATAL_FAILURE(ExpectReadOnly("globex", "deal.txt"));
  // Other matters are unaffected.
  EXPECT_EQ(WriteAs(bob_, M("initech/still-open.txt"), "yes").rc, 3);
  CmdResult status = Matterctl({"status", mnt_, "--control-socket", control_}, &alice_);
  ASSERT_EQ(status.status, 0) << ::testing::PrintToString(status);
  EXPECT_NE(status.out.find("globex\tclosed"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("initech\topen"), std::string::npos) << status.out;
}

// `matterctl status --json`: the daemon's fields, typed, and the matters as they are.
TEST_F(MatterStatusTest, StatusJsonHoldsTheDaemonsFields) {
  ASSERT_EQ(SetOnline("close", "globex", alice_).status, 0);
  CmdResult status = Matterctl({"status", mnt_, "--control-socket", control_, "--json"}, &alice_);
  ASSERT_EQ(status.status, 0) << ::testing::PrintToString(status);
  const auto doc = nlohmann::json::parse(status.out);
  EXPECT_EQ(doc["format"], "matterfs-status");
  EXPECT_EQ(doc["mountpoint"], mnt_);
  EXPECT_EQ(doc["vault"], vault_);
  EXPECT_EQ(doc["policy"], policy_path_);
  EXPECT_TRUE(doc["audit"]["queued"].is_number_unsigned()) << doc;
  EXPECT_EQ(doc["audit"]["dropped"], 0);
  EXPECT_EQ(doc["audit"]["refused"], 0);
  EXPECT_TRUE(doc["syslog"]["problem"].is_null()) << doc;
  EXPECT_TRUE(doc["decisions"]["computed"].is_number_unsigned());
  std::map<std::string, std::string> statuses;
  for (const auto& m : doc["matters"]) {
    statuses[m["name"]] = m["status"];
    EXPECT_EQ(m["key_version"], 1) << m;
    EXPECT_EQ(m["rotation_unfinished"], false);
    EXPECT_TRUE(m["rotated"].is_null());
  }
  EXPECT_EQ(statuses, (std::map<std::string, std::string>{
                          {"acme", "open"}, {"globex", "closed"}, {"initech", "open"}}));
  EXPECT_TRUE(doc["break_glass"].empty());
  EXPECT_TRUE(doc["rotations"].empty());
  // An error is a document too, with the exit code of the text output.
  CmdResult none = Matterctl({"status", dir_ + "/nowhere", "--json"}, &alice_);
  EXPECT_EQ(none.status, 5) << ::testing::PrintToString(none);
  EXPECT_EQ(nlohmann::json::parse(none.out)["exit"], 5);
}

TEST_F(MatterStatusTest, ClosedOnlineThroughTheMount) {
  size_t mark = receiver_->Mark();
  // bob may write but not administer: refused.
  CmdResult denied = SetOnline("close", "globex", bob_);
  EXPECT_NE(denied.status, 0) << ::testing::PrintToString(denied);
  ExpectEvent({.event = "matter-close", .result = "deny", .user = kBob, .matter = "globex"}, mark);
  EXPECT_EQ(WriteAs(bob_, M("globex/deal.txt"), "globex deal\n", O_WRONLY).rc, 12);

  // alice administers every matter ([matter *] admin = partners).
  mark = receiver_->Mark();
  CmdResult closed = SetOnline("close", "globex", alice_);
  ASSERT_EQ(closed.status, 0) << ::testing::PrintToString(closed);
  ExpectEvent({.event = "matter-close", .result = "ok", .user = kAlice, .matter = "globex"}, mark);
  ASSERT_NO_FATAL_FAILURE(ExpectReadOnly("globex", "deal.txt"));

  mark = receiver_->Mark();
  CmdResult reopened = SetOnline("reopen", "globex", alice_);
  ASSERT_EQ(reopened.status, 0) << ::testing::PrintToString(reopened);
  ExpectEvent({.event = "matter-reopen", .result = "ok", .user = kAlice, .matter = "globex"}, mark);
  EXPECT_EQ(WriteAs(bob_, M("globex/after.txt"), "after\n").rc, 6);

  // The status lives in the vault: after a remount globex is still open, and a close
  // survives a remount.
  ASSERT_EQ(SetOnline("close", "globex", alice_).status, 0);
  ASSERT_NO_FATAL_FAILURE(Unmount());
  ASSERT_NO_FATAL_FAILURE(Mount());
  EXPECT_EQ(OpenAs(bob_, M("globex/after.txt"), O_WRONLY).err, EROFS);
}

TEST_F(MatterStatusTest, HoldRefusesDeletionButAllowsWriting) {
  size_t mark = receiver_->Mark();
  CmdResult held = SetOnline("hold", "initech", alice_);
  ASSERT_EQ(held.status, 0) << ::testing::PrintToString(held);
  ExpectEvent({.event = "matter-hold", .result = "ok", .user = kAlice, .matter = "initech"}, mark);

  mark = receiver_->Mark();
  Sys u = UnlinkAs(bob_, M("initech/notes.txt"));
  EXPECT_EQ(u.rc, -1);
  EXPECT_EQ(u.err, EPERM) << "unlink: " << ::testing::PrintToString(u);
  ExpectEvent({.event = "unlink",
               .result = "deny",
               .user = kBob,
               .matter = "initech",
               .rule_has = "status hold: nothing may be deleted"},
              mark);
  Sys rn = RenameAs(bob_, M("initech/notes.txt"), M("initech/renamed.txt"));
  EXPECT_EQ(rn.err, EPERM) << "rename: " << ::testing::PrintToString(rn);
  ExpectEvent({.event = "rename",
               .result = "deny",
               .user = kBob,
               .matter = "initech",
               .rule_has = "status hold"},
              mark);
  Sys t = TruncateAs(bob_, M("initech/patent.txt"), 0);
  EXPECT_EQ(t.err, EPERM) << "truncate: " << ::testing::PrintToString(t);
  ExpectEvent({.event = "setattr",
               .result = "deny",
               .user = kBob,
               .matter = "initech",
               .rule_has = "status hold"},
              mark);
  Sys ot = OpenAs(bob_, M("initech/patent.txt"), O_WRONLY | O_TRUNC);
  EXPECT_EQ(ot.err, EPERM) << "open O_TRUNC: " << ::testing::PrintToString(ot);
  Sys ct = OpenAs(bob_, M("initech/notes.txt"), O_WRONLY | O_CREAT | O_TRUNC);
  EXPECT_EQ(ct.err, EPERM) << "open O_CREAT|O_TRUNC: " << ::testing::PrintToString(ct);
  Sys rd = RmdirAs(bob_, M("initech/empty"));
  EXPECT_EQ(rd.err, EPERM) << "rmdir: " << ::testing::PrintToString(rd);

  // Writing, appending and creating still work.
  Sys a = WriteAs(bob_, M("initech/patent.txt"), "amended\n", O_WRONLY | O_APPEND);
  EXPECT_EQ(a.rc, 8) << ::testing::PrintToString(a);
  Sys c = WriteAs(bob_, M("initech/new.txt"), "new\n", O_WRONLY | O_CREAT | O_EXCL);
  EXPECT_EQ(c.rc, 4) << ::testing::PrintToString(c);
  EXPECT_EQ(MkdirAs(bob_, M("initech/newdir")).rc, 0);
  // Nothing was lost.
  EXPECT_EQ(ReadAs(bob_, M("initech/patent.txt")).data, "initech patent claims\namended\n");
  EXPECT_EQ(ReadAs(bob_, M("initech/notes.txt")).data, "initech notes\n");
  EXPECT_EQ(StatAs(bob_, M("initech/empty")).rc, 0);
  EXPECT_EQ(StatAs(bob_, M("initech/renamed.txt")).err, ENOENT);

  mark = receiver_->Mark();
  CmdResult released = SetOnline("release", "initech", alice_);
  ASSERT_EQ(released.status, 0) << ::testing::PrintToString(released);
  ExpectEvent({.event = "matter-release", .result = "ok", .user = kAlice, .matter = "initech"},
              mark);
  EXPECT_EQ(UnlinkAs(bob_, M("initech/notes.txt")).rc, 0);
  EXPECT_EQ(RmdirAs(bob_, M("initech/empty")).rc, 0);
}

// The whole keystore (every keyring and the key table) put back from before a hold,
// while the daemon runs: keyring and table agree, so only the daemon's memory of the
// highest keyring sequence it has read catches it (docs/FORMAT.md §9.6). Its periodic
// re-read refuses the older keyring with a tamper event and keeps the hold.
TEST_F(MatterStatusTest, AKeystorePutBackUnderARunningDaemonDoesNotLiftAHold) {
  ASSERT_EQ(StatAs(bob_, M("initech/notes.txt")).rc, 0);  // loaded
  const std::string ks = vault_ + "/keys/";
  std::vector<std::pair<std::string, std::string>> saved;
  for (const std::string& f : ListDir(ks).value_or(std::vector<std::string>{})) {
    auto bytes = ReadFile(ks + f);
    ASSERT_TRUE(bytes.has_value()) << f;
    saved.emplace_back(f, *bytes);
  }
  ASSERT_FALSE(saved.empty());
  CmdResult held = SetOnline("hold", "initech", alice_);
  ASSERT_EQ(held.status, 0) << ::testing::PrintToString(held);
  EXPECT_EQ(UnlinkAs(bob_, M("initech/notes.txt")).err, EPERM);
  for (const auto& [f, bytes] : saved) ASSERT_TRUE(WriteFile(ks + f, bytes, 0600)) << f;
  EXPECT_TRUE(WaitForSyslog(
      {"tamper", "matter=\"initech\"", "rolled back", "this server has read sequence 2"}, 10000))
      << receiver_->Tail();
  EXPECT_EQ(UnlinkAs(bob_, M("initech/notes.txt")).err, EPERM) << "the hold was lifted";
}

TEST_F(MatterStatusTest, HoldOfflineBeforeMount) {
  ASSERT_NO_FATAL_FAILURE(SetOffline("hold", "initech"));
  const size_t mark = receiver_->Mark();
  EXPECT_EQ(UnlinkAs(bob_, M("initech/notes.txt")).err, EPERM);
  ExpectEvent({.event = "unlink",
               .result = "deny",
               .user = kBob,
               .matter = "initech",
               .rule_has = "status hold"},
              mark);
  EXPECT_EQ(TruncateAs(bob_, M("initech/patent.txt"), 3).err, EPERM);
  EXPECT_EQ(WriteAs(bob_, M("initech/more.txt"), "more").rc, 4);
}

}  // namespace
}  // namespace matterfs::policy_mount_test
