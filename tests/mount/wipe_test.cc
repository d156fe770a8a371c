// The wipe of a closed matter through the real daemon and matterctl (issue 10, "How it
// is checked"): online while a user holds a file of it open (the handle fails, the
// matter is gone from the listing, other matters keep working), refused for a user
// without the wipe grant (real uids, nothing changed), killed with SIGKILL at every
// point offline and completed by a rerun, and the undelete: the matter's ciphertext and
// keyring put back after the wipe open neither with matterctl cat nor through the mount.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "tests/mount/mount_fixture.h"
#include "util/unique_fd.h"

namespace matterfs::mount_test {
namespace {

namespace fsys = std::filesystem;

// Marker strings: searched for in every byte and name of the vault after a wipe.
constexpr char kWiped[] = "zq-wipe-mount-marker";
constexpr char kOther[] = "beta";
constexpr char kContent[] = "QXJ-MOUNT-CONTENT-MARKER-5519";

// Every entry below `root`, sorted, with its mode, size and bytes: equal dumps mean
// nothing in the tree changed.
std::string DumpTree(const std::string& root) {
  std::vector<std::string> lines;
  for (const std::string& p : WalkTree(root)) {
    struct stat st;
    if (::lstat(p.c_str(), &st) != 0) continue;
    std::string line = p.substr(root.size()) + " " + std::to_string(st.st_mode);
    if (S_ISREG(st.st_mode)) line += " " + ReadFile(p).value_or("?");
    lines.push_back(line);
  }
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

class WipeMountTest : public MountTest {
 protected:
  std::vector<std::string> Matters() const override { return {kWiped, kOther}; }

  std::string W(const std::string& rel = "") const {
    return mnt_ + "/" + kWiped + (rel.empty() ? "" : "/" + rel);
  }
  std::string O(const std::string& rel) const { return mnt_ + "/" + kOther + "/" + rel; }

  // Files of several shapes in matter `name` (all with the content marker), and one in
  // kOther.
  void MakeFiles(const std::string& name) {
    const std::string m = mnt_ + "/" + name;
    ASSERT_EQ(::mkdir((m + "/pleadings").c_str(), 0755), 0);
    ASSERT_EQ(::mkdir((m + "/pleadings/" + std::string(200, 'd')).c_str(), 0755), 0);
    ASSERT_TRUE(WriteFile(m + "/brief.txt", std::string("brief ") + kContent));
    ASSERT_TRUE(WriteFile(m + "/pleadings/big", kContent + Pattern((1 << 20) + 17, 7)));
    ASSERT_TRUE(WriteFile(m + "/pleadings/" + std::string(200, 'd') + "/" + std::string(230, 'n'),
                          kContent));
    ASSERT_TRUE(WriteFile(m + "/empty", ""));
    {
      UniqueFd fd(::open((m + "/sparse").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
      ASSERT_TRUE(fd.valid());
      ASSERT_EQ(::ftruncate(fd.get(), 8 << 20), 0);
      ASSERT_TRUE(PwriteAll(fd.get(), kContent, 5 << 20));
    }
    ASSERT_EQ(::link((m + "/brief.txt").c_str(), (m + "/pleadings/brief-link").c_str()), 0);
    ASSERT_EQ(::symlink("brief.txt", (m + "/link").c_str()), 0);
    ASSERT_TRUE(WriteFile(O("keep.txt"), "other matter's file"));
  }

  // matterctl wipe, online (through the mount) or offline (on the vault).
  CmdResult Wipe(const std::string& target, const std::string& name,
                 std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"wipe", target, name, "--confirm", name};
    if (target == vault_) {
      args.insert(args.end(), {"--passphrase-file", pass_, "--syslog-socket", SyslogSocket()});
    }
    args.insert(args.end(), extra.begin(), extra.end());
    return Matterctl(args);
  }

  // The matter `name` is gone and kOther reads, through the mount and offline.
  void ExpectGone(const std::string& name, const std::string& context) {
    auto listing = ListDir(mnt_);
    ASSERT_TRUE(listing.has_value()) << context;
    EXPECT_EQ(std::count(listing->begin(), listing->end(), name), 0) << context;
    struct stat st;
    const int rc = ::stat((mnt_ + "/" + name).c_str(), &st);
    const int err = errno;
    EXPECT_NE(rc, 0) << context;
    EXPECT_EQ(err, ENOENT) << context;
    EXPECT_EQ(ReadFile(O("keep.txt")).value_or("?"), "other matter's file") << context;
    CmdResult cat = Matterctl({"cat", vault_, name + "/brief.txt", "--passphrase-file", pass_});
    EXPECT_NE(cat.status, 0) << context;
  }

  // The certificate at `path` verifies against the vault; returns its text.
  std::string ExpectValidCertificate(const std::string& path, const std::string& name) {
    CmdResult v = Matterctl({"certificate", "verify", vault_, path});
    EXPECT_EQ(v.status, 0) << ::testing::PrintToString(v);
    EXPECT_NE(v.out.find("valid: matter " + name + " of vault "), std::string::npos) << v.out;
    return ReadFile(path).value_or("");
  }

  // The id of matter `name` (offline: the vault must not be mounted).
  std::string IdOf(const std::string& name) {
    CmdResult list = Matterctl({"matter", "list", vault_, "--passphrase-file", pass_});
    EXPECT_EQ(list.status, 0) << ::testing::PrintToString(list);
    std::istringstream in(list.out);
    std::string matter, status, id;
    while (std::getline(in, matter, '\t') && std::getline(in, status, '\t') &&
           std::getline(in, id, '\t')) {
      std::string rest;
      std::getline(in, rest);
      if (matter == name) return id;
    }
    ADD_FAILURE() << "no matter " << name << " in " << list.out;
    return "";
  }
  // The entry in d/ of the matter with this id (its .matter starts with the id).
  std::string EntryOf(const std::string& id_hex) {
    for (const std::string& e : ListDir(vault_ + "/d").value_or(std::vector<std::string>{})) {
      auto binding = ReadFile(vault_ + "/d/" + e + "/.matter");
      if (!binding || binding->size() < 16) continue;
      std::string hex;
      for (size_t i = 0; i < 16; ++i) {
        char b[3];
        std::snprintf(b, sizeof b, "%02x", static_cast<unsigned char>((*binding)[i]));
        hex += b;
      }
      if (hex == id_hex) return e;
    }
    ADD_FAILURE() << "no directory of matter " << id_hex;
    return "";
  }
};

TEST_F(WipeMountTest, OnlineWipeWhileAFileIsHeldOpen) {
  ASSERT_NO_FATAL_FAILURE(MakeFiles(kWiped));
  UniqueFd held(::open(W("pleadings/big").c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(held.valid());
  char buf[64];
  ASSERT_EQ(::pread(held.get(), buf, sizeof buf, 0), static_cast<ssize_t>(sizeof buf));
  UniqueFd other(::open(O("keep.txt").c_str(), O_RDWR | O_CLOEXEC));
  ASSERT_TRUE(other.valid());

  // Refusals first, each changing nothing: open, wrong confirmation, unknown matter.
  const std::string before = DumpTree(vault_);
  CmdResult open = Wipe(mnt_, kWiped);
  EXPECT_EQ(open.status, 2) << ::testing::PrintToString(open);
  EXPECT_NE(open.err.find("is open: only a closed matter can be wiped"), std::string::npos)
      << open.err;
  CmdResult wrong = Matterctl({"wipe", mnt_, kWiped, "--confirm", "zq-wipe"});
  EXPECT_EQ(wrong.status, 2) << ::testing::PrintToString(wrong);
  CmdResult unknown = Wipe(mnt_, "no-such-matter");
  EXPECT_EQ(unknown.status, 5) << ::testing::PrintToString(unknown);
  EXPECT_EQ(DumpTree(vault_), before);
  ASSERT_EQ(Matterctl({"matter", "hold", mnt_, kWiped}).status, 0);
  const std::string held_before = DumpTree(vault_);
  CmdResult on_hold = Wipe(mnt_, kWiped);
  EXPECT_EQ(on_hold.status, 2) << ::testing::PrintToString(on_hold);
  EXPECT_NE(on_hold.err.find("is under legal hold: a held matter cannot be wiped"),
            std::string::npos)
      << on_hold.err;
  EXPECT_EQ(DumpTree(vault_), held_before);
  ASSERT_EQ(Matterctl({"matter", "release", mnt_, kWiped}).status, 0);
  EXPECT_EQ(::pread(held.get(), buf, sizeof buf, 0), static_cast<ssize_t>(sizeof buf));

  const size_t mark = receiver_->Mark();
  ASSERT_EQ(Matterctl({"matter", "close", mnt_, kWiped}).status, 0);
  const std::string cert = dir_ + "/wiped.json";
  CmdResult wiped = Wipe(mnt_, kWiped, {"--certificate", cert});
  ASSERT_EQ(wiped.status, 0) << ::testing::PrintToString(wiped);
  EXPECT_NE(wiped.out.find(std::string("matter ") + kWiped + " wiped: 5 files ("),
            std::string::npos)
      << wiped.out;
  EXPECT_EQ(wiped.err, "") << "no legacy note for a matter in the key table";

  // The handle fails; the matter is gone from the listing; the other matter works, also
  // through the fd it held all along.
  errno = 0;
  EXPECT_EQ(::pread(held.get(), buf, sizeof buf, 0), -1);
  EXPECT_EQ(errno, EIO);
  held.reset();
  ASSERT_NO_FATAL_FAILURE(ExpectGone(kWiped, "online"));
  EXPECT_TRUE(PwriteAll(other.get(), "still writable", 0));
  other.reset();
  EXPECT_TRUE(WriteFile(O("new.txt"), "new"));
  const std::string text = ExpectValidCertificate(cert, kWiped);
  EXPECT_NE(text.find("\"files\": 5,"), std::string::npos) << text;
  EXPECT_NE(text.find("\"operator_name\": \"root\""), std::string::npos) << text;
  EventQuery started;
  started.event = "matter-wipe";
  started.result = "ok";
  started.matter = kWiped;
  ExpectEvent(started, mark);
  auto end = receiver_->WaitMatching(
      [](const AuditMsg& m) {
        return m.msgid == "matter-wipe" && m.raw.find("wipe finished") != std::string::npos;
      },
      mark, std::chrono::seconds(10));
  EXPECT_TRUE(end.has_value()) << "no matter-wipe event at the end";

  // A new matter of the same name is a new matter; the old one does not come back.
  ASSERT_EQ(::mkdir(W().c_str(), 0755), 0);
  EXPECT_EQ(ListDir(W()).value_or(std::vector<std::string>{"?"}), std::vector<std::string>{});
  ASSERT_NO_FATAL_FAILURE(Unmount());
  EXPECT_EQ(FindInVault({kContent}), std::vector<std::string>{});
  EXPECT_TRUE(std::none_of(fsys::directory_iterator(vault_ + "/keys"), fsys::directory_iterator(),
                           [](const auto& e) { return e.path().extension() == ".wipe"; }))
      << "the journal is removed once the certificate is stored";
}

TEST_F(WipeMountTest, OfflineWipeKilledAtEveryPointIsCompletedByARerun) {
  const std::vector<std::string> points = {
      "after-journal", "after-aside",  "after-keys",         "mid-overwrite",    "after-overwrite",
      "mid-unlink",    "after-unlink", "before-certificate", "after-certificate"};
  std::vector<std::string> names;
  for (size_t i = 0; i < points.size(); ++i) {
    names.push_back(std::string(kWiped) + "-" + std::to_string(i));
    ASSERT_EQ(::mkdir((mnt_ + "/" + names.back()).c_str(), 0755), 0);
    ASSERT_NO_FATAL_FAILURE(MakeFiles(names.back()));
    ASSERT_EQ(Matterctl({"matter", "close", mnt_, names.back()}).status, 0);
  }
  ASSERT_NO_FATAL_FAILURE(Unmount());
  for (size_t i = 0; i < points.size(); ++i) {
    SCOPED_TRACE(points[i]);
    const std::string cert = dir_ + "/" + names[i] + ".json";
    ::setenv("MATTERFS_FAULT_INJECT_WIPE_KILL_AT", points[i].c_str(), 1);
    CmdResult killed = Wipe(vault_, names[i], {"--certificate", cert});
    ::unsetenv("MATTERFS_FAULT_INJECT_WIPE_KILL_AT");
    ASSERT_EQ(killed.status, 128 + SIGKILL) << ::testing::PrintToString(killed);
    CmdResult rerun = Wipe(vault_, names[i], {"--certificate", cert});
    ASSERT_EQ(rerun.status, 0) << ::testing::PrintToString(rerun);
    const bool finished = points[i] == "before-certificate" || points[i] == "after-certificate";
    EXPECT_NE(rerun.out.find(finished ? "(finished by an earlier run; certificate issued from its "
                                        "journal)"
                                      : "(an unfinished wipe, completed)"),
              std::string::npos)
        << rerun.out;
    const std::string text = ExpectValidCertificate(cert, names[i]);
    EXPECT_NE(text.find("\"files\": 5,"), std::string::npos) << text;
  }
  ASSERT_NO_FATAL_FAILURE(Mount());
  for (const auto& name : names) ASSERT_NO_FATAL_FAILURE(ExpectGone(name, name));
  ASSERT_NO_FATAL_FAILURE(Unmount());
  EXPECT_EQ(FindInVault({kContent, kWiped}), std::vector<std::string>{});
}

TEST_F(WipeMountTest, AWipeKilledOfflineIsCompletedThroughTheMount) {
  ASSERT_NO_FATAL_FAILURE(MakeFiles(kWiped));
  ASSERT_EQ(Matterctl({"matter", "close", mnt_, kWiped}).status, 0);
  ASSERT_NO_FATAL_FAILURE(Unmount());
  ::setenv("MATTERFS_FAULT_INJECT_WIPE_KILL_AT", "mid-overwrite", 1);
  CmdResult killed = Wipe(vault_, kWiped);
  ::unsetenv("MATTERFS_FAULT_INJECT_WIPE_KILL_AT");
  ASSERT_EQ(killed.status, 128 + SIGKILL) << ::testing::PrintToString(killed);
  ASSERT_NO_FATAL_FAILURE(Mount());
  // Out of sight already; the daemon completes it.
  auto listing = ListDir(mnt_);
  ASSERT_TRUE(listing.has_value());
  EXPECT_EQ(std::count(listing->begin(), listing->end(), kWiped), 0);
  const std::string cert = dir_ + "/completed.json";
  CmdResult done = Wipe(mnt_, kWiped, {"--certificate", cert});
  ASSERT_EQ(done.status, 0) << ::testing::PrintToString(done);
  EXPECT_NE(done.out.find("(an unfinished wipe, completed)"), std::string::npos) << done.out;
  ExpectValidCertificate(cert, kWiped);
  ASSERT_NO_FATAL_FAILURE(ExpectGone(kWiped, "completed online"));
}

TEST_F(WipeMountTest, OfflineWipeOfAMountedVaultIsRefused) {
  ASSERT_EQ(Matterctl({"matter", "close", mnt_, kWiped}).status, 0);
  const std::string before = DumpTree(vault_);
  CmdResult r = Wipe(vault_, kWiped);
  EXPECT_EQ(r.status, 8) << ::testing::PrintToString(r);
  EXPECT_NE(r.err.find("is mounted by a running matterfs"), std::string::npos) << r.err;
  EXPECT_EQ(DumpTree(vault_), before);
}

// The undelete: every file the wipe removes, copied away before and put back after,
// opens nothing, offline or mounted.
TEST_F(WipeMountTest, PuttingBackTheMattersFilesAndKeyringOpensNothing) {
  ASSERT_NO_FATAL_FAILURE(MakeFiles(kWiped));
  ASSERT_EQ(Matterctl({"matter", "close", mnt_, kWiped}).status, 0);
  ASSERT_NO_FATAL_FAILURE(Unmount());
  const std::string id = IdOf(kWiped);
  const std::string entry = EntryOf(id);
  ASSERT_FALSE(entry.empty());
  const std::string saved = dir_ + "/saved";
  const auto copy = fsys::copy_options::recursive | fsys::copy_options::copy_symlinks;
  fsys::create_directories(saved);
  fsys::copy(vault_ + "/d/" + entry, saved + "/" + entry, copy);
  fsys::copy(vault_ + "/keys/" + id + ".keyring", saved + "/" + id + ".keyring");
  {
    CmdResult cat =
        Matterctl({"cat", vault_, std::string(kWiped) + "/brief.txt", "--passphrase-file", pass_});
    ASSERT_EQ(cat.status, 0) << cat.err;
    ASSERT_EQ(cat.out, std::string("brief ") + kContent);
  }
  CmdResult wiped = Wipe(vault_, kWiped, {"--certificate", dir_ + "/c.json"});
  ASSERT_EQ(wiped.status, 0) << ::testing::PrintToString(wiped);

  fsys::copy(saved + "/" + entry, vault_ + "/d/" + entry, copy);
  fsys::copy(saved + "/" + id + ".keyring", vault_ + "/keys/" + id + ".keyring");
  for (const char* rel : {"brief.txt", "pleadings/big", "sparse"}) {
    CmdResult cat =
        Matterctl({"cat", vault_, std::string(kWiped) + "/" + rel, "--passphrase-file", pass_});
    EXPECT_NE(cat.status, 0) << rel << ": " << ::testing::PrintToString(cat);
    EXPECT_EQ(cat.out.find(kContent), std::string::npos) << rel;
  }
  ASSERT_NO_FATAL_FAILURE(Mount());
  auto listing = ListDir(mnt_);
  ASSERT_TRUE(listing.has_value());
  EXPECT_EQ(std::count(listing->begin(), listing->end(), kWiped), 0);
  EXPECT_FALSE(ReadFile(W("brief.txt")).has_value());
  EXPECT_FALSE(ReadFile(W("pleadings/big")).has_value());
  EXPECT_EQ(ReadFile(O("keep.txt")).value_or("?"), "other matter's file");
}

// A user without the wipe grant (real uids): refused before the matter is looked up,
// the same answer for a matter that does not exist, audited, nothing changed; a user
// with it wipes.
class WipeGrantTest : public WipeMountTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(EnsureUsers({{"mfs-t-alice", {"mfs-t-litp"}}, {"mfs-t-frank", {}}}));
    alice_ = User("mfs-t-alice");
    frank_ = User("mfs-t-frank");
    ASSERT_NO_FATAL_FAILURE(WipeMountTest::SetUp());
  }
  std::string Policy() const override {
    return "[policy]\ncreate_matters = root\nbulk_threshold = off\n"
           "[matter *]\nread = mfs-t-frank\nwrite = root, mfs-t-frank\n"
           "admin = root, mfs-t-alice\n";
  }
  std::string MountOptions() const override { return "allow_other"; }
  bool WithControlSocket() const override { return true; }
  CmdResult WipeAs(const TestUser& user, const std::string& name) {
    return Matterctl({"wipe", mnt_, name, "--confirm", name, "--control-socket", control_}, &user);
  }
  TestUser alice_, frank_;
};

TEST_F(WipeGrantTest, AUserWithoutTheWipeGrantIsRefusedAndNothingChanges) {
  ASSERT_TRUE(WriteFile(W("brief.txt"), kContent, 0666));
  ASSERT_EQ(Matterctl({"matter", "close", mnt_, kWiped, "--control-socket", control_}).status, 0);
  const std::string before = DumpTree(vault_);
  const size_t mark = receiver_->Mark();
  CmdResult refused = WipeAs(frank_, kWiped);
  EXPECT_EQ(refused.status, 10) << ::testing::PrintToString(refused);
  EXPECT_NE(refused.err.find(std::string("the policy does not let you wipe a matter named '") +
                             kWiped + "'"),
            std::string::npos)
      << refused.err;
  CmdResult unknown = WipeAs(frank_, "no-such-matter");
  EXPECT_EQ(unknown.status, 10) << "the same answer whether the matter exists or not";
  EventQuery denied;
  denied.event = "matter-wipe";
  denied.result = "deny";
  denied.user = "mfs-t-frank";
  denied.matter = kWiped;
  ExpectEvent(denied, mark);
  EXPECT_EQ(DumpTree(vault_), before);
  Sys read = ReadAs(frank_, W("brief.txt"));
  EXPECT_EQ(read.data, kContent) << ::testing::PrintToString(read);

  CmdResult ok = WipeAs(alice_, kWiped);
  ASSERT_EQ(ok.status, 0) << ::testing::PrintToString(ok);
  EXPECT_NE(ok.out.find("\"operator_name\": \"mfs-t-alice\""), std::string::npos) << ok.out;
  EXPECT_NE(ok.err.find(std::string("matter ") + kWiped + " wiped: 1 file ("), std::string::npos)
      << ok.err;
  const std::string cert = dir_ + "/alice.json";
  ASSERT_TRUE(WriteFile(cert, ok.out));
  ExpectValidCertificate(cert, kWiped);
  EXPECT_NE(StatAs(frank_, W()).rc, 0);
}

}  // namespace
}  // namespace matterfs::mount_test
