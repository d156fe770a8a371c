// util/unique_fd.h: UniqueFd closes what it owns exactly once, hands ownership over on a
// move and gives it up on release(). Closing is observed through a pipe: when the write
// end is closed, the read end sees end of file (fd numbers may be reused, EOF may not lie).
#include "util/unique_fd.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

namespace matterfs {
namespace {

// A pipe whose write end a test hands to UniqueFd and whose read end tells whether every
// copy of the write end is closed.
class Pipe {
 public:
  Pipe() {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
    read_ = fds[0];
    write_ = fds[1];
  }
  ~Pipe() { ::close(read_); }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;

  int write_end() const { return write_; }
  // True when the write end is closed everywhere (read gives EOF rather than EAGAIN).
  bool WriteEndClosed() const {
    char c;
    return ::read(read_, &c, 1) == 0;
  }

 private:
  int read_ = -1;
  int write_ = -1;
};

bool IsOpen(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

TEST(UniqueFdTest, DefaultOwnsNothing) {
  UniqueFd fd;
  EXPECT_FALSE(fd.valid());
  EXPECT_EQ(fd.get(), -1);
  fd.reset();  // closing nothing is fine
  EXPECT_EQ(fd.release(), -1);
}

TEST(UniqueFdTest, ClosesOnDestruction) {
  Pipe p;
  {
    UniqueFd fd(p.write_end());
    EXPECT_TRUE(fd.valid());
    EXPECT_EQ(fd.get(), p.write_end());
    EXPECT_FALSE(p.WriteEndClosed());
  }
  EXPECT_TRUE(p.WriteEndClosed());
}

TEST(UniqueFdTest, NegativeFdIsNotValidAndNotClosed) {
  UniqueFd fd(-5);
  EXPECT_FALSE(fd.valid());
}

TEST(UniqueFdTest, MoveConstructionTransfersOwnership) {
  Pipe p;
  UniqueFd a(p.write_end());
  {
    UniqueFd b(std::move(a));
    // The moved-from state is part of the contract.
    // NOLINTNEXTLINE(bugprone-use-after-move,clang-analyzer-cplusplus.Move)
    EXPECT_FALSE(a.valid());
    EXPECT_EQ(a.get(), -1);  // NOLINT(bugprone-use-after-move)
    EXPECT_EQ(b.get(), p.write_end());
    EXPECT_FALSE(p.WriteEndClosed());
  }
  EXPECT_TRUE(p.WriteEndClosed()) << "the new owner closes it";
}

TEST(UniqueFdTest, MoveAssignmentClosesTheOldFdAndTakesTheNew) {
  Pipe old_pipe;
  Pipe new_pipe;
  UniqueFd target(old_pipe.write_end());
  UniqueFd source(new_pipe.write_end());
  target = std::move(source);
  EXPECT_TRUE(old_pipe.WriteEndClosed()) << "the target's previous fd is closed";
  EXPECT_FALSE(new_pipe.WriteEndClosed());
  EXPECT_EQ(target.get(), new_pipe.write_end());
  // NOLINTNEXTLINE(bugprone-use-after-move,clang-analyzer-cplusplus.Move)
  EXPECT_FALSE(source.valid());
  target.reset();
  EXPECT_TRUE(new_pipe.WriteEndClosed());
}

TEST(UniqueFdTest, SelfMoveAssignmentKeepsTheFd) {
  Pipe p;
  UniqueFd fd(p.write_end());
  UniqueFd& alias = fd;
  fd = std::move(alias);
  EXPECT_EQ(fd.get(), p.write_end());
  EXPECT_FALSE(p.WriteEndClosed());
}

TEST(UniqueFdTest, ReleaseGivesUpOwnershipWithoutClosing) {
  Pipe p;
  int raw = -1;
  {
    UniqueFd fd(p.write_end());
    raw = fd.release();
    EXPECT_FALSE(fd.valid());
    EXPECT_EQ(fd.get(), -1);
  }
  EXPECT_EQ(raw, p.write_end());
  EXPECT_TRUE(IsOpen(raw));
  EXPECT_FALSE(p.WriteEndClosed());
  ASSERT_EQ(::close(raw), 0);
  EXPECT_TRUE(p.WriteEndClosed());
}

TEST(UniqueFdTest, ResetClosesTheOldFdAndOwnsTheNew) {
  Pipe first;
  Pipe second;
  UniqueFd fd(first.write_end());
  fd.reset(second.write_end());
  EXPECT_TRUE(first.WriteEndClosed());
  EXPECT_EQ(fd.get(), second.write_end());
  fd.reset();
  EXPECT_TRUE(second.WriteEndClosed());
  EXPECT_FALSE(fd.valid());
}

}  // namespace
}  // namespace matterfs
