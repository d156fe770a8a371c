// Matter keyrings: one copy's serialisation and authentication, and the two-copy file
// (A/B updates, falling back to the older copy when the newer one is damaged).
#include "fs/vault/keyring.h"

#include <fcntl.h>
#include <gtest/gtest.h>

#include <cstring>

#include "tests/crypto/test_util.h"
#include "tests/vault/vault_test_util.h"
#include "util/unique_fd.h"

namespace matterfs::vault {
namespace {

using test::FlipBit;
using test::Seq;

MatterId Id(uint8_t first) {
  MatterId id;
  Bytes b = Seq(first, kIdSize);
  std::memcpy(id.data(), b.data(), kIdSize);
  return id;
}

class KeyringTest : public ::testing::Test {
 protected:
  VaultSubkey wrap_ = VaultSubkey::Random();
  VaultSubkey mac_ = VaultSubkey::Random();
  KeyringKeys keys() const { return {wrap_, mac_}; }
  const VaultId vault_ = Id(0x50);
  const MatterId matter_ = Id(0x30);
};

void ExpectSameKeys(const Keyring& a, const Keyring& b) {
  EXPECT_BYTES_EQ(a.name_key->bytes(), b.name_key->bytes());
  ASSERT_EQ(a.wrap_keys.size(), b.wrap_keys.size());
  for (const auto& [version, key] : a.wrap_keys) {
    ASSERT_EQ(1u, b.wrap_keys.count(version)) << version;
    EXPECT_BYTES_EQ(key->bytes(), b.wrap_keys.at(version)->bytes());
  }
}

TEST_F(KeyringTest, CopyRoundTrips) {
  Keyring ring = Keyring::Create(vault_, matter_);
  EXPECT_EQ(1u, ring.sequence);
  EXPECT_EQ(1u, ring.current_version);
  EXPECT_EQ(MatterStatus::kOpen, ring.status);
  ring.status = MatterStatus::kHold;
  ring.sequence = 41;
  ring.wrap_keys.emplace(2, std::make_unique<MatterWrapKey>(MatterWrapKey::Random()));
  ring.current_version = 2;
  const Bytes copy = ring.SerializeCopy(keys());
  ASSERT_EQ(kKeyringCopySize, copy.size());
  EXPECT_EQ(0, std::memcmp(copy.data(), "MFSKEYRG", 8));
  auto parsed = Keyring::ParseCopy(copy, keys(), vault_, matter_);
  ASSERT_OK(parsed);
  EXPECT_EQ(MatterStatus::kHold, parsed->status);
  EXPECT_EQ(41u, parsed->sequence);
  EXPECT_EQ(2u, parsed->current_version);
  EXPECT_EQ(vault_, parsed->vault_id);
  EXPECT_EQ(matter_, parsed->matter_id);
  ExpectSameKeys(ring, *parsed);
}

TEST_F(KeyringTest, HoldsTheMaximumNumberOfKeyVersions) {
  Keyring ring = Keyring::Create(vault_, matter_);
  for (uint32_t v = 2; v <= kMaxKeyVersions; ++v) {
    ring.wrap_keys.emplace(v, std::make_unique<MatterWrapKey>(MatterWrapKey::Random()));
  }
  ring.current_version = kMaxKeyVersions;
  auto parsed = Keyring::ParseCopy(ring.SerializeCopy(keys()), keys(), vault_, matter_);
  ASSERT_OK(parsed);
  ExpectSameKeys(ring, *parsed);
}

TEST_F(KeyringTest, RejectsEverySingleBitFlipOfACopy) {
  Keyring ring = Keyring::Create(vault_, matter_);
  ring.wrap_keys.emplace(2, std::make_unique<MatterWrapKey>(MatterWrapKey::Random()));
  const Bytes copy = ring.SerializeCopy(keys());
  ASSERT_OK(Keyring::ParseCopy(copy, keys(), vault_, matter_));
  for (size_t bit = 0; bit < copy.size() * 8; ++bit) {
    auto r = Keyring::ParseCopy(FlipBit(copy, bit), keys(), vault_, matter_);
    ASSERT_FALSE(r.ok()) << "keyring bit " << bit << " flipped and still parses";
    // A higher format version is reported as such (before the MAC, which a newer
    // format may compute differently); every other flip is corruption.
    const bool version_field = bit / 8 == 8 || bit / 8 == 9;
    if (version_field && r.error().code() == Code::kUnsupported) continue;
    ASSERT_EQ(Code::kCorruption, r.error().code()) << bit;
  }
}

TEST_F(KeyringTest, RejectsOtherKeysOrIdsOrSize) {
  Keyring ring = Keyring::Create(vault_, matter_);
  const Bytes copy = ring.SerializeCopy(keys());
  VaultSubkey other = VaultSubkey::Random();
  EXPECT_FALSE(Keyring::ParseCopy(copy, {wrap_, other}, vault_, matter_).ok());
  EXPECT_FALSE(Keyring::ParseCopy(copy, {other, mac_}, vault_, matter_).ok());
  EXPECT_FALSE(Keyring::ParseCopy(copy, keys(), Id(0x51), matter_).ok());
  EXPECT_FALSE(Keyring::ParseCopy(copy, keys(), vault_, Id(0x31)).ok());
  EXPECT_FALSE(Keyring::ParseCopy(ByteSpan(copy).first(2047), keys(), vault_, matter_).ok());
  Bytes longer = copy;
  longer.push_back(0);
  EXPECT_FALSE(Keyring::ParseCopy(longer, keys(), vault_, matter_).ok());
  // A copy of a keyring that belongs to another matter, MAC'ed with this vault's keys
  // (say, a keyring file renamed over another): refused.
  Keyring theirs = Keyring::Create(vault_, Id(0x31));
  auto r = Keyring::ParseCopy(theirs.SerializeCopy(keys()), keys(), vault_, matter_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Code::kCorruption, r.error().code());
}

TEST_F(KeyringTest, SerializedCopyHoldsNoKeyInTheClear) {
  Keyring ring = Keyring::Create(vault_, matter_);
  const Bytes copy = ring.SerializeCopy(keys());
  auto contains = [&](ByteSpan needle) {
    return std::search(copy.begin(), copy.end(), needle.begin(), needle.end()) != copy.end();
  };
  EXPECT_FALSE(contains(ring.name_key->bytes()));
  EXPECT_FALSE(contains(ring.wrap_keys.at(1)->bytes()));
  EXPECT_FALSE(contains(wrap_.bytes()));
  EXPECT_FALSE(contains(mac_.bytes()));
}

class KeyringFileTest : public KeyringTest {
 protected:
  void SetUp() override {
    keystore_ = UniqueFd(::open(dir_.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(keystore_.valid());
    ring_ = Keyring::Create(vault_, matter_);
    ASSERT_OK(CreateKeyringFile(keystore_.get(), ring_, keys()));
  }
  std::string FilePath() const { return dir_.Sub(KeyringFileName(matter_)); }
  Result<Keyring> Read() const { return ReadKeyringFile(keystore_.get(), vault_, matter_, keys()); }
  Status SetStatus(MatterStatus s) {
    return UpdateKeyringFile(keystore_.get(), vault_, matter_, keys(), [&](Keyring& r) -> Status {
      r.status = s;
      return {};
    });
  }
  // Sequence numbers of copies A and B (0 for a copy that does not parse).
  std::pair<uint64_t, uint64_t> Sequences() const {
    Bytes file = test::ReadFileBytes(FilePath());
    auto seq = [&](size_t i) -> uint64_t {
      auto r = Keyring::ParseCopy(ByteSpan(file).subspan(i * kKeyringCopySize, kKeyringCopySize),
                                  keys(), vault_, matter_);
      return r.ok() ? r->sequence : 0;
    };
    return {seq(0), seq(1)};
  }
  void CorruptCopy(size_t index) {
    Bytes file = test::ReadFileBytes(FilePath());
    file[index * kKeyringCopySize + 100] ^= 0x01;
    test::WriteFileBytes(FilePath(), file);
  }

  test::TempDir dir_;
  UniqueFd keystore_;
  Keyring ring_;
};

TEST_F(KeyringFileTest, FileHoldsTwoIdenticalCopiesAtFirst) {
  EXPECT_EQ(KeyringFileName(matter_), ToHex(matter_) + ".keyring");
  Bytes file = test::ReadFileBytes(FilePath());
  ASSERT_EQ(kKeyringFileSize, file.size());
  EXPECT_EQ(Bytes(file.begin(), file.begin() + kKeyringCopySize),
            Bytes(file.begin() + kKeyringCopySize, file.end()));
  auto r = Read();
  ASSERT_OK(r);
  ExpectSameKeys(ring_, *r);
  EXPECT_EQ(1u, r->sequence);
}

TEST_F(KeyringFileTest, CreateRefusesAnExistingFileAndReadReportsAMissingOne) {
  Status st = CreateKeyringFile(keystore_.get(), ring_, keys());
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(Code::kExists, st.error().code());
  auto r = ReadKeyringFile(keystore_.get(), vault_, Id(0x99), keys());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Code::kNotFound, r.error().code());
}

TEST_F(KeyringFileTest, UpdatesReachBothCopiesAndSurviveReRead) {
  ASSERT_OK(SetStatus(MatterStatus::kClosed));
  auto r = Read();
  ASSERT_OK(r);
  EXPECT_EQ(MatterStatus::kClosed, r->status);
  EXPECT_EQ(2u, r->sequence);
  ExpectSameKeys(ring_, *r);
  // Both copies carry a completed update, so a later loss of either cannot roll it back.
  EXPECT_EQ(std::make_pair(uint64_t{2}, uint64_t{2}), Sequences());

  ASSERT_OK(SetStatus(MatterStatus::kHold));
  r = Read();
  ASSERT_OK(r);
  EXPECT_EQ(MatterStatus::kHold, r->status);
  EXPECT_EQ(3u, r->sequence);
  EXPECT_EQ(std::make_pair(uint64_t{3}, uint64_t{3}), Sequences());

  ASSERT_OK(SetStatus(MatterStatus::kOpen));
  EXPECT_EQ(std::make_pair(uint64_t{4}, uint64_t{4}), Sequences());
  r = Read();
  ASSERT_OK(r);
  EXPECT_EQ(MatterStatus::kOpen, r->status);
  EXPECT_EQ(4u, r->sequence);
  EXPECT_EQ(kKeyringFileSize, test::ReadFileBytes(FilePath()).size());
}

TEST_F(KeyringFileTest, FallsBackToTheOlderCopyWhenTheNewestIsCorrupt) {
  ASSERT_OK(SetStatus(MatterStatus::kClosed));  // both copies: seq 2, closed
  const Bytes before = test::ReadFileBytes(FilePath());
  ASSERT_OK(SetStatus(MatterStatus::kHold));  // both copies: seq 3, hold
  const Bytes after = test::ReadFileBytes(FilePath());

  // A crash between the two copy writes of the second update: copy A new, copy B old.
  Bytes mixed(after.begin(), after.begin() + kKeyringCopySize);
  mixed.insert(mixed.end(), before.begin() + kKeyringCopySize, before.end());
  test::WriteFileBytes(FilePath(), mixed);
  ASSERT_EQ(std::make_pair(uint64_t{3}, uint64_t{2}), Sequences());
  auto r = Read();
  ASSERT_OK(r);
  EXPECT_EQ(3u, r->sequence);
  EXPECT_EQ(MatterStatus::kHold, r->status);

  // A torn write of the newest copy: the reader falls back to the older one.
  CorruptCopy(0);
  r = Read();
  ASSERT_OK(r);
  EXPECT_EQ(2u, r->sequence);
  EXPECT_EQ(MatterStatus::kClosed, r->status);
  ExpectSameKeys(ring_, *r);

  // The next update repairs the damaged copy first and then brings both up to date.
  ASSERT_OK(SetStatus(MatterStatus::kOpen));
  EXPECT_EQ(std::make_pair(uint64_t{3}, uint64_t{3}), Sequences());
  r = Read();
  ASSERT_OK(r);
  EXPECT_EQ(MatterStatus::kOpen, r->status);
}

TEST_F(KeyringFileTest, BothCopiesCorruptOrATruncatedFileIsCorruption) {
  CorruptCopy(0);
  ASSERT_OK(Read());
  CorruptCopy(1);
  auto r = Read();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Code::kCorruption, r.error().code());
  Status st = SetStatus(MatterStatus::kClosed);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(Code::kCorruption, st.error().code());

