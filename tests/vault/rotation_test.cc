// Key rotation (fs/vault/rotation.h) on real vaults: every header moves to the new key
// version, contents stay, the old version leaves both keyring copies, an interrupted
// rotation is completed by a rerun, and a file that cannot be rewrapped keeps the old
// version alive.
#include "fs/vault/rotation.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <map>
#include <string>
#include <vector>

#include "fs/vault/encrypted_file.h"
#include "fs/vault/reencrypt.h"
#include "tests/crypto/test_util.h"
#include "tests/vault/matter_tree.h"

namespace matterfs::vault {
namespace {

class RotationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(fx_.vault().CreateMatter("acme"));
    auto matter = fx_.Matter("acme");
    test::TreeWriter w(fx_.vault(), *matter);
    files_ = {{"empty", ""},
              {"one", "x"},
              {"block", std::string(4096, 'b')},
              {"block+1", std::string(4097, 'c')},
              {"three", std::string(3 * 4096 + 100, 'd')}};
    w.Dir("pleadings");
    w.Dir("pleadings/" + std::string(200, 'l'));
    files_["pleadings/brief.txt"] = "Brief for the plaintiff";
    files_["pleadings/" + std::string(200, 'l') + "/" + std::string(230, 'n')] = "long names";
    for (const auto& [rel, content] : files_) w.File(rel, content);
  }
  AdminContext Ctx() { return test::RecordingAdminContext(events_); }
  // The plaintext of every file, read with a freshly opened vault (another process).
  std::map<std::string, std::string> Contents() {
    auto v = fx_.Reopen();
    auto matter = Matter::Load(*v, "acme");
    EXPECT_OK(matter);
    std::map<std::string, std::string> out;
    if (!matter.ok()) return out;
    for (const auto& [rel, content] : files_) {
      auto fd = (*matter)->OpenPath(*v, rel, O_RDONLY);
      EXPECT_OK(fd);
      if (!fd.ok()) continue;
      UniqueFd mem(::memfd_create("plain", MFD_CLOEXEC));
      Status s = DecryptFileTo(**matter, v->file_format(), fd->get(), mem.get());
      EXPECT_TRUE(s.ok()) << rel << ": " << (s.ok() ? "" : s.error().message());
      std::string buf(content.size() + 10, '\0');
      ssize_t n = ::pread(mem.get(), buf.data(), buf.size(), 0);
      buf.resize(n > 0 ? static_cast<size_t>(n) : 0);
      out[rel] = buf;
    }
    return out;
  }
  // Key version of every file that has a header, by walk position.
  std::vector<uint32_t> HeaderVersions() {
    std::vector<uint32_t> out;
    auto matter = fx_.Matter("acme");
    MatterWalker walker(fx_.vault(), *matter);
    EXPECT_OK(walker.Walk({}, [&](WalkItem& item) {
      if (item.header) out.push_back(item.header->key_version);
      return WalkAction::kContinue;
    }));
    return out;
  }
  // The key versions in each of the two keyring copies (A, B).
  std::vector<std::vector<uint32_t>> CopyVersions() {
    auto info = fx_.vault().FindMatter("acme");
    EXPECT_OK(info);
    std::string raw(kKeyringFileSize, '\0');
    UniqueFd fd(::openat(fx_.vault().keystore_fd(), KeyringFileName(info->id).c_str(),
                         O_RDONLY | O_CLOEXEC));
    EXPECT_EQ(::pread(fd.get(), raw.data(), raw.size(), 0), static_cast<ssize_t>(raw.size()));
    std::vector<std::vector<uint32_t>> out;
    for (size_t c = 0; c < 2; ++c) {
      auto ring =
          Keyring::ParseCopy(AsBytes(raw).subspan(c * kKeyringCopySize, kKeyringCopySize),
                             fx_.vault().keyring_keys(), fx_.vault().config().vault_id, info->id);
      EXPECT_OK(ring);
      std::vector<uint32_t> v;
      if (ring.ok()) {
        for (const auto& [version, key] : ring->wrap_keys) v.push_back(version);
      }
      out.push_back(v);
    }
    return out;
  }
  // Files with a header: every file in file format 3; in format 2 the empty one has none.
  size_t WithHeader() {
    if (fx_.vault().file_format().version >= 3) return files_.size();
    size_t n = 0;
    for (const auto& [rel, content] : files_) n += content.empty() ? 0 : 1;
    return n;
  }

