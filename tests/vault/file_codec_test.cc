// File header, block layout and FileCrypto: sizes, tampering, and blocks or headers moved
// between positions, files, matters and key versions.
#include "fs/vault/file_codec.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "fs/vault/encrypted_file.h"
#include "tests/crypto/test_util.h"

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

// A keyring whose wrapping keys are fixed bytes, so that two keyrings can share keys.
// `versions` lists (version, first byte of that version's key).
Keyring FixedRing(const MatterId& matter, const std::vector<std::pair<uint32_t, uint8_t>>& versions,
                  uint32_t current) {
  Keyring r;
  r.vault_id = Id(0xa0);
  r.matter_id = matter;
  r.sequence = 1;
  r.current_version = current;
  r.name_key = std::make_unique<NameKey>(NameKey::FromBytes(Seq(0xe0, 32)));
  for (auto [version, first] : versions) {
    r.wrap_keys.emplace(version,
                        std::make_unique<MatterWrapKey>(MatterWrapKey::FromBytes(Seq(first, 32))));
  }
  return r;
}

std::vector<crypto::Cipher> UsableCiphers() {
  std::vector<crypto::Cipher> out = {crypto::Cipher::kXChaCha20Poly1305};
  if (crypto::AesGcmAvailable()) out.push_back(crypto::Cipher::kAes256Gcm);
  return out;
}

Bytes SealBlock(const FileCrypto& fc, uint64_t index, ByteSpan plain) {
  Bytes out(plain.size() + fc.layout().overhead());
  fc.SealBlock(index, plain, out.data());
  return out;
}

bool Opens(const FileCrypto& fc, uint64_t index, ByteSpan stored) {
  Bytes out(stored.size());
  return fc.OpenBlock(index, stored, out.data());
}

struct NewFile {
  FileCrypto crypto;
  FileHeader header;
};
NewFile Create(crypto::Cipher cipher, const Keyring& ring) {
  auto r = FileCrypto::Create(cipher, ring);
  if (!r.ok()) throw std::runtime_error(r.error().message());
  return {std::move(r->first), std::move(r->second)};
}

TEST(FileHeaderTest, SerializeParseRoundTrip) {
  Keyring ring = Keyring::Create(Id(1), Id(2));
  for (crypto::Cipher cipher : UsableCiphers()) {
    NewFile f = Create(cipher, ring);
    auto raw = f.header.Serialize();
    ASSERT_EQ(kHeaderSize, raw.size());
    EXPECT_EQ(0, std::memcmp(raw.data(), "MFSF", 4));
    auto parsed = FileHeader::Parse(raw);
    ASSERT_OK(parsed);
    EXPECT_EQ(cipher, parsed->cipher);
    EXPECT_EQ(1u, parsed->key_version);
    EXPECT_EQ(f.header.file_id, parsed->file_id);
    EXPECT_EQ(f.header.wrapped_dek, parsed->wrapped_dek);
    EXPECT_EQ(f.crypto.file_id(), parsed->file_id);
  }
}

TEST(FileHeaderTest, ParseRejectsMalformedHeaders) {
  Keyring ring = Keyring::Create(Id(1), Id(2));
  NewFile f = Create(crypto::Cipher::kXChaCha20Poly1305, ring);
  const auto good = f.header.Serialize();
  auto parse = [](Bytes b) { return FileHeader::Parse(b); };

  auto r = parse(Bytes(good.begin(), good.end() - 1));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Code::kCorruption, r.error().code());

  Bytes b(good.begin(), good.end());
  b[0] = 'X';
  r = parse(b);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Code::kCorruption, r.error().code());

  b.assign(good.begin(), good.end());
  b[4] = 4;  // file format version 4
  r = parse(b);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Code::kUnsupported, r.error().code());
  EXPECT_NE(std::string::npos, r.error().message().find("version 4")) << r.error().message();

  b[4] = 0;
  r = parse(b);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Code::kCorruption, r.error().code());

  for (uint8_t cipher : {uint8_t{0}, uint8_t{3}, uint8_t{255}}) {
    b.assign(good.begin(), good.end());
    b[5] = cipher;
    r = parse(b);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(Code::kCorruption, r.error().code());
  }

  b.assign(good.begin(), good.end());
  b[7] = 0x80;  // flags
  r = parse(b);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Code::kCorruption, r.error().code());
}

