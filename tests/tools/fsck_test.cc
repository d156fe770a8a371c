// matterctl fsck, run in-process through RunMatterctl on real vaults built with the vault
// library (tests/vault/matter_tree.h): each kind of damage found with its message and exit
// code, --json parsed, --repair moving damaged items into lost+found and leaving every
// good file as it was.
#include "fs/vault/fsck.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/tools/run_matterctl.h"
#include "tests/vault/matter_tree.h"

namespace matterfs::test {
namespace {

std::string Content(size_t n, char seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + static_cast<char>(i % 23));
  return s;
}

const std::string kLongName = std::string(200, 'L') + ".txt";

class FsckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    vault::Vault::SetUnmountGraceForTesting(std::chrono::milliseconds(0));
    pass_ = fx_.dir().Sub("pass");
    WriteFileBytes(pass_, AsBytes(std::string(kTreePass) + "\n"));
    fx_.vault().CreateMatter("acme").value();
    matter_ = fx_.Matter("acme");
    TreeWriter w(fx_.vault(), *matter_);
    files_ = {{"memo.txt", Content(10000, 'a')},      {"good.txt", Content(5000, 'g')},
              {"docs/brief.txt", Content(9000, 'b')}, {"docs/sub/deep.txt", Content(100, 'd')},
              {"docs/other.txt", Content(4096, 'o')}, {kLongName, Content(300, 'l')}};
    w.Dir("docs");
    w.Dir("docs/sub");
    for (const auto& [rel, content] : files_) w.File(rel, content);
  }

  std::vector<std::string> Args(std::vector<std::string> extra) {
    std::vector<std::string> a = {"fsck", fx_.path(), "--passphrase-file", pass_};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  nlohmann::json Json(std::vector<std::string> extra = {}) {
    extra.push_back("--json");
    CliRun r = Matterctl(Args(extra));
    last_code_ = r.code;
    return nlohmann::json::parse(r.out);
  }

  // The backing file of `rel`: its directory and its entry.
  std::pair<UniqueFd, std::string> Backing(const std::string& rel) {
    TreeWriter w(fx_.vault(), *matter_);
    return w.Backing(rel);
  }
  void FlipByte(int dirfd, const std::string& entry, off_t off) {
    UniqueFd fd(::openat(dirfd, entry.c_str(), O_RDWR | O_CLOEXEC));
    ASSERT_TRUE(fd.valid()) << entry;
    uint8_t b = 0;
    ASSERT_EQ(::pread(fd.get(), &b, 1, off), 1);
    b ^= 0x40;
    ASSERT_EQ(::pwrite(fd.get(), &b, 1, off), 1);
  }
  void FlipFileByte(const std::string& rel, off_t off) {
    auto [dir, entry] = Backing(rel);
    FlipByte(dir.get(), entry, off);
  }
  // Plaintext of `rel` in the matter (throws if it does not read).
  std::string Plain(const std::string& rel) {
    auto fd = matter_->OpenPath(fx_.vault(), rel, O_RDONLY);
    if (!fd.ok()) throw std::runtime_error(rel + ": " + fd.error().message());
    auto opened = vault::OpenFile(fd->get(), fx_.vault().file_format(), matter_->keyring());
    if (!opened.ok()) throw std::runtime_error(rel + ": " + opened.error().message());
    if (!*opened) return "";
    auto size = vault::PlainSizeOfFd(fd->get(), (*opened)->crypto.layout());
    std::string out(size.value(), '\0');
    vault::CryptFile f((*opened)->crypto, &(*opened)->header);
    auto n = f.Read(fd->get(), *size, 0, {reinterpret_cast<uint8_t*>(out.data()), out.size()});
    if (!n.ok()) throw std::runtime_error(rel + ": " + n.error().message());
    return out;
  }
  std::string MatterDir() { return fx_.path() + "/d/" + matter_->info().entry; }
  size_t HeaderSize() { return fx_.vault().file_format().header_size(); }
  size_t StoredBlock() { return fx_.vault().file_format().layout().stored_block_size(); }

  static std::vector<nlohmann::json> Problems(const nlohmann::json& doc) {
    std::vector<nlohmann::json> out;
    for (const auto& p : doc["problems"]) {
      if (p["severity"] == "problem") out.push_back(p);
    }
    return out;
  }

  // `doc` lists exactly one problem, of `kind`, its message holding `text`.
  static void ExpectOne(const nlohmann::json& doc, const std::string& kind,
                        const std::string& text) {
    auto ps = Problems(doc);
    ASSERT_EQ(ps.size(), 1u) << doc.dump(2);
    EXPECT_EQ(ps[0]["kind"], kind);
    EXPECT_NE(ps[0]["message"].get<std::string>().find(text), std::string::npos) << ps[0].dump();
  }

  VaultFixture fx_;
  std::string pass_;
  std::unique_ptr<vault::Matter> matter_;
  std::vector<std::pair<std::string, std::string>> files_;
  int last_code_ = -1;
};

