// The wipe of a closed matter (fs/vault/wipe.h) on real vaults: refusals change no byte
// of the vault, a wipe removes everything of the matter and nothing else, its
// certificate verifies (and an edit does not), a crash at any point is completed by a
// rerun, and a copy of the matter's files and keyring put back after the wipe opens
// nothing (the undelete test).
#include "fs/vault/wipe.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "fs/vault/certificate.h"
#include "fs/vault/encrypted_dir.h"
#include "fs/vault/master_rotation.h"
#include "tests/crypto/test_util.h"
#include "tests/vault/matter_tree.h"

namespace matterfs::vault {
namespace {

namespace fsys = std::filesystem;

// Marker strings: the wiped matter's name and contents, searched for in every byte of the
// vault afterwards.
constexpr char kName[] = "zq-wipe-marker-acme";
constexpr char kOther[] = "other";
constexpr char kContentMarker[] = "QXJ-CONTENT-MARKER-7731";
const std::string kLongName(200, 'w');  // a matter whose stored name needs a side file

// Every entry below `root`, sorted: path, type, mode, size, and the bytes of every file
// and the target of every symlink. Two equal dumps: nothing in the tree changed.
std::string DumpTree(const std::string& root) {
  std::vector<std::string> lines;
  for (auto it = fsys::recursive_directory_iterator(root); it != fsys::end(it); ++it) {
    const std::string path = it->path().string();
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) continue;
    std::string line = path.substr(root.size()) + " mode=" + std::to_string(st.st_mode);
    if (S_ISREG(st.st_mode)) {
      line += " size=" + std::to_string(st.st_size) + " data=" + ToHex(test::ReadFileBytes(path));
    } else if (S_ISLNK(st.st_mode)) {
      line += " -> " + fsys::read_symlink(it->path()).string();
    }
    lines.push_back(line);
  }
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

// Every hit of each needle in the names and bytes of everything below `root`.
std::vector<std::string> FindInTree(const std::string& root,
                                    const std::vector<std::string>& needles) {
  std::vector<std::string> hits;
  for (auto it = fsys::recursive_directory_iterator(root); it != fsys::end(it); ++it) {
    const std::string path = it->path().string();
    std::string data;
    struct stat st;
    if (::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      const Bytes b = test::ReadFileBytes(path);
      data.assign(b.begin(), b.end());
    }
    for (const auto& n : needles) {
      if (path.find(n) != std::string::npos) hits.push_back(n + " in the name " + path);
      if (data.find(n) != std::string::npos) hits.push_back(n + " in " + path);
    }
  }
  return hits;
}

// A vault with the closed matter kName (files, directories, long names, a hard link, an
// empty file) and the open matter kOther.
class Scenario {
 public:
  explicit Scenario(const std::string& name = kName) : name_(name) {
    for (const std::string& m : {name_, std::string(kOther)}) {
      auto made = fx_.vault().CreateMatter(m);
      if (!made.ok()) throw std::runtime_error(made.error().message());
    }
    {
      auto matter = fx_.Matter(name_);
      test::TreeWriter w(fx_.vault(), *matter);
      files_ = {{"empty", ""},
                {"one", "x"},
                {"block", std::string(4096, 'b')},
                {"three", std::string(3 * 4096 + 100, 'd')}};
      w.Dir("pleadings");
      w.Dir("pleadings/" + std::string(200, 'l'));
      files_["pleadings/brief.txt"] = std::string("Brief ") + kContentMarker;
      files_["pleadings/" + std::string(200, 'l') + "/" + std::string(230, 'n')] = "long names";
      for (const auto& [rel, content] : files_) w.File(rel, content);
      w.Link("one", "pleadings/one-again");
    }
    {
      auto other = fx_.Matter(kOther);
      test::TreeWriter w(fx_.vault(), *other);
      w.File("keep.txt", "other matter's file");
    }
    auto closed = fx_.vault().SetMatterStatus(name_, MatterStatus::kClosed);
    if (!closed.ok()) throw std::runtime_error(closed.error().message());
  }