  test::VaultFixture fx_;
  std::map<std::string, std::string> files_;
  std::vector<audit::AuditEvent> events_;
};

TEST_F(RotationTest, RewrapsEveryHeaderKeepsContentsAndDestroysTheOldVersion) {
  const auto before = Contents();
  ASSERT_EQ(before, files_);
  EXPECT_EQ(fx_.vault().FindMatter("acme")->rotated, 0u) << "never rotated";
  const auto started = static_cast<uint64_t>(::time(nullptr));
  auto r = RotateMatter(fx_.vault(), "acme", Ctx());
  ASSERT_OK(r);
  // The keyring records when the rotation finished (matter list and status show it).
  const uint64_t rotated = fx_.vault().FindMatter("acme")->rotated;
  EXPECT_GE(rotated, started);
  EXPECT_LE(rotated, static_cast<uint64_t>(::time(nullptr)));
  EXPECT_GE(fx_.vault().LoadKeyring(fx_.vault().FindMatter("acme")->id)->created, started - 3600);
  EXPECT_EQ(r->from_version, 1u);
  EXPECT_EQ(r->to_version, 2u);
  EXPECT_FALSE(r->resumed);
  EXPECT_EQ(r->counts.files, files_.size());
  EXPECT_EQ(r->counts.rewrapped, WithHeader());
  EXPECT_EQ(r->counts.already,
            files_.size() - WithHeader());  // format 2: the empty file has no header
  EXPECT_EQ(r->counts.failed, 0u);
  EXPECT_EQ(r->destroyed, std::vector<uint32_t>{1});
  EXPECT_EQ(HeaderVersions(), std::vector<uint32_t>(WithHeader(), 2));
  // Version 1 is in neither keyring copy: a copy of the keyring file taken now holds no
  // key that opens the old headers.
  EXPECT_EQ(CopyVersions(), (std::vector<std::vector<uint32_t>>{{2}, {2}}));
  EXPECT_EQ(Contents(), files_);
  ASSERT_EQ(events_.size(), 2u);
  EXPECT_EQ(events_[0].event, "matter-rotate");
  EXPECT_NE(events_[0].message.find("1 -> 2"), std::string::npos) << events_[0].message;
  EXPECT_NE(events_[1].message.find("destroyed version(s) 1"), std::string::npos)
      << events_[1].message;
  EXPECT_EQ(events_[1].result, audit::AuditResult::kOk);

  // Again: version 3, and so on; each rotation leaves one version.
  auto again = RotateMatter(fx_.vault(), "acme", Ctx());
  ASSERT_OK(again);
  EXPECT_EQ(again->to_version, 3u);
  EXPECT_EQ(CopyVersions(), (std::vector<std::vector<uint32_t>>{{3}, {3}}));
  EXPECT_EQ(Contents(), files_);
}

TEST_F(RotationTest, ARerunCompletesAnInterruptedRotation) {
  // A rotation that died after adding version 2 and rewrapping one file.
  auto info = fx_.vault().FindMatter("acme");
  ASSERT_OK(info);
  ASSERT_OK(UpdateKeyringFile(fx_.vault().keystore_fd(), fx_.vault().config().vault_id, info->id,
                              fx_.vault().keyring_keys(), [](Keyring& ring) -> Status {
                                ring.wrap_keys.emplace(
                                    2, std::make_unique<MatterWrapKey>(MatterWrapKey::Random()));
                                ring.current_version = 2;
                                return {};
                              }));
  {
    auto matter = fx_.Matter("acme");
    auto fd = matter->OpenPath(fx_.vault(), "three", O_RDWR);
    ASSERT_OK(fd);
    auto rewrapped = RewrapFile(fd->get(), fx_.vault().file_format(), matter->keyring());
    ASSERT_OK(rewrapped);
    ASSERT_TRUE(*rewrapped) << "a header on version 1 was rewrapped to 2";
    // A second call finds it current.
    auto again = RewrapFile(fd->get(), fx_.vault().file_format(), matter->keyring());
    ASSERT_OK(again);
    EXPECT_FALSE(*again);
  }
  // Meanwhile every file reads (both versions are in the keyring).
  EXPECT_EQ(Contents(), files_);
  auto r = RotateMatter(fx_.vault(), "acme", Ctx());
  ASSERT_OK(r);
  EXPECT_TRUE(r->resumed);
  EXPECT_EQ(r->to_version, 2u) << "completes the unfinished rotation, starts no new one";
  EXPECT_EQ(r->counts.rewrapped, WithHeader() - 1);
  EXPECT_EQ(r->destroyed, std::vector<uint32_t>{1});
  EXPECT_EQ(HeaderVersions(), std::vector<uint32_t>(WithHeader(), 2));
  EXPECT_EQ(CopyVersions(), (std::vector<std::vector<uint32_t>>{{2}, {2}}));
  EXPECT_EQ(Contents(), files_);
}