TEST_F(FsckTest, CleanVaultIsClean) {
  CliRun r = Matterctl(Args({}));
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("1 matters, 2 directories, 6 files"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("clean"), std::string::npos) << r.out;
  EXPECT_EQ(r.err, "");  // no progress line when stderr is not a terminal
  auto doc = Json();
  EXPECT_EQ(last_code_, 0);
  EXPECT_EQ(doc["format"], "matterfs-fsck");
  EXPECT_EQ(doc["summary"]["problems"], 0);
  EXPECT_EQ(doc["summary"]["files"], 6);
  EXPECT_EQ(doc["summary"]["blocks"], 3 + 2 + 3 + 1 + 1 + 1);
  EXPECT_EQ(doc["exit"], 0);
}

TEST_F(FsckTest, WrongPassphraseCouldNotRun) {
  const std::string wrong = fx_.dir().Sub("wrong");
  WriteFileBytes(wrong, AsBytes("not the passphrase\n"));
  CliRun r = Matterctl({"fsck", fx_.path(), "--passphrase-file", wrong});
  EXPECT_EQ(r.code, 8);
  EXPECT_NE(r.err.find("could not run: wrong passphrase"), std::string::npos) << r.err;
  CliRun none = Matterctl({"fsck", fx_.dir().Sub("nothing"), "--passphrase-file", pass_});
  EXPECT_EQ(none.code, 8) << none.err;
}

TEST_F(FsckTest, FindsDamagedHeaderCopyAndRepairsIt) {
  FlipFileByte("memo.txt", 40);  // copy A's wrapped data key: copy B still opens the file
  auto doc = Json();
  EXPECT_EQ(last_code_, 4);
  auto ps = Problems(doc);
  ASSERT_EQ(ps.size(), 1u) << doc.dump(2);
  EXPECT_EQ(ps[0]["kind"], "header");
  EXPECT_NE(ps[0]["message"].get<std::string>().find("header copy A does not authenticate"),
            std::string::npos);
  EXPECT_EQ(Plain("memo.txt"), Content(10000, 'a'));
  doc = Json({"--repair"});
  EXPECT_EQ(last_code_, 1) << doc.dump(2);
  EXPECT_EQ(Plain("memo.txt"), Content(10000, 'a'));
  EXPECT_EQ(Matterctl(Args({})).code, 0);
}

TEST_F(FsckTest, FindsDamagedHeader) {
  FlipFileByte("memo.txt", 40);  // inside the wrapped data key, in both copies
  FlipFileByte("memo.txt", 512 + 40);
  CliRun r = Matterctl(Args({}));
  EXPECT_EQ(r.code, 4) << r.out;
  EXPECT_NE(r.out.find("acme/memo.txt: header: file header does not authenticate"),
            std::string::npos)
      << r.out;
  auto doc = Json();
  auto ps = Problems(doc);
  ASSERT_EQ(ps.size(), 1u) << doc.dump(2);
  EXPECT_EQ(ps[0]["kind"], "header");
  EXPECT_EQ(ps[0]["matter"], "acme");
  EXPECT_EQ(ps[0]["path"], "memo.txt");
  EXPECT_EQ(ps[0]["repaired"], false);
}

TEST_F(FsckTest, FindsDamagedBlockAndNamesIt) {
  FlipFileByte("memo.txt", static_cast<off_t>(HeaderSize() + StoredBlock() + 100));
  CliRun r = Matterctl(Args({}));
  EXPECT_EQ(r.code, 4);
  EXPECT_NE(r.out.find("acme/memo.txt: block: block 1 does not authenticate"), std::string::npos)
      << r.out;
  auto doc = Json();
  auto ps = Problems(doc);
  ASSERT_EQ(ps.size(), 1u) << doc.dump(2);
  EXPECT_EQ(ps[0]["kind"], "block");
  EXPECT_EQ(ps[0]["block"], 1);
  EXPECT_EQ(doc["exit"], 4);
}