TEST(FileCryptoTest, BlocksRoundTripThroughAReopenedHeader) {
  Keyring ring = Keyring::Create(Id(1), Id(2));
  for (crypto::Cipher cipher : UsableCiphers()) {
    SCOPED_TRACE(crypto::CipherName(cipher));
    NewFile f = Create(cipher, ring);
    EXPECT_EQ(crypto::BlockCipher::Overhead(cipher), f.crypto.layout().overhead());
    Bytes plain(kBlockSize);
    crypto::RandomBytes(plain);
    Bytes b0 = SealBlock(f.crypto, 0, plain);
    Bytes b1 = SealBlock(f.crypto, 1, ByteSpan(plain).first(17));

    auto header = FileHeader::Parse(f.header.Serialize());
    ASSERT_OK(header);
    auto reopened = FileCrypto::Open(*header, ring);
    ASSERT_OK(reopened);
    Bytes out(kBlockSize);
    ASSERT_TRUE(reopened->OpenBlock(0, b0, out.data()));
    EXPECT_EQ(plain, out);
    ASSERT_TRUE(reopened->OpenBlock(1, b1, out.data()));
    EXPECT_EQ(Bytes(plain.begin(), plain.begin() + 17), Bytes(out.begin(), out.begin() + 17));
  }
}

TEST(FileCryptoTest, EveryFileGetsItsOwnIdAndKey) {
  Keyring ring = Keyring::Create(Id(1), Id(2));
  NewFile a = Create(crypto::Cipher::kXChaCha20Poly1305, ring);
  NewFile b = Create(crypto::Cipher::kXChaCha20Poly1305, ring);
  EXPECT_NE(a.header.file_id, b.header.file_id);
  EXPECT_NE(a.header.wrapped_dek, b.header.wrapped_dek);
}

TEST(FileCryptoTest, RejectsEverySingleBitFlipOfTheHeader) {
  Keyring ring = Keyring::Create(Id(1), Id(2));
  for (crypto::Cipher cipher : UsableCiphers()) {
    SCOPED_TRACE(crypto::CipherName(cipher));
    NewFile f = Create(cipher, ring);
    const auto raw = f.header.Serialize();
    ASSERT_OK(FileCrypto::Open(*FileHeader::Parse(raw), ring));
    for (size_t bit = 0; bit < raw.size() * 8; ++bit) {
      auto header = FileHeader::Parse(FlipBit(raw, bit));
      if (!header.ok()) continue;
      auto opened = FileCrypto::Open(*header, ring);
      ASSERT_FALSE(opened.ok()) << "header bit " << bit << " flipped and still opens";
      EXPECT_EQ(Code::kCorruption, opened.error().code()) << bit;
    }
  }
}

TEST(FileCryptoTest, RejectsEverySingleBitFlipOfASealedBlock) {
  Keyring ring = Keyring::Create(Id(1), Id(2));
  for (crypto::Cipher cipher : UsableCiphers()) {
    SCOPED_TRACE(crypto::CipherName(cipher));
    NewFile f = Create(cipher, ring);
    Bytes plain(kBlockSize);
    crypto::RandomBytes(plain);
    const Bytes stored = SealBlock(f.crypto, 5, plain);
    ASSERT_EQ(f.crypto.layout().stored_block_size(), stored.size());
    ASSERT_TRUE(Opens(f.crypto, 5, stored));
    for (size_t bit = 0; bit < stored.size() * 8; ++bit) {
      ASSERT_FALSE(Opens(f.crypto, 5, FlipBit(stored, bit))) << "block bit " << bit;
    }
  }
}

