#include "util/mountinfo.h"

#include <fstream>
#include <sstream>

namespace matterfs {

std::string UnescapeMountField(const std::string& s) {
  auto octal = [&](size_t j) { return s[j] >= '0' && s[j] <= '7'; };
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && octal(i + 1) && octal(i + 2) && octal(i + 3)) {
      out.push_back(
          static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::vector<MountEntry> ReadMountInfo() {
  std::vector<MountEntry> out;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    // ID PARENT MAJ:MIN ROOT MOUNT-POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER-OPTIONS
    std::istringstream ls(line);
    std::string id, parent, devno, root, mnt, field;
    ls >> id >> parent >> devno >> root >> mnt;
    while (ls >> field && field != "-") {
    }
    std::string fstype, source;
    ls >> fstype >> source;
    out.push_back({UnescapeMountField(mnt), fstype, UnescapeMountField(source)});
  }
  return out;
}

}  // namespace matterfs