TEST_F(FsckTest, FindsUndecodableName) {
  auto [dir, entry] = Backing("good.txt");
  std::string bad = entry;
  bad[5] = bad[5] == 'A' ? 'B' : 'A';
  ASSERT_EQ(::renameat(dir.get(), entry.c_str(), dir.get(), bad.c_str()), 0);
  auto doc = Json();
  EXPECT_EQ(last_code_, 4);
  auto ps = Problems(doc);
  ASSERT_EQ(ps.size(), 1u) << doc.dump(2);
  EXPECT_EQ(ps[0]["kind"], "name");
  EXPECT_EQ(ps[0]["path"], "<" + bad + ">");
  EXPECT_EQ(ps[0]["entry"], bad);
}

TEST_F(FsckTest, FindsDamagedAndMissingLongNameSideFile) {
  auto [dir, entry] = Backing(kLongName);
  ASSERT_EQ(entry.substr(0, 2), ".L");
  FlipByte(dir.get(), entry + ".n", 10);
  ExpectOne(Json(), "long-name", "does not match its entry");
  EXPECT_EQ(last_code_, 4);
  ASSERT_EQ(::unlinkat(dir.get(), (entry + ".n").c_str(), 0), 0);
  ExpectOne(Json(), "long-name", "has no side file");
  EXPECT_EQ(last_code_, 4);
}

TEST_F(FsckTest, FindsOrphanSideFile) {
  auto [dir, entry] = Backing(kLongName);
  ASSERT_EQ(::renameat(dir.get(), entry.c_str(), dir.get(), "moved-away"), 0);
  // The entry is gone (renamed to an undecodable name): its .n file is an orphan.
  auto doc = Json();
  EXPECT_EQ(last_code_, 4);
  bool orphan = false;
  for (const auto& p : Problems(doc)) orphan = orphan || p["kind"] == "orphan";
  EXPECT_TRUE(orphan) << doc.dump(2);
}

TEST_F(FsckTest, FindsDamagedDirIv) {
  auto [dir, entry] = Backing("docs");
  UniqueFd docs(::openat(dir.get(), entry.c_str(), O_RDONLY | O_DIRECTORY));
  ASSERT_TRUE(docs.valid());
  ASSERT_EQ(::fchmodat(docs.get(), ".diriv", 0644, 0), 0);
  FlipByte(docs.get(), ".diriv", 3);
  auto doc = Json();
  EXPECT_EQ(last_code_, 4);
  ExpectOne(doc, "dir-iv", "none of its 3 names decode");
  EXPECT_EQ(Problems(doc)[0]["path"], "docs");
  // A .diriv of the wrong size.
  ASSERT_EQ(::truncate((MatterDir() + "/" + entry + "/.diriv").c_str(), 15), 0);
  ExpectOne(Json(), "dir-iv", "wrong size");
}

TEST_F(FsckTest, FindsDamagedKeyringCopy) {
  UniqueFd ks(::open((fx_.path() + "/keys").c_str(), O_RDONLY | O_DIRECTORY));
  FlipByte(ks.get(), vault::KeyringFileName(matter_->info().id), 2048 + 70);
  auto doc = Json();
  EXPECT_EQ(last_code_, 4);
  auto ps = Problems(doc);
  ASSERT_EQ(ps.size(), 1u) << doc.dump(2);
  EXPECT_EQ(ps[0]["kind"], "keyring");
  EXPECT_NE(ps[0]["message"].get<std::string>().find("copy B"), std::string::npos);
  EXPECT_EQ(doc["summary"]["files"], 6);  // copy A still opens: the matter was checked
}

TEST_F(FsckTest, FindsDamagedConfig) {
  UniqueFd root(::open(fx_.path().c_str(), O_RDONLY | O_DIRECTORY));
  // The same byte of both copies (version 3): no good copy is left.
  FlipByte(root.get(), "matterfs.vault", 40);
  FlipByte(root.get(), "matterfs.vault", 8192 + 40);
  CliRun r = Matterctl(Args({}));
  EXPECT_EQ(r.code, 4) << r.out << r.err;
  EXPECT_NE(r.out.find("matterfs.vault: config:"), std::string::npos) << r.out;
  auto doc = Json();
  auto ps = Problems(doc);
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_EQ(ps[0]["kind"], "config");
}

