// The daemon's open path, counted: an open (and its release) of a file that is open
// already, by a caller whose policy decision is cached, allocates nothing and takes no
// lock that the open of another file takes too (no global lock), audit event included
// (tests/support/counting.h). The operations run as libfuse would call them, over a real
// vault with a firm-sized policy and a real audit sink; this binary stands in for
// libfuse's request and reply functions (it defines them, so the adapter's calls land
// here), which is why it is a binary of its own and mounts nothing.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "crypto/signing.h"
#include "fs/fuse/dispatch.h"
#include "fs/fuse/matterfs_fs.h"
#include "fs/fuse/ops.h"
#include "tests/support/counting.h"
#include "tests/vault/matter_tree.h"

// --- libfuse's request and reply functions, as this test's requests ---------------------
struct fuse_req {
  matterfs::fuse::MatterFs* fs = nullptr;
  fuse_ctx ctx{};
  int err = -1;  // what fuse_reply_err replied (0 for success replies)
  fuse_entry_param entry{};
  fuse_file_info fi{};
};

extern "C" {
void* fuse_req_userdata(fuse_req_t req) { return req->fs; }
const struct fuse_ctx* fuse_req_ctx(fuse_req_t req) { return &req->ctx; }
int fuse_reply_err(fuse_req_t req, int err) {
  req->err = err;
  return 0;
}
void fuse_reply_none(fuse_req_t req) { req->err = 0; }
int fuse_reply_entry(fuse_req_t req, const struct fuse_entry_param* e) {
  req->err = 0;
  req->entry = *e;
  return 0;
}
int fuse_reply_open(fuse_req_t req, const struct fuse_file_info* fi) {
  req->err = 0;
  req->fi = *fi;
  return 0;
}
int fuse_reply_create(fuse_req_t req, const struct fuse_entry_param* e,
                      const struct fuse_file_info* fi) {
  req->err = 0;
  req->entry = *e;
  req->fi = *fi;
  return 0;
}
}

