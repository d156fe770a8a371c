// util/result.h: Result<T> and Status, the MFS_TRY / MFS_ASSIGN propagation, and the
// errno a filesystem answers for each error Code.
#include "util/result.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace matterfs {
namespace {

constexpr Code kAllCodes[] = {
    Code::kOk,          Code::kNotFound, Code::kExists,          Code::kPermissionDenied,
    Code::kCorruption,  Code::kIo,       Code::kInvalidArgument, Code::kWrongKey,
    Code::kUnsupported, Code::kBusy,     Code::kUnfinished};

// ---- Result and Status -------------------------------------------------------------

TEST(ResultTest, HoldsAValue) {
  Result<int> r = 42;
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(static_cast<bool>(r));
  EXPECT_EQ(r.value(), 42);
  EXPECT_EQ(*r, 42);
  *r = 7;  // value() is a reference into the result
  EXPECT_EQ(r.value(), 7);
}

TEST(ResultTest, ArrowReachesTheValue) {
  Result<std::string> r = std::string("abc");
  EXPECT_EQ(r->size(), 3u);
  const Result<std::string>& cr = r;
  EXPECT_EQ(cr->size(), 3u);
  EXPECT_EQ(*cr, "abc");
}

TEST(ResultTest, HoldsAnError) {
  Result<int> r = Error(Code::kCorruption, "bad tag");
  ASSERT_FALSE(r.ok());
  EXPECT_FALSE(static_cast<bool>(r));
  EXPECT_EQ(r.error().code(), Code::kCorruption);
  EXPECT_EQ(r.error().message(), "bad tag");
  EXPECT_EQ(r.error().sys_errno(), 0);
}

TEST(ResultTest, MovesAMoveOnlyValueOut) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(5);
  std::unique_ptr<int> p = std::move(r).value();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(*p, 5);
}

TEST(ResultTest, StatusIsOkByDefault) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_TRUE(static_cast<bool>(s));
  EXPECT_EQ(s.error().code(), Code::kOk);
}

TEST(ResultTest, StatusHoldsAnError) {
  Status s = Error(Code::kBusy, "locked", EWOULDBLOCK);
  ASSERT_FALSE(s.ok());
  EXPECT_FALSE(static_cast<bool>(s));
  EXPECT_EQ(s.error().code(), Code::kBusy);
  EXPECT_EQ(s.error().message(), "locked");
  EXPECT_EQ(s.error().sys_errno(), EWOULDBLOCK);
}

// ---- MFS_TRY and MFS_ASSIGN ----------------------------------------------------------

Status Fails(Code code) { return Error(code, "failed here"); }
Status Succeeds() { return {}; }
Result<int> Number(int v) { return v; }
Result<int> NoNumber() { return Error(Code::kNotFound, "no number"); }

Status TryAll(const std::vector<Status>& steps, int* reached) {
  for (const Status& s : steps) {
    MFS_TRY(s);
    ++*reached;
  }
  return {};
}

TEST(ResultTest, TryContinuesAfterSuccessAndReturnsTheFirstError) {
  int reached = 0;
  EXPECT_TRUE(TryAll({Succeeds(), Succeeds()}, &reached).ok());
  EXPECT_EQ(reached, 2);
  reached = 0;
  Status s = TryAll({Succeeds(), Fails(Code::kIo), Fails(Code::kBusy)}, &reached);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), Code::kIo) << "the first error, unchanged";
  EXPECT_EQ(s.error().message(), "failed here");
  EXPECT_EQ(reached, 1) << "nothing after the failed step runs";
}

TEST(ResultTest, TryPropagatesIntoAnotherResultType) {
  auto f = []() -> Result<std::string> {
    MFS_TRY(NoNumber());  // a Result<int>'s error leaves a function of Result<std::string>
    return std::string("unreached");
  };
  Result<std::string> r = f();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kNotFound);
}

TEST(ResultTest, TryEvaluatesItsExpressionOnce) {
  int calls = 0;
  auto f = [&]() -> Status {
    MFS_TRY([&]() -> Status {
      ++calls;
      return {};
    }());
    return {};
  };
  EXPECT_TRUE(f().ok());
  EXPECT_EQ(calls, 1);
}

Result<int> Sum(Result<int> a, Result<int> b, int* reached) {
  MFS_ASSIGN(int x, std::move(a));
  ++*reached;
  MFS_ASSIGN(const int y, std::move(b));  // a second one in the same scope
  ++*reached;
  return x + y;
}

TEST(ResultTest, AssignBindsTheValue) {
  int reached = 0;
  Result<int> r = Sum(Number(2), Number(40), &reached);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 42);
  EXPECT_EQ(reached, 2);
}

