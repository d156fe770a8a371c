// Grants, walls, hidden matters, expired grants, matter creation and root, as real users
// on a real mount (docs/POLICY.md "Decision order", "Filesystem operations, actions and
// errors"). Every allowed case succeeds, every denied case fails with the documented
// errno, and the matching audit event arrives.
#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdio>

#include "tests/policy_mount/policy_mount_fixture.h"

namespace matterfs::policy_mount_test {
namespace {

std::string Octal(unsigned mode) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0%o", mode);
  return buf;
}

// ---- grants ----------------------------------------------------------------------

TEST_F(PolicyMountTest, ReadGrantThroughARole) {
  const size_t mark = receiver_->Mark();
  Sys r = ReadAs(bob_, M("acme/brief.txt"));
  ASSERT_GE(r.rc, 0) << ::testing::PrintToString(r);
  EXPECT_EQ(r.data, "acme brief v1\n");
  auto e = ExpectEvent({.event = "open",
                        .result = "allow",
                        .user = kBob,
                        .matter = "acme",
                        .rule_has = "matter acme: read associates (role)",
                        .access = "read"},
                       mark);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->Field("uid"), std::to_string(bob_.uid));
  EXPECT_EQ(e->Field("severity"), "info");
  EXPECT_EQ(e->severity(), 6) << e->raw;
  EXPECT_EQ(e->Field("path"), "acme/brief.txt") << e->raw;
  EXPECT_FALSE(e->Field("pid").empty()) << e->raw;
}

TEST_F(PolicyMountTest, ReadGrantThroughAGroup) {
  const size_t mark = receiver_->Mark();
  Sys r = ReadAs(erin_, M("acme/docs/memo.txt"));
  ASSERT_GE(r.rc, 0) << ::testing::PrintToString(r);
  EXPECT_EQ(r.data, "acme memo\n");
  ExpectEvent({.event = "open",
               .result = "allow",
               .user = kErin,
               .matter = "acme",
               .rule_has = "matter acme: read @mfs-t-para (group)",
               .access = "read"},
              mark);
  // Listing a directory is a read too.
  Sys l = ListAs(erin_, M("acme"));
  ASSERT_GE(l.rc, 0) << ::testing::PrintToString(l);
  EXPECT_EQ(l.data, "brief.txt\ndocs\n");
}

TEST_F(PolicyMountTest, ReadGrantThroughARoleContainingAGroup) {
  const size_t mark = receiver_->Mark();
  Sys r = ReadAs(alice_, M("acme/brief.txt"));
  ASSERT_GE(r.rc, 0) << ::testing::PrintToString(r);
  EXPECT_EQ(r.data, "acme brief v1\n");
  ExpectEvent({.event = "open",
               .result = "allow",
               .user = kAlice,
               .matter = "acme",
               .rule_has = "matter acme: read partners (role, via @mfs-t-litp)"},
              mark);
}