TEST(FileCryptoTest, RejectsBlockMovedToAnotherIndex) {
  Keyring ring = Keyring::Create(Id(1), Id(2));
  for (crypto::Cipher cipher : UsableCiphers()) {
    NewFile f = Create(cipher, ring);
    const Bytes b3 = SealBlock(f.crypto, 3, Seq(0, 64));
    EXPECT_TRUE(Opens(f.crypto, 3, b3));
    for (uint64_t index :
         {uint64_t{0}, uint64_t{2}, uint64_t{4}, uint64_t{3} + (uint64_t{1} << 32), UINT64_MAX}) {
      EXPECT_FALSE(Opens(f.crypto, index, b3)) << index;
    }
    // Swapping two blocks of one file is caught at both places.
    const Bytes b4 = SealBlock(f.crypto, 4, Seq(0x80, 64));
    EXPECT_FALSE(Opens(f.crypto, 3, b4));
    EXPECT_FALSE(Opens(f.crypto, 4, b3));
  }
}

TEST(FileCryptoTest, RejectsBlockMovedToAnotherFile) {
  Keyring ring = Keyring::Create(Id(1), Id(2));
  NewFile a = Create(crypto::Cipher::kXChaCha20Poly1305, ring);
  NewFile b = Create(crypto::Cipher::kXChaCha20Poly1305, ring);
  const Bytes block = SealBlock(a.crypto, 0, Seq(0, 100));
  EXPECT_TRUE(Opens(a.crypto, 0, block));
  EXPECT_FALSE(Opens(b.crypto, 0, block));

  // Even a file that shares the data key (say, a header copied with a new file id) cannot
  // read it: the file id is in every block's associated data.
  DataKey dek = DataKey::FromBytes(Seq(0x40, 32));
  FileHeader h1, h2;
  h1.file_id = Id(0x10);
  h2.file_id = Id(0x11);
  auto f1 = FileCrypto::FromKey(h1, dek, MatterId{});
  auto f2 = FileCrypto::FromKey(h2, dek, MatterId{});
  ASSERT_OK(f1);
  ASSERT_OK(f2);
  const Bytes shared = SealBlock(*f1, 0, Seq(0, 100));
  EXPECT_TRUE(Opens(*f1, 0, shared));
  EXPECT_FALSE(Opens(*f2, 0, shared));
}

TEST(FileCryptoTest, RejectsBlockMovedToAnotherMatter) {
  Keyring ring_a = Keyring::Create(Id(1), Id(2));
  Keyring ring_b = Keyring::Create(Id(1), Id(3));
  NewFile in_a = Create(crypto::Cipher::kXChaCha20Poly1305, ring_a);
  NewFile in_b = Create(crypto::Cipher::kXChaCha20Poly1305, ring_b);
  const Bytes block = SealBlock(in_a.crypto, 0, Seq(0, 100));
  EXPECT_FALSE(Opens(in_b.crypto, 0, block));
  // Moving the whole file (header and blocks) does not help either.
  EXPECT_FALSE(FileCrypto::Open(in_a.header, ring_b).ok());
}

TEST(FileCryptoTest, RejectsHeaderMovedToAnotherMatter) {
  // Two matters whose wrapping keys happen to be equal: only the matter id differs, and
  // the header still does not open in the other matter.
  Keyring ring_a = FixedRing(Id(0x30), {{1, 0x20}}, 1);
  Keyring ring_b = FixedRing(Id(0x31), {{1, 0x20}}, 1);
  NewFile f = Create(crypto::Cipher::kXChaCha20Poly1305, ring_a);
  auto header = FileHeader::Parse(f.header.Serialize());
  ASSERT_OK(header);
  ASSERT_OK(FileCrypto::Open(*header, ring_a));
  auto moved = FileCrypto::Open(*header, ring_b);
  ASSERT_FALSE(moved.ok());
  EXPECT_EQ(Code::kCorruption, moved.error().code());

  Keyring other = Keyring::Create(Id(1), Id(0x32));
  EXPECT_FALSE(FileCrypto::Open(*header, other).ok());
}

