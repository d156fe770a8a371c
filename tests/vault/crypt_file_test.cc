// CryptFile: plaintext ranges of one encrypted backing file (fs/vault/crypt_file.h):
// reads and writes at any offset and length, gaps, truncation both ways, and a growing
// write or truncate that fails midway (a full disk) leaving the file as it was.
#include "fs/vault/crypt_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <optional>
#include <string>

#include "fs/vault/encrypted_file.h"
#include "tests/crypto/test_util.h"
#include "tests/vault/vault_test_util.h"

namespace matterfs::vault {
namespace {

// Deterministic bytes that differ with `seed` and position.
std::string PatternString(size_t n, uint64_t seed) {
  std::string out(n, '\0');
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    out[i] = static_cast<char>(x);
  }
  return out;
}

// Run with file format 1 (dense) and 2 (holes).
class CryptFileTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    format_ = {crypto::Cipher::kXChaCha20Poly1305, static_cast<uint8_t>(GetParam())};
    ring_ = std::make_unique<Keyring>(Keyring::Create(VaultId{}, MatterId{}));
    fd_.reset(::open(dir_.Sub("f").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600));
    ASSERT_TRUE(fd_.valid());
    auto made = WriteNewHeader(fd_.get(), format_, *ring_);
    ASSERT_OK(made);
    fc_.emplace(std::move(made->crypto));
    header_ = std::move(made->header);
  }
  CryptFile File() { return CryptFile(*fc_, &header_); }
  // The header as a reader that opens the file afresh sees it.
  FileHeader Reopened() {
    auto opened = OpenFile(fd_.get(), format_, *ring_);
    EXPECT_TRUE(opened.ok() && *opened);
    return opened.ok() && *opened ? (*opened)->header : FileHeader{};
  }
  std::string ReadAll() {
    CryptFile f = File();
    std::string out(size_, '\0');
    auto n = f.Read(fd_.get(), size_, 0, {reinterpret_cast<uint8_t*>(out.data()), out.size()});
    EXPECT_TRUE(n.ok()) << (n.ok() ? "" : n.error().message());
    if (n.ok()) out.resize(*n);
    return out;
  }
  Status WriteAt(uint64_t off, const std::string& data) {
    CryptFile f = File();
    MFS_ASSIGN(size_, f.Write(fd_.get(), size_, off, AsBytes(data)));
    return {};
  }
  // The model: what a plain file would hold.
  void ModelWrite(uint64_t off, const std::string& data) {
    if (model_.size() < off + data.size()) model_.resize(off + data.size(), '\0');
    model_.replace(off, data.size(), data);
  }

  test::TempDir dir_;
  FileFormat format_;
  FileHeader header_;
  std::unique_ptr<Keyring> ring_;
  UniqueFd fd_;
  std::optional<FileCrypto> fc_;
  uint64_t size_ = 0;
  std::string model_;
};

TEST_P(CryptFileTest, WritesAtEveryAlignmentMatchAPlainFile) {
  const uint64_t offsets[] = {0, 1, 4095, 4096, 4097, 10000, 20000, 8191};
  const size_t lengths[] = {1, 100, 4095, 4096, 4097, 9000};
  uint64_t seed = 1;
  for (uint64_t off : offsets) {
    for (size_t len : lengths) {
      const std::string data = PatternString(len, seed++);
      ASSERT_OK(WriteAt(off, data));
      ModelWrite(off, data);
      ASSERT_EQ(size_, model_.size());
      ASSERT_EQ(ReadAll(), model_) << "off " << off << " len " << len;
    }
  }
  CryptFile f = File();
  for (uint64_t cut : {30000u, 12289u, 4096u, 1u, 0u}) {
    auto now = f.Truncate(fd_.get(), size_, cut);
    ASSERT_OK(now);
    size_ = *now;
    model_.resize(cut);
    ASSERT_EQ(ReadAll(), model_);
  }
  auto grown = f.Truncate(fd_.get(), size_, 9000);
  ASSERT_OK(grown);
  size_ = *grown;
  model_.resize(9000, '\0');
  EXPECT_EQ(ReadAll(), model_);
}

