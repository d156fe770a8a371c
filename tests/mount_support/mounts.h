// Vaults, mounts and daemons for the mount tests: a vault made quickly, the mount table,
// the daemon of a mount point, and unmounting that waits for the daemon to exit.
//
// The test process should be a child subreaper (PR_SET_CHILD_SUBREAPER; MountFixture
// makes it one): the daemon detaches from `matterfs`, and only then does it become our
// child, so that its exit status can be checked (WaitForDaemonExit).
//
// Thread-safety: reentrant; any thread. Errors: gtest failures (CreateVault's are fatal:
// wrap it in ASSERT_NO_FATAL_FAILURE).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace matterfs::mount_support {

// `matterctl init` of a new vault with a fast Argon2id (8 MiB, 1 pass) and the
// passphrase in pass_file, then `matterctl matter create` of each matter.
void CreateVault(const std::string& vault, const std::string& pass_file,
                 const std::vector<std::string>& matters);

// The mount points of /proc/self/mountinfo, unescaped ("\040" is a space).
std::vector<std::string> MountPoints();
// True when path (without trailing slashes) is a mount point.
bool IsMountPoint(const std::string& path);

// Pids of the processes whose command line is `matterfs VAULT mountpoint ...`.
std::vector<pid_t> DaemonsFor(const std::string& mountpoint);

// Unmounts a FUSE mount: fusermount3 -u, retried for 2 s while it is busy (a child of
// the test still closing its files), then umount -l. Needing umount -l, or its failing,
// is a test failure. Nothing happens when path is not a mount point.
void FuseUnmount(const std::string& path);
// Waits up to 10 s for the daemon pid to exit with status 0 (a test failure otherwise;
// a daemon still running then is killed).
void WaitForDaemonExit(pid_t pid);
// FuseUnmount(path), then WaitForDaemonExit for each daemon that served it: for a mount
// a test made with MountFixture::RunMatterfs (e.g. a second vault or daemon).
void UnmountAndWait(const std::string& path);

}  // namespace matterfs::mount_support