TEST_F(PolicyMountTest, WriteGrantAllowsWritingAndCreatingReadDoesNot) {
  size_t mark = receiver_->Mark();
  Sys w = WriteAs(bob_, M("acme/brief.txt"), "acme brief v2\n", O_WRONLY | O_TRUNC);
  ASSERT_EQ(w.rc, 14) << ::testing::PrintToString(w);
  ExpectEvent({.event = "open",
               .result = "allow",
               .user = kBob,
               .matter = "acme",
               .rule_has = "matter acme: write mfs-t-bob (user)",
               .access = "write"},
              mark);
  Sys c = WriteAs(bob_, M("acme/new-by-bob.txt"), "new\n", O_WRONLY | O_CREAT | O_EXCL);
  ASSERT_EQ(c.rc, 4) << ::testing::PrintToString(c);
  ExpectEvent({.event = "create",
               .result = "allow",
               .user = kBob,
               .matter = "acme",
               .rule_has = "matter acme: write mfs-t-bob (user)"},
              mark);
  EXPECT_EQ(ReadAs(erin_, M("acme/brief.txt")).data, "acme brief v2\n");
  EXPECT_EQ(ReadAs(erin_, M("acme/new-by-bob.txt")).data, "new\n");

  // erin may only read: writing an existing file and creating one are refused.
  mark = receiver_->Mark();
  Sys ew = OpenAs(erin_, M("acme/brief.txt"), O_WRONLY);
  EXPECT_EQ(ew.rc, -1);
  EXPECT_EQ(ew.err, EACCES) << ::testing::PrintToString(ew);
  ExpectEvent({.event = "open",
               .result = "deny",
               .user = kErin,
               .matter = "acme",
               .rule_has = "default deny",
               .access = "write"},
              mark);
  Sys ec = OpenAs(erin_, M("acme/erin.txt"), O_WRONLY | O_CREAT | O_EXCL);
  EXPECT_EQ(ec.rc, -1);
  EXPECT_EQ(ec.err, EACCES) << ::testing::PrintToString(ec);
  ExpectEvent({.event = "create",
               .result = "deny",
               .user = kErin,
               .matter = "acme",
               .rule_has = "default deny"},
              mark);
  Sys em = MkdirAs(erin_, M("acme/erin-dir"));
  EXPECT_EQ(em.err, EACCES) << ::testing::PrintToString(em);
  Sys es = AsUser(erin_, [&] {
    Sys out;
    out.rc = ::symlink("brief.txt", M("acme/erin-link").c_str());
    out.err = out.rc < 0 ? errno : 0;
    return out;
  });
  EXPECT_EQ(es.err, EACCES) << "symlink: " << ::testing::PrintToString(es);
  ExpectEvent({.event = "symlink", .result = "deny", .user = kErin, .matter = "acme"}, mark);
  Sys eu = UnlinkAs(erin_, M("acme/new-by-bob.txt"));
  EXPECT_EQ(eu.err, EACCES) << ::testing::PrintToString(eu);
  ExpectEvent({.event = "unlink", .result = "deny", .user = kErin, .matter = "acme"}, mark);
  EXPECT_EQ(StatAs(erin_, M("acme/erin.txt")).err, ENOENT);
  EXPECT_EQ(ReadAs(bob_, M("acme/new-by-bob.txt")).data, "new\n");
}

// ---- no grant --------------------------------------------------------------------

TEST_F(ListedPolicyTest, NoGrantOpenIsEacces) {
  // hide_denied = no: frank sees every matter but may open nothing.
  Sys l = ListAs(frank_, mnt_);
  ASSERT_GE(l.rc, 0) << ::testing::PrintToString(l);
  EXPECT_EQ(l.data, "acme\nglobex\ninitech\n");
  EXPECT_EQ(StatAs(frank_, M("acme")).rc, 0);

  // With hide_denied = no the path walk itself is checked: the denial is recorded on
  // the lookup of the file, before any open.
  const size_t mark = receiver_->Mark();
  Sys o = OpenAs(frank_, M("acme/brief.txt"), O_RDONLY);
  EXPECT_EQ(o.rc, -1);
  EXPECT_EQ(o.err, EACCES) << ::testing::PrintToString(o);
  auto e = ExpectEvent({.event = "lookup",
                        .result = "deny",
                        .user = kFrank,
                        .matter = "acme",
                        .rule_has = "default deny",
                        .access = "read"},
                       mark);
  if (e) {
    EXPECT_EQ(e->Field("severity"), "warning");
    EXPECT_EQ(e->severity(), 4) << e->raw;
    EXPECT_EQ(e->Field("uid"), std::to_string(frank_.uid));
  }
  Sys d = ListAs(frank_, M("acme"));
  EXPECT_EQ(d.rc, -1);
  EXPECT_EQ(d.err, EACCES) << ::testing::PrintToString(d);
  ExpectEvent({.event = "readdir",
               .result = "deny",
               .user = kFrank,
               .matter = "acme",
               .rule_has = "default deny"},
              mark);
  Sys w = OpenAs(frank_, M("globex/deal.txt"), O_WRONLY);
  EXPECT_EQ(w.err, EACCES) << ::testing::PrintToString(w);
}