TEST(FileCryptoTest, RejectsKeyVersionTheKeyringDoesNotHave) {
  Keyring ring_12 = FixedRing(Id(0x30), {{1, 0x20}, {2, 0x40}}, 2);
  Keyring ring_1 = FixedRing(Id(0x30), {{1, 0x20}}, 1);
  NewFile f = Create(crypto::Cipher::kXChaCha20Poly1305, ring_12);
  ASSERT_EQ(2u, f.header.key_version);
  auto header = FileHeader::Parse(f.header.Serialize());
  ASSERT_OK(header);
  EXPECT_EQ(2u, header->key_version);
  ASSERT_OK(FileCrypto::Open(*header, ring_12));
  auto r = FileCrypto::Open(*header, ring_1);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(std::string::npos, r.error().message().find("version 2")) << r.error().message();

  // Relabelling the header as version 1 does not make version 1's key open it.
  FileHeader relabelled = *header;
  relabelled.key_version = 1;
  EXPECT_FALSE(FileCrypto::Open(relabelled, ring_12).ok());
  EXPECT_FALSE(FileCrypto::Open(relabelled, ring_1).ok());
}

TEST(FileCryptoTest, DestroyedKeyVersionIsNotFoundAndAnUnknownOneIsCorruption) {
  Keyring ring_1 = FixedRing(Id(0x30), {{1, 0x20}}, 1);
  Keyring ring_2 = FixedRing(Id(0x30), {{2, 0x40}}, 2);  // version 1 destroyed by rotation
  NewFile f = Create(crypto::Cipher::kXChaCha20Poly1305, ring_1);
  // A file from before the rotation (restored from a backup): its key is gone, which is
  // what rotation is for, not tampering.
  auto destroyed = FileCrypto::Open(f.header, ring_2);
  ASSERT_FALSE(destroyed.ok());
  EXPECT_EQ(Code::kNotFound, destroyed.error().code());
  EXPECT_EQ(EIO, destroyed.error().ToErrno());
  EXPECT_NE(std::string::npos, destroyed.error().message().find("destroyed"));
  // A version above the current one was never issued: the header was edited.
  FileHeader future = f.header;
  future.key_version = 3;
  auto never = FileCrypto::Open(future, ring_2);
  ASSERT_FALSE(never.ok());
  EXPECT_EQ(Code::kCorruption, never.error().code());
  future.key_version = 0;
  EXPECT_EQ(Code::kCorruption, FileCrypto::Open(future, ring_2).error().code());
}

TEST(FileCryptoTest, RewrapHeaderMovesAFileToANewKeyVersion) {
  Keyring ring_1 = FixedRing(Id(0x30), {{1, 0x20}}, 1);              // before rotation
  Keyring ring_12 = FixedRing(Id(0x30), {{1, 0x20}, {2, 0x40}}, 2);  // during
  Keyring ring_2 = FixedRing(Id(0x30), {{2, 0x40}}, 2);              // version 1 destroyed
  NewFile f = Create(crypto::Cipher::kXChaCha20Poly1305, ring_1);
  const Bytes plain = Seq(0, 200);
  const Bytes block = SealBlock(f.crypto, 0, plain);

  auto rewrapped = RewrapHeader(f.header, ring_12, 2);
  ASSERT_OK(rewrapped);
  EXPECT_EQ(2u, rewrapped->key_version);
  EXPECT_EQ(f.header.file_id, rewrapped->file_id);
  EXPECT_NE(f.header.wrapped_dek, rewrapped->wrapped_dek);
  auto header = FileHeader::Parse(rewrapped->Serialize());
  ASSERT_OK(header);

  // The data key is unchanged, so the blocks need no rewrite.
  for (const Keyring* ring : {&ring_12, &ring_2}) {
    auto fc = FileCrypto::Open(*header, *ring);
    ASSERT_OK(fc);
    Bytes out(plain.size());
    ASSERT_TRUE(fc->OpenBlock(0, block, out.data()));
    EXPECT_EQ(plain, out);
  }
  // A keyring without version 2 cannot open the rewrapped header, and once version 1 is
  // destroyed the old header is unreadable.
  EXPECT_FALSE(FileCrypto::Open(*header, ring_1).ok());
  EXPECT_FALSE(FileCrypto::Open(f.header, ring_2).ok());

  auto missing = RewrapHeader(f.header, ring_12, 7);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(Code::kNotFound, missing.error().code());
  auto from_missing = RewrapHeader(f.header, ring_2, 2);
  ASSERT_FALSE(from_missing.ok());
  EXPECT_EQ(Code::kNotFound, from_missing.error().code());
}