TEST_F(RotationTest, AFileThatCannotBeRewrappedKeepsTheOldVersion) {
  // Damage both header copies of one file (its wrapped data key).
  {
    auto matter = fx_.Matter("acme");
    test::TreeWriter w(fx_.vault(), *matter);
    auto [dirfd, entry] = w.Backing("one");
    UniqueFd fd(::openat(dirfd.get(), entry.c_str(), O_RDWR | O_CLOEXEC));
    ASSERT_TRUE(fd.valid());
    for (off_t at : {off_t{80}, off_t{kHeaderCopySize + 80}}) {
      unsigned char b = 0;
      ASSERT_EQ(::pread(fd.get(), &b, 1, at), 1);
      b ^= 0x40;
      ASSERT_EQ(::pwrite(fd.get(), &b, 1, at), 1);
    }
  }
  auto r = RotateMatter(fx_.vault(), "acme", Ctx());
  ASSERT_OK(r);
  EXPECT_EQ(r->counts.failed, 1u);
  EXPECT_EQ(r->counts.rewrapped, WithHeader() - 1);
  EXPECT_TRUE(r->destroyed.empty());
  ASSERT_EQ(r->failures.size(), 1u);
  EXPECT_NE(r->failures[0].find("one"), std::string::npos) << r->failures[0];
  EXPECT_NE(RotateSummary(*r).find("old key version is kept"), std::string::npos);
  EXPECT_EQ(events_.back().result, audit::AuditResult::kError);
  // Both versions stay, so nothing that was readable became unreadable.
  auto ring = fx_.vault().LoadKeyring(fx_.vault().FindMatter("acme")->id);
  ASSERT_OK(ring);
  EXPECT_EQ(ring->wrap_keys.size(), 2u);
  files_.erase("one");
  EXPECT_EQ(Contents(), files_);

  // Once the damaged file is gone, a rerun completes.
  {
    auto matter = fx_.Matter("acme");
    test::TreeWriter w(fx_.vault(), *matter);
    auto [dirfd, entry] = w.Backing("one");
    ASSERT_EQ(::unlinkat(dirfd.get(), entry.c_str(), 0), 0);
  }
  auto done = RotateMatter(fx_.vault(), "acme", Ctx());
  ASSERT_OK(done);
  EXPECT_TRUE(done->resumed);
  EXPECT_EQ(done->destroyed, std::vector<uint32_t>{1});
  // Format 2: and the empty file, which has no header (format 3: it is among them).
  EXPECT_EQ(done->counts.already, WithHeader() + (fx_.vault().file_format().version >= 3 ? 0 : 1));
  EXPECT_EQ(Contents(), files_);
}

RotateOptions Reencrypt() {
  RotateOptions o;
  o.reencrypt = true;
  return o;
}

// The file id of every file that has a header, by walk position (a re-encryption gives
// each file a new id and data key; a rewrap keeps both).
std::map<std::string, FileId> FileIds(test::VaultFixture& fx) {
  std::map<std::string, FileId> out;
  auto matter = fx.Matter("acme");
  MatterWalker walker(fx.vault(), *matter);
  EXPECT_OK(walker.Walk({}, [&](WalkItem& item) {
    if (item.header) out[item.path] = item.header->file_id;
    return WalkAction::kContinue;
  }));
  return out;
}

