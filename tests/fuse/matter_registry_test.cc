// The daemon's matter registry (fs/fuse/matter_registry.h) on a real vault: keys swapped
// (a rotation) and a matter evicted (a wipe) while other threads read, write and create
// files in it, with the open-file state of fs/fuse/open_file.h as the daemon uses it.
#include "fs/fuse/matter_registry.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "fs/fuse/open_file.h"
#include "fs/vault/crypt_file.h"
#include "fs/vault/encrypted_file.h"
#include "tests/crypto/test_util.h"
#include "tests/vault/matter_tree.h"

namespace matterfs::fuse {
namespace {

// What OpRead does: shared lock, refuse an evicted state, decrypt.
Result<std::string> ReadAll(FileState& state) {
  std::shared_lock<std::shared_mutex> rl(state.lock);
  if (state.evicted) return Error(Code::kNotFound, "evicted", EIO);
  if (!state.crypto) return std::string();
  std::string out(state.size.load(), '\0');
  vault::CryptFile file(*state.crypto, HeaderOf(state));
  MFS_ASSIGN(size_t n, file.Read(state.fd.get(), state.size.load(), 0,
                                 {reinterpret_cast<uint8_t*>(out.data()), out.size()}));
  out.resize(n);
  return out;
}

// What OpWrite does: exclusive lock, a header if needed, encrypt.
Status WriteAt(const FileContext& ctx, Inode* inode, FileState& state, uint64_t off,
               const std::string& data) {
  std::unique_lock<std::shared_mutex> wl(state.lock);
  MFS_TRY(EnsureHeader(ctx, inode, state));
  vault::CryptFile file(*state.crypto, HeaderOf(state));
  MFS_ASSIGN(uint64_t size, file.Write(state.fd.get(), state.size.load(), off, AsBytes(data)));
  state.size = size;
  return {};
}

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(fx_.vault().CreateMatter("acme"));
    auto m = fx_.Matter("acme");
    test::TreeWriter w(fx_.vault(), *m);
    for (int i = 0; i < kFiles; ++i) w.File(Name(i), Content(i, 0));
    registry_ = std::make_unique<MatterRegistry>(fx_.vault());
    inodes_ = std::make_unique<InodeTable>(
        UniqueFd(::openat(fx_.vault().data_fd(), ".", O_PATH | O_DIRECTORY | O_CLOEXEC)), 64);
    // The matter's directory and its files, as lookups would insert them.
    auto root = fx_.vault().root_dir();
    auto stored = root.Encode("acme");
    ASSERT_OK(stored);
    entry_ = stored->entry;
    UniqueFd mfd(::openat(fx_.vault().data_fd(), entry_.c_str(), O_PATH | O_CLOEXEC));
    auto loaded = registry_->Get(mfd.get(), entry_, "acme");
    ASSERT_OK(loaded);
    matter_ = *loaded;
    struct stat st;
    ASSERT_EQ(::fstat(mfd.get(), &st), 0);
    dir_ = inodes_->Insert(inodes_->root(), entry_, "acme", st, std::move(mfd), matter_);
    auto dirfd = inodes_->Fd(dir_);
    ASSERT_OK(dirfd);
    auto enc = vault::EncryptedDir::Open((*dirfd)->get(), matter_->keys()->names());
    ASSERT_OK(enc);
    for (int i = 0; i < kFiles; ++i) {
      auto s = enc->Encode(Name(i));
      ASSERT_OK(s);
      ASSERT_EQ(::fstatat((*dirfd)->get(), s->entry.c_str(), &st, AT_SYMLINK_NOFOLLOW), 0);
      files_.push_back(inodes_->Insert(dir_, s->entry, Name(i), st, UniqueFd(), matter_));
    }
  }

  FileContext Files() { return {*inodes_, *registry_, fx_.vault().file_format(), false}; }
  static std::string Name(int i) { return "file" + std::to_string(i); }
  static std::string Content(int i, int round) {
    return "file " + std::to_string(i) + " round " + std::to_string(round) + std::string(5000, 'x');
  }
  // Adds a key version and makes it current, as a rotation's first step does.
  void AddKeyVersion() {
    auto& v = fx_.vault();
    ASSERT_OK(vault::UpdateKeyringFile(
        v.keystore_fd(), v.id(), matter_->id(), v.keyring_keys(),
        [](vault::Keyring& ring) -> Status {
          const uint32_t next = ring.current_version + 1;
          ring.wrap_keys.emplace(
              next, std::make_unique<vault::MatterWrapKey>(vault::MatterWrapKey::Random()));
          ring.current_version = next;
          return {};
        }));
  }

  static constexpr int kFiles = 4;
  test::VaultFixture fx_;
  std::unique_ptr<MatterRegistry> registry_;
  std::unique_ptr<InodeTable> inodes_;
  std::string entry_;
  std::shared_ptr<LoadedMatter> matter_;
  Inode* dir_ = nullptr;
  std::vector<Inode*> files_;
};