TEST_F(FsckTest, ADamagedConfigCopyIsReportedAndRewrittenByRepair) {
  UniqueFd root(::open(fx_.path().c_str(), O_RDONLY | O_DIRECTORY));
  const Bytes good = ReadFileBytes(fx_.path() + "/matterfs.vault");
  for (size_t at : {size_t{40}, size_t{8192 + 300}}) {
    FlipByte(root.get(), "matterfs.vault", at);
    CliRun r = Matterctl(Args({}));
    EXPECT_EQ(r.code, 4) << r.out << r.err;
    EXPECT_NE(r.out.find(at < 8192 ? "copy A is damaged" : "copy B is damaged"), std::string::npos)
        << r.out;
    r = Matterctl(Args({"--repair"}));
    EXPECT_EQ(r.code, 1) << r.out << r.err;
    EXPECT_EQ(Matterctl(Args({})).code, 0);
    // The rewrite made two identical good copies of the same config (new nonces nowhere:
    // the slots and MAC are unchanged), so the file is as before the damage.
    EXPECT_EQ(good, ReadFileBytes(fx_.path() + "/matterfs.vault"));
  }
}

TEST_F(FsckTest, TempDirectoryFoundAndCleanedByRepair) {
  UniqueFd top(::open(MatterDir().c_str(), O_RDONLY | O_DIRECTORY));
  ASSERT_EQ(::mkdirat(top.get(), ".tmp.AAAAAAAAAAAAAAAA", 0700), 0);
  WriteFileBytes(MatterDir() + "/.tmp.AAAAAAAAAAAAAAAA/.diriv", Bytes(16, 7));
  CliRun r = Matterctl(Args({}));
  EXPECT_EQ(r.code, 4);
  EXPECT_NE(r.out.find("acme/.tmp.AAAAAAAAAAAAAAAA: temp:"), std::string::npos) << r.out;
  struct stat st;
  EXPECT_EQ(::fstatat(top.get(), ".tmp.AAAAAAAAAAAAAAAA", &st, 0), 0);  // a check changes nothing
  r = Matterctl(Args({"--repair"}));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(::fstatat(top.get(), ".tmp.AAAAAAAAAAAAAAAA", &st, 0), 0);
  EXPECT_EQ(Matterctl(Args({})).code, 0);
}

TEST_F(FsckTest, JournalsReportedWithWhatToRun) {
  WriteFileBytes(MatterDir() + "/.reencrypt", AsBytes("target 2\n"));
  CliRun r = Matterctl(Args({"--repair"}));
  EXPECT_EQ(r.code, 4) << r.out;  // never repaired by fsck: the rotation finishes it
  EXPECT_NE(r.out.find("--reencrypt to finish it"), std::string::npos) << r.out;
}

