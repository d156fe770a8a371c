// FIDO2 tokens for two-factor keyslots (kind 4, docs/FORMAT.md §6.11): a credential with
// the CTAP2 hmac-secret extension is made on the token when the slot is made, and each
// unlock asks the token (a touch) for the HMAC of the slot's 32-byte salt under it.
//
// Fido2Token is an interface so that the slot logic can be tested with a software token
// (tests/vault/config_v3_test.cc); OpenFido2Device is the real one, through libfido2.
// Thread-safety: a token is used by one thread at a time.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "crypto/secure_memory.h"
#include "util/bytes.h"
#include "util/result.h"

namespace matterfs::vault {

inline constexpr char kFido2DefaultRpId[] = "matterfs";
inline constexpr size_t kFido2HmacSaltSize = 32;
inline constexpr size_t kFido2MaxCredentialId = 400;

class Fido2Token {
 public:
  virtual ~Fido2Token() = default;
  // Makes a new resident-less credential with hmac-secret for `rp_id` (the user touches
  // the token). Returns its credential id (1..kFido2MaxCredentialId bytes).
  virtual Result<Bytes> MakeCredential(const std::string& rp_id) = 0;
  // The 32-byte hmac-secret output for `salt` (32 bytes) under the credential (the user
  // touches the token). kWrongKey when the token does not hold the credential.
  virtual Result<crypto::SecureBuffer> HmacSecret(const std::string& rp_id, ByteSpan credential_id,
                                                  ByteSpan salt) = 0;
};

// The FIDO2 token at `device` (a hidraw path such as /dev/hidraw0), or the first one
// found when none is named. kNotFound when there is none; kUnsupported when it lacks
// hmac-secret. A token that asks for a PIN gets it from MATTERFS_FIDO2_PIN when set.
Result<std::shared_ptr<Fido2Token>> OpenFido2Device(const std::optional<std::string>& device);

}  // namespace matterfs::vault
