// The name codec: plaintext names <-> directory entries (short and long names), symlink
// targets and xattrs, and the directory IV file.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <string>

#include "crypto/kdf.h"
#include "fs/vault/encrypted_dir.h"
#include "tests/crypto/test_util.h"
#include "tests/vault/vault_test_util.h"
#include "util/file_io.h"

namespace matterfs::vault {
namespace {

using test::Seq;

DirIv Iv(uint8_t first) {
  DirIv iv;
  Bytes b = Seq(first, iv.size());
  std::memcpy(iv.data(), b.data(), iv.size());
  return iv;
}

class NameCodecTest : public ::testing::Test {
 protected:
  // Encodes and decodes `name` in `iv`, checking the stored form as it goes.
  void ExpectRoundTrip(const DirIv& iv, const std::string& name) {
    auto stored = codec_.Encode(iv, name);
    ASSERT_OK(stored);
    ASSERT_LE(stored->entry.size(), kMaxBackingName);
    if (stored->full) {
      ASSERT_EQ(EntryKind::kLong, NameCodec::Classify(stored->entry));
      ASSERT_GT(stored->full->size(), kMaxBackingName);
      auto back = codec_.Decode(iv, *stored->full);
      ASSERT_OK(back);
      EXPECT_EQ(name, *back);
    } else {
      ASSERT_EQ(EntryKind::kShort, NameCodec::Classify(stored->entry));
      auto back = codec_.Decode(iv, stored->entry);
      ASSERT_OK(back);
      EXPECT_EQ(name, *back);
    }
  }
  void ExpectRejected(const std::string& name, int sys_errno) {
    auto r = codec_.Encode(iv_, name);
    ASSERT_FALSE(r.ok()) << name.size();
    EXPECT_EQ(Code::kInvalidArgument, r.error().code());
    EXPECT_EQ(sys_errno, r.error().sys_errno());
  }

