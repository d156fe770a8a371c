#include "fs/vault/certificate.h"

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>

#include "util/json.h"
#include "util/unix_time.h"

namespace matterfs::vault {

namespace {

constexpr char kContext[] = "matterfs destruction certificate v1";
constexpr char kSignature[] = "signature";
// Every member but "signature", in file order.
constexpr std::array<std::string_view, 17> kMembers = {
    "format",       "version",       "vault_id", "matter",
    "matter_id",    "files",         "bytes",    "key_versions_destroyed",
    "method",       "passes",        "started",  "finished",
    "operator_uid", "operator_name", "host",     "caveats",
    "public_key"};

nlohmann::ordered_json ToJson(const DestructionCertificate& c) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  j["format"] = kCertificateFormat;
  j["version"] = kCertificateVersion;
  j["vault_id"] = ToHex(c.vault_id);
  j["matter"] = c.matter;
  j["matter_id"] = ToHex(c.matter_id);
  j["files"] = c.files;
  j["bytes"] = c.bytes;
  j["key_versions_destroyed"] = c.key_versions_destroyed;
  j["method"] = c.method;
  j["passes"] = c.passes;
  j["started"] = FormatUnixTime(c.started);
  j["finished"] = FormatUnixTime(c.finished);
  j["operator_uid"] = c.operator_uid;
  j["operator_name"] = c.operator_name;
  j["host"] = c.host;
  j["caveats"] = c.caveats;
  j["public_key"] = ToHex(c.public_key);
  return j;
}

std::string Serialize(const nlohmann::ordered_json& j) { return DumpJson(j, 2) + "\n"; }

Error Invalid(const std::string& why) {
  return Error(Code::kCorruption, "not a valid certificate of destruction: " + why);
}

// Typed access to the members of a parsed certificate; each error names the member.
class Members {
 public:
  explicit Members(const nlohmann::json& j) : j_(j) {}

  Result<const nlohmann::json*> Get(const char* key) const {
    auto it = j_.find(key);
    if (it == j_.end()) return Invalid(std::string("member \"") + key + "\" is missing");
    return &*it;
  }
  Result<std::string> String(const char* key) const {
    MFS_ASSIGN(const nlohmann::json* v, Get(key));
    if (!v->is_string()) return Wrong(key, "a string");
    return v->get<std::string>();
  }
  Result<uint64_t> Unsigned(const char* key, uint64_t max) const {
    MFS_ASSIGN(const nlohmann::json* v, Get(key));
    return UnsignedValue(*v, key, max);
  }
  template <size_t N>
  Result<std::array<uint8_t, N>> Hex(const char* key) const {
    MFS_ASSIGN(const std::string s, String(key));
    std::array<uint8_t, N> out{};
    if (!IsLowerHex(s, N)) return Wrong(key, std::to_string(2 * N) + " lowercase hex digits");
    const Bytes b = *FromHex(s);
    std::copy(b.begin(), b.end(), out.begin());
    return out;
  }
  Result<uint64_t> Time(const char* key) const {
    MFS_ASSIGN(const std::string s, String(key));
    const auto t = ParseUnixTime(s);
    if (!t) return Wrong(key, "a UTC time such as 2026-01-31T17:00:00Z");
    return *t;
  }
  Result<std::vector<uint32_t>> UnsignedList(const char* key) const {
    MFS_ASSIGN(const nlohmann::json* v, Get(key));
    if (!v->is_array()) return Wrong(key, "a list of key versions");
    std::vector<uint32_t> out;
    for (const auto& e : *v) {
      MFS_ASSIGN(const uint64_t n, UnsignedValue(e, key, std::numeric_limits<uint32_t>::max()));
      out.push_back(static_cast<uint32_t>(n));
    }
    return out;
  }
  Result<std::vector<std::string>> StringList(const char* key) const {
    MFS_ASSIGN(const nlohmann::json* v, Get(key));
    if (!v->is_array()) return Wrong(key, "a list of strings");
    std::vector<std::string> out;
    for (const auto& e : *v) {
      if (!e.is_string()) return Wrong(key, "a list of strings");
      out.push_back(e.get<std::string>());
    }
    return out;
  }

  static bool IsLowerHex(const std::string& s, size_t bytes) {
    return s.size() == 2 * bytes && std::all_of(s.begin(), s.end(), [](char c) {
             return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
           });
  }

 private:
  static Error Wrong(const char* key, const std::string& what) {
    return Invalid(std::string("member \"") + key + "\" must be " + what);
  }
  static Result<uint64_t> UnsignedValue(const nlohmann::json& v, const char* key, uint64_t max) {
    if (!v.is_number_unsigned() || v.get<uint64_t>() > max) {
      return Wrong(key, "an integer from 0 to " + std::to_string(max));
    }
    return v.get<uint64_t>();
  }

