#include "util/result.h"

#include <cstring>

namespace matterfs {

const char* CodeName(Code code) {
  switch (code) {
    case Code::kOk:
      return "ok";
    case Code::kNotFound:
      return "not found";
    case Code::kExists:
      return "already exists";
    case Code::kPermissionDenied:
      return "permission denied";
    case Code::kCorruption:
      return "corrupt";
    case Code::kIo:
      return "I/O error";
    case Code::kInvalidArgument:
      return "invalid argument";
    case Code::kWrongKey:
      return "wrong key";
    case Code::kUnsupported:
      return "unsupported";
    case Code::kBusy:
      return "busy";
    case Code::kUnfinished:
      return "unfinished";
  }
  return "unknown";
}

int Error::ToErrno() const {
  if (errno_ != 0) return errno_;  // a specific errno (ENAMETOOLONG, ERANGE, ...) wins
  switch (code_) {
    case Code::kOk:
      return 0;
    case Code::kNotFound:
      return ENOENT;
    case Code::kExists:
      return EEXIST;
    case Code::kPermissionDenied:
      return EACCES;
    case Code::kCorruption:
      return EIO;
    case Code::kIo:
      return errno_ != 0 ? errno_ : EIO;
    case Code::kInvalidArgument:
      return EINVAL;
    case Code::kWrongKey:
      return EACCES;
    case Code::kUnsupported:
      return EOPNOTSUPP;
    case Code::kBusy:
      return EBUSY;
    case Code::kUnfinished:
      return EAGAIN;
  }
  return EIO;
}

Error IoError(const std::string& what, int err) {
  return Error(Code::kIo, what + ": " + std::strerror(err), err);
}

}  // namespace matterfs