  test::VaultFixture& fx() { return fx_; }
  Vault& vault() { return fx_.vault(); }
  const std::string& name() const { return name_; }
  std::string keystore() const { return fx_.path() + "/keys"; }
  std::string data() const { return fx_.path() + "/d"; }
  // Regular files with a name (the hard link once) and their plaintext bytes.
  uint64_t files() const { return files_.size(); }
  uint64_t bytes() const {
    uint64_t n = 0;
    for (const auto& [rel, content] : files_) n += content.size();
    return n;
  }

  WipeOptions Options() const {
    WipeOptions o;
    o.confirm = name_;
    return o;
  }
  AdminContext Ctx() { return test::RecordingAdminContext(events_); }
  std::vector<audit::AuditEvent>& events() { return events_; }

  // Reads kOther's file with a freshly opened vault.
  std::string ReadOther() {
    auto v = fx_.Reopen();
    auto m = Matter::Load(*v, kOther);
    if (!m.ok()) return "load: " + m.error().message();
    auto fd = (*m)->OpenPath(*v, "keep.txt", O_RDONLY);
    if (!fd.ok()) return "open: " + fd.error().message();
    UniqueFd mem(::memfd_create("plain", MFD_CLOEXEC));
    Status s = DecryptFileTo(**m, v->file_format(), fd->get(), mem.get());
    if (!s.ok()) return "decrypt: " + s.error().message();
    std::string buf(64, '\0');
    const ssize_t n = ::pread(mem.get(), buf.data(), buf.size(), 0);
    buf.resize(n > 0 ? static_cast<size_t>(n) : 0);
    return buf;
  }

  // Runs the wipe in a child process that is killed with SIGKILL at `point`.
  void CrashAt(const std::string& point) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int code = 1;
      try {
        auto v = fx_.Reopen();
        WipeOptions o = Options();
        o.reached = [&](std::string_view p) {
          if (p == point) ::raise(SIGKILL);
        };
        code = WipeMatter(*v, name_, AdminContext{}, o).ok() ? 0 : 2;
      } catch (...) {
        code = 3;
      }
      ::_exit(code);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << point << ": the child was not killed there (status " << status << ")";
  }

  // Everything of the wiped matter is gone; kOther is untouched.
  void ExpectGone(const std::string& context) {
    auto v = fx_.Reopen();
    auto found = v->FindMatter(name_);
    ASSERT_FALSE(found.ok()) << context;
    EXPECT_EQ(found.error().code(), Code::kNotFound) << context;
    auto list = v->ListMatters();
    ASSERT_OK(list);
    ASSERT_EQ(list->size(), 1u) << context;
    EXPECT_EQ((*list)[0].name, kOther) << context;
    // d/ holds the root IV and kOther's directory, nothing else; the keystore kOther's
    // keyring (and the key table, when the vault has one).
    std::vector<std::string> data;
    for (const auto& e : fsys::directory_iterator(this->data())) {
      data.push_back(e.path().filename());
    }
    std::sort(data.begin(), data.end());
    ASSERT_EQ(data.size(), 2u) << context;
    EXPECT_EQ(std::count(data.begin(), data.end(), ".diriv"), 1) << context;
    EXPECT_EQ(std::count(data.begin(), data.end(), (*list)[0].entry), 1) << context;
    std::vector<std::string> keys;
    for (const auto& e : fsys::directory_iterator(keystore())) {
      keys.push_back(e.path().filename());
    }
    std::sort(keys.begin(), keys.end());
    const std::string other_ring = KeyringFileName((*list)[0].id);
    for (const auto& k : keys) {
      EXPECT_TRUE(k == other_ring || k == kKeyTableName) << context << ": " << k;
    }
    EXPECT_EQ(FindInTree(fx_.path(), {name_, kContentMarker}), std::vector<std::string>())
        << context;
    EXPECT_EQ(ReadOther(), "other matter's file") << context;
  }