TEST(FileCryptoTest, RewrapRefusesATamperedHeader) {
  Keyring ring_12 = FixedRing(Id(0x30), {{1, 0x20}, {2, 0x40}}, 1);
  NewFile f = Create(crypto::Cipher::kXChaCha20Poly1305, ring_12);
  FileHeader tampered = f.header;
  tampered.file_id[0] ^= 1;
  EXPECT_FALSE(RewrapHeader(tampered, ring_12, 2).ok());
}

TEST(BlockLayoutTest, PlainAndBackingSizesRoundTrip) {
  for (crypto::Cipher cipher : {crypto::Cipher::kAes256Gcm, crypto::Cipher::kXChaCha20Poly1305}) {
    SCOPED_TRACE(crypto::CipherName(cipher));
    BlockLayout layout(cipher);
    const uint64_t overhead = crypto::BlockCipher::Overhead(cipher);
    ASSERT_EQ(overhead, layout.overhead());
    ASSERT_EQ(kBlockSize + overhead, layout.stored_block_size());
    for (uint64_t plain = 0; plain <= 3 * kBlockSize + 1; ++plain) {
      const uint64_t backing = layout.BackingSize(plain);
      const uint64_t blocks = (plain + kBlockSize - 1) / kBlockSize;
      ASSERT_EQ(plain == 0 ? 0 : kHeaderSize + plain + blocks * overhead, backing) << plain;
      auto back = layout.PlainSize(backing);
      ASSERT_OK(back);
      ASSERT_EQ(plain, *back) << plain;
    }
  }
}

TEST(BlockLayoutTest, EveryBackingSizeIsEitherValidOrCorrupt) {
  for (crypto::Cipher cipher : {crypto::Cipher::kAes256Gcm, crypto::Cipher::kXChaCha20Poly1305}) {
    SCOPED_TRACE(crypto::CipherName(cipher));
    BlockLayout layout(cipher);
    // A header without blocks is an empty file (a crash right after the header write).
    auto header_only = layout.PlainSize(kHeaderSize);
    ASSERT_OK(header_only);
    EXPECT_EQ(0u, *header_only);
    for (uint64_t backing = 1; backing <= kHeaderSize + 3 * layout.stored_block_size() + 100;
         ++backing) {
      auto plain = layout.PlainSize(backing);
      const uint64_t rest =
          backing < kHeaderSize ? 0 : (backing - kHeaderSize) % layout.stored_block_size();
      const bool impossible = backing < kHeaderSize || (rest != 0 && rest <= layout.overhead());
      if (impossible) {
        ASSERT_FALSE(plain.ok()) << backing;
        ASSERT_EQ(Code::kCorruption, plain.error().code()) << backing;
      } else {
        ASSERT_OK(plain);
        if (backing != kHeaderSize) {
          ASSERT_EQ(backing, layout.BackingSize(*plain)) << backing;
        }
      }
    }
  }
}

TEST(BlockLayoutTest, BlockOffsets) {
  BlockLayout x(crypto::Cipher::kXChaCha20Poly1305);
  EXPECT_EQ(100u, x.BlockOffset(0));
  EXPECT_EQ(100u + 4136u, x.BlockOffset(1));
  EXPECT_EQ(100u + 7 * 4136u, x.BlockOffset(7));
  BlockLayout a(crypto::Cipher::kAes256Gcm);
  EXPECT_EQ(100u + 4124u, a.BlockOffset(1));
  // Large files: no 32-bit overflow.
  EXPECT_EQ(uint64_t{100} + (uint64_t{1} << 32) * 4136u, x.BlockOffset(uint64_t{1} << 32));
}

// ---- format 2 header copies ------------------------------------------------------------

class HeaderV2Test : public ::testing::Test {
 protected:
  void SetUp() override {
    ring_ = std::make_unique<Keyring>(FixedRing(Id(0x30), {{1, 0x20}}, 1));
    auto made = FileCrypto::Create(crypto::Cipher::kXChaCha20Poly1305, *ring_, Version());
    ASSERT_OK(made);
    fc_.emplace(std::move(made->first));
    header_ = std::move(made->second);
  }
  virtual uint8_t Version() const { return 2; }
  Bytes Both(const FileHeader& a, const FileHeader& b) {
    auto ca = fc_->SerializeCopy(a);
    auto cb = fc_->SerializeCopy(b);
    Bytes out(ca.begin(), ca.end());
    out.insert(out.end(), cb.begin(), cb.end());
    return out;
  }
  std::unique_ptr<Keyring> ring_;
  std::optional<FileCrypto> fc_;
  FileHeader header_;
};