TEST_F(RegistryTest, LoadsOnceAndFindsByName) {
  UniqueFd mfd(::openat(fx_.vault().data_fd(), entry_.c_str(), O_PATH | O_CLOEXEC));
  auto again = registry_->Get(mfd.get(), entry_, "acme");
  ASSERT_OK(again);
  EXPECT_EQ(again->get(), matter_.get());
  EXPECT_EQ(registry_->Find("acme"), matter_);
  EXPECT_EQ(registry_->Find("nope"), nullptr);
  // The .matter binding is checked: the directory cannot be loaded under another name.
  auto wrong = MatterRegistry(fx_.vault()).Get(mfd.get(), entry_, "globex");
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code(), Code::kCorruption);
}

// A wipe bars the matter: evicted, and not loaded again (ENOENT) until it is unbarred.
TEST_F(RegistryTest, ABarredMatterIsEvictedAndNotLoadedAgainUntilUnbarred) {
  auto state = AcquireFile(Files(), files_[0], false);
  ASSERT_OK(state);
  registry_->Bar("acme");
  EXPECT_TRUE(registry_->Barred("acme"));
  EXPECT_TRUE(matter_->evicted());
  EXPECT_EQ(registry_->Find("acme"), nullptr);
  EXPECT_FALSE(ReadAll(**state).ok());
  UniqueFd mfd(::openat(fx_.vault().data_fd(), entry_.c_str(), O_PATH | O_CLOEXEC));
  auto barred = registry_->Get(mfd.get(), entry_, "acme");
  ASSERT_FALSE(barred.ok());
  EXPECT_EQ(barred.error().code(), Code::kNotFound);
  EXPECT_EQ(barred.error().ToErrno(), ENOENT);
  registry_->Unbar("acme");
  EXPECT_FALSE(registry_->Barred("acme"));
  auto again = registry_->Get(mfd.get(), entry_, "acme");
  ASSERT_OK(again);
  EXPECT_NE(again->get(), matter_.get()) << "a new load, not the evicted one";
}

TEST_F(RegistryTest, SwapUnderRunningReadersAndWritersLosesNothing) {
  const vault::FileFormat format = fx_.vault().file_format();
  std::vector<std::shared_ptr<FileState>> states;
  for (Inode* f : files_) {
    auto s = AcquireFile(Files(), f, true);
    ASSERT_OK(s);
    states.push_back(*s);
  }
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  std::vector<std::atomic<int>> rounds(kFiles);
  for (int i = 0; i < kFiles; ++i) {
    // One writer per file rewrites it, round after round, and reads it back.
    threads.emplace_back([&, i] {
      while (!stop) {
        const int r = rounds[static_cast<size_t>(i)] + 1;
        if (!WriteAt(Files(), files_[static_cast<size_t>(i)], *states[static_cast<size_t>(i)], 0,
                     Content(i, r))
                 .ok()) {
          ++failures;
          return;
        }
        auto back = ReadAll(*states[static_cast<size_t>(i)]);
        if (!back.ok() || *back != Content(i, r)) {
          ++failures;
          return;
        }
        rounds[static_cast<size_t>(i)].store(r);
      }
    });
  }
  // Readers of the keys: a snapshot stays usable whatever is swapped meanwhile.
  threads.emplace_back([&] {
    while (!stop) {
      auto keys = matter_->keys();
      if (!keys || !keys->names().Encode(vault::DirIv{}, "name").ok()) ++failures;
    }
  });
  // Waits until every writer has finished another round (or something failed), so that
  // each swap falls between writes whatever the machine's load.
  auto progress = [&] {
    std::vector<int> seen;
    for (auto& r : rounds) seen.push_back(r.load());
    for (size_t i = 0; i < seen.size(); ++i) {
      while (rounds[i].load() == seen[i] && failures.load() == 0) std::this_thread::yield();
    }
  };
  uint32_t last_version = 0;
  for (int rotation = 0; rotation < 8; ++rotation) {
    progress();
    ASSERT_NO_FATAL_FAILURE(AddKeyVersion());
    ASSERT_OK(registry_->Reload("acme"));
    last_version = matter_->keys()->keyring().current_version;
    // A file created now takes the new version at once.
    auto fresh = fx_.dir().Sub("fresh" + std::to_string(rotation));
    UniqueFd fd(::open(fresh.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600));
    ASSERT_OK(vault::WriteNewHeader(fd.get(), format, matter_->keys()->keyring()));
    auto header = vault::ReadFileHeader(fd.get(), format);
    ASSERT_OK(header);
    EXPECT_EQ((*header)->key_version, last_version);
  }
  stop = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(last_version, 9u);
  for (int i = 0; i < kFiles; ++i) {
    EXPECT_GT(rounds[static_cast<size_t>(i)], 0) << "writer " << i << " never ran";
    // Every acknowledged write is there, read again through a fresh open of the file.
    states[static_cast<size_t>(i)].reset();
    ReleaseFile(files_[static_cast<size_t>(i)]);
    auto reopened = AcquireFile(Files(), files_[static_cast<size_t>(i)], false);
    ASSERT_OK(reopened);
    auto data = ReadAll(**reopened);
    ASSERT_OK(data);
    EXPECT_EQ(*data, Content(i, rounds[static_cast<size_t>(i)]));
    ReleaseFile(files_[static_cast<size_t>(i)]);
  }
}

