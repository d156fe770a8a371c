// Exit codes: one table for every executable (matterfs, matterctl, the scripts that
// call them). docs/MATTERCTL.md "Exit codes" and docs/MATTERFS.md list the same numbers;
// scripts depend on them, so a number never changes meaning.
// Thread-safety: constants and a pure function.
#pragma once

#include "util/result.h"

namespace matterfs {

enum ExitCode : int {
  kExitOk = 0,
  kExitError = 1,        // I/O or another failure
  kExitUsage = 2,        // bad command line or invalid input (policy, options)
  kExitWrongKey = 3,     // wrong passphrase or key file
  kExitCorrupt = 4,      // vault, keyring, file or log fails authentication / is malformed
  kExitNotFound = 5,     // no such vault, matter, file, keyslot or mount
  kExitUnsupported = 6,  // newer format version or unknown required feature
  kExitExists = 7,       // the target already exists (vault, matter, mount, key file)
  kExitBusy = 8,         // locked or in use by another process (a mounted vault)
  kExitUnfinished = 9,   // an interrupted master key rotation must be finished first
  kExitDenied = 10,      // the policy refused (policy explain: deny; a daemon said EACCES)

  // matterctl fsck answers like fsck(8), with numbers of the table above so that no
  // number gets a second meaning across commands (docs/MATTERCTL.md "fsck"):
  kExitFsckClean = kExitOk,              // nothing wrong found
  kExitFsckRepaired = kExitError,        // problems found, and --repair dealt with all
  kExitFsckProblemsLeft = kExitCorrupt,  // problems found and left (or no --repair)
  kExitFsckCouldNotRun = kExitBusy,      // could not check: no vault, wrong key, mounted
                                         // alone by a daemon, an I/O error on the vault
};

// The exit code for an error of this kind.
int ExitCodeFor(Code code);

}  // namespace matterfs
