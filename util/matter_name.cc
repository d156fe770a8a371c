#include "util/matter_name.h"

namespace matterfs {

bool IsValidMatterName(std::string_view name) {
  if (name.empty() || name.size() > 255 || name == "." || name == "..") return false;
  for (char c : name) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || c == '/' || c == ']') return false;
  }
  return true;
}

}  // namespace matterfs