  NameKey key_ = NameKey::FromBytes(Seq(0x00, 32));
  NameCodec codec_{key_};
  DirIv iv_ = Iv(0xf0);
};

TEST_F(NameCodecTest, RoundTripsEveryByteValueExceptSlashAndNul) {
  for (int b = 1; b <= 255; ++b) {
    if (b == '/') continue;
    const char c = static_cast<char>(b);
    SCOPED_TRACE("byte " + std::to_string(b));
    ExpectRoundTrip(iv_, std::string("a") + c + "z");
    ExpectRoundTrip(iv_, std::string(1, c) + "tail");
    ExpectRoundTrip(iv_, std::string("head") + c);
    if (c != '.') ExpectRoundTrip(iv_, std::string(1, c));
  }
  std::string all;
  for (int b = 1; b <= 255; ++b) {
    if (b != '/') all.push_back(static_cast<char>(b));
  }
  ASSERT_EQ(254u, all.size());
  ExpectRoundTrip(iv_, all);
}

TEST_F(NameCodecTest, RoundTripsEveryLengthAndSwitchesToLongNamesPast255Bytes) {
  size_t first_long = 0;
  for (size_t len = 1; len <= kMaxPlainName; ++len) {
    SCOPED_TRACE("length " + std::to_string(len));
    std::string name(len, 'n');
    // Printable bytes from '0' to '~' (never '/'), varied so no two lengths share a prefix.
    for (size_t i = 0; i < len; ++i) name[i] = static_cast<char>('0' + (i * 7 + len) % 79);
    ExpectRoundTrip(iv_, name);
    auto stored = codec_.Encode(iv_, name);
    ASSERT_OK(stored);
    // base64url of (16-byte tag + name padded to 16) must fit in 255 bytes, or it is long.
    const size_t sealed = 16 + (len + 15) / 16 * 16;
    const size_t encoded = (sealed * 4 + 2) / 3;
    if (encoded <= kMaxBackingName) {
      EXPECT_FALSE(stored->full.has_value());
      EXPECT_EQ(encoded, stored->entry.size());
    } else {
      if (first_long == 0) first_long = len;
      ASSERT_TRUE(stored->full.has_value());
      EXPECT_EQ(encoded, stored->full->size());
      EXPECT_EQ(kLongNamePrefix.size() + 43, stored->entry.size());
      EXPECT_EQ(0u, stored->entry.rfind(".L", 0));
      EXPECT_EQ(".L" + Base64UrlEncode(crypto::Blake2b(32, AsBytes(*stored->full))), stored->entry);
      EXPECT_EQ(stored->entry + ".n", NameCodec::LongNameFile(stored->entry));
    }
  }
  EXPECT_EQ(161u, first_long);  // 16 + 176 bytes = 256 characters
}

TEST_F(NameCodecTest, RejectsNamesThatCannotExist) {
  ExpectRejected("", EINVAL);
  ExpectRejected(".", EINVAL);
  ExpectRejected("..", EINVAL);
  ExpectRejected("a/b", EINVAL);
  ExpectRejected("/", EINVAL);
  ExpectRejected("trailing/", EINVAL);
  ExpectRejected(std::string("nul\0inside", 10), EINVAL);
  ExpectRejected(std::string(kMaxPlainName + 1, 'x'), ENAMETOOLONG);
  ExpectRejected(std::string(4096, 'x'), ENAMETOOLONG);
  // Dots are fine anywhere else.
  ExpectRoundTrip(iv_, "...");
  ExpectRoundTrip(iv_, ".hidden");
  ExpectRoundTrip(iv_, "a..b");
  ExpectRoundTrip(iv_, std::string(kMaxPlainName, 'x'));
}

TEST_F(NameCodecTest, DeterministicInOneDirectoryDifferentInAnother) {
  auto a1 = codec_.Encode(iv_, "Privileged memo.docx");
  auto a2 = codec_.Encode(iv_, "Privileged memo.docx");
  auto b = codec_.Encode(Iv(0xf1), "Privileged memo.docx");
  ASSERT_OK(a1);
  ASSERT_OK(a2);
  ASSERT_OK(b);
  EXPECT_EQ(a1->entry, a2->entry);
  EXPECT_NE(a1->entry, b->entry);
  // Decoding with another directory's IV fails rather than giving a wrong name.
  auto wrong = codec_.Decode(Iv(0xf1), a1->entry);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(Code::kCorruption, wrong.error().code());

  const std::string long_name(200, 'L');
  auto l1 = codec_.Encode(iv_, long_name);
  auto l2 = codec_.Encode(Iv(0xf1), long_name);
  ASSERT_OK(l1);
  ASSERT_OK(l2);
  EXPECT_NE(l1->entry, l2->entry);
  EXPECT_NE(*l1->full, *l2->full);
}

TEST_F(NameCodecTest, LongNamesAreCheckedAgainstTheirEntry) {
  auto a = codec_.Encode(iv_, std::string(200, 'a'));
  auto b = codec_.Encode(iv_, std::string(200, 'b'));
  ASSERT_OK(a);
  ASSERT_OK(b);
  auto back = codec_.DecodeLong(iv_, a->entry, *a->full);
  ASSERT_OK(back);
  EXPECT_EQ(std::string(200, 'a'), *back);
  // A ".n" file swapped with another long name's, or edited, does not match its entry.
  auto swapped = codec_.DecodeLong(iv_, a->entry, *b->full);
  ASSERT_FALSE(swapped.ok());
  EXPECT_EQ(Code::kCorruption, swapped.error().code());
  std::string edited = *a->full;
  edited.back() = edited.back() == 'A' ? 'B' : 'A';
  EXPECT_FALSE(codec_.DecodeLong(iv_, a->entry, edited).ok());
}

// Found by fuzz_names (tests/fuzz): a short name's encoding copied into the side file of
// a long entry made from its hash decoded, so a directory listed the name twice (the
// short entry and the alias) for two different backing files, and lookups reached only
// one of them. Encode never writes a side file for a name that fits 255 bytes.
TEST_F(NameCodecTest, LongEntryHoldingAShortNameIsRefused) {
  auto s = codec_.Encode(iv_, "brief.docx");
  ASSERT_OK(s);
  ASSERT_FALSE(s->full.has_value());
  const std::string alias =
      std::string(kLongNamePrefix) + Base64UrlEncode(crypto::Blake2b(32, AsBytes(s->entry)));
  ASSERT_EQ(EntryKind::kLong, NameCodec::Classify(alias));
  auto r = codec_.DecodeLong(iv_, alias, s->entry);
  ASSERT_FALSE(r.ok()) << "decoded as " << *r;
  EXPECT_EQ(Code::kCorruption, r.error().code());
}

// Found by fuzz_names (tests/fuzz): libsodium 1.0.18's base64 decoder takes bytes
// 0x80-0xff for alphabet characters, so an entry with one of them in place of a character
// decoded to the same name as the real entry: two entries, one name, in a listing.
TEST_F(NameCodecTest, EntriesWithBytesOutsideTheAlphabetAreRefused) {
  EXPECT_FALSE(Base64UrlDecode("ab\xbf"
                               "c")
                   .has_value());
  auto s = codec_.Encode(iv_, "brief.docx");
  ASSERT_OK(s);
  ASSERT_OK(codec_.Decode(iv_, s->entry));
  for (int c = 0x80; c <= 0xff; ++c) {
    for (size_t at : {size_t{0}, s->entry.size() / 2, s->entry.size() - 1}) {
      std::string alias = s->entry;
      alias[at] = static_cast<char>(c);
      EXPECT_FALSE(Base64UrlDecode(alias).has_value()) << "byte " << c << " at " << at;
      EXPECT_FALSE(codec_.Decode(iv_, alias).ok()) << "byte " << c << " at " << at;
    }
  }
}

TEST_F(NameCodecTest, DecodeRefusesNamesThatEncodeWouldNeverProduce) {
  // Authentic ciphertexts (made with the right key) of impossible names: a vault edited by
  // someone holding the key must still not yield ".." or a path.
  for (const std::string& bad : {std::string("."), std::string(".."), std::string("a/b"),
                                 std::string("/"), std::string(256, 'x')}) {
    const std::string entry = Base64UrlEncode(codec_.cipher().Encrypt(iv_, bad));
    auto r = codec_.Decode(iv_, entry);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(Code::kCorruption, r.error().code()) << bad;
  }
}

TEST_F(NameCodecTest, OverlongXattrNamesAreRangeErrors) {
  ASSERT_OK(codec_.EncryptXattrName(std::string(100, 'x')));
  auto r = codec_.EncryptXattrName(std::string(200, 'x'));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Code::kInvalidArgument, r.error().code());
  EXPECT_EQ(ERANGE, r.error().sys_errno());
}

TEST_F(NameCodecTest, EncodedNamesNeverStartWithADotOrContainSlash) {
  for (int i = 0; i < 300; ++i) {
    auto stored = codec_.Encode(iv_, "file " + std::to_string(i));
    ASSERT_OK(stored);
    ASSERT_NE('.', stored->entry[0]);
    ASSERT_EQ(std::string::npos, stored->entry.find('/'));
    ASSERT_EQ(std::string::npos, stored->entry.find('='));
  }
}

TEST_F(NameCodecTest, DecodeRejectsGarbage) {
  for (const char* bad : {"not base64!", "", "A", "abc=", "%%%%"}) {
    auto r = codec_.Decode(iv_, bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(Code::kCorruption, r.error().code()) << bad;
  }
  // Valid base64url but not an encrypted name.
  auto r = codec_.Decode(iv_, Base64UrlEncode(Seq(0, 32)));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Code::kCorruption, r.error().code());
}

TEST_F(NameCodecTest, ClassifiesEntries) {
  EXPECT_EQ(EntryKind::kMeta, NameCodec::Classify(".diriv"));
  EXPECT_EQ(EntryKind::kMeta, NameCodec::Classify(".matter"));
  EXPECT_EQ(EntryKind::kMeta, NameCodec::Classify(".L"));
  EXPECT_EQ(EntryKind::kMeta, NameCodec::Classify(".tmp.abcdef"));
  const std::string long_entry = ".L" + std::string(43, 'A');
  EXPECT_EQ(EntryKind::kLong, NameCodec::Classify(long_entry));
  EXPECT_EQ(EntryKind::kMeta, NameCodec::Classify(NameCodec::LongNameFile(long_entry)));
  EXPECT_EQ(EntryKind::kShort, NameCodec::Classify("AAAA"));
  EXPECT_EQ(EntryKind::kShort, NameCodec::Classify(""));
}

TEST_F(NameCodecTest, SymlinkTargetsRoundTripWithRandomNonces) {
  const std::string target = "../Smith v Jones/Pleadings/complaint.pdf";
  auto a = codec_.EncryptSymlink(target);
  auto b = codec_.EncryptSymlink(target);
  ASSERT_OK(a);
  ASSERT_OK(b);
  EXPECT_NE(*a, *b);
  EXPECT_EQ(std::string::npos, a->find("Smith"));
  auto back = codec_.DecryptSymlink(*a);
  ASSERT_OK(back);
  EXPECT_EQ(target, *back);
  std::string tampered = *a;
  tampered[10] = tampered[10] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(codec_.DecryptSymlink(tampered).ok());
  EXPECT_FALSE(codec_.DecryptSymlink("***").ok());
  auto empty = codec_.EncryptSymlink("");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(Code::kInvalidArgument, empty.error().code());
  auto too_long = codec_.EncryptSymlink(std::string(4000, 'p'));
  ASSERT_FALSE(too_long.ok());
  EXPECT_EQ(ENAMETOOLONG, too_long.error().sys_errno());
}

TEST_F(NameCodecTest, XattrNamesAndValuesRoundTripAndValuesAreBoundToTheirName) {
  const std::string name = codec_.EncryptXattrName("matterfs.privilege").value();
  auto back = codec_.DecryptXattrName(name);
  ASSERT_OK(back);
  EXPECT_EQ("matterfs.privilege", *back);
  EXPECT_EQ(name,
            codec_.EncryptXattrName("matterfs.privilege").value());  // deterministic: findable
  const Bytes value = test::Ascii("attorney-client");
  Bytes sealed = codec_.EncryptXattrValue(name, value);
  auto opened = codec_.DecryptXattrValue(name, sealed);
  ASSERT_OK(opened);
  EXPECT_EQ(value, *opened);
  const std::string other = codec_.EncryptXattrName("matterfs.other").value();
  EXPECT_FALSE(codec_.DecryptXattrValue(other, sealed).ok());
}

TEST(Base64UrlTest, RoundTripsAndRejectsPaddingAndForeignAlphabets) {
  for (size_t len = 0; len <= 70; ++len) {
    Bytes b = Seq(static_cast<uint8_t>(len * 3), len);
    std::string text = Base64UrlEncode(b);
    EXPECT_EQ((len * 4 + 2) / 3, text.size());
    auto back = Base64UrlDecode(text);
    ASSERT_TRUE(back.has_value()) << text;
    EXPECT_EQ(b, *back);
  }
  EXPECT_FALSE(Base64UrlDecode("Zg==").has_value());
  EXPECT_FALSE(Base64UrlDecode("+/+/").has_value());
  EXPECT_FALSE(Base64UrlDecode("Zm9v YmFy").has_value());
}

TEST(DirIvTest, MakeEncryptedDirWritesAFreshIvAndRefusesAnExistingName) {
  test::TempDir dir;
  UniqueFd parent(::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(parent.valid());
  bool extra_called = false;
  ASSERT_OK(MakeEncryptedDir(parent.get(), "one", 0750, [&](int fd) -> Status {
    extra_called = true;
    return WriteFileExclusive(fd, "extra", test::Ascii("x"), 0600);
  }));
  EXPECT_TRUE(extra_called);
  ASSERT_OK(MakeEncryptedDirImpl(parent.get(), "two", 0700, {}));
  struct stat st;
  ASSERT_EQ(0, ::stat(dir.Sub("one").c_str(), &st));
  EXPECT_EQ(0750u, st.st_mode & 07777);
  EXPECT_EQ(1u, test::ReadFileBytes(dir.Sub("one/extra")).size());

  UniqueFd one(::open(dir.Sub("one").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  UniqueFd two(::open(dir.Sub("two").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  auto iv1 = ReadDirIv(one.get());
  auto iv2 = ReadDirIv(two.get());
  ASSERT_OK(iv1);
  ASSERT_OK(iv2);
  EXPECT_NE(*iv1, *iv2);

  Status again = MakeEncryptedDirImpl(parent.get(), "one", 0700, {});
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(Code::kExists, again.error().code());
  // A failing `extra` leaves nothing behind.
  Status failed = MakeEncryptedDir(parent.get(), "three", 0700, [](int) -> Status {
    return Error(Code::kIo, "disk full", ENOSPC);
  });
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(-1, ::access(dir.Sub("three").c_str(), F_OK));
  size_t entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++entries;
  EXPECT_EQ(2u, entries) << "temporary directories must be cleaned up";
}

TEST(DirIvTest, MissingOrWrongSizedIvIsCorruption) {
  test::TempDir dir;
  UniqueFd fd(::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  auto r = ReadDirIv(fd.get());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Code::kCorruption, r.error().code());
  for (size_t size : {size_t{15}, size_t{17}, size_t{0}}) {
    test::WriteFileBytes(dir.Sub(".diriv"), Bytes(size, 1));
    r = ReadDirIv(fd.get());
    ASSERT_FALSE(r.ok()) << size;
    EXPECT_EQ(Code::kCorruption, r.error().code());
  }
  test::WriteFileBytes(dir.Sub(".diriv"), Bytes(16, 1));
  ASSERT_OK(ReadDirIv(fd.get()));
}

}  // namespace
}  // namespace matterfs::vault
