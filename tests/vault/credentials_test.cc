// Reading the unlocking secret from --passphrase-file / --key-file (never the terminal here).
#include "fs/vault/credentials.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "tests/crypto/test_util.h"
#include "tests/vault/vault_test_util.h"

namespace matterfs::vault {
namespace {

using test::Ascii;
using test::Seq;

std::string SecretText(const Credential& c) {
  return {reinterpret_cast<const char*>(c.secret.data()), c.secret.size()};
}

class CredentialsTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, ByteSpan contents) {
    std::string path = dir_.Sub(name);
    test::WriteFileBytes(path, contents);
    return path;
  }
  static UnlockOptions PassphraseFile(std::string path) {
    UnlockOptions o;
    o.passphrase_file = std::move(path);
    return o;
  }
  static UnlockOptions KeyFileOption(std::string path) {
    UnlockOptions o;
    o.key_file = std::move(path);
    return o;
  }
  test::TempDir dir_;
};

TEST_F(CredentialsTest, PassphraseFileStripsOneTrailingNewline) {
  struct Case {
    const char* contents;
    const char* expected;
  };
  static constexpr Case kCases[] = {
      {"correct horse\n", "correct horse"},   {"correct horse", "correct horse"},
      {"correct horse\r\n", "correct horse"}, {"two lines\n\n", "two lines\n"},
      {" spaces kept ", " spaces kept "},
  };
  for (const Case& c : kCases) {
    auto cred = ReadCredential(PassphraseFile(Write("pass", Ascii(c.contents))), "unused", false);
    ASSERT_OK(cred);
    EXPECT_EQ(SlotKind::kPassphrase, cred->kind);
    EXPECT_EQ(c.expected, SecretText(*cred));
  }
}

TEST_F(CredentialsTest, EmptyPassphraseFileIsRefused) {
  for (const char* contents : {"", "\n", "\r\n"}) {
    auto cred = ReadCredential(PassphraseFile(Write("pass", Ascii(contents))), "unused", false);
    ASSERT_FALSE(cred.ok());
    EXPECT_EQ(Code::kInvalidArgument, cred.error().code());
  }
}

TEST_F(CredentialsTest, KeyFileIsTakenVerbatimAndMustHave32Bytes) {
  Bytes contents = Seq(0, 40);
  contents.push_back('\n');  // binary key files are never stripped
  auto cred = ReadCredential(KeyFileOption(Write("key", contents)), "unused", false);
  ASSERT_OK(cred);
  EXPECT_EQ(SlotKind::kKeyFile, cred->kind);
  EXPECT_BYTES_EQ(contents, cred->secret.span());

  ASSERT_OK(ReadCredential(KeyFileOption(Write("key32", Seq(0, 32))), "unused", false));
  auto short_key = ReadCredential(KeyFileOption(Write("key31", Seq(0, 31))), "unused", false);
  ASSERT_FALSE(short_key.ok());
  EXPECT_EQ(Code::kInvalidArgument, short_key.error().code());
  auto empty = ReadCredential(KeyFileOption(Write("empty", {})), "unused", false);
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(Code::kInvalidArgument, empty.error().code());
}

TEST_F(CredentialsTest, OversizedFilesAreRefused) {
  auto big_pass = ReadCredential(PassphraseFile(Write("pass", Bytes(4097, 'p'))), "", false);
  ASSERT_FALSE(big_pass.ok());
  EXPECT_EQ(Code::kInvalidArgument, big_pass.error().code());
  auto big_key = ReadCredential(KeyFileOption(Write("key", Bytes((1 << 20) + 1, 'k'))), "", false);
  ASSERT_FALSE(big_key.ok());
  EXPECT_EQ(Code::kInvalidArgument, big_key.error().code());
  ASSERT_OK(ReadCredential(KeyFileOption(Write("key", Bytes(1 << 20, 'k'))), "", false));
}

TEST_F(CredentialsTest, BothFilesGivenMakeOneTwoFactorCredential) {
  UnlockOptions o;
  o.passphrase_file = Write("pass", Ascii("pw\n"));
  o.key_file = Write("key", Seq(0, 32));
  auto cred = ReadCredential(o, "unused", false);
  ASSERT_OK(cred);
  EXPECT_EQ(SlotKind::kPassphraseKeyFile, cred->kind);
  EXPECT_EQ(Ascii("pw"), Bytes(cred->secret.span().begin(), cred->secret.span().end()));
  EXPECT_EQ(Seq(0, 32), Bytes(cred->second.span().begin(), cred->second.span().end()));
  // A key file and a FIDO2 token are two second factors: refused before any is read.
  o.fido2 = true;
  auto both = ReadCredential(o, "unused", false);
  ASSERT_FALSE(both.ok());
  EXPECT_EQ(Code::kInvalidArgument, both.error().code());
}

TEST_F(CredentialsTest, PassphraseStrengthIsEstimatedByZxcvbn) {
  EXPECT_LT(PassphraseBits(Ascii("password1")), 20);
  EXPECT_LT(PassphraseBits(Ascii("Summer2026!")), kMinPassphraseBits);
  EXPECT_GE(PassphraseBits(Ascii("quartz lantern obelisk mirthful gravy")), kMinPassphraseBits);
  EXPECT_NE("", PassphraseWarning(test::Passphrase("letmein")));
  EXPECT_EQ("", PassphraseWarning(test::KeyFile(Seq(0, 32))));
}

TEST_F(CredentialsTest, MissingFileIsNotFound) {
  auto a = ReadCredential(PassphraseFile(dir_.Sub("no-such-file")), "unused", false);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(Code::kNotFound, a.error().code());
  auto b = ReadCredential(KeyFileOption(dir_.Sub("no-such-file")), "unused", false);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(Code::kNotFound, b.error().code());
}

TEST_F(CredentialsTest, ReadSecretLineStopsAtNewline) {
  int fds[2];
  ASSERT_EQ(0, ::pipe(fds));
  const std::string input = "first line\r\nsecond line\n";
  ASSERT_EQ(static_cast<ssize_t>(input.size()), ::write(fds[1], input.data(), input.size()));
  ::close(fds[1]);
  auto first = ReadSecretLine(fds[0]);
  ASSERT_OK(first);
  EXPECT_EQ("first line", std::string(reinterpret_cast<const char*>(first->data()), first->size()));
  auto second = ReadSecretLine(fds[0]);
  ASSERT_OK(second);
  EXPECT_EQ(11u, second->size());
  auto eof = ReadSecretLine(fds[0]);
  ASSERT_OK(eof);
  EXPECT_TRUE(eof->empty());
  ::close(fds[0]);
}

}  // namespace
}  // namespace matterfs::vault
