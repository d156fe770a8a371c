// JSON text, written through nlohmann-json so that no JSON escaping is written by hand
// (docs/AUDIT.md "JSON format", docs/FORMAT.md "Certificate of destruction").
//
// Every JSON matterfs writes goes through DumpJson, so all of it is escaped one way:
//   - the output is printable ASCII only: '"' and '\' are escaped, control characters
//     (U+0000..U+001F, DEL, U+0080..U+009F) and every other non-ASCII character are
//     written as \uXXXX (lowercase hex; a surrogate pair above U+FFFF), with the short
//     forms \b \f \n \r \t where JSON has them, so one object never spans lines;
//   - bytes that are not valid UTF-8 never make it throw: each maximal invalid
//     subsequence becomes U+FFFD (written \ufffd), as Unicode recommends.
// Object members keep their insertion order (nlohmann::ordered_json).
// Thread-safety: a pure function. Errors: none but std::bad_alloc.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace matterfs {

// `value` as JSON text: one line with no spaces for indent < 0, else pretty-printed with
// `indent` spaces per level (nlohmann's layout: "key": value, one member per line).
// No trailing newline.
std::string DumpJson(const nlohmann::ordered_json& value, int indent = -1);

}  // namespace matterfs
