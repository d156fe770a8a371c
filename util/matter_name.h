// The rule for matter names, shared by the vault (which creates matters, through
// `matterctl matter create` or mkdir at the mount root) and the policy (whose
// `[matter NAME]` sections must be able to name every matter): 1 to 255 bytes, no '/',
// ']' or control characters, not "." or "..". Pure; thread-safe.
#pragma once

#include <string_view>

namespace matterfs {

bool IsValidMatterName(std::string_view name);

}  // namespace matterfs