// POLICY.md: lookup, getattr and readlink inside a matter are `read`; with
// hide_denied = no a user without a grant (or walled off) must not learn which files a
// matter holds, their sizes, symlink targets or extended attributes, nor be served from
// what the kernel cached for another user's lookup.
TEST_F(ListedPolicyTest, NoGrantCannotLookUpFilesInsideAListedMatter) {
  const std::string file = M("acme/brief.txt");
  const std::string link = M("acme/link-to-brief");
  Sys setup = AsUser(clerk_, [&] {
    Sys out;
    out.rc = ::setxattr(file.c_str(), "user.client", "Acme Corp v. Smith", 18, 0);
    if (out.rc == 0) out.rc = ::symlink("brief.txt", link.c_str());
    out.err = out.rc < 0 ? errno : 0;
    return out;
  });
  ASSERT_EQ(setup.rc, 0) << ::testing::PrintToString(setup);

  for (const TestUser* who : {&frank_, &carol_}) {
    SCOPED_TRACE(who->name);
    Sys s = StatAs(*who, file);
    EXPECT_EQ(s.rc, -1) << "could stat acme/brief.txt";
    EXPECT_EQ(s.err, EACCES) << ::testing::PrintToString(s);
    Sys missing = StatAs(*who, M("acme/no-such-file"));
    EXPECT_EQ(missing.err, EACCES)
        << "whether a file exists leaks: " << ::testing::PrintToString(missing);
    Sys x = AsUser(*who, [&] {
      Sys out;
      char buf[256];
      const ssize_t n = ::getxattr(file.c_str(), "user.client", buf, sizeof buf);
      out.rc = static_cast<long>(n);
      out.err = n < 0 ? errno : 0;
      if (n > 0) out.data.assign(buf, static_cast<size_t>(n));
      return out;
    });
    EXPECT_EQ(x.err, EACCES) << "extended attribute: " << ::testing::PrintToString(x);
    Sys l = AsUser(*who, [&] {
      Sys out;
      char buf[256];
      const ssize_t n = ::readlink(link.c_str(), buf, sizeof buf);
      out.rc = static_cast<long>(n);
      out.err = n < 0 ? errno : 0;
      if (n > 0) out.data.assign(buf, static_cast<size_t>(n));
      return out;
    });
    EXPECT_EQ(l.err, EACCES) << "symlink target: " << ::testing::PrintToString(l);
    // Right after a user with a grant looked the same file up.
    ASSERT_EQ(StatAs(bob_, file).rc, 0);
    Sys after = StatAs(*who, file);
    EXPECT_EQ(after.err, EACCES) << "served from bob's lookup: " << ::testing::PrintToString(after);
  }
}

TEST_F(PolicyMountTest, NoGrantHidesTheMatter) {
  // hide_denied = yes: absent from the root listing and ENOENT when named.
  Sys l = ListAs(frank_, mnt_);
  ASSERT_GE(l.rc, 0) << ::testing::PrintToString(l);
  EXPECT_EQ(l.data, "") << "frank may read no matter";
  EXPECT_EQ(ListAs(erin_, mnt_).data, "acme\nglobex\ninitech\n");
  EXPECT_EQ(ListAs(dave_, mnt_).data, "");
  // matterctl status lists only the matters the caller may see.
  CmdResult st = Matterctl({"status", mnt_, "--control-socket", control_}, &frank_);
  ASSERT_EQ(st.status, 0) << ::testing::PrintToString(st);
  EXPECT_EQ(st.out.find("matter:"), std::string::npos) << st.out;
  CmdResult est = Matterctl({"status", mnt_, "--control-socket", control_}, &carol_);
  EXPECT_EQ(est.out.find("acme"), std::string::npos) << est.out;
  EXPECT_NE(est.out.find("globex"), std::string::npos) << est.out;

  const size_t mark = receiver_->Mark();
  Sys s = StatAs(frank_, M("acme"));
  EXPECT_EQ(s.rc, -1);
  EXPECT_EQ(s.err, ENOENT) << ::testing::PrintToString(s);
  auto e =
      ExpectEvent({.event = "lookup", .result = "deny", .user = kFrank, .matter = "acme"}, mark);
  if (e) {
    EXPECT_EQ(e->Field("uid"), std::to_string(frank_.uid));
  }
  Sys o = OpenAs(frank_, M("acme/brief.txt"), O_RDONLY);
  EXPECT_EQ(o.err, ENOENT) << ::testing::PrintToString(o);
  Sys c = OpenAs(frank_, M("globex/new.txt"), O_WRONLY | O_CREAT);
  EXPECT_EQ(c.err, ENOENT) << ::testing::PrintToString(c);
}