TEST_F(RotationTest, ReencryptGivesEveryFileANewDataKeyAndKeepsContentsMetadataAndLinks) {
  // A hard link, an xattr, a mode, an owner and a time to keep.
  {
    auto matter = fx_.Matter("acme");
    test::TreeWriter w(fx_.vault(), *matter);
    w.Link("pleadings/brief.txt", "brief-link");
    files_["brief-link"] = files_["pleadings/brief.txt"];
    auto [dirfd, entry] = w.Backing("three");
    ASSERT_EQ(::fchmodat(dirfd.get(), entry.c_str(), 0640, 0), 0);
    ASSERT_EQ(::fchownat(dirfd.get(), entry.c_str(), 1234, 5678, 0), 0);
    const struct timespec times[2] = {{1000000000, 5}, {1200000000, 7}};
    ASSERT_EQ(::utimensat(dirfd.get(), entry.c_str(), times, 0), 0);
    UniqueFd fd(::openat(dirfd.get(), entry.c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_EQ(::fsetxattr(fd.get(), "user.sealed", "abc", 3, 0), 0);
  }
  const auto ids_before = FileIds(fx_);
  auto r = RotateMatter(fx_.vault(), "acme", Ctx(), Reencrypt());
  ASSERT_OK(r);
  EXPECT_TRUE(r->reencrypted);
  EXPECT_FALSE(r->resumed);
  EXPECT_EQ(r->to_version, 2u);
  EXPECT_EQ(r->destroyed, std::vector<uint32_t>{1});
  EXPECT_EQ(r->counts.total, files_.size());
  // The link's second name finds the new copy already there.
  EXPECT_EQ(r->counts.rewrapped, WithHeader() - 1);
  EXPECT_EQ(r->counts.failed, 0u);
  EXPECT_NE(RotateSummary(*r).find("re-encrypted with new data keys"), std::string::npos);
  const auto ids_after = FileIds(fx_);
  ASSERT_EQ(ids_after.size(), ids_before.size());
  for (const auto& [path, id] : ids_after) {
    EXPECT_NE(id, ids_before.at(path)) << path << " kept its file id (and data key)";
  }
  EXPECT_EQ(HeaderVersions(), std::vector<uint32_t>(WithHeader(), 2));
  EXPECT_EQ(CopyVersions(), (std::vector<std::vector<uint32_t>>{{2}, {2}}));
  EXPECT_EQ(Contents(), files_);

  auto matter = fx_.Matter("acme");
  test::TreeWriter w(fx_.vault(), *matter);
  auto [dirfd, entry] = w.Backing("three");
  struct stat st;
  ASSERT_EQ(::fstatat(dirfd.get(), entry.c_str(), &st, 0), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(st.st_uid, 1234u);
  EXPECT_EQ(st.st_gid, 5678u);
  EXPECT_EQ(st.st_mtim.tv_sec, 1200000000);
  EXPECT_EQ(st.st_mtim.tv_nsec, 7);
  char value[8] = {};
  UniqueFd fd(::openat(dirfd.get(), entry.c_str(), O_RDONLY | O_CLOEXEC));
  EXPECT_EQ(::fgetxattr(fd.get(), "user.sealed", value, sizeof value), 3);
  EXPECT_STREQ(value, "abc");
  auto [d1, e1] = w.Backing("brief-link");
  auto [d2, e2] = w.Backing("pleadings/brief.txt");
  struct stat s1, s2;
  ASSERT_EQ(::fstatat(d1.get(), e1.c_str(), &s1, 0), 0);
  ASSERT_EQ(::fstatat(d2.get(), e2.c_str(), &s2, 0), 0);
  EXPECT_EQ(s1.st_ino, s2.st_ino) << "still one file with two names";
  EXPECT_EQ(s1.st_nlink, 2u);
  // No temporary file and no journal is left.
  EXPECT_FALSE(ReencryptLinksPending(matter->OpenDir(fx_.vault())->get()));
  auto journal = ReadReencryptTarget(matter->OpenDir(fx_.vault())->get());
  ASSERT_OK(journal);
  EXPECT_FALSE(journal->has_value());
  EXPECT_EQ(::faccessat(d1.get(), ".", F_OK, 0), 0);
}

TEST_F(RotationTest, AnInterruptedReencryptionIsFinishedAsOneEvenByAPlainRotate) {
  {
    auto matter = fx_.Matter("acme");
    test::TreeWriter w(fx_.vault(), *matter);
    w.Link("pleadings/brief.txt", "brief-link");
    files_["brief-link"] = files_["pleadings/brief.txt"];
  }
  const auto ids_before = FileIds(fx_);
  // "Crash" (an exception out of the hook) in the middle of relinking the hard link:
  // one name on the new copy, the other on the old.
  struct Crash {};
  RotateOptions opts;
  opts.reencrypt = true;
  opts.relinked = [] { throw Crash{}; };
  EXPECT_THROW((void)RotateMatter(fx_.vault(), "acme", Ctx(), opts), Crash);
  auto matter = fx_.Matter("acme");
  {
    auto dir = matter->OpenDir(fx_.vault());
    ASSERT_OK(dir);
    EXPECT_TRUE(ReencryptLinksPending(dir->get()));
    auto target = ReadReencryptTarget(dir->get());
    ASSERT_OK(target);
    EXPECT_EQ(*target, std::optional<uint32_t>(2));
  }
  // Every file still reads meanwhile (both versions are in the keyring).
  EXPECT_EQ(Contents(), files_);
  // A plain rotate finishes the re-encryption, not a rewrap.
  auto r = RotateMatter(fx_.vault(), "acme", Ctx());
  ASSERT_OK(r);
  EXPECT_TRUE(r->resumed);
  EXPECT_TRUE(r->reencrypted);
  EXPECT_EQ(r->to_version, 2u);
  EXPECT_EQ(r->destroyed, std::vector<uint32_t>{1});
  for (const auto& [path, id] : FileIds(fx_)) {
    EXPECT_NE(id, ids_before.at(path)) << path;
  }
  EXPECT_EQ(Contents(), files_);
  test::TreeWriter w(fx_.vault(), *matter);
  auto [d1, e1] = w.Backing("brief-link");
  auto [d2, e2] = w.Backing("pleadings/brief.txt");
  struct stat s1, s2;
  ASSERT_EQ(::fstatat(d1.get(), e1.c_str(), &s1, 0), 0);
  ASSERT_EQ(::fstatat(d2.get(), e2.c_str(), &s2, 0), 0);
  EXPECT_EQ(s1.st_ino, s2.st_ino);
  auto dir = matter->OpenDir(fx_.vault());
  EXPECT_FALSE(ReencryptLinksPending(dir->get()));
  // Nothing but the matter's own entries is left (no .tmp.* files).
  std::vector<std::string> meta;
  DIR* d = ::fdopendir(::dup(dir->get()));
  while (struct dirent* de = ::readdir(d)) {
    if (de->d_name[0] == '.' && std::string_view(de->d_name) != "." &&
        std::string_view(de->d_name) != "..") {
      meta.emplace_back(de->d_name);
    }
  }
  ::closedir(d);
  std::sort(meta.begin(), meta.end());
  EXPECT_EQ(meta, (std::vector<std::string>{".diriv", ".matter"}));
}

TEST_F(RotationTest, ReencryptLeavesADamagedFileAndKeepsTheOldVersion) {
  {
    auto matter = fx_.Matter("acme");
    test::TreeWriter w(fx_.vault(), *matter);
    auto [dirfd, entry] = w.Backing("three");
    UniqueFd fd(::openat(dirfd.get(), entry.c_str(), O_RDWR | O_CLOEXEC));
    unsigned char b = 0;
    const off_t at = kHeaderSizeV2 + 2 * 4096 + 50;  // inside block 1 or 2
    ASSERT_EQ(::pread(fd.get(), &b, 1, at), 1);
    b ^= 1;
    ASSERT_EQ(::pwrite(fd.get(), &b, 1, at), 1);
  }
  auto r = RotateMatter(fx_.vault(), "acme", Ctx(), Reencrypt());
  ASSERT_OK(r);
  EXPECT_EQ(r->counts.failed, 1u);
  EXPECT_TRUE(r->KeptOldVersions());
  ASSERT_EQ(r->failures.size(), 1u);
  EXPECT_NE(r->failures[0].find("does not authenticate"), std::string::npos) << r->failures[0];
  files_.erase("three");
  EXPECT_EQ(Contents(), files_);
}

TEST_F(RotationTest, UnknownMatterIsNotFoundAndChangesNothing) {
  auto r = RotateMatter(fx_.vault(), "nope", Ctx());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kNotFound);
  EXPECT_TRUE(events_.empty());
  EXPECT_EQ(CopyVersions(), (std::vector<std::vector<uint32_t>>{{1}, {1}}));
}

}  // namespace
}  // namespace matterfs::vault