namespace matterfs::fuse {
namespace {

using testing::Count;
using testing::Counts;
using testing::SharedLocks;

class OpenPathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto created = fx_.vault().CreateMatter("acme");
    ASSERT_TRUE(created.ok()) << created.error().message();
    {
      auto m = fx_.Matter("acme");
      test::TreeWriter w(fx_.vault(), *m);
      for (const char* name : {"a.txt", "b.txt"}) w.File(name, std::string("content of ") + name);
    }
    // A firm-sized policy: 50 matters, root a partner with read and write on acme.
    std::string policy =
        "[policy]\nhide_denied = yes\naudit_path = plain\n"
        "[role partners]\nmembers = root\n";
    for (int i = 0; i < 49; ++i) {
      policy += "[matter m" + std::to_string(i) + "]\nread = partners\ndeny = nobody\n";
    }
    policy += "[matter acme]\nread = partners\nwrite = partners\ndeny = nobody\n";
    std::ofstream(fx_.dir().Sub("policy.ini")) << policy;
    // Audit events go to a datagram socket that a thread of ours drains.
    syslog_.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string sock = fx_.dir().Sub("syslog.sock");
    std::memcpy(addr.sun_path, sock.c_str(), sock.size() + 1);
    ASSERT_EQ(::bind(syslog_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    timeval tv{0, 100000};
    ::setsockopt(syslog_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    drain_ = std::thread([this] {
      std::vector<char> buf(65536);
      while (!stop_) {
        ssize_t n = ::recv(syslog_.get(), buf.data(), buf.size(), 0);
        if (n <= 0) continue;
        std::lock_guard<std::mutex> g(received_mu_);
        if (received_.size() > 256) received_.erase(received_.begin());
        received_.emplace_back(buf.data(), static_cast<size_t>(n));
      }
    });

    AccessOptions opts;
    opts.policy_path = fx_.dir().Sub("policy.ini");
    opts.owner = "root";
    opts.syslog_socket = sock;
    opts.mountpoint = "/mnt";
    opts.vault = fx_.path();
    auto ac = AccessControl::Create(opts, signing_key_, path_key_);
    ASSERT_TRUE(ac.ok()) << ac.error().message();
    fs_ = std::make_unique<MatterFs>(fx_.Reopen(), std::move(*ac), 1024);
    fs_->set_multi_user(true);

    matter_ = Lookup(FUSE_ROOT_ID, "acme");
    a_ = Lookup(matter_, "a.txt");
    b_ = Lookup(matter_, "b.txt");
  }

  void TearDown() override {
    fs_.reset();
    stop_ = true;
    if (drain_.joinable()) drain_.join();
  }

  fuse_req Request() {
    fuse_req r;
    r.fs = fs_.get();
    r.ctx.uid = 0;
    r.ctx.gid = 0;
    r.ctx.pid = ::getpid();
    return r;
  }

  fuse_ino_t Lookup(fuse_ino_t parent, const char* name) {
    fuse_req r = Request();
    MatterFs::Ops().lookup(&r, parent, name);
    EXPECT_EQ(r.err, 0) << name;
    return r.entry.ino;
  }

  // open(2) with `flags` as the kernel sends it; the handle, or 0 with the errno in err.
  uint64_t Open(fuse_ino_t ino, int flags, int* err = nullptr) {
    fuse_req r = Request();
    fuse_file_info fi{};
    fi.flags = flags;
    MatterFs::Ops().open(&r, ino, &fi);
    if (err != nullptr) *err = r.err;
    return r.err == 0 ? r.fi.fh : 0;
  }
  void Release(fuse_ino_t ino, uint64_t fh) {
    fuse_req r = Request();
    fuse_file_info fi{};
    fi.fh = fh;
    MatterFs::Ops().release(&r, ino, &fi);
    EXPECT_EQ(r.err, 0);
  }
  void OpenAndRelease(fuse_ino_t ino) {
    uint64_t fh = Open(ino, O_RDONLY);
    ASSERT_NE(fh, 0u);
    Release(ino, fh);
  }

  // Until the audit sink has handed every event to the socket (so that its queue is not
  // full when we count).
  void WaitForAudit() {
    for (int i = 0; i < 3000 && fs_->access().audit_stats().queued > 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_EQ(fs_->access().audit_stats().queued, 0u);
  }

  // Whether a message with `text` reached the socket (waits a little for it to arrive).
  bool Received(const std::string& text) {
    for (int i = 0; i < 500; ++i) {
      {
        std::lock_guard<std::mutex> g(received_mu_);
        for (const auto& m : received_) {
          if (m.find(text) != std::string::npos) return true;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  // Opens each file enough times for every cache on the path to be warm: the thread's
  // decision cache and path buffer, and each slot of the audit queue (which keeps the
  // capacity its events' strings grew to).
  void WarmUp(std::initializer_list<fuse_ino_t> files) {
    for (int round = 0; round < 12; ++round) {
      for (int i = 0; i < 512; ++i) {
        for (fuse_ino_t f : files) OpenAndRelease(f);
      }
      WaitForAudit();
    }
  }

  using VaultFixture = test::VaultFixture;
  VaultFixture fx_;
  crypto::SigningKey signing_key_ = crypto::SigningKey::Generate();
  std::array<uint8_t, 32> path_key_{};
  UniqueFd syslog_;
  std::thread drain_;
  std::atomic<bool> stop_{false};
  std::mutex received_mu_;
  std::vector<std::string> received_;  // the last messages the socket got
  std::unique_ptr<MatterFs> fs_;
  fuse_ino_t matter_ = 0, a_ = 0, b_ = 0;
};

TEST_F(OpenPathTest, OpeningAnOpenFileAllocatesNothingAndSharesNoLock) {
  // Another handle keeps each file open (its data key unwrapped once, for all handles).
  const uint64_t keep_a = Open(a_, O_RDONLY);
  const uint64_t keep_b = Open(b_, O_RDWR);
  ASSERT_NE(keep_a, 0u);
  ASSERT_NE(keep_b, 0u);
  WarmUp({a_, b_});
  // Again just before counting: a cached decision lives 5 s and a process name 2 s, and a
  // slow machine may have taken that long over the warm-up.
  for (int i = 0; i < 8; ++i) {
    OpenAndRelease(a_);
    OpenAndRelease(b_);
  }
  const uint64_t events_before = fs_->access().audit_stats().submitted;

  Counts a = Count([&] { OpenAndRelease(a_); });
  Counts b = Count([&] { OpenAndRelease(b_); });
  std::printf("open + release of an open file: %llu allocations, %llu locks (%zu distinct)\n",
              static_cast<unsigned long long>(a.allocations),
              static_cast<unsigned long long>(a.locks), a.lock_addresses.size());
  EXPECT_EQ(a.allocations, 0u);
  EXPECT_EQ(b.allocations, 0u);
  EXPECT_GT(a.locks, 0u);  // each file's own inode lock: counting works
  EXPECT_TRUE(SharedLocks(a, b).empty())
      << SharedLocks(a, b).size() << " lock(s) taken by the opens of both files";
  // Each open was audited (the event is part of the path counted).
  EXPECT_EQ(fs_->access().audit_stats().submitted, events_before + 2);

  // From another thread at the same time: the same.
  Counts other;
  std::thread t([&] {
    // This thread's caches are cold: warm them first.
    for (int i = 0; i < 64; ++i) OpenAndRelease(b_);
    other = Count([&] { OpenAndRelease(b_); });
  });
  Counts mine = Count([&] { OpenAndRelease(a_); });
  t.join();
  EXPECT_EQ(other.allocations, 0u);
  EXPECT_EQ(mine.allocations, 0u);
  EXPECT_TRUE(SharedLocks(mine, other).empty());

  // For the record: a first open (no handle open) reads and authenticates the header and
  // unwraps the data key; not free, and not asserted.
  Release(a_, keep_a);
  Counts first = Count([&] { OpenAndRelease(a_); });
  std::printf("first open + release: %llu allocations, %llu locks\n",
              static_cast<unsigned long long>(first.allocations),
              static_cast<unsigned long long>(first.locks));
  Release(b_, keep_b);
}

TEST_F(OpenPathTest, TheAuditPathFollowsARename) {
  const uint64_t keep = Open(a_, O_RDONLY);
  ASSERT_NE(keep, 0u);
  OpenAndRelease(a_);  // the open file's state now holds "acme/a.txt"
  fuse_req r = Request();
  MatterFs::Ops().rename(&r, matter_, "a.txt", matter_, "renamed.txt", 0);
  ASSERT_EQ(r.err, 0);
  // The copy is stale now: the next open's event names the new path.
  OpenAndRelease(a_);
  WaitForAudit();
  EXPECT_TRUE(Received("path=\"acme/renamed.txt\""));
  EXPECT_EQ(PathForAudit(fs_.get(), reinterpret_cast<Inode*>(a_)), "acme/renamed.txt");
  Release(a_, keep);
}

TEST_F(OpenPathTest, ADecisionThatChangesIsNotServedFromTheFastPath) {
  const uint64_t keep = Open(a_, O_RDWR);
  ASSERT_NE(keep, 0u);
  for (int i = 0; i < 8; ++i) OpenAndRelease(a_);
  int err = 0;
  // Closing the matter refuses the next write open at once (the decision is keyed by the
  // status), reads go on.
  fs_->matters().Find("acme")->set_status(vault::MatterStatus::kClosed);
  EXPECT_EQ(Open(a_, O_WRONLY, &err), 0u);
  EXPECT_EQ(err, EROFS);
  OpenAndRelease(a_);
  // Another caller: nobody is walled off.
  fuse_req r = Request();
  r.ctx.uid = 65534;
  r.ctx.gid = 65534;
  fuse_file_info fi{};
  fi.flags = O_RDONLY;
  MatterFs::Ops().open(&r, a_, &fi);
  EXPECT_EQ(r.err, EACCES);
  fs_->matters().Find("acme")->set_status(vault::MatterStatus::kOpen);
  Release(a_, keep);
}

}  // namespace
}  // namespace matterfs::fuse
