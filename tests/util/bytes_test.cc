// util/bytes.h: the little-endian field accessors of the on-disk formats and hex.
#include "util/bytes.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string>

namespace matterfs {
namespace {

TEST(BytesTest, PutU16WritesLittleEndianAndNothingElse) {
  std::array<uint8_t, 4> buf = {0xaa, 0xaa, 0xaa, 0xaa};
  PutU16(buf.data() + 1, 0x1234);
  EXPECT_EQ(buf, (std::array<uint8_t, 4>{0xaa, 0x34, 0x12, 0xaa}));
}

TEST(BytesTest, PutU32WritesLittleEndianAndNothingElse) {
  std::array<uint8_t, 6> buf = {0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa};
  PutU32(buf.data() + 1, 0x01020304);
  EXPECT_EQ(buf, (std::array<uint8_t, 6>{0xaa, 0x04, 0x03, 0x02, 0x01, 0xaa}));
}

TEST(BytesTest, PutU64WritesLittleEndianAndNothingElse) {
  std::array<uint8_t, 10> buf;
  buf.fill(0xaa);
  PutU64(buf.data() + 1, 0x0102030405060708ull);
  EXPECT_EQ(buf,
            (std::array<uint8_t, 10>{0xaa, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, 0xaa}));
}

TEST(BytesTest, GetReadsLittleEndian) {
  const uint8_t bytes[8] = {0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01};
  EXPECT_EQ(GetU16(bytes), 0x0708u);
  EXPECT_EQ(GetU32(bytes), 0x05060708u);
  EXPECT_EQ(GetU64(bytes), 0x0102030405060708ull);
}

TEST(BytesTest, HighBitsSurviveTheRoundTrip) {
  // Values whose top byte is >= 0x80 catch sign extension and shifts done in int.
  uint8_t buf[8];
  for (uint16_t v : {uint16_t{0}, uint16_t{1}, uint16_t{0x00ff}, uint16_t{0x8000}, uint16_t{0xfffe},
                     uint16_t{0xffff}}) {
    PutU16(buf, v);
    EXPECT_EQ(GetU16(buf), v);
  }
  for (uint32_t v : {0u, 1u, 0xffu, 0x80000000u, 0x80808080u, 0xfffffffeu, 0xffffffffu}) {
    PutU32(buf, v);
    EXPECT_EQ(GetU32(buf), v);
  }
  for (uint64_t v : {0ull, 1ull, 0xffull, 0x8000000000000000ull, 0x8080808080808080ull,
                     0xfffffffffffffffeull, 0xffffffffffffffffull}) {
    PutU64(buf, v);
    EXPECT_EQ(GetU64(buf), v);
  }
}

TEST(BytesTest, ToHexIsLowerCaseTwoDigitsPerByte) {
  const Bytes bytes = {0x00, 0x0f, 0xf0, 0xff, 0x5a};
  EXPECT_EQ(ToHex(bytes), "000ff0ff5a");
  EXPECT_EQ(ToHex(Bytes{}), "");
}

TEST(BytesTest, HexRoundTripOfEveryByteValue) {
  Bytes all(256);
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<uint8_t>(i);
  const std::string hex = ToHex(all);
  ASSERT_EQ(hex.size(), 512u);
  auto back = FromHex(hex);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, all);
}

TEST(BytesTest, FromHexAcceptsBothCases) {
  EXPECT_EQ(FromHex("aBcDeF09"), (Bytes{0xab, 0xcd, 0xef, 0x09}));
  EXPECT_EQ(FromHex("ABCDEF"), FromHex("abcdef"));
}

TEST(BytesTest, FromHexOfNothingIsNoBytes) {
  auto empty = FromHex("");
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(empty->empty());
}

TEST(BytesTest, FromHexRejectsBadHex) {
  for (const char* bad :
       {"0", "abc", "0g", "g0", "zz", "0x12", " 12", "12 ", "1 2", "-1", "12\n", "+f", "ab:cd"}) {
    EXPECT_FALSE(FromHex(bad).has_value()) << '"' << bad << '"';
  }
  // A NUL inside the view is a bad digit too, not the end of the input.
  EXPECT_FALSE(FromHex(std::string_view("1\0", 2)).has_value());
}

TEST(BytesTest, AsBytesViewsTheSameMemory) {
  const std::string s = "hello";
  ByteSpan span = AsBytes(s);
  EXPECT_EQ(span.size(), s.size());
  EXPECT_EQ(static_cast<const void*>(span.data()), static_cast<const void*>(s.data()));
  EXPECT_EQ(ToHex(AsBytes(std::string_view("ab\0c", 4))), "61620063");
}

}  // namespace
}  // namespace matterfs
