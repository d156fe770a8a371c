// Fuzzes the certificate of destruction verifier, VerifyCertificate (JSON parsing, every
// member, the byte-exact rebuild, the Ed25519 signature), for the fixed vault id and
// signing key. Each input is tried as given and re-signed with the fixed key (its
// "signature" value replaced by the signature of the text without it, fuzz_support.h's
// idea for a MAC), so mutations of the members reach the checks behind the signature.
// Invariants: a certificate that verifies is byte for byte what SignCertificate writes for
// the facts it returned; an input not signed with the key never verifies.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "fs/vault/certificate.h"
#include "tests/fuzz/fuzz_support.h"

using namespace matterfs;

namespace {
const crypto::SigningKey& Key() {
  static const crypto::SigningKey key = fuzz::FixedSigningKey();
  return key;
}

bool Check(const std::string& text) {
  auto cert = vault::VerifyCertificate(text, fuzz::FixedVaultId(), Key().public_key());
  if (!cert.ok()) {
    FUZZ_CHECK(cert.error().code() == Code::kCorruption ||
               cert.error().code() == Code::kUnsupported);
    return false;
  }
  FUZZ_CHECK(vault::SignCertificate(*cert, Key()) == text);
  return true;
}

// The text with its signature made again: SignCertificate's layout puts "signature"
// last, after the body's closing members.
std::optional<std::string> Resign(const std::string& text) {
  const std::string marker = ",\n  \"signature\": \"";
  const size_t at = text.rfind(marker);
  if (at == std::string::npos) return std::nullopt;
  const size_t hex_at = at + marker.size();
  if (text.size() < hex_at + 2 * crypto::kSignatureSize) return std::nullopt;
  const std::string body = text.substr(0, at) + "\n}\n";
  const Bytes sig = Key().Sign(vault::CertificateMessage(body));
  std::string out = text;
  out.replace(hex_at, 2 * crypto::kSignatureSize, ToHex(sig));
  return out;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > vault::kMaxCertificateSize + 16) return 0;
  const std::string text(reinterpret_cast<const char*>(data), size);
  const bool verified = Check(text);
  if (auto resigned = Resign(text)) {
    const bool ok = Check(*resigned);
    if (verified) FUZZ_CHECK(ok && *resigned == text);
    if (ok && *resigned != text) FUZZ_CHECK(!verified);
  }
  return 0;
}
