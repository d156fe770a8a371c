// The daemon's matter registry on a live mount (issue "one home per concern"): a
// matter's keyring swapped in while readers and writers run loses no data and breaks no
// handle; a matter wiped from under the mount (its keyring gone, as another server's
// wipe leaves it) is evicted: its open handles fail with EIO, nothing of it is served
// from the kernel's caches, it disappears from listings, and other matters go on.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/mount/mount_fixture.h"
#include "util/unique_fd.h"

namespace matterfs::mount_test {
namespace {

using namespace std::chrono_literals;

class RegistryMountTest : public TwoMatterTest {
 protected:
  bool WithControlSocket() const override { return true; }
  CmdResult Online(const std::string& verb) {
    return Matterctl({"matter", verb, mnt_, "alpha", "--control-socket", control_});
  }
  // The keyring file of `matter` in the vault's keystore.
  std::string KeyringOf(const std::string& matter) {
    CmdResult list = Matterctl({"matter", "list", vault_, "--passphrase-file", pass_});
    EXPECT_EQ(list.status, 0) << ::testing::PrintToString(list);
    std::istringstream in(list.out);
    std::string name, status, id;
    while (in >> name >> status >> id) {
      if (name == matter) return vault_ + "/keys/" + id + ".keyring";
    }
    ADD_FAILURE() << "no matter " << matter << " in " << list.out;
    return "";
  }
};

TEST_F(RegistryMountTest, KeyringSwappedUnderReadersAndWritersLosesNothing) {
  constexpr int kWriters = 3;
  std::atomic<bool> stop{false};
  std::atomic<int> errors{0};
  std::vector<std::atomic<int>> records(kWriters);
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      const std::string path = M("log" + std::to_string(w) + ".txt");
      UniqueFd fd(::open(path.c_str(), O_CREAT | O_WRONLY | O_APPEND | O_CLOEXEC, 0644));
      UniqueFd rd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd.valid() || !rd.valid()) {
        ++errors;
        return;
      }
      std::string expect;
      for (int i = 0; !stop || i < 50; ++i) {
        const std::string rec = "writer " + std::to_string(w) + " record " + std::to_string(i) +
                                " " + Pattern(300 + static_cast<size_t>(i % 5000), i) + "\n";
        if (::write(fd.get(), rec.data(), rec.size()) != static_cast<ssize_t>(rec.size())) {
          ++errors;
          return;
        }
        expect += rec;
        auto back = ReadFd(rd.get());  // the open read handle sees every write
        if (!back || *back != expect) {
          ++errors;
          return;
        }
        records[static_cast<size_t>(w)] = i + 1;
      }
    });
  }
  // Every online status change makes the daemon re-read the keyring and swap it in.
  for (int round = 0; round < 10; ++round) {
    ASSERT_EQ(Online("hold").status, 0);
    ASSERT_EQ(Online("release").status, 0);
  }
  stop = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  for (int w = 0; w < kWriters; ++w) {
    EXPECT_GE(records[static_cast<size_t>(w)].load(), 50);
    // Read afresh after a remount: what was written is what is stored.
    auto content = ReadFile(M("log" + std::to_string(w) + ".txt"));
    ASSERT_TRUE(content.has_value());
    EXPECT_NE(content->find("record " + std::to_string(records[static_cast<size_t>(w)] - 1)),
              std::string::npos);
  }
  std::vector<std::string> before;
  for (int w = 0; w < kWriters; ++w)
    before.push_back(*ReadFile(M("log" + std::to_string(w) + ".txt")));
  ASSERT_NO_FATAL_FAILURE(Remount());
  for (int w = 0; w < kWriters; ++w) {
    EXPECT_EQ(ReadFile(M("log" + std::to_string(w) + ".txt")), before[static_cast<size_t>(w)]);
  }
  EXPECT_FALSE(WaitForSyslog({"tamper"}, 100)) << "no tamper alert for a key swap";
}

TEST_F(RegistryMountTest, AWipedMatterIsEvictedWithItsOpenHandles) {
  const std::string secret = "privileged and confidential " + UniqueToken() + "\n";
  ASSERT_TRUE(WriteFile(M("doc.txt"), secret + std::string(20000, 'p')));
  ASSERT_TRUE(WriteFile(B("other.txt"), "beta stays\n"));
  UniqueFd fd(::open(M("doc.txt").c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(fd.valid());
  char buf[64];
  ASSERT_EQ(::pread(fd.get(), buf, sizeof buf, 0), static_cast<ssize_t>(sizeof buf));
  const std::string keyring = KeyringOf("alpha");
  ASSERT_FALSE(keyring.empty());

  // Another server wipes alpha: its keyring leaves the shared keystore.
  ASSERT_EQ(::rename(keyring.c_str(), (dir_ + "/alpha.keyring.gone").c_str()), 0);

  // The daemon notices within its refresh interval (1 s); the open handle then fails,
  // even for the bytes just read (the kernel's page cache was dropped).
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  ssize_t n = 0;
  while ((n = ::pread(fd.get(), buf, sizeof buf, 0)) > 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_EQ(n, -1) << "the open handle still reads after the wipe";
  EXPECT_EQ(errno, EIO);
  EXPECT_EQ(::pread(fd.get(), buf, sizeof buf, 8192), -1);
  EXPECT_EQ(errno, EIO);
  struct stat st;
  EXPECT_NE(::stat(M("doc.txt").c_str(), &st), 0);
  EXPECT_NE(::stat(M().c_str(), &st), 0);
  EXPECT_EQ(errno, ENOENT) << "the matter is gone for new lookups";
  auto root = ListDir(mnt_);
  ASSERT_TRUE(root.has_value());
  EXPECT_EQ(*root, std::vector<std::string>{"beta"});
  // Other matters go on.
  EXPECT_EQ(ReadFile(B("other.txt")), "beta stays\n");
  EXPECT_TRUE(WriteFile(B("new.txt"), "still writable\n"));
  EXPECT_FALSE(WaitForSyslog({"tamper"}, 100)) << "a wipe is not tampering";
}

}  // namespace
}  // namespace matterfs::mount_test