  void ExpectCertificate(const WipeResult& r, const std::string& context) {
    auto c = VerifyCertificate(r.certificate_text, vault().id(), vault().config().sign_public);
    ASSERT_OK(c);
    EXPECT_EQ(*c, r.certificate) << context;
    EXPECT_EQ(c->matter, name_) << context;
    EXPECT_EQ(c->files, files()) << context;
    EXPECT_EQ(c->bytes, bytes()) << context;
    EXPECT_EQ(c->key_versions_destroyed, std::vector<uint32_t>{1}) << context;
    EXPECT_EQ(c->method, "crypto-shred+overwrite") << context;
    EXPECT_EQ(c->passes, 1u) << context;
    EXPECT_LE(c->started, c->finished) << context;
  }

 private:
  test::VaultFixture fx_;
  std::string name_;
  std::map<std::string, std::string> files_;
  std::vector<audit::AuditEvent> events_;
};

TEST(WipeTest, RefusalsChangeNothing) {
  Scenario s;
  ASSERT_OK(s.vault().CreateMatter("held"));
  ASSERT_OK(s.vault().SetMatterStatus("held", MatterStatus::kHold));
  const std::string before = DumpTree(s.fx().path());
  struct Case {
    std::string matter;
    std::string confirm;
    Code code;
    std::string says;
  };
  const std::vector<Case> cases = {
      {kName, "zq-wipe-marker-acm", Code::kInvalidArgument, "is not the matter's name"},
      {kName, "", Code::kInvalidArgument, "is not the matter's name"},
      {"no-such-matter", "no-such-matter", Code::kNotFound, "no matter named"},
      {kOther, kOther, Code::kInvalidArgument, "is open"},
      {"held", "held", Code::kInvalidArgument, "under legal hold"},
  };
  for (const auto& c : cases) {
    WipeOptions o;
    o.confirm = c.confirm;
    auto r = WipeMatter(s.vault(), c.matter, s.Ctx(), o);
    ASSERT_FALSE(r.ok()) << c.matter;
    EXPECT_EQ(r.error().code(), c.code) << c.matter << ": " << r.error().message();
    EXPECT_NE(r.error().message().find(c.says), std::string::npos) << r.error().message();
    EXPECT_EQ(DumpTree(s.fx().path()), before) << c.matter << " / " << c.confirm;
  }
  {
    WipeOptions o = s.Options();
    o.passes = kMaxWipePasses + 1;
    auto r = WipeMatter(s.vault(), kName, s.Ctx(), o);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
  }
  EXPECT_EQ(DumpTree(s.fx().path()), before);
  EXPECT_TRUE(s.events().empty()) << "a refusal before anything changes is no wipe event";
}

TEST(WipeTest, RemovesEverythingOfTheMatterAndSignsACertificate) {
  Scenario s;
  auto info = s.vault().FindMatter(kName);
  ASSERT_OK(info);
  auto ring = s.vault().LoadKeyring(info->id);
  ASSERT_OK(ring);
  auto r = WipeMatter(s.vault(), kName, s.Ctx(), s.Options());
  ASSERT_OK(r);
  EXPECT_FALSE(r->resumed);
  EXPECT_FALSE(r->legacy_keyring) << "a new matter has a key table entry";
  EXPECT_NE(ring->table_index, 0u);
  s.ExpectCertificate(*r, "wipe");
  EXPECT_EQ(r->certificate.operator_name, "root");
  EXPECT_EQ(r->certificate.caveats, WipeCaveats(r->journal));
  // The legacy caveat exactly when the keyring predates the key table.
  const bool legacy_caveat = std::any_of(
      r->certificate.caveats.begin(), r->certificate.caveats.end(), [](const std::string& c) {
        return c.find("predates the vault's key table") != std::string::npos;
      });
  EXPECT_FALSE(legacy_caveat);
  EXPECT_NE(WipeSummary(*r).find("matter zq-wipe-marker-acme wiped: 6 files"), std::string::npos)
      << WipeSummary(*r);
  // Until the certificate is stored, the journal stays (no plaintext name in it).
  EXPECT_TRUE(fsys::exists(s.keystore() + "/" + WipeJournalName(info->id)));
  ASSERT_OK(FinishWipe(s.vault(), info->id));
  EXPECT_FALSE(fsys::exists(s.keystore() + "/" + WipeJournalName(info->id)));
  s.ExpectGone("after the wipe");
  // Two audit events: the start and the end, with the counts.
  ASSERT_EQ(s.events().size(), 2u);
  EXPECT_EQ(s.events()[0].event, "matter-wipe");
  EXPECT_EQ(s.events()[0].matter, kName);
  EXPECT_NE(s.events()[0].message.find("wipe started: 6 files"), std::string::npos)
      << s.events()[0].message;
  EXPECT_NE(s.events()[1].message.find("wipe finished: 6 files"), std::string::npos)
      << s.events()[1].message;
}

TEST(WipeTest, ALongMatterNameLeavesNoSideFile) {
  Scenario s(kLongName);
  bool long_entry = false;
  for (const auto& e : fsys::directory_iterator(s.data())) {
    long_entry = long_entry || e.path().filename().string().ends_with(".n");
  }
  ASSERT_TRUE(long_entry);
  auto r = WipeMatter(s.vault(), kLongName, s.Ctx(), s.Options());
  ASSERT_OK(r);
  ASSERT_OK(FinishWipe(s.vault(), r->journal.matter_id));
  s.ExpectGone("long name");
}

TEST(WipeTest, CertificateVerifiesAndAOneCharacterEditDoesNot) {
  Scenario s;
  auto r = WipeMatter(s.vault(), kName, s.Ctx(), s.Options());
  ASSERT_OK(r);
  const std::string& text = r->certificate_text;
  ASSERT_OK(VerifyCertificate(text, s.vault().id(), s.vault().config().sign_public));
  for (const std::string& edit : {std::string("\"files\": 6"), std::string("zq-wipe")}) {
    std::string changed = text;
    const size_t at = changed.find(edit);
    ASSERT_NE(at, std::string::npos) << edit;
    changed[at + edit.size() - 1] ^= 1;
    auto v = VerifyCertificate(changed, s.vault().id(), s.vault().config().sign_public);
    ASSERT_FALSE(v.ok()) << edit;
    EXPECT_EQ(v.error().code(), Code::kCorruption);
  }
}

TEST(WipeTest, ARerunAfterTheWipeIssuesTheSameCertificateUntilItIsStored) {
  Scenario s;
  auto first = WipeMatter(s.vault(), kName, s.Ctx(), s.Options());
  ASSERT_OK(first);
  auto again = WipeMatter(s.vault(), kName, s.Ctx(), s.Options());
  ASSERT_OK(again);
  EXPECT_TRUE(again->resumed);
  EXPECT_EQ(again->resumed_from, WipeStep::kDone);
  EXPECT_EQ(again->certificate_text, first->certificate_text);
  ASSERT_OK(FinishWipe(s.vault(), first->journal.matter_id));
  auto gone = WipeMatter(s.vault(), kName, s.Ctx(), s.Options());
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code(), Code::kNotFound);
}