TEST(ResultTest, AssignReturnsTheErrorAndStops) {
  int reached = 0;
  Result<int> first = Sum(NoNumber(), Number(1), &reached);
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.error().code(), Code::kNotFound);
  EXPECT_EQ(first.error().message(), "no number");
  EXPECT_EQ(reached, 0);
  reached = 0;
  Result<int> second = Sum(Number(1), Error(Code::kWrongKey, "second"), &reached);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code(), Code::kWrongKey);
  EXPECT_EQ(reached, 1);
}

TEST(ResultTest, AssignMovesAMoveOnlyValue) {
  auto f = []() -> Result<int> {
    MFS_ASSIGN(std::unique_ptr<int> p, Result<std::unique_ptr<int>>(std::make_unique<int>(9)));
    return *p;
  };
  Result<int> r = f();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 9);
}

TEST(ResultTest, AssignIntoAnExistingVariable) {
  auto f = [](Result<std::string> in) -> Status {
    std::string out = "old";
    MFS_ASSIGN(out, std::move(in));
    return out == "new" ? Status() : Status(Error(Code::kInvalidArgument, out));
  };
  EXPECT_TRUE(f(std::string("new")).ok());
  EXPECT_EQ(f(Error(Code::kExists, "x")).error().code(), Code::kExists);
}

// ---- errno mapping -------------------------------------------------------------------

TEST(ErrorTest, ToErrnoOfEachCode) {
  const std::pair<Code, int> want[] = {
      {Code::kOk, 0},
      {Code::kNotFound, ENOENT},
      {Code::kExists, EEXIST},
      {Code::kPermissionDenied, EACCES},
      {Code::kCorruption, EIO},
      {Code::kIo, EIO},
      {Code::kInvalidArgument, EINVAL},
      {Code::kWrongKey, EACCES},
      {Code::kUnsupported, EOPNOTSUPP},
      {Code::kBusy, EBUSY},
      {Code::kUnfinished, EAGAIN},
  };
  ASSERT_EQ(std::size(want), std::size(kAllCodes)) << "a new Code needs its errno here";
  for (const auto& [code, err] : want) {
    EXPECT_EQ(Error(code, "m").ToErrno(), err) << CodeName(code);
  }
}

TEST(ErrorTest, ASpecificErrnoWins) {
  // Whatever the code, an errno given with the error is what the filesystem answers.
  for (Code code : kAllCodes) {
    EXPECT_EQ(Error(code, "m", ENAMETOOLONG).ToErrno(), ENAMETOOLONG) << CodeName(code);
  }
  EXPECT_EQ(Error(Code::kIo, "disk", ENOSPC).ToErrno(), ENOSPC);
}

TEST(ErrorTest, CorruptionIsNotConfusedWithIo) {
  // Both answer EIO to the caller, but the codes stay apart for the code that reacts.
  Error corrupt(Code::kCorruption, "tag");
  Error io = IoError("read", EIO);
  EXPECT_NE(corrupt.code(), io.code());
  EXPECT_EQ(corrupt.sys_errno(), 0);
  EXPECT_EQ(io.sys_errno(), EIO);
}

TEST(ErrorTest, IoErrorNamesWhatFailedAndKeepsTheErrno) {
  Error e = IoError("open /x", ENOENT);
  EXPECT_EQ(e.code(), Code::kIo);
  EXPECT_EQ(e.sys_errno(), ENOENT);
  EXPECT_EQ(e.message(), std::string("open /x: ") + std::strerror(ENOENT));
  EXPECT_EQ(e.ToErrno(), ENOENT);
}

TEST(ErrorTest, IoErrorTakesTheCurrentErrnoByDefault) {
  errno = EROFS;
  Error e = IoError("write");
  EXPECT_EQ(e.sys_errno(), EROFS);
  EXPECT_EQ(e.ToErrno(), EROFS);
}

TEST(ErrorTest, EveryCodeHasItsOwnName) {
  std::set<std::string> names;
  for (Code code : kAllCodes) {
    const std::string name = CodeName(code);
    EXPECT_FALSE(name.empty());
    EXPECT_NE(name, "unknown");
    names.insert(name);
  }
  EXPECT_EQ(names.size(), std::size(kAllCodes));
  EXPECT_STREQ(CodeName(Code::kCorruption), "corrupt");
  EXPECT_STREQ(CodeName(Code::kIo), "I/O error");
  EXPECT_STREQ(CodeName(static_cast<Code>(999)), "unknown");
}

}  // namespace
}  // namespace matterfs