TEST_F(HeaderV2Test, ACopyRoundTripsItsSequenceAndHoles) {
  header_.sequence = 7;
  header_.holes = {{0, 3}, {10, 1}, {20, 100}};
  auto copy = fc_->SerializeCopy(header_);
  auto parsed = fc_->ParseCopy(copy);
  ASSERT_OK(parsed);
  EXPECT_EQ(parsed->version, 2);
  EXPECT_EQ(parsed->sequence, 7u);
  EXPECT_EQ(parsed->holes, header_.holes);
  EXPECT_EQ(parsed->file_id, header_.file_id);
  EXPECT_EQ(fc_->layout().header_size(), kHeaderSizeV2);
  EXPECT_EQ(fc_->layout().BlockOffset(0), 1024u);
}

TEST_F(HeaderV2Test, EveryBitOfACopyIsAuthenticated) {
  header_.holes = {{5, 2}};
  const auto copy = fc_->SerializeCopy(header_);
  for (size_t bit = 0; bit < copy.size() * 8; ++bit) {
    auto flipped = FlipBit(copy, bit);
    EXPECT_FALSE(fc_->ParseCopy(flipped).ok()) << "bit " << bit;
  }
}

TEST_F(HeaderV2Test, AnotherFilesCopyOrAnotherMattersIsRejected) {
  auto other = FileCrypto::Create(crypto::Cipher::kXChaCha20Poly1305, *ring_, 2);
  ASSERT_OK(other);
  EXPECT_FALSE(fc_->ParseCopy(other->first.SerializeCopy(other->second)).ok());
  // The same data key under another matter id: the MAC binds the matter.
  DataKey dek = DataKey::FromBytes(Seq(0x40, 32));
  auto here = FileCrypto::FromKey(header_, dek, Id(1));
  auto there = FileCrypto::FromKey(header_, dek, Id(2));
  ASSERT_OK(here);
  ASSERT_OK(there);
  EXPECT_OK(here->ParseCopy(here->SerializeCopy(header_)));
  EXPECT_FALSE(there->ParseCopy(here->SerializeCopy(header_)).ok());
}

// Found by fuzz_file_header: a copy that authenticates (made with the data key) but names
// the other cipher was accepted, and the header then described blocks of a cipher the
// file's FileCrypto does not use.
TEST_F(HeaderV2Test, ACopyNamingAnotherCipherIsRejectedEvenWithAValidMac) {
  FileHeader h = header_;
  ASSERT_EQ(h.cipher, crypto::Cipher::kXChaCha20Poly1305);
  h.cipher = crypto::Cipher::kAes256Gcm;
  auto parsed = fc_->ParseCopy(fc_->SerializeCopy(h));
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.error().message().find("another file"), std::string::npos)
      << parsed.error().message();
  EXPECT_OK(fc_->ParseCopy(fc_->SerializeCopy(header_)));
}

TEST_F(HeaderV2Test, InvalidHoleTablesAreRejectedEvenWithAValidMac) {
  for (const std::vector<HoleRange>& bad :
       {std::vector<HoleRange>{{5, 0}}, std::vector<HoleRange>{{5, 2}, {7, 1}},
        std::vector<HoleRange>{{9, 1}, {2, 1}}, std::vector<HoleRange>{{1, 5}, {3, 1}},
        std::vector<HoleRange>{{UINT64_MAX, 2}}}) {
    FileHeader h = header_;
    h.holes = bad;
    EXPECT_FALSE(fc_->ParseCopy(fc_->SerializeCopy(h)).ok());
  }
}

// File format 3 (docs/FORMAT.md §13.1b): the recorded size and the name binding.
class HeaderV3Test : public HeaderV2Test {
 protected:
  uint8_t Version() const override { return 3; }
};

