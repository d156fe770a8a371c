#include "util/exit_codes.h"

namespace matterfs {

int ExitCodeFor(Code code) {
  switch (code) {
    case Code::kOk:
      return kExitOk;
    case Code::kWrongKey:
      return kExitWrongKey;
    case Code::kCorruption:
      return kExitCorrupt;
    case Code::kNotFound:
      return kExitNotFound;
    case Code::kUnsupported:
      return kExitUnsupported;
    case Code::kExists:
      return kExitExists;
    case Code::kInvalidArgument:
      return kExitUsage;
    case Code::kBusy:
      return kExitBusy;
    case Code::kUnfinished:
      return kExitUnfinished;
    case Code::kPermissionDenied:
      return kExitDenied;
    case Code::kIo:
      return kExitError;
  }
  return kExitError;
}

}  // namespace matterfs