  Bytes file = test::ReadFileBytes(FilePath());
  file.resize(kKeyringFileSize - 1);
  test::WriteFileBytes(FilePath(), file);
  r = Read();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Code::kCorruption, r.error().code());
}

TEST_F(KeyringFileTest, AFailedMutationWritesNothing) {
  const Bytes before = test::ReadFileBytes(FilePath());
  Status st = UpdateKeyringFile(keystore_.get(), vault_, matter_, keys(), [](Keyring&) -> Status {
    return Error(Code::kPermissionDenied, "policy says no");
  });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(Code::kPermissionDenied, st.error().code());
  EXPECT_EQ(before, test::ReadFileBytes(FilePath()));
}

TEST_F(KeyringFileTest, RefusesToWriteMoreKeyVersionsThanACopyHolds) {
  Status st = UpdateKeyringFile(keystore_.get(), vault_, matter_, keys(), [](Keyring& r) -> Status {
    for (uint32_t v = 2; v <= kMaxKeyVersions + 1; ++v) {
      r.wrap_keys.emplace(v, std::make_unique<MatterWrapKey>(MatterWrapKey::Random()));
    }
    r.current_version = kMaxKeyVersions + 1;
    return {};
  });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(Code::kInvalidArgument, st.error().code());
  auto r = Read();
  ASSERT_OK(r);
  EXPECT_EQ(1u, r->wrap_keys.size());
}

}  // namespace
}  // namespace matterfs::vault
