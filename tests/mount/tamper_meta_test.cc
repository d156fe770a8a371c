// Tampering with the vault's metadata (issue 12 item 3): every directory IV, long-name side
// file, matter name, .matter binding or keyring that fails its checks answers EIO (or is
// left out of a listing) and raises a tamper event naming the matter and the directory;
// a keyring put back from before its last update (a lifted hold) is refused by matterctl
// and by the daemon (docs/FORMAT.md §9.6 "Keyring state", §17).
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "tests/mount/mount_fixture.h"

namespace matterfs::mount_test {
namespace {

class TamperMetaTest : public MountTest {
 protected:
  // The backing directory of matter alpha (the vault's only matter).
  std::string AlphaEntry() const {
    for (const std::string& e : ListDir(vault_ + "/d").value_or(std::vector<std::string>{})) {
      if (e[0] != '.' || (e.size() == 45 && e.rfind(".L", 0) == 0)) return e;
    }
    return "";
  }
  std::string AlphaDir() const { return vault_ + "/d/" + AlphaEntry(); }
  // The one backing subdirectory of alpha (the tests make exactly one).
  std::string SubDir() const {
    for (const std::string& e : ListDir(AlphaDir()).value_or(std::vector<std::string>{})) {
      if (e[0] != '.') return AlphaDir() + "/" + e;
    }
    return "";
  }
  // The long entries (".L<43>", without ".n") of a backing directory, sorted.
  static std::vector<std::string> LongEntries(const std::string& dir) {
    std::vector<std::string> out;
    for (const std::string& e : ListDir(dir).value_or(std::vector<std::string>{})) {
      if (e.size() == 45 && e.rfind(".L", 0) == 0) out.push_back(e);
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  static int StatErrno(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 ? 0 : errno;
  }
  std::string KeyringPath() const {
    for (const std::string& e : ListDir(vault_ + "/keys").value_or(std::vector<std::string>{})) {
      if (e.size() > 8 && e.substr(e.size() - 8) == ".keyring") return vault_ + "/keys/" + e;
    }
    return "";
  }
  // Waits up to 5 s for a message received after the first `mark` that contains `needle`.
  bool WaitForNewSyslog(size_t mark, const std::string& needle) {
    for (int i = 0; i < 50; ++i) {
      const std::vector<std::string> all = SyslogMessages();
      for (size_t k = mark; k < all.size(); ++k) {
        if (all[k].find(needle) != std::string::npos) return true;
      }
      ::usleep(100 * 1000);
    }
    return false;
  }
  CmdResult Ctl(const std::string& verb) {
    return Matterctl({"matter", verb, vault_, "alpha", "--passphrase-file", pass_});
  }
};

TEST_F(TamperMetaTest, SwappedLongNameSideFilesFailLookupAndListingWithEvents) {
  const std::string a(200, 'a'), b(200, 'b');
  ASSERT_EQ(::mkdir(M("long").c_str(), 0755), 0);
  ASSERT_TRUE(WriteFile(M("long/" + a), "A"));
  ASSERT_TRUE(WriteFile(M("long/" + b), "B"));
  ASSERT_NO_FATAL_FAILURE(Unmount());
  const std::string dir = SubDir();
  const std::vector<std::string> longs = LongEntries(dir);
  ASSERT_EQ(2u, longs.size());
  // Exchange the two side files: each holds a valid name, of the other entry.
  const std::string n0 = dir + "/" + longs[0] + ".n", n1 = dir + "/" + longs[1] + ".n";
  const std::string tmp = dir + "/swap";
  ASSERT_EQ(::rename(n0.c_str(), tmp.c_str()), 0);
  ASSERT_EQ(::rename(n1.c_str(), n0.c_str()), 0);
  ASSERT_EQ(::rename(tmp.c_str(), n1.c_str()), 0);
  ASSERT_NO_FATAL_FAILURE(Mount());
  const size_t mark = SyslogMessages().size();
  EXPECT_EQ(EIO, StatErrno(M("long/" + a)));
  EXPECT_EQ(std::nullopt, ReadFile(M("long/" + b)));
  EXPECT_TRUE(WaitForSyslog(
      {"tamper", "matter=\"alpha\"", "path=\"alpha/long\"", "does not match its entry"}))
      << receiver_->Tail();
  auto listing = ListDir(M("long"));
  ASSERT_TRUE(listing.has_value());
  EXPECT_TRUE(listing->empty());
  EXPECT_TRUE(WaitForSyslog({"tamper", "path=\"alpha/long\"", longs[0], "does not decode"}));
  EXPECT_TRUE(WaitForSyslog({"tamper", "path=\"alpha/long\"", longs[1], "does not decode"}));
  EXPECT_GT(SyslogMessages().size(), mark);
}

TEST_F(TamperMetaTest, ALongEntryWithoutItsSideFileIsEioWithAnEvent) {
  const std::string name(220, 'x');
  ASSERT_EQ(::mkdir(M("long").c_str(), 0755), 0);
  ASSERT_TRUE(WriteFile(M("long/" + name), "x"));
  ASSERT_TRUE(WriteFile(M("long/short.txt"), "s"));
  ASSERT_NO_FATAL_FAILURE(Unmount());
  const std::string dir = SubDir();
  const std::vector<std::string> longs = LongEntries(dir);
  ASSERT_EQ(1u, longs.size());
  ASSERT_EQ(::unlink((dir + "/" + longs[0] + ".n").c_str()), 0);
  ASSERT_NO_FATAL_FAILURE(Mount());
  EXPECT_EQ(EIO, StatErrno(M("long/" + name)));
  EXPECT_TRUE(WaitForSyslog(
      {"tamper", "matter=\"alpha\"", "path=\"alpha/long\"", longs[0], "has no side file"}))
      << receiver_->Tail();
  auto listing = ListDir(M("long"));
  ASSERT_TRUE(listing.has_value());
  EXPECT_EQ(std::vector<std::string>{"short.txt"}, *listing);
  EXPECT_TRUE(WaitForSyslog({"tamper", "path=\"alpha/long\"", longs[0], "does not decode"}));
}

TEST_F(TamperMetaTest, AMissingOrShortDirectoryIvIsEioWithAnEvent) {
  ASSERT_EQ(::mkdir(M("sub").c_str(), 0755), 0);
  ASSERT_TRUE(WriteFile(M("sub/f.txt"), "f"));
  ASSERT_NO_FATAL_FAILURE(Unmount());
  const std::string iv = SubDir() + "/.diriv";
  ASSERT_EQ(::unlink(iv.c_str()), 0);
  ASSERT_NO_FATAL_FAILURE(Mount());
  EXPECT_EQ(std::nullopt, ListDir(M("sub")));
  EXPECT_EQ(EIO, StatErrno(M("sub/f.txt")));
  EXPECT_TRUE(WaitForSyslog({"tamper", "matter=\"alpha\"", "path=\"alpha/sub\"", ".diriv"}))
      << receiver_->Tail();
  ASSERT_NO_FATAL_FAILURE(Unmount());
  ASSERT_TRUE(WriteFile(iv, std::string(15, 'X')));
  ASSERT_NO_FATAL_FAILURE(Mount());
  const size_t mark = SyslogMessages().size();
  EXPECT_EQ(std::nullopt, ListDir(M("sub")));
  EXPECT_TRUE(WaitForSyslog({"tamper", "path=\"alpha/sub\"", "wrong size"})) << receiver_->Tail();
  EXPECT_GT(SyslogMessages().size(), mark);
}

TEST_F(TamperMetaTest, AReplacedDirectoryIvRaisesAnEventAtEveryListing) {
  ASSERT_EQ(::mkdir(M("sub").c_str(), 0755), 0);
  ASSERT_TRUE(WriteFile(M("sub/f.txt"), "f"));
  ASSERT_NO_FATAL_FAILURE(Unmount());
  const std::string iv = SubDir() + "/.diriv";
  ASSERT_EQ(::unlink(iv.c_str()), 0);
  ASSERT_TRUE(WriteFile(iv, std::string(16, 'X')));  // the right size: every name fails
  ASSERT_NO_FATAL_FAILURE(Mount());
  for (int round = 0; round < 2; ++round) {
    const size_t mark = SyslogMessages().size();
    auto listing = ListDir(M("sub"));
    ASSERT_TRUE(listing.has_value());
    EXPECT_TRUE(listing->empty());
    EXPECT_TRUE(WaitForNewSyslog(mark, "does not decode"))
        << "listing " << round << " raised no event of its own";
    EXPECT_TRUE(WaitForSyslog({"tamper", "matter=\"alpha\"", "path=\"alpha/sub\""}));
  }
}

TEST_F(TamperMetaTest, ABrokenMatterBindingIsEioAtLookupAndLeftOutOfTheRootWithEvents) {
  ASSERT_NO_FATAL_FAILURE(Unmount());
  const std::string binding = AlphaDir() + "/.matter";
  auto raw = ReadFile(binding);
  ASSERT_TRUE(raw.has_value());
  (*raw)[20] = static_cast<char>((*raw)[20] ^ 1);  // in the MAC
  ASSERT_EQ(::chmod(binding.c_str(), 0644), 0);
  ASSERT_TRUE(WriteFile(binding, *raw));
  ASSERT_NO_FATAL_FAILURE(Mount());
  EXPECT_EQ(EIO, StatErrno(M()));
  EXPECT_TRUE(WaitForSyslog({"tamper", "matter=\"alpha\"", "path=\"alpha\""})) << receiver_->Tail();
  // Events arrive asynchronously: let the lookup's arrive before the listing's mark.
  ::usleep(300 * 1000);
  const size_t mark = SyslogMessages().size();
  auto root = ListDir(mnt_);
  ASSERT_TRUE(root.has_value());
  EXPECT_TRUE(root->empty());
  EXPECT_TRUE(WaitForNewSyslog(mark, "matter=\"alpha\"")) << "the listing left alpha out silently";
}

TEST_F(TamperMetaTest, AMatterNameThatDoesNotDecodeIsLeftOutWithAnEvent) {
  ASSERT_NO_FATAL_FAILURE(Unmount());
  const std::string entry = AlphaEntry();
  std::string edited = entry;
  edited[5] = edited[5] == 'A' ? 'B' : 'A';
  ASSERT_EQ(::rename((vault_ + "/d/" + entry).c_str(), (vault_ + "/d/" + edited).c_str()), 0);
  ASSERT_NO_FATAL_FAILURE(Mount());
  auto root = ListDir(mnt_);
  ASSERT_TRUE(root.has_value());
  EXPECT_TRUE(root->empty());
  EXPECT_TRUE(WaitForSyslog({"tamper", edited, "does not decode"})) << receiver_->Tail();
  EXPECT_EQ(ENOENT, StatErrno(M()));
}

// Keyring rollback: a hold put on, the keyring saved, the hold released and the saved
// keyring put back; and the other way round (an open keyring put back over a hold).
TEST_F(TamperMetaTest, AKeyringPutBackIsRefusedByMatterctlAndTheDaemon) {
  ASSERT_TRUE(WriteFile(M("brief.txt"), "privileged"));
  ASSERT_NO_FATAL_FAILURE(Unmount());
  const std::string ring = KeyringPath();
  ASSERT_FALSE(ring.empty());
  const auto open_ring = ReadFile(ring);  // sequence 1: open
  ASSERT_TRUE(open_ring.has_value());
  CmdResult hold = Ctl("hold");
  ASSERT_EQ(0, hold.status) << ::testing::PrintToString(hold);
  // The old, open keyring put back would lift the hold: refused.
  ASSERT_TRUE(WriteFile(ring, *open_ring, 0600));
  CmdResult release = Ctl("release");
  EXPECT_EQ(4, release.status) << ::testing::PrintToString(release);
  EXPECT_NE(release.err.find("rolled back (sequence 1, the key table records 2)"),
            std::string::npos)
      << release.err;
  CmdResult close = Ctl("close");
  EXPECT_NE(0, close.status);
  EXPECT_EQ(*open_ring, ReadFile(ring).value_or(""));
  ASSERT_NO_FATAL_FAILURE(Mount());
  EXPECT_EQ(EIO, StatErrno(M("brief.txt")));
  EXPECT_EQ(std::nullopt, ReadFile(M("brief.txt")));
  EXPECT_TRUE(WaitForSyslog({"tamper", "matter=\"alpha\"", "rolled back"})) << receiver_->Tail();
  ASSERT_NO_FATAL_FAILURE(Unmount());
}

TEST_F(TamperMetaTest, AHoldPutBackAfterItsReleaseAndAFlippedNewerCopyAreRefused) {
  ASSERT_NO_FATAL_FAILURE(Unmount());
  const std::string ring = KeyringPath();
  ASSERT_EQ(0, Ctl("hold").status);
  const auto held = ReadFile(ring);  // sequence 2
  ASSERT_TRUE(held.has_value());
  ASSERT_EQ(0, Ctl("release").status);  // sequence 3
  const auto released = ReadFile(ring);
  ASSERT_TRUE(released.has_value());
  ASSERT_TRUE(WriteFile(ring, *held, 0600));
  CmdResult r = Ctl("close");
  EXPECT_EQ(4, r.status) << ::testing::PrintToString(r);
  EXPECT_NE(r.err.find("rolled back (sequence 2, the key table records 3)"), std::string::npos)
      << r.err;
  // Copy A current, copy B from before (as after a crash between the copies): fine; then
  // one flipped byte in copy A, so that a reader would fall back to B: refused.
  std::string mixed = released->substr(0, 2048) + held->substr(2048, 2048);
  ASSERT_TRUE(WriteFile(ring, mixed, 0600));
  ASSERT_NO_FATAL_FAILURE(Mount());
  EXPECT_EQ(0, StatErrno(M()));
  ASSERT_NO_FATAL_FAILURE(Unmount());
  mixed[300] = static_cast<char>(mixed[300] ^ 0x10);
  ASSERT_TRUE(WriteFile(ring, mixed, 0600));
  ASSERT_NO_FATAL_FAILURE(Mount());
  EXPECT_EQ(EIO, StatErrno(M()));
  EXPECT_TRUE(WaitForSyslog({"tamper", "matter=\"alpha\"", "path=\"alpha\"", "rolled back"}))
      << receiver_->Tail();
}

}  // namespace
}  // namespace matterfs::mount_test
