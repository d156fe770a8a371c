// Unix seconds as text for people and scripts: "2026-12-02T15:36:00Z" (UTC, always with
// seconds, so the width never changes). Thread-safe (gmtime_r).
#pragma once

#include <cstdint>
#include <string>

namespace matterfs {

std::string FormatUnixTime(uint64_t seconds);

}  // namespace matterfs
