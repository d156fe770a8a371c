#include "util/json.h"

namespace matterfs {

std::string DumpJson(const nlohmann::ordered_json& value, int indent) {
  // ensure_ascii: the only mode in which nlohmann also escapes DEL and the C1 controls,
  // and in which an invalid byte becomes the text \ufffd rather than raw U+FFFD bytes.
  return value.dump(indent, ' ', /*ensure_ascii=*/true,
                    nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace matterfs
