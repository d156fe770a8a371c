// Helpers shared by the unit tests: hex literals, counting byte strings, bit flips.
// Header-only; used by tests/crypto and tests/vault.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "util/bytes.h"

namespace matterfs::test {

// Bytes from hex; spaces are ignored so that long vectors can be split for reading.
inline Bytes Hex(std::string_view hex) {
  std::string compact;
  for (char c : hex) {
    if (c != ' ') compact.push_back(c);
  }
  auto out = FromHex(compact);
  if (!out) throw std::invalid_argument("bad hex in a test vector");
  return *out;
}

// first, first+1, ... (n bytes, wrapping at 256): the inputs of docs/FORMAT_VECTORS.md.
inline Bytes Seq(uint8_t first, size_t n) {
  Bytes out(n);
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<uint8_t>(first + i);
  return out;
}

inline Bytes Ascii(std::string_view s) { return {s.begin(), s.end()}; }

// A copy of `data` with bit `bit` (0 = least significant bit of byte 0) inverted.
inline Bytes FlipBit(ByteSpan data, size_t bit) {
  Bytes out(data.begin(), data.end());
  out[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
  return out;
}

// Compares as hex so that a failure prints readable values.
#define EXPECT_BYTES_EQ(expected, actual) \
  EXPECT_EQ(::matterfs::ToHex(expected), ::matterfs::ToHex(actual))
#define ASSERT_BYTES_EQ(expected, actual) \
  ASSERT_EQ(::matterfs::ToHex(expected), ::matterfs::ToHex(actual))

// Asserts a Result is ok, printing its error otherwise.
#define ASSERT_OK(expr)                                                    \
  do {                                                                     \
    const auto& mfs_r_ = (expr);                                           \
    ASSERT_TRUE(mfs_r_.ok()) << #expr << ": " << mfs_r_.error().message(); \
  } while (0)
#define EXPECT_OK(expr)                                                    \
  do {                                                                     \
    const auto& mfs_r_ = (expr);                                           \
    EXPECT_TRUE(mfs_r_.ok()) << #expr << ": " << mfs_r_.error().message(); \
  } while (0)

}  // namespace matterfs::test