TEST(WipeTest, OverwritesEveryBackingFileBeforeRemovingIt) {
  Scenario s;
  // The matter's backing files (by path below its directory) before the wipe.
  auto info = s.vault().FindMatter(kName);
  ASSERT_OK(info);
  const std::string dir = s.data() + "/" + info->entry;
  std::map<std::string, Bytes> before;
  for (auto it = fsys::recursive_directory_iterator(dir); it != fsys::end(it); ++it) {
    if (it->is_regular_file()) {
      before[it->path().string().substr(dir.size())] = test::ReadFileBytes(it->path());
    }
  }
  ASSERT_GT(before.size(), 10u);
  s.CrashAt("after-overwrite");
  // The directory is aside, every file still there with its size, none of its bytes.
  auto journal = FindWipeJournal(s.vault(), kName);
  ASSERT_OK(journal);
  ASSERT_TRUE(journal->has_value());
  EXPECT_EQ((*journal)->step, WipeStep::kOverwritten);
  const std::string aside = s.data() + "/" + (*journal)->aside;
  for (const auto& [rel, bytes] : before) {
    const Bytes now = test::ReadFileBytes(aside + rel);
    EXPECT_EQ(now.size(), bytes.size()) << rel;
    if (bytes.size() >= 16) {
      EXPECT_NE(ToHex(now), ToHex(bytes)) << rel;
    }
  }
  EXPECT_FALSE(fsys::exists(dir));
}

