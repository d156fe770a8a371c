// Fuzzes the control socket protocol's decoders: DecodeRequest (what the daemon parses
// from any local user), DecodeResponse (what matterctl parses from the socket) and
// PercentDecode. Invariants: whatever decodes encodes to text that decodes to the same
// value (and a request stays within kMaxRequest when its input did).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "fs/control/protocol.h"
#include "tests/fuzz/fuzz_support.h"

using namespace matterfs;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > control::kMaxResponse) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto req = control::DecodeRequest(text); req.ok()) {
    const std::string encoded = control::EncodeRequest(*req);
    auto back = control::DecodeRequest(encoded);
    FUZZ_CHECK(back.ok());
    FUZZ_CHECK(back->command == req->command && back->args == req->args);
  }
  if (auto resp = control::DecodeResponse(text); resp.ok()) {
    const std::string encoded = control::EncodeResponse(*resp);
    auto back = control::DecodeResponse(encoded);
    FUZZ_CHECK(back.ok());
    FUZZ_CHECK(back->ok == resp->ok && back->code == resp->code && back->message == resp->message &&
               back->rows == resp->rows);
  }
  if (auto plain = control::PercentDecode(text)) {
    FUZZ_CHECK(control::PercentDecode(control::PercentEncode(*plain)) == *plain);
  }
  return 0;
}
