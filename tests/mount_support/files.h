// File and directory helpers for the mount tests: whole files, listings, trees, test
// data, temporary directories.
//
// Thread-safety: reentrant; any thread. Errors: nullopt or false with errno kept (so that
// a test can assert the errno of a failed call on the mount); DropCaches and RemoveTree
// report as gtest failures or warnings.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace matterfs::mount_support {

// Whole-file helpers; nullopt/false (with errno kept) on failure. WriteFile creates the
// file with `mode` (less the umask) or truncates an existing one, keeping its mode.
std::optional<std::string> ReadFile(const std::string& path);
bool WriteFile(const std::string& path, const std::string& data, mode_t mode = 0644);
// Reads everything from an open fd, from offset 0, with pread.
std::optional<std::string> ReadFd(int fd);
// Writes all of data at off with pwrite; false on error (errno kept).
bool PwriteAll(int fd, const std::string& data, off_t off);
// Sorted entry names of a directory without "." and ".."; nullopt on error.
std::optional<std::vector<std::string>> ListDir(const std::string& path);
// Every path below root (files, dirs, symlinks), depth first, without following links.
std::vector<std::string> WalkTree(const std::string& root);

// Deterministic pseudo-random bytes.
std::string Pattern(size_t size, uint64_t seed);
// A short hex string that no test writes twice.
std::string UniqueToken();

// echo N > /proc/sys/vm/drop_caches (after sync); a failure is a test failure.
void DropCaches(int level);

// A new directory `prefix`XXXXXX, mode 0755 (so that other users reach what is below);
// "" on failure (errno kept).
std::string MakeTempDir(const std::string& prefix);
// rm -rf --one-file-system: never descends into a mount that failed to come down.
void RemoveTree(const std::string& path);

}  // namespace matterfs::mount_support
