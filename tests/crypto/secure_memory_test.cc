// SecureBuffer, SecretKey and the constant-time comparison.
#include "crypto/secure_memory.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <type_traits>

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

}  // namespace
}  // namespace matterfs::crypto