// AUDIT.md: the rule field is "the text of the policy rule that decided"; a hidden
// lookup is a decision (default deny, or a wall) like any other.
TEST_F(PolicyMountTest, HiddenLookupEventNamesTheRule) {
  const size_t mark = receiver_->Mark();
  EXPECT_EQ(StatAs(frank_, M("acme")).err, ENOENT);
  ExpectEvent({.event = "lookup",
               .result = "deny",
               .user = kFrank,
               .matter = "acme",
               .rule_has = "default deny"},
              mark);
  EXPECT_EQ(StatAs(carol_, M("acme")).err, ENOENT);
  ExpectEvent({.event = "lookup",
               .result = "deny",
               .user = kCarol,
               .matter = "acme",
               .rule_has = "ethical wall"},
              mark);
}

TEST_F(PolicyMountTest, ExpiredGrantIsIgnoredWhenHidden) {
  EXPECT_EQ(ListAs(gina_, mnt_).data, "");
  Sys s = StatAs(gina_, M("acme"));
  EXPECT_EQ(s.err, ENOENT) << ::testing::PrintToString(s);
}

TEST_F(ListedPolicyTest, ExpiredGrantIsIgnored) {
  const size_t mark = receiver_->Mark();
  Sys o = OpenAs(gina_, M("acme/brief.txt"), O_RDONLY);
  EXPECT_EQ(o.rc, -1);
  EXPECT_EQ(o.err, EACCES) << ::testing::PrintToString(o);
  ExpectEvent({.event = "lookup",
               .result = "deny",
               .user = kGina,
               .matter = "acme",
               .rule_has = "matter acme: read mfs-t-gina (until 2020-06-30) has expired"},
              mark);
}

// ---- ethical walls ---------------------------------------------------------------

TEST_F(ListedPolicyTest, WallBeatsARoleGrantAndAdmin) {
  // carol is in `associates` (read acme) and named in acme's admin, and walled off acme.
  const size_t mark = receiver_->Mark();
  Sys r = OpenAs(carol_, M("acme/brief.txt"), O_RDONLY);
  EXPECT_EQ(r.rc, -1);
  EXPECT_EQ(r.err, EACCES) << ::testing::PrintToString(r);
  ExpectEvent({.event = "lookup",
               .result = "deny",
               .user = kCarol,
               .matter = "acme",
               .rule_has = "matter acme: deny mfs-t-carol (ethical wall)",
               .access = "read"},
              mark);
  Sys w = OpenAs(carol_, M("acme/brief.txt"), O_WRONLY);
  EXPECT_EQ(w.err, EACCES) << ::testing::PrintToString(w);
  Sys c = OpenAs(carol_, M("acme/carol.txt"), O_WRONLY | O_CREAT | O_EXCL);
  EXPECT_EQ(c.err, EACCES) << ::testing::PrintToString(c);
  Sys d = ListAs(carol_, M("acme"));
  EXPECT_EQ(d.err, EACCES) << ::testing::PrintToString(d);
  ExpectEvent({.event = "lookup",
               .result = "deny",
               .user = kCarol,
               .matter = "acme",
               .rule_has = "ethical wall"},
              mark);

  // Her admin grant does not let her close the matter either.
  CmdResult close =
      Matterctl({"matter", "close", mnt_, "acme", "--control-socket", control_}, &carol_);
  EXPECT_NE(close.status, 0) << ::testing::PrintToString(close);
  ExpectEvent({.event = "matter-close",
               .result = "deny",
               .user = kCarol,
               .matter = "acme",
               .rule_has = "ethical wall"},
              mark);
  // ... so acme is still open: bob writes.
  EXPECT_EQ(WriteAs(bob_, M("acme/after-wall.txt"), "x").rc, 1);
  // Her role grants on other matters still work.
  EXPECT_EQ(ReadAs(carol_, M("globex/deal.txt")).data, "globex deal\n");
}