TEST(WipeTest, ARerunCompletesAWipeKilledAtAnyPoint) {
  for (const std::string point :
       {"after-journal", "after-aside", "after-keys", "mid-overwrite", "after-overwrite",
        "mid-unlink", "after-unlink", "before-certificate"}) {
    SCOPED_TRACE(point);
    Scenario s;
    auto info = s.vault().FindMatter(kName);
    ASSERT_OK(info);
    ASSERT_NO_FATAL_FAILURE(s.CrashAt(point));
    {
      auto v = s.fx().Reopen();
      auto journal = FindWipeJournal(*v, kName);
      ASSERT_OK(journal);
      ASSERT_TRUE(journal->has_value()) << "no journal";
      // From the first step on, the matter is out of sight; from the keys on, its keyring
      // is gone.
      const WipeStep step = (*journal)->step;
      EXPECT_EQ(v->FindMatter(kName).ok(), step == WipeStep::kStarted);
      EXPECT_EQ(fsys::exists(s.keystore() + "/" + KeyringFileName(info->id)),
                step < WipeStep::kKeys);
      auto list = v->ListMatters();
      ASSERT_OK(list);
      EXPECT_EQ(list->size(), step == WipeStep::kStarted ? 2u : 1u);
    }
    auto v = s.fx().Reopen();
    auto r = WipeMatter(*v, kName, s.Ctx(), s.Options());
    ASSERT_OK(r);
    EXPECT_TRUE(r->resumed);
    s.ExpectCertificate(*r, point);
    ASSERT_OK(FinishWipe(*v, info->id));
    s.ExpectGone(point);
  }
}

TEST(WipeTest, ARerunFinishesTheOldWipeAndLeavesANewMatterOfTheSameNameAlone) {
  Scenario s;
  ASSERT_NO_FATAL_FAILURE(s.CrashAt("after-aside"));
  auto v = s.fx().Reopen();
  // The name is free again: a new matter takes it.
  auto fresh = v->CreateMatter(kName);
  ASSERT_OK(fresh);
  auto r = WipeMatter(*v, kName, s.Ctx(), s.Options());
  ASSERT_OK(r);
  EXPECT_TRUE(r->resumed);
  EXPECT_NE(r->journal.matter_id, fresh->id);
  ASSERT_OK(FinishWipe(*v, r->journal.matter_id));
  auto still = v->FindMatter(kName);
  ASSERT_OK(still);
  EXPECT_EQ(still->id, fresh->id);
  // Now the new one (once closed) is wiped as a new wipe.
  ASSERT_OK(v->SetMatterStatus(kName, MatterStatus::kClosed));
  auto second = WipeMatter(*v, kName, s.Ctx(), s.Options());
  ASSERT_OK(second);
  EXPECT_FALSE(second->resumed);
  EXPECT_EQ(second->journal.matter_id, fresh->id);
  EXPECT_EQ(second->certificate.files, 0u);
}

TEST(WipeTest, PassesZeroDestroysTheKeysOnly) {
  Scenario s;
  WipeOptions o = s.Options();
  o.passes = 0;
  auto r = WipeMatter(s.vault(), kName, s.Ctx(), o);
  ASSERT_OK(r);
  EXPECT_EQ(r->certificate.method, "crypto-shred");
  EXPECT_EQ(r->certificate.passes, 0u);
  ASSERT_OK(FinishWipe(s.vault(), r->journal.matter_id));
  s.ExpectGone("passes 0");
}