// RLIMIT_FSIZE makes the kernel refuse to grow the file past a size (EFBIG), the same
// situation for CryptFile as a disk that fills up in the middle of a write.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    ::getrlimit(RLIMIT_FSIZE, &old_);
    old_handler_ = ::signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = old_;
    lim.rlim_cur = bytes;
    ::setrlimit(RLIMIT_FSIZE, &lim);
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &old_);
    ::signal(SIGXFSZ, old_handler_);
  }

 private:
  struct rlimit old_;
  sighandler_t old_handler_;
};

TEST_P(CryptFileTest, AGrowingWriteThatFailsMidwayLeavesTheFileAsItWas) {
  const std::string before = PatternString(6000, 7);  // a partial second block
  ASSERT_OK(WriteAt(0, before));
  struct stat st;
  ASSERT_EQ(::fstat(fd_.get(), &st), 0);
  const off_t backing_before = st.st_size;
  {
    FileSizeLimit limit(static_cast<rlim_t>(backing_before + 3000));
    CryptFile f = File();
    // An append that rewrites the partial block and adds more than the limit allows.
    auto w = f.Write(fd_.get(), size_, size_, AsBytes(PatternString(20000, 8)));
    ASSERT_FALSE(w.ok());
    // A truncate far up, the same.
    auto t = f.Truncate(fd_.get(), size_, 100000);
    ASSERT_FALSE(t.ok());
    // A write past the end (a gap), the same.
    auto g = f.Write(fd_.get(), size_, 50000, AsBytes(std::string(10, 'g')));
    ASSERT_FALSE(g.ok());
  }
  ASSERT_EQ(::fstat(fd_.get(), &st), 0);
  EXPECT_EQ(st.st_size, backing_before) << "what grew was cut back";
  EXPECT_EQ(ReadAll(), before) << "the old last block was put back";
  ASSERT_OK(WriteAt(size_, "more"));  // and the file goes on
  EXPECT_EQ(ReadAll(), before + "more");
}

// ---- format 2: holes ---------------------------------------------------------------

class HoleTest : public CryptFileTest {
 protected:
  // Grows the empty file to `size` bytes (all hole) and the model with it.
  void GrowEmptyTo(uint64_t size) {
    auto grown = File().Truncate(fd_.get(), 0, size);
    ASSERT_OK(grown);
    size_ = *grown;
    model_.assign(size, '\0');
  }
};

TEST_P(HoleTest, GrowingMakesAHoleThatTakesNoSpaceAndReadsAsZeros) {
  ASSERT_OK(WriteAt(0, "head"));
  CryptFile f = File();
  auto grown = f.Truncate(fd_.get(), size_, uint64_t{1} << 30);  // 1 GiB
  ASSERT_OK(grown);
  size_ = *grown;
  struct stat st;
  ASSERT_EQ(::fstat(fd_.get(), &st), 0);
  EXPECT_GT(st.st_size, int64_t{1} << 30) << "the size is there";
  EXPECT_LT(st.st_blocks * 512, 1 << 20) << "but not the bytes: a hole";
  std::string buf(10000, 'x');
  for (uint64_t off : {uint64_t{0}, uint64_t{4096}, uint64_t{1} << 20, (uint64_t{1} << 30) - 100}) {
    auto n = f.Read(fd_.get(), size_, off, {reinterpret_cast<uint8_t*>(buf.data()), buf.size()});
    ASSERT_OK(n);
    std::string expect(*n, '\0');
    if (off == 0) expect.replace(0, 4, "head");
    EXPECT_EQ(buf.substr(0, *n), expect) << off;
  }
  const FileHeader h = Reopened();
  ASSERT_EQ(h.holes.size(), 1u);
  EXPECT_EQ(h.holes[0], (HoleRange{1, (uint64_t{1} << 18) - 1}));
}

TEST_P(HoleTest, AZeroedBlockOutsideTheTableIsStillTampering) {
  ASSERT_OK(WriteAt(0, std::string(3 * 4096, 'd')));
  // Zero block 1 on disk: not a hole, so it must not read back as zeros.
  const std::string zeros(fc_->layout().stored_block_size(), '\0');
  ASSERT_EQ(::pwrite(fd_.get(), zeros.data(), zeros.size(),
                     static_cast<off_t>(fc_->layout().BlockOffset(1))),
            static_cast<ssize_t>(zeros.size()));
  CryptFile f = File();
  std::string buf(4096, 'x');
  auto n = f.Read(fd_.get(), size_, 4096, {reinterpret_cast<uint8_t*>(buf.data()), buf.size()});
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.error().code(), Code::kCorruption);
  // Punching a hole in the backing file is the same.
  ASSERT_EQ(::fallocate(fd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                        static_cast<off_t>(fc_->layout().BlockOffset(2)), 4096),
            0);
  n = f.Read(fd_.get(), size_, 8192, {reinterpret_cast<uint8_t*>(buf.data()), buf.size()});
  ASSERT_FALSE(n.ok());
}

