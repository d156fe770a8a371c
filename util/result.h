// Result<T>: a value or an Error, shaped like C++23 std::expected.
//
// Libraries return [[nodiscard]] Result<T> instead of throwing, so that FUSE callbacks
// (called from C) never see an exception. Error keeps "the data is corrupt" apart from
// "the disk failed" (LevelDB's Status does the same): callers react differently.
// Thread-safety: plain value types; no shared state.
#pragma once

#include <cerrno>
#include <string>
#include <utility>
#include <variant>

namespace matterfs {

enum class Code {
  kOk = 0,
  kNotFound,          // a file, matter or keyslot that does not exist
  kExists,            // creating something that is already there
  kPermissionDenied,  // policy or filesystem refused
  kCorruption,        // authentication failed, bad magic, impossible sizes
  kIo,                // the operating system failed (errno kept)
  kInvalidArgument,   // the caller's input is malformed
  kWrongKey,          // a passphrase or key file that unlocks nothing
  kUnsupported,       // a newer format version or unknown required feature
  kBusy,              // locked by someone else
  kUnfinished,        // an interrupted operation must be finished first (rotate-master)
};

const char* CodeName(Code code);

class Error {
 public:
  Error(Code code, std::string message, int sys_errno = 0)
      : code_(code), message_(std::move(message)), errno_(sys_errno) {}

  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // The errno behind a kIo error (0 otherwise).
  int sys_errno() const { return errno_; }
  // The errno a filesystem should answer with for this error.
  int ToErrno() const;

 private:
  Code code_;
  std::string message_;
  int errno_;
};

// Builds a kIo error from the current errno, naming what failed.
Error IoError(const std::string& what, int err = errno);

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const T& value() const& { return std::get<0>(v_); }
  T& operator*() & { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : err_(std::move(error)), ok_(false) {}  // NOLINT

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return err_; }

 private:
  Error err_{Code::kOk, ""};
  bool ok_ = true;
};

using Status = Result<void>;

// Propagates an error: MFS_TRY(DoThing()); MFS_ASSIGN(auto x, MakeThing());
#define MFS_TRY(expr)                                \
  do {                                               \
    auto mfs_try_r_ = (expr);                        \
    if (!mfs_try_r_.ok()) return mfs_try_r_.error(); \
  } while (0)

#define MFS_CONCAT_INNER(a, b) a##b
#define MFS_CONCAT(a, b) MFS_CONCAT_INNER(a, b)
#define MFS_ASSIGN_IMPL(tmp, decl, expr) \
  auto tmp = (expr);                     \
  if (!tmp.ok()) return tmp.error();     \
  decl = std::move(tmp).value()
#define MFS_ASSIGN(decl, expr) MFS_ASSIGN_IMPL(MFS_CONCAT(mfs_assign_r_, __LINE__), decl, expr)

}  // namespace matterfs