TEST_F(FsckTest, RepairMovesDamageIntoLostFoundAndKeepsGoodFiles) {
  FlipFileByte("memo.txt", static_cast<off_t>(HeaderSize() + 5));  // block 0
  FlipFileByte("docs/sub/deep.txt", 40);                           // header
  FlipFileByte("docs/sub/deep.txt", 512 + 40);
  auto [dir, entry] = Backing("docs/other.txt");  // name
  std::string bad = entry;
  bad[3] = bad[3] == 'A' ? 'B' : 'A';
  ASSERT_EQ(::renameat(dir.get(), entry.c_str(), dir.get(), bad.c_str()), 0);
  auto before = Json();
  EXPECT_EQ(last_code_, 4);
  const auto found = Problems(before);
  ASSERT_EQ(found.size(), 3u) << before.dump(2);

  auto doc = Json({"--repair"});
  EXPECT_EQ(last_code_, 1) << doc.dump(2);
  auto ps = Problems(doc);
  ASSERT_EQ(ps.size(), 3u) << doc.dump(2);
  for (const auto& p : ps) {
    EXPECT_EQ(p["repaired"], true) << p.dump();
    EXPECT_EQ(p["action"].get<std::string>().rfind("moved to lost+found/", 0), 0u) << p.dump();
  }
  // The same problems as the check found.
  for (size_t i = 0; i < ps.size(); ++i) {
    EXPECT_EQ(ps[i]["kind"], found[i]["kind"]);
    EXPECT_EQ(ps[i]["path"], found[i]["path"]);
  }
  ASSERT_EQ(doc["reports"].size(), 1u);

  // Good files untouched.
  EXPECT_EQ(Plain("good.txt"), Content(5000, 'g'));
  EXPECT_EQ(Plain("docs/brief.txt"), Content(9000, 'b'));
  EXPECT_EQ(Plain(kLongName), Content(300, 'l'));
  // The damaged ones are in lost+found, unchanged (still failing as before).
  EXPECT_THROW(Plain("lost+found/memo.txt"), std::runtime_error);
  // ... and beside a file with bad blocks, a copy with the readable ones, zeros for the bad.
  const std::string memo = Content(10000, 'a');
  EXPECT_EQ(Plain("lost+found/memo.txt.recovered"), std::string(4096, '\0') + memo.substr(4096));
  EXPECT_THROW(Plain("lost+found/docs%sub%deep.txt"), std::runtime_error);
  EXPECT_THROW(Plain("memo.txt"), std::runtime_error);  // gone from its place
  // The report is an encrypted file of the matter listing every move.
  const std::string report_name = doc["reports"][0].get<std::string>().substr(5);  // "acme/"
  const std::string report = Plain(report_name);
  EXPECT_NE(report.find("lost+found/memo.txt <- memo.txt"), std::string::npos) << report;
  EXPECT_NE(report.find("lost+found/memo.txt.recovered: a copy of it with the readable blocks, 1 "
                        "unreadable ones zero-filled"),
            std::string::npos)
      << report;
  EXPECT_NE(report.find("docs%sub%deep.txt <- docs/sub/deep.txt"), std::string::npos) << report;
  EXPECT_NE(report.find("<- docs/<" + bad + ">"), std::string::npos) << report;

  // A second check is clean; lost+found is reported apart from the problems.
  CliRun again = Matterctl(Args({}));
  EXPECT_EQ(again.code, 0) << again.out;
  EXPECT_NE(again.out.find("acme/lost+found: holds 5 entries"), std::string::npos) << again.out;
  auto after = Json();
  EXPECT_EQ(after["lost_found"][0]["entries"], 5);
}

TEST_F(FsckTest, RepairOfBadDirIvMovesTheDirectory) {
  auto [dir, entry] = Backing("docs");
  UniqueFd docs(::openat(dir.get(), entry.c_str(), O_RDONLY | O_DIRECTORY));
  ASSERT_EQ(::fchmodat(docs.get(), ".diriv", 0644, 0), 0);
  FlipByte(docs.get(), ".diriv", 3);
  CliRun r = Matterctl(Args({"--repair"}));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_EQ(Plain("good.txt"), Content(5000, 'g'));
  EXPECT_EQ(Matterctl(Args({})).code, 0);
}

TEST_F(FsckTest, RepairRefusedWhileMountedAlone) {
  auto mounted = fx_.vault().LockMounted(false);
  ASSERT_TRUE(mounted.ok());
  CliRun r = Matterctl(Args({"--repair"}));
  EXPECT_EQ(r.code, 8);
  EXPECT_NE(r.err.find("is mounted by a running matterfs"), std::string::npos) << r.err;
  r = Matterctl(Args({}));  // a check needs at least a shared mount
  EXPECT_EQ(r.code, 8) << r.err;
}

TEST_F(FsckTest, CheckRunsBesideASharedMount) {
  auto mounted = fx_.vault().LockMounted(true);
  ASSERT_TRUE(mounted.ok());
  EXPECT_EQ(Matterctl(Args({})).code, 0);
  EXPECT_EQ(Matterctl(Args({"--repair"})).code, 8);
}

TEST_F(FsckTest, OneMatterOnly) {
  fx_.vault().CreateMatter("globex").value();
  FlipFileByte("memo.txt", static_cast<off_t>(HeaderSize() + 5));
  EXPECT_EQ(Matterctl(Args({"globex"})).code, 0);
  EXPECT_EQ(Matterctl(Args({"acme"})).code, 4);
  EXPECT_EQ(Matterctl(Args({"nosuch"})).code, 8);
}

}  // namespace
}  // namespace matterfs::test