TEST_P(HoleTest, WritingIntoAHoleSplitsItAndTheTableFollows) {
  CryptFile f = File();
  ASSERT_NO_FATAL_FAILURE(GrowEmptyTo(10 * 4096));
  ASSERT_OK(WriteAt(5 * 4096 + 100, "in the middle"));
  ModelWrite(5 * 4096 + 100, "in the middle");
  EXPECT_EQ(ReadAll(), model_);
  const FileHeader h = Reopened();
  EXPECT_EQ(h.holes, (std::vector<HoleRange>{{0, 5}, {6, 4}}));
  // Truncating down drops what is past the end.
  auto cut = f.Truncate(fd_.get(), size_, 7 * 4096 + 10);
  ASSERT_OK(cut);
  size_ = *cut;
  model_.resize(7 * 4096 + 10);
  EXPECT_EQ(ReadAll(), model_);
  EXPECT_EQ(Reopened().holes, (std::vector<HoleRange>{{0, 5}, {6, 2}}));
}

TEST_P(HoleTest, MoreHolesThanTheTableHoldsFillTheSmallest) {
  ASSERT_NO_FATAL_FAILURE(GrowEmptyTo(200 * 4096));
  // 40 scattered writes would need 41 holes.
  for (int i = 0; i < 40; ++i) {
    const uint64_t off = static_cast<uint64_t>(i) * 5 * 4096 + static_cast<uint64_t>(i);
    ASSERT_OK(WriteAt(off, "w" + std::to_string(i)));
    ModelWrite(off, "w" + std::to_string(i));
    ASSERT_LE(header_.holes.size(), kMaxHoles);
  }
  EXPECT_EQ(ReadAll(), model_);
  const FileHeader h = Reopened();
  EXPECT_LE(h.holes.size(), kMaxHoles);
  EXPECT_EQ(h.holes, header_.holes);
}

TEST_P(HoleTest, BeyondTheLargestSizeIsEfbig) {
  CryptFile f = File();
  auto t = f.Truncate(fd_.get(), 0, kMaxPlainFileSize + 1);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().ToErrno(), EFBIG);
  auto w = f.Write(fd_.get(), 0, kMaxPlainFileSize, AsBytes("x"));
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.error().ToErrno(), EFBIG);
}

TEST_P(HoleTest, ATornHoleTableWriteLeavesTheFormerCopy) {
  CryptFile f = File();
  auto grown = f.Truncate(fd_.get(), 0, 8 * 4096);  // table: {[0,8)} in one copy
  ASSERT_OK(grown);
  size_ = *grown;
  const std::vector<HoleRange> before = header_.holes;
  const int before_copy = header_.copy;
  ASSERT_OK(WriteAt(3 * 4096, "x"));  // the next table goes into the other copy
  ASSERT_NE(header_.copy, before_copy);
  // The new copy is torn (its last bytes never reached the disk).
  const off_t torn_at = static_cast<off_t>(header_.copy) * 512 + 400;
  ASSERT_EQ(::pwrite(fd_.get(), std::string(112, '\0').data(), 112, torn_at), 112);
  const FileHeader h = Reopened();
  EXPECT_EQ(h.holes, before) << "the former table; the write it described is lost (block 3 "
                                "reads as zeros), never a false alarm";
  EXPECT_EQ(h.copy, before_copy);
  // Both copies destroyed: corrupt, not zeros.
  ASSERT_EQ(::pwrite(fd_.get(), std::string(1024, '\0').data(), 1024, 0), 1024);
  auto opened = OpenFile(fd_.get(), format_, *ring_);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().code(), Code::kCorruption);
}

INSTANTIATE_TEST_SUITE_P(Format2, HoleTest, ::testing::Values(2));

INSTANTIATE_TEST_SUITE_P(Formats, CryptFileTest, ::testing::Values(1, 2),
                         [](const auto& p) { return "Format" + std::to_string(p.param); });

}  // namespace
}  // namespace matterfs::vault