TEST_F(PolicyMountTest, WalledUserSeesNothingOfTheMatter) {
  Sys l = ListAs(carol_, mnt_);
  ASSERT_GE(l.rc, 0) << ::testing::PrintToString(l);
  EXPECT_EQ(l.data, "globex\ninitech\n");
  const size_t mark = receiver_->Mark();
  Sys s = StatAs(carol_, M("acme"));
  EXPECT_EQ(s.err, ENOENT) << ::testing::PrintToString(s);
  ExpectEvent({.event = "lookup", .result = "deny", .user = kCarol, .matter = "acme"}, mark);
  EXPECT_EQ(OpenAs(carol_, M("acme/brief.txt"), O_RDONLY).err, ENOENT);
}

// ---- root ------------------------------------------------------------------------

TEST_F(PolicyMountTest, RootWithoutAGrantSeesNothing) {
  Sys l = ListAs(root_, mnt_);
  ASSERT_GE(l.rc, 0) << ::testing::PrintToString(l);
  EXPECT_EQ(l.data, "") << "root has no grant, so no matter is listed";
  const size_t mark = receiver_->Mark();
  Sys s = StatAs(root_, M("acme"));
  EXPECT_EQ(s.err, ENOENT) << ::testing::PrintToString(s);
  ExpectEvent({.event = "lookup", .result = "deny", .user = "root", .matter = "acme"}, mark);
  EXPECT_EQ(OpenAs(root_, M("acme/brief.txt"), O_RDONLY).err, ENOENT);
  EXPECT_EQ(OpenAs(root_, M("globex/x.txt"), O_WRONLY | O_CREAT).err, ENOENT);
  Sys m = MkdirAs(root_, M("root-matter"));
  EXPECT_EQ(m.err, EACCES) << ::testing::PrintToString(m);
  ExpectEvent({.event = "matter-create",
               .result = "deny",
               .user = "root",
               .rule_has = "not in [policy] create_matters"},
              mark);
}

TEST_F(ListedPolicyTest, RootWithoutAGrantOpensNothing) {
  const size_t mark = receiver_->Mark();
  Sys o = OpenAs(root_, M("acme/brief.txt"), O_RDONLY);
  EXPECT_EQ(o.err, EACCES) << ::testing::PrintToString(o);
  ExpectEvent({.event = "lookup",
               .result = "deny",
               .user = "root",
               .matter = "acme",
               .rule_has = "default deny"},
              mark);
  EXPECT_EQ(ListAs(root_, M("globex")).err, EACCES);
  EXPECT_EQ(OpenAs(root_, M("initech/notes.txt"), O_WRONLY).err, EACCES);
}

// ---- one user's lookup never serves another --------------------------------------

TEST_F(PolicyMountTest, OneUsersLookupNeverServesAnother) {
  for (int i = 0; i < 10; ++i) {
    SCOPED_TRACE("round " + std::to_string(i));
    ASSERT_EQ(StatAs(alice_, M("acme")).rc, 0);
    Sys s = StatAs(frank_, M("acme"));
    EXPECT_EQ(s.err, ENOENT) << ::testing::PrintToString(s);
    ASSERT_EQ(StatAs(alice_, M("acme/brief.txt")).rc, 0);
    Sys f = StatAs(frank_, M("acme/brief.txt"));
    EXPECT_EQ(f.err, ENOENT) << ::testing::PrintToString(f);
    ASSERT_EQ(ListAs(alice_, M("acme")).rc, 2);
    Sys d = ListAs(frank_, M("acme"));
    EXPECT_EQ(d.err, ENOENT) << ::testing::PrintToString(d);
    ASSERT_EQ(ReadAs(alice_, M("acme/docs/memo.txt")).data, "acme memo\n");
    Sys r = ReadAs(carol_, M("acme/docs/memo.txt"));
    EXPECT_EQ(r.err, ENOENT) << ::testing::PrintToString(r);
  }
}

