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

class CryptFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ring_ = std::make_unique<Keyring>(Keyring::Create(VaultId{}, MatterId{}));
    fd_.reset(::open(dir_.Sub("f").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600));
    ASSERT_TRUE(fd_.valid());
    auto fc = WriteNewHeader(fd_.get(), crypto::Cipher::kXChaCha20Poly1305, *ring_);
    ASSERT_OK(fc);
    fc_.emplace(std::move(*fc));
  }
  std::string ReadAll() {
    CryptFile f(*fc_);
    std::string out(size_, '\0');
    auto n = f.Read(fd_.get(), size_, 0, {reinterpret_cast<uint8_t*>(out.data()), out.size()});
    EXPECT_TRUE(n.ok()) << (n.ok() ? "" : n.error().message());
    if (n.ok()) out.resize(*n);
    return out;
  }
  Status WriteAt(uint64_t off, const std::string& data) {
    CryptFile f(*fc_);
    MFS_ASSIGN(size_, f.Write(fd_.get(), size_, off, AsBytes(data)));
    return {};
  }
  // The model: what a plain file would hold.
  void ModelWrite(uint64_t off, const std::string& data) {
    if (model_.size() < off + data.size()) model_.resize(off + data.size(), '\0');
    model_.replace(off, data.size(), data);
  }

  test::TempDir dir_;
  std::unique_ptr<Keyring> ring_;
  UniqueFd fd_;
  std::optional<FileCrypto> fc_;
  uint64_t size_ = 0;
  std::string model_;
};

TEST_F(CryptFileTest, WritesAtEveryAlignmentMatchAPlainFile) {
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
  CryptFile f(*fc_);
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

TEST_F(CryptFileTest, AGrowingWriteThatFailsMidwayLeavesTheFileAsItWas) {
  const std::string before = PatternString(6000, 7);  // a partial second block
  ASSERT_OK(WriteAt(0, before));
  struct stat st;
  ASSERT_EQ(::fstat(fd_.get(), &st), 0);
  const off_t backing_before = st.st_size;
  {
    FileSizeLimit limit(static_cast<rlim_t>(backing_before + 3000));
    CryptFile f(*fc_);
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

}  // namespace
}  // namespace matterfs::vault