TEST_F(HeaderV3Test, ACopyRoundTripsItsRecordedSizeAndBinding) {
  header_.sequence = 4;
  header_.recorded_size = 123456;
  header_.name_tag = NameTagOf("c29tZS1lbnRyeQ");
  header_.holes = {{1, 2}};
  auto parsed = fc_->ParseCopy(fc_->SerializeCopy(header_));
  ASSERT_OK(parsed);
  EXPECT_EQ(parsed->version, 3);
  EXPECT_EQ(parsed->recorded_size, 123456u);
  EXPECT_FALSE(parsed->unbound);
  EXPECT_EQ(parsed->name_tag, header_.name_tag);
  EXPECT_EQ(parsed->holes, header_.holes);
  header_.unbound = true;
  parsed = fc_->ParseCopy(fc_->SerializeCopy(header_));
  ASSERT_OK(parsed);
  EXPECT_TRUE(parsed->unbound);
  EXPECT_EQ(parsed->name_tag, NameTag{}) << "an unbound copy carries no tag";
}

TEST_F(HeaderV3Test, TwentyTwoHolesFitATwentyThirdDoesNot) {
  for (uint64_t i = 0; i < kMaxHolesV3; ++i) header_.holes.push_back({i * 3, 1});
  EXPECT_OK(fc_->ParseCopy(fc_->SerializeCopy(header_)));
  header_.holes.push_back({1000, 1});
  EXPECT_FALSE(fc_->ParseCopy(fc_->SerializeCopy(header_)).ok());
}

TEST_F(HeaderV3Test, CheckRecordRefusesAShorterFileAndAnotherName) {
  header_.recorded_size = 8192;
  header_.name_tag = NameTagOf("bmFtZQ");
  EXPECT_OK(CheckRecord(header_, 8192, std::string_view("bmFtZQ")));
  EXPECT_OK(CheckRecord(header_, 9000, std::nullopt));  // longer than recorded: writes since
  auto cut = CheckRecord(header_, 4096, std::nullopt);
  ASSERT_FALSE(cut.ok());
  EXPECT_EQ(cut.error().code(), Code::kCorruption);
  EXPECT_NE(cut.error().message().find("4096 of 8192"), std::string::npos) << cut.error().message();
  auto moved = CheckRecord(header_, 8192, std::string_view("b3RoZXI"));
  ASSERT_FALSE(moved.ok());
  EXPECT_EQ(moved.error().code(), Code::kCorruption);
  // A rename cut short between its two header writes: the older copy's name is accepted.
  header_.older_tag = NameTagOf("b3RoZXI");
  EXPECT_OK(CheckRecord(header_, 8192, std::string_view("b3RoZXI")));
  // Unbound: any name.
  header_.older_tag.reset();
  header_.unbound = true;
  header_.name_tag = NameTag{};
  EXPECT_OK(CheckRecord(header_, 8192, std::string_view("b3RoZXI")));
  // Format 2 records nothing.
  FileHeader v2 = header_;
  v2.version = 2;
  EXPECT_OK(CheckRecord(v2, 0, std::string_view("x")));
}

TEST(HoleTableTest, AddMergesRemoveSplitsTrimCuts) {
  std::vector<HoleRange> t;
  holes::Add(t, 10, 5);
  holes::Add(t, 20, 5);
  holes::Add(t, 15, 5);  // touches both: one range
  EXPECT_EQ(t, (std::vector<HoleRange>{{10, 15}}));
  holes::Remove(t, 12, 2);
  EXPECT_EQ(t, (std::vector<HoleRange>{{10, 2}, {14, 11}}));
  EXPECT_TRUE(holes::Contains(t, 11));
  EXPECT_FALSE(holes::Contains(t, 12));
  EXPECT_TRUE(holes::Overlaps(t, 0, 11));
  EXPECT_FALSE(holes::Overlaps(t, 12, 2));
  holes::Trim(t, 20);
  EXPECT_EQ(t, (std::vector<HoleRange>{{10, 2}, {14, 6}}));
  EXPECT_OK(holes::Check(t));
  holes::Add(t, 0, 1);
  EXPECT_EQ(t.front(), (HoleRange{0, 1}));
}

}  // namespace
}  // namespace matterfs::vault