TEST(WipeTest, RotateMasterWaitsForAnUnfinishedWipe) {
  Scenario s;
  ASSERT_NO_FATAL_FAILURE(s.CrashAt("after-keys"));
  auto v = s.fx().Reopen();
  auto wipes = ListUnfinishedWipes(*v);
  ASSERT_OK(wipes);
  ASSERT_EQ(wipes->size(), 1u);
  EXPECT_EQ((*wipes)[0].matter, kName);
  EXPECT_EQ((*wipes)[0].step, WipeStep::kKeys);
  // A new master key would change the stored name the rerun finds the journal by.
  const std::string before = DumpTree(s.fx().path());
  auto rotated = RotateMasterKey(*v, test::Passphrase(test::kTreePass), s.Ctx(), {});
  ASSERT_FALSE(rotated.ok());
  EXPECT_EQ(rotated.error().code(), Code::kUnfinished);
  EXPECT_NE(rotated.error().message().find("the wipe of matter zq-wipe-marker-acme is unfinished"),
            std::string::npos)
      << rotated.error().message();
  EXPECT_EQ(DumpTree(s.fx().path()), before);
  // Finished, rotate-master runs.
  auto r = WipeMatter(*v, kName, s.Ctx(), s.Options());
  ASSERT_OK(r);
  ASSERT_OK(FinishWipe(*v, r->journal.matter_id));
  ASSERT_OK(RotateMasterKey(*v, test::Passphrase(test::kTreePass), s.Ctx(), {}));
}

// The undelete test (issue 10, "How it is checked"): every file the wipe removes, the
// matter's ciphertext directory, its keyring and its long-name file, copied away before
// and put back after, opens nothing: the key table entry the keyring needs was
// overwritten in place. (A matter whose keyring predates the key table would open again:
// that is the legacy caveat.)
TEST(WipeTest, PuttingBackEverythingTheWipeRemovedOpensNothing) {
  for (const std::string& name : {std::string(kName), kLongName}) {
    SCOPED_TRACE(name.size());
    Scenario s(name);
    auto info = s.vault().FindMatter(name);
    ASSERT_OK(info);
    auto ring = s.vault().LoadKeyring(info->id);
    ASSERT_OK(ring);
    ASSERT_NE(ring->table_index, 0u) << "new matters have a key table entry";
    const std::string saved = s.fx().dir().Sub("saved");
    fsys::create_directories(saved + "/d");
    fsys::create_directories(saved + "/keys");
    const auto copy = fsys::copy_options::recursive | fsys::copy_options::copy_symlinks;
    fsys::copy(s.data() + "/" + info->entry, saved + "/d/" + info->entry, copy);
    if (NameCodec::Classify(info->entry) == EntryKind::kLong) {
      fsys::copy(s.data() + "/" + NameCodec::LongNameFile(info->entry), saved + "/d/");
    }
    fsys::copy(s.keystore() + "/" + KeyringFileName(info->id), saved + "/keys/");
    auto r = WipeMatter(s.vault(), name, s.Ctx(), s.Options());
    ASSERT_OK(r);
    ASSERT_OK(FinishWipe(s.vault(), info->id));
    fsys::copy(saved + "/d", s.data(), copy);
    fsys::copy(saved + "/keys", s.keystore(), copy);

    auto v = s.fx().Reopen();
    // The restored directory and its binding are back...
    auto found = v->FindMatter(name);
    ASSERT_FALSE(found.ok());
    auto binding = [&] {
      UniqueFd d(::openat(v->data_fd(), info->entry.c_str(), O_RDONLY | O_DIRECTORY));
      return v->ReadMatterBinding(d.get(), name);
    }();
    ASSERT_OK(binding);
    // ... but the keyring opens under no key of the vault, so neither do names or files.
    auto restored = v->LoadKeyring(info->id);
    ASSERT_FALSE(restored.ok());
    EXPECT_EQ(restored.error().code(), Code::kNotFound) << restored.error().message();
    EXPECT_FALSE(Matter::Load(*v, name).ok());
    EXPECT_EQ(FindInTree(s.fx().path(), {kContentMarker}), std::vector<std::string>());
    EXPECT_EQ(s.ReadOther(), "other matter's file");
  }
}