// While one user works inside a matter (cwd, an open directory and an open file there),
// another still cannot reach it by name.
TEST_F(PolicyMountTest, AnotherUsersOpenMatterDoesNotLetYouIn) {
  int ready[2];
  int release[2];
  ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(release, O_CLOEXEC), 0);
  const std::string dir = M("acme");
  const std::string file = M("acme/brief.txt");
  const std::vector<gid_t> groups = bob_.groups;
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(ready[0]);
    ::close(release[1]);
    if (::setgroups(groups.size(), groups.data()) != 0 ||
        ::setresgid(bob_.gid, bob_.gid, bob_.gid) != 0 ||
        ::setresuid(bob_.uid, bob_.uid, bob_.uid) != 0) {
      ::_exit(2);
    }
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    const int ffd = ::open(file.c_str(), O_RDONLY);
    const char ok = (dfd >= 0 && ffd >= 0 && ::chdir(dir.c_str()) == 0) ? 'y' : 'n';
    (void)!::write(ready[1], &ok, 1);
    char c;
    (void)!::read(release[0], &c, 1);
    ::_exit(0);
  }
  ::close(ready[1]);
  ::close(release[0]);
  char ok = 0;
  ASSERT_EQ(::read(ready[0], &ok, 1), 1);
  ::close(ready[0]);
  EXPECT_EQ(ok, 'y') << "bob could not open acme and acme/brief.txt";
  EXPECT_EQ(StatAs(frank_, dir).err, ENOENT);
  EXPECT_EQ(StatAs(frank_, file).err, ENOENT);
  EXPECT_EQ(ReadAs(frank_, file).err, ENOENT);
  EXPECT_EQ(ListAs(carol_, dir).err, ENOENT);
  ::close(release[1]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

// ---- creating matters ------------------------------------------------------------

TEST_F(PolicyMountTest, MkdirAtTheRootCreatesAMatterForCreateMatters) {
  size_t mark = receiver_->Mark();
  Sys m = MkdirAs(alice_, M("newco"));
  ASSERT_EQ(m.rc, 0) << ::testing::PrintToString(m);
  ExpectEvent({.event = "matter-create",
               .result = "allow",
               .user = kAlice,
               .matter = "newco",
               .rule_has = "[policy] create_matters partners (role, via @mfs-t-litp)"},
              mark);
  // A real matter with its own keys: in the vault, and usable by those [matter *] admits.
  CmdResult list = Matterctl({"matter", "list", vault_, "--passphrase-file", pass_});
  ASSERT_EQ(list.status, 0) << ::testing::PrintToString(list);
  EXPECT_NE(list.out.find("newco"), std::string::npos) << list.out;
  EXPECT_EQ(StatAs(alice_, M("newco")).rc, 0);
  EXPECT_EQ(WriteAs(clerk_, M("newco/first.txt"), "first\n").rc, 6);
  EXPECT_EQ(ReadAs(alice_, M("newco/first.txt")).data, "first\n");
  // Creating gives no access of one's own: bob is not admitted.
  EXPECT_EQ(StatAs(bob_, M("newco")).err, ENOENT);

  // Refused to others by the policy, with its event.
  mark = receiver_->Mark();
  EXPECT_EQ(MkdirAs(frank_, M("frankco")).err, EACCES);
  ExpectEvent({.event = "matter-create",
               .result = "deny",
               .user = kFrank,
               .matter = "frankco",
               .rule_has = "default deny: not in [policy] create_matters"},
              mark);
}

TEST_F(PolicyMountTest, MkdirAtTheRootByOthersIsRefused) {
  Sys f = MkdirAs(frank_, M("frankco"));
  EXPECT_EQ(f.rc, -1);
  EXPECT_EQ(f.err, EACCES) << ::testing::PrintToString(f);
  Sys b = MkdirAs(bob_, M("bobco"));
  EXPECT_EQ(b.err, EACCES) << ::testing::PrintToString(b);
  CmdResult list = Matterctl({"matter", "list", vault_, "--passphrase-file", pass_});
  ASSERT_EQ(list.status, 0) << ::testing::PrintToString(list);
  EXPECT_EQ(list.out.find("frankco"), std::string::npos) << list.out;
  EXPECT_EQ(list.out.find("bobco"), std::string::npos) << list.out;
  EXPECT_EQ(StatAs(alice_, M("frankco")).err, ENOENT);
}

// Root is a user like any other: named in create_matters, it creates matters (the
// kernel lets root past the root directory's mode bits, so the daemon decides) and gets
// no access to them by creating them.
class RootCreatesMattersTest : public PolicyMountTest {
 protected:
  std::string Policy() const override {
    return StandardPolicy({.create_matters = "partners, root"});
  }
};

TEST_F(RootCreatesMattersTest, MkdirAtTheRootCreatesAMatter) {
  const size_t mark = receiver_->Mark();
  // (mkdir's own return value: see MkdirOfAMatterItsCreatorMayNotReadSucceeds.)
  (void)MkdirAs(root_, M("rootco"));
  ExpectEvent({.event = "matter-create",
               .result = "allow",
               .user = "root",
               .matter = "rootco",
               .rule_has = "[policy] create_matters root (user)"},
              mark);
  CmdResult list = Matterctl({"matter", "list", vault_, "--passphrase-file", pass_});
  ASSERT_EQ(list.status, 0) << ::testing::PrintToString(list);
  EXPECT_NE(list.out.find("rootco"), std::string::npos) << list.out;
  // A matter with its own keys, usable by those the policy admits ([matter *]) ...
  EXPECT_EQ(WriteAs(clerk_, M("rootco/first.txt"), "first\n").rc, 6);
  EXPECT_EQ(ReadAs(alice_, M("rootco/first.txt")).data, "first\n");
  EXPECT_EQ(ListAs(alice_, mnt_).data, "acme\nglobex\ninitech\nrootco\n");
  // ... and not by its creator, nor by anyone else.
  EXPECT_EQ(StatAs(root_, M("rootco")).err, ENOENT);
  EXPECT_EQ(ListAs(root_, mnt_).data, "");
  EXPECT_EQ(StatAs(bob_, M("rootco")).err, ENOENT);
}

// mkdir(2) reports what happened: the matter was created, so the call succeeds, even
// though the policy gives the creator no access to it.
TEST_F(RootCreatesMattersTest, MkdirOfAMatterItsCreatorMayNotReadSucceeds) {
  Sys m = MkdirAs(root_, M("rootco"));
  EXPECT_EQ(m.rc, 0) << ::testing::PrintToString(m);
  CmdResult list = Matterctl({"matter", "list", vault_, "--passphrase-file", pass_});
  EXPECT_NE(list.out.find("rootco"), std::string::npos) << list.out;
}

// A file created in a matter gets the mode the caller asked for, less the caller's umask
// (the kernel applies it), as on a local disk: on a shared mount a group-writable file
// must stay group-writable.
TEST_F(PolicyMountTest, CreatedFilesKeepTheRequestedMode) {
  Sys s = AsUser(bob_, [&] {
    Sys out;
    const int fd = ::open(M("acme/shared.txt").c_str(), O_WRONLY | O_CREAT | O_EXCL, 0666);
    if (fd < 0) {
      out.err = errno;
      return out;
    }
    ::close(fd);
    struct stat st;
    out.rc = ::stat(M("acme/shared.txt").c_str(), &st);
    out.data = Octal(st.st_mode & 07777);
    return out;
  });
  ASSERT_EQ(s.rc, 0) << ::testing::PrintToString(s);
  EXPECT_EQ(s.data, "0666") << "mode of a file created 0666 with umask 0";
  Sys d = AsUser(bob_, [&] {
    Sys out;
    out.rc = ::mkdir(M("acme/shared-dir").c_str(), 0770);
    struct stat st;
    if (out.rc == 0) out.rc = ::stat(M("acme/shared-dir").c_str(), &st);
    out.err = out.rc < 0 ? errno : 0;
    out.data = Octal(st.st_mode & 07777);
    return out;
  });
  ASSERT_EQ(d.rc, 0) << ::testing::PrintToString(d);
  EXPECT_EQ(d.data, "0770") << "mode of a directory made 0770 with umask 0";
}

}  // namespace
}  // namespace matterfs::policy_mount_test