TEST_F(RegistryTest, EvictDropsEveryKeyAndOpenHandlesFail) {
  auto state = AcquireFile(Files(), files_[0], false);
  ASSERT_OK(state);
  std::atomic<bool> stop{false};
  std::atomic<int> good{0}, refused{0}, wrong{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      while (!stop) {
        auto data = ReadAll(**state);
        if (data.ok()) {
          if (*data == Content(0, 0)) {
            ++good;
          } else {
            ++wrong;
          }
        } else if (data.error().ToErrno() == EIO && data.error().code() == Code::kNotFound) {
          ++refused;
        } else {
          ++wrong;
        }
      }
    });
  }
  while (good.load() < 10 && wrong.load() == 0) std::this_thread::yield();
  registry_->Evict("acme");
  while (refused.load() < 10 && wrong.load() == 0) std::this_thread::yield();
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(wrong.load(), 0) << "never wrong data, never another error";
  {
    std::shared_lock<std::shared_mutex> rl((*state)->lock);
    EXPECT_TRUE((*state)->evicted);
    EXPECT_FALSE((*state)->crypto.has_value()) << "the data key is gone from memory";
  }
  EXPECT_EQ(matter_->keys(), nullptr);
  EXPECT_TRUE(matter_->evicted());
  EXPECT_EQ(registry_->Find("acme"), nullptr);
  // A write, a truncate and a new open through the evicted matter all fail the same way.
  EXPECT_EQ(TruncateFile(Files(), files_[0], **state, 0).error().ToErrno(), EIO);
  auto other = AcquireFile(Files(), files_[1], false);
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().ToErrno(), EIO);
  ReleaseFile(files_[0]);
}

TEST_F(RegistryTest, RefreshFollowsStatusAndKeyringChangesAndEvictsAWipedMatter) {
  auto& v = fx_.vault();
  ASSERT_OK(v.SetMatterStatus("acme", vault::MatterStatus::kHold));
  registry_->Refresh();
  EXPECT_EQ(matter_->status(), vault::MatterStatus::kHold);
  ASSERT_NO_FATAL_FAILURE(AddKeyVersion());
  registry_->Refresh();
  EXPECT_EQ(matter_->keys()->keyring().current_version, 2u);
  EXPECT_EQ(matter_->status(), vault::MatterStatus::kHold);
  // The keyring disappears (a wipe by another server): the matter is evicted.
  ASSERT_EQ(::unlinkat(v.keystore_fd(), vault::KeyringFileName(matter_->id()).c_str(), 0), 0);
  registry_->Refresh();
  EXPECT_TRUE(matter_->evicted());
  EXPECT_EQ(registry_->Find("acme"), nullptr);
}

// The whole keystore (keyring and key table together) put back from a backup: the vault
// cannot tell (the table agrees with the keyring), but the registry remembers the highest
// sequence it has read and refuses the older keyring, keeping the status it knows and
// reporting tampering, also after an eviction.
TEST_F(RegistryTest, AWholeKeystorePutBackIsRefusedByTheHighWaterMark) {
  const std::string ks = fx_.path() + "/keys/";
  const std::string ring_file = ks + vault::KeyringFileName(matter_->id());
  const Bytes old_ring = test::ReadFileBytes(ring_file);
  const Bytes old_table = test::ReadFileBytes(ks + "keytable");
  std::vector<std::string> tampered;
  registry_->SetTamperHook([&](const std::string& name, const Error& e) {
    tampered.push_back(name + ": " + e.message());
  });
  ASSERT_OK(fx_.vault().SetMatterStatus("acme", vault::MatterStatus::kHold));
  registry_->Refresh();
  EXPECT_EQ(vault::MatterStatus::kHold, matter_->status());
  EXPECT_TRUE(tampered.empty());
  test::WriteFileBytes(ring_file, old_ring);
  test::WriteFileBytes(ks + "keytable", old_table);
  ASSERT_OK(fx_.Reopen()->FindMatter("acme"));  // the format alone does not see it
  registry_->Refresh();
  EXPECT_EQ(vault::MatterStatus::kHold, matter_->status()) << "the hold was lifted";
  ASSERT_EQ(1u, tampered.size());
  EXPECT_NE(tampered[0].find("acme"), std::string::npos) << tampered[0];
  EXPECT_NE(tampered[0].find("rolled back (sequence 1, this server has read sequence 2)"),
            std::string::npos)
      << tampered[0];
  // Loaded again after an eviction: still refused.
  registry_->Evict("acme");
  UniqueFd mfd(::openat(fx_.vault().data_fd(), entry_.c_str(), O_PATH | O_CLOEXEC));
  auto again = registry_->Get(mfd.get(), entry_, "acme");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(Code::kCorruption, again.error().code());
  EXPECT_EQ(EIO, again.error().ToErrno());
}

}  // namespace
}  // namespace matterfs::fuse