// A matter whose keyring predates the key table (version 2, under VMK subkey 2) is
// wiped too, with the caveat; and the caveat is true: a copy of its keyring put back
// opens again with the vault's master key, until rotate-master.
TEST(WipeTest, ALegacyKeyringIsWipedWithTheCaveatAndARestoredCopyStillOpens) {
  Scenario s;
  auto info = s.vault().FindMatter(kName);
  ASSERT_OK(info);
  const std::string ring_path = s.keystore() + "/" + KeyringFileName(info->id);
  {
    auto ring = s.vault().LoadKeyring(info->id);
    ASSERT_OK(ring);
    ring->table_index = 0;
    ring->root_key.reset();
    const Bytes copy = ring->SerializeCopy(s.vault().keyring_keys());
    ASSERT_EQ(2, copy[8]);
    Bytes file = copy;
    file.insert(file.end(), copy.begin(), copy.end());
    test::WriteFileBytes(ring_path, file);
  }
  const Bytes saved = test::ReadFileBytes(ring_path);
  auto r = WipeMatter(s.vault(), kName, s.Ctx(), s.Options());
  ASSERT_OK(r);
  EXPECT_TRUE(r->legacy_keyring);
  EXPECT_EQ(r->journal.table_index, 0u);
  EXPECT_TRUE(std::any_of(r->certificate.caveats.begin(), r->certificate.caveats.end(),
                          [](const std::string& c) {
                            return c.find("predates the vault's key table") != std::string::npos;
                          }));
  EXPECT_NE(LegacyKeyringNote("/srv/vault", kName).find("run matterctl rotate-master /srv/vault"),
            std::string::npos);
  ASSERT_OK(FinishWipe(s.vault(), info->id));
  s.ExpectGone("legacy");
  test::WriteFileBytes(ring_path, saved);
  EXPECT_OK(s.fx().Reopen()->LoadKeyring(info->id));
}

TEST(WipeJournalTest, RoundTripsAndRefusesWhatItDoesNotWrite) {
  WipeJournal j;
  j.vault_id.fill(1);
  j.matter_id.fill(2);
  j.entry = "AbC-_d";
  j.aside = ".tmp.wipe.abcDEF012-_x";
  j.table_index = 3;
  j.legacy_wrapped = true;
  j.key_versions = {2, 3};
  j.files = 10;
  j.bytes = 12345;
  j.passes = 2;
  j.started = 1700000000;
  j.operator_uid = 1000;
  j.operator_name = "alice\n";  // never two lines
  j.host = "host";
  j.step = WipeStep::kOverwritten;
  const std::string text = j.Serialize();
  auto back = WipeJournal::Parse(text);
  ASSERT_OK(back);
  EXPECT_EQ(back->Serialize(), text);
  EXPECT_EQ(back->operator_name, "alice?");
  EXPECT_EQ(back->key_versions, (std::vector<uint32_t>{2, 3}));
  EXPECT_EQ(back->step, WipeStep::kOverwritten);
  EXPECT_TRUE(back->legacy_wrapped);
  auto replace = [&](const std::string& from, const std::string& to) {
    std::string t = text;
    t.replace(t.find(from), from.size(), to);
    return WipeJournal::Parse(t);
  };
  EXPECT_FALSE(replace("aside .tmp.wipe.", "aside ../").ok());
  EXPECT_FALSE(replace("aside .tmp.wipe.abc", "aside .tmp.wipe.a/c").ok());
  EXPECT_FALSE(replace("entry AbC-_d", "entry ..").ok());
  EXPECT_FALSE(replace("entry AbC-_d", "entry a/b").ok());
  EXPECT_FALSE(replace("files 10", "files 1x").ok());
  EXPECT_FALSE(replace("files 10", "files 010").ok());
  EXPECT_FALSE(replace("step overwritten", "step later").ok());
  EXPECT_FALSE(replace("finished 0", "finished 5").ok()) << "finished before done";
  EXPECT_FALSE(replace("passes 2", "passes 17").ok());
  EXPECT_FALSE(replace("legacy_wrapped 1", "legacy_wrapped 2").ok());
  EXPECT_FALSE(WipeJournal::Parse(text.substr(0, text.size() - 1)).ok());
  EXPECT_FALSE(WipeJournal::Parse(text + "extra 1\n").ok());
}

}  // namespace
}  // namespace matterfs::vault
