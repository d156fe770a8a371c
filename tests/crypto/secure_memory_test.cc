// SecureBuffer, SecretKey and the constant-time comparison.
#include "crypto/secure_memory.h"

#include <gtest/gtest.h>

#include <cstring>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "tests/crypto/test_util.h"

namespace matterfs::crypto {
namespace {

using test::Seq;

static_assert(!std::is_copy_constructible_v<SecretKey<KeyPurpose::kData>>);
static_assert(!std::is_copy_assignable_v<SecretKey<KeyPurpose::kData>>);
static_assert(std::is_nothrow_move_constructible_v<SecretKey<KeyPurpose::kData>>);
static_assert(!std::is_copy_constructible_v<SecureBuffer>);
// Purpose tags are distinct types: a name key cannot be passed as a data key.
static_assert(!std::is_convertible_v<SecretKey<KeyPurpose::kName>, SecretKey<KeyPurpose::kData>>);

TEST(SecureMemoryTest, InitIsIdempotent) {
  Init();
  Init();
}

TEST(SecureMemoryTest, BufferStartsZeroedAndTruncateWipesTheTail) {
  SecureBuffer b(64);
  ASSERT_EQ(64u, b.size());
  EXPECT_EQ(Bytes(64, 0), Bytes(b.span().begin(), b.span().end()));
  for (size_t i = 0; i < b.size(); ++i) b.data()[i] = 0xaa;
  b.Truncate(10);
  EXPECT_EQ(10u, b.size());
  for (size_t i = 10; i < 64; ++i) EXPECT_EQ(0, b.data()[i]) << i;
  b.Truncate(20);  // growing is a no-op
  EXPECT_EQ(10u, b.size());
}

TEST(SecureMemoryTest, MovesTransferOwnership) {
  SecureBuffer a(16);
  a.data()[0] = 7;
  SecureBuffer b(std::move(a));
  // The moved-from state is part of the contract. NOLINTNEXTLINE(*-use-after-move,*Move)
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(nullptr, a.data());  // NOLINT(bugprone-use-after-move,clang-analyzer-cplusplus.Move)
  EXPECT_EQ(7, b.data()[0]);
  SecureBuffer c;
  c = std::move(b);
  EXPECT_EQ(16u, c.size());
  EXPECT_TRUE(SecureBuffer(0).empty());
}

TEST(SecureMemoryTest, KeysFromBytesAndRandom) {
  auto k = SecretKey<KeyPurpose::kData>::FromBytes(Seq(3, 32));
  EXPECT_BYTES_EQ(Seq(3, 32), k.bytes());
  EXPECT_THROW(SecretKey<KeyPurpose::kData>::FromBytes(Seq(3, 31)), std::invalid_argument);
  auto r1 = SecretKey<KeyPurpose::kData>::Random();
  auto r2 = SecretKey<KeyPurpose::kData>::Random();
  EXPECT_NE(ToHex(r1.bytes()), ToHex(r2.bytes()));
  EXPECT_NE(ToHex(r1.bytes()), ToHex(Bytes(32, 0)));
}

TEST(SecureMemoryTest, ConstantTimeEqual) {
  EXPECT_TRUE(ConstantTimeEqual(Seq(0, 32), Seq(0, 32)));
  EXPECT_FALSE(ConstantTimeEqual(Seq(0, 32), Seq(1, 32)));
  EXPECT_FALSE(ConstantTimeEqual(Seq(0, 32), Seq(0, 31)));
  EXPECT_TRUE(ConstantTimeEqual({}, {}));
}

TEST(SecureMemoryTest, RandomBytesAreNotConstant) {
  Bytes a(32), b(32);
  RandomBytes(a);
  RandomBytes(b);
  EXPECT_NE(a, b);
}

// The shared pool for per-file keys: one 64 KiB region serves 128 keys (instead of a
// region, with its guard pages and mappings, per key); a limit turns "too many open files"
// into a clean PoolExhausted; freed slots are reused and emptied regions given back.
TEST(SecurePoolTest, ManyKeysShareFewRegionsAndALimitIsAnError) {
  const size_t base_in_use = SecurePoolStatistics().slots_in_use;
  SetSecurePoolLimit(base_in_use + 300);
  std::vector<SecureBuffer> keys;
  for (int i = 0; i < 300; ++i) {
    keys.emplace_back(512, Storage::kPooled);
    const SecureBuffer& k = keys.back();
    ASSERT_EQ(k.size(), 512u);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(k.data()) % 16, 0u) << "aligned for an AES-GCM state";
    EXPECT_EQ(ToHex(k.span()), ToHex(Bytes(512, 0))) << "handed out zeroed";
    std::memset(keys.back().data(), 0xA5, 512);
  }
  const SecurePoolStats full = SecurePoolStatistics();
  EXPECT_EQ(full.slots_in_use, base_in_use + 300);
  EXPECT_LE(full.chunks, 4u) << "300 keys in a handful of regions";
  EXPECT_THROW(SecureBuffer(32, Storage::kPooled), PoolExhausted);
  // Freed slots come back zeroed.
  keys.erase(keys.begin(), keys.begin() + 10);
  for (int i = 0; i < 10; ++i) {
    SecureBuffer again(512, Storage::kPooled);
    EXPECT_EQ(ToHex(again.span()), ToHex(Bytes(512, 0)));
  }
  keys.clear();
  EXPECT_EQ(SecurePoolStatistics().slots_in_use, base_in_use);
  EXPECT_LE(SecurePoolStatistics().chunks, 1u) << "emptied regions are given back";
  EXPECT_THROW(SecureBuffer(kPoolSlotSize + 1, Storage::kPooled), std::invalid_argument);
  SetSecurePoolLimit(0);
}

TEST(SecurePoolTest, DataKeysArePooledOtherKeysAreNot) {
  const size_t before = SecurePoolStatistics().slots_in_use;
  {
    auto dek = SecretKey<KeyPurpose::kData>::Random();
    EXPECT_EQ(SecurePoolStatistics().slots_in_use, before + 1);
    auto name_key = SecretKey<KeyPurpose::kName>::Random();
    EXPECT_EQ(SecurePoolStatistics().slots_in_use, before + 1);
    auto moved = std::move(dek);
    EXPECT_EQ(SecurePoolStatistics().slots_in_use, before + 1) << "a move keeps one slot";
  }
  EXPECT_EQ(SecurePoolStatistics().slots_in_use, before);
}

}  // namespace
}  // namespace matterfs::crypto