  const nlohmann::json& j_;
};

Result<DestructionCertificate> FromJson(const nlohmann::json& j) {
  const Members m(j);
  DestructionCertificate c;
  MFS_ASSIGN(c.vault_id, m.Hex<kIdSize>("vault_id"));
  MFS_ASSIGN(c.matter, m.String("matter"));
  MFS_ASSIGN(c.matter_id, m.Hex<kIdSize>("matter_id"));
  constexpr uint64_t kU64 = std::numeric_limits<uint64_t>::max();
  constexpr uint64_t kU32 = std::numeric_limits<uint32_t>::max();
  MFS_ASSIGN(c.files, m.Unsigned("files", kU64));
  MFS_ASSIGN(c.bytes, m.Unsigned("bytes", kU64));
  MFS_ASSIGN(c.key_versions_destroyed, m.UnsignedList("key_versions_destroyed"));
  MFS_ASSIGN(c.method, m.String("method"));
  MFS_ASSIGN(const uint64_t passes, m.Unsigned("passes", kU32));
  c.passes = static_cast<uint32_t>(passes);
  MFS_ASSIGN(c.started, m.Time("started"));
  MFS_ASSIGN(c.finished, m.Time("finished"));
  MFS_ASSIGN(const uint64_t uid, m.Unsigned("operator_uid", kU32));
  c.operator_uid = static_cast<uint32_t>(uid);
  MFS_ASSIGN(c.operator_name, m.String("operator_name"));
  MFS_ASSIGN(c.host, m.String("host"));
  MFS_ASSIGN(c.caveats, m.StringList("caveats"));
  MFS_ASSIGN(c.public_key, m.Hex<crypto::kSignPublicKeySize>("public_key"));
  return c;
}

}  // namespace

std::string CertificateBody(const DestructionCertificate& c) { return Serialize(ToJson(c)); }

Bytes CertificateMessage(std::string_view body) {
  // Sized up front and filled by position: GCC 12 misreads vector::insert here (a false
  // -Warray-bounds), as in CheckpointMessage.
  Bytes msg(sizeof kContext + body.size());  // the context with its 0 byte, then the body
  std::copy(kContext, kContext + sizeof kContext, msg.begin());
  std::copy(body.begin(), body.end(), msg.begin() + sizeof kContext);
  return msg;
}

std::string SignCertificate(DestructionCertificate c, const crypto::SigningKey& key) {
  std::copy(key.public_key().begin(), key.public_key().end(), c.public_key.begin());
  nlohmann::ordered_json j = ToJson(c);
  j[kSignature] = ToHex(key.Sign(CertificateMessage(Serialize(j))));
  return Serialize(j);
}

Result<DestructionCertificate> VerifyCertificate(std::string_view text, const VaultId& vault_id,
                                                 ByteSpan vault_public_key) {
  if (text.size() > kMaxCertificateSize) return Invalid("larger than 64 KiB");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    // Not only parse_error: a number too large for a double is out_of_range.406.
    // e.what() is "[json.exception.parse_error.101] parse error at line 1, ...".
    const std::string what = e.what();
    const size_t cut = what.find("] ");
    return Invalid("not JSON: " + (cut == std::string::npos ? what : what.substr(cut + 2)));
  }
  if (!j.is_object()) return Invalid("not a JSON object");
  auto format = j.find("format");
  if (format == j.end() || *format != kCertificateFormat) {
    return Invalid(std::string("\"format\" is not \"") + kCertificateFormat + "\"");
  }
  auto version = j.find("version");
  if (version == j.end() || !version->is_number_unsigned()) {
    return Invalid("member \"version\" must be an integer");
  }
  if (version->get<uint64_t>() != kCertificateVersion) {
    return Error(Code::kUnsupported, "certificate format version " +
                                         std::to_string(version->get<uint64_t>()) +
                                         " is not supported (this version reads 1)");
  }
  for (const auto& [key, value] : j.items()) {
    if (key != kSignature && std::find(kMembers.begin(), kMembers.end(), key) == kMembers.end()) {
      return Invalid("unexpected member \"" + key + "\"");
    }
  }
  MFS_ASSIGN(DestructionCertificate c, FromJson(j));
  auto sig = j.find(kSignature);
  if (sig == j.end()) return Invalid("member \"signature\" is missing (an unsigned certificate)");
  if (!sig->is_string() || !Members::IsLowerHex(sig->get<std::string>(), crypto::kSignatureSize)) {
    return Invalid("member \"signature\" must be 128 lowercase hex digits");
  }
  // The file must be exactly what SignCertificate writes for these facts: this is what
  // makes a change of whitespace, member order, escaping or number form fail too.
  nlohmann::ordered_json canonical = ToJson(c);
  const std::string body = Serialize(canonical);
  canonical[kSignature] = sig->get<std::string>();
  if (Serialize(canonical) != text) {
    return Invalid("its bytes differ from the form in which it was signed (edited)");
  }
  if (c.vault_id != vault_id) {
    return Invalid("it certifies a matter of vault " + ToHex(c.vault_id) + ", not of this vault (" +
                   ToHex(vault_id) + ")");
  }
  if (!std::equal(c.public_key.begin(), c.public_key.end(), vault_public_key.begin(),
                  vault_public_key.end())) {
    return Invalid("it names signing key " + ToHex(c.public_key) + ", not this vault's key " +
                   ToHex(vault_public_key));
  }
  if (!crypto::VerifySignature(vault_public_key, CertificateMessage(body),
                               *FromHex(sig->get<std::string>()))) {
    return Invalid("the signature does not match its contents (edited)");
  }
  return c;
}

}  // namespace matterfs::vault
