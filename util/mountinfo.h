// The mounts of this process's mount namespace, from /proc/self/mountinfo.
// Thread-safety: functions. Errors: an unreadable mountinfo reads as no mounts.
#pragma once
#include <string>
#include <vector>

namespace matterfs {

struct MountEntry {
  std::string mount_point;  // unescaped ("\040" back to a space)
  std::string fstype;       // e.g. "fuse.matterfs"
  std::string source;       // unescaped; for matterfs the vault path (',' as '_')
};

std::vector<MountEntry> ReadMountInfo();

// Decodes the octal escapes the kernel writes in mountinfo fields ("\040" for a space,
// "\134" for a backslash); anything else is kept as it is.
std::string UnescapeMountField(const std::string& s);

}  // namespace matterfs
