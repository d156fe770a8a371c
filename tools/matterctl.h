// matterctl: the administrator's command-line tool. RunMatterctl parses argv and runs one
// command; main.cc is a thin wrapper. Exit codes are documented in docs/MATTERCTL.md and
// below; errors are one line on stderr ("matterctl: ...").
#pragma once

namespace matterfs::tools {

enum ExitCode : int {
  kExitOk = 0,
  kExitError = 1,        // I/O or other failure
  kExitUsage = 2,        // bad command line
  kExitWrongKey = 3,     // wrong passphrase or key file
  kExitCorrupt = 4,      // vault, keyring or file fails authentication / is malformed
  kExitNotFound = 5,     // no such vault, matter, file or keyslot
  kExitUnsupported = 6,  // newer format version or unknown required feature
  kExitExists = 7,       // target already exists
};

int RunMatterctl(int argc, char** argv);

}  // namespace matterfs::tools
