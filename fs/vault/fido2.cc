// The real FIDO2 token behind Fido2Token, through libfido2 (CTAP2 over hidraw).
//
// Each call opens the device, does one operation and closes it again: a token may be
// unplugged and plugged back (a new hidraw node) between making a slot and unlocking
// with it, and libfido2 holds an exclusive lock on the node while it is open.
// The hmac-secret output is copied straight from libfido2 into secure memory; libfido2
// wipes its own copy (freezero) when the assertion is freed. The credential id, the
// user id, the client data hash and the salt are not secret.
#include "fs/vault/fido2.h"

#include <fido.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <utility>

namespace matterfs::vault {

namespace {
constexpr size_t kMaxDevices = 16;
constexpr size_t kHashSize = 32;  // a CTAP2 client data hash is a SHA-256
constexpr size_t kUserIdSize = 32;
constexpr size_t kHmacSecretSize = 32;
constexpr char kRpName[] = "matterfs";
constexpr char kUserName[] = "matterfs";
constexpr char kHmacSecretExtension[] = "hmac-secret";

void InitLibrary() {
  static std::once_flag once;
  std::call_once(once, [] { fido_init(0); });
}

struct DevDeleter {
  void operator()(fido_dev_t* dev) const {
    fido_dev_close(dev);  // FIDO_ERR_INVALID_ARGUMENT when it was never opened: harmless
    fido_dev_free(&dev);
  }
};
struct CredDeleter {
  void operator()(fido_cred_t* cred) const { fido_cred_free(&cred); }
};
struct AssertDeleter {
  void operator()(fido_assert_t* assert) const { fido_assert_free(&assert); }
};
struct CborInfoDeleter {
  void operator()(fido_cbor_info_t* info) const { fido_cbor_info_free(&info); }
};
// fido_dev_info_free needs the count the list was allocated with.
struct DevInfoDeleter {
  size_t count;
  void operator()(fido_dev_info_t* list) const { fido_dev_info_free(&list, count); }
};
using DevPtr = std::unique_ptr<fido_dev_t, DevDeleter>;
using CredPtr = std::unique_ptr<fido_cred_t, CredDeleter>;
using AssertPtr = std::unique_ptr<fido_assert_t, AssertDeleter>;
using CborInfoPtr = std::unique_ptr<fido_cbor_info_t, CborInfoDeleter>;
using DevInfoPtr = std::unique_ptr<fido_dev_info_t, DevInfoDeleter>;

Error FidoError(const std::string& what, int rc) {
  return {Code::kIo, what + ": " + fido_strerr(rc)};
}

// A token with a PIN set may insist on it (FIDO_ERR_PIN_REQUIRED); tell the user how to
// give it rather than only the libfido2 error name.
Error OperationError(const std::string& what, const std::string& path, int rc) {
  std::string message = what + " on the FIDO2 token at " + path + " failed: " + fido_strerr(rc);
  switch (rc) {
    case FIDO_ERR_PIN_REQUIRED:
      message += " (the token has a PIN: set MATTERFS_FIDO2_PIN)";
      break;
    case FIDO_ERR_PIN_INVALID:
      message += " (MATTERFS_FIDO2_PIN is not the token's PIN)";
      break;
    case FIDO_ERR_PIN_BLOCKED:
    case FIDO_ERR_PIN_AUTH_BLOCKED:
      message += " (the token's PIN is blocked)";
      break;
    case FIDO_ERR_ACTION_TIMEOUT:
    case FIDO_ERR_OPERATION_DENIED:
      message += " (the token was not touched in time)";
      break;
    default:
      break;
  }
  return {Code::kIo, message};
}

// The PIN comes from the environment so that scripts can unlock a token that has one;
// getenv's storage is the environment's own, so no copy of it is made here.
const char* Pin() { return std::getenv("MATTERFS_FIDO2_PIN"); }

void AskForTouch() {
  (void)std::fputs("Touch the FIDO2 token...\n", stderr);
  (void)std::fflush(stderr);
}

Result<DevPtr> OpenDev(const std::string& path) {
  InitLibrary();
  DevPtr dev(fido_dev_new());
  if (!dev) throw std::bad_alloc();
  const int rc = fido_dev_open(dev.get(), path.c_str());
  if (rc != FIDO_OK) {
    return Error(Code::kNotFound, "no FIDO2 token at " + path + ": " + fido_strerr(rc));
  }
  return dev;
}

Result<bool> SupportsHmacSecret(fido_dev_t* dev, const std::string& path) {
  if (!fido_dev_is_fido2(dev)) return false;  // a U2F-only key has no extensions
  CborInfoPtr info(fido_cbor_info_new());
  if (!info) throw std::bad_alloc();
  const int rc = fido_dev_get_cbor_info(dev, info.get());
  if (rc != FIDO_OK) {
    return FidoError("cannot ask the FIDO2 token at " + path + " what it supports", rc);
  }
  char** extensions = fido_cbor_info_extensions_ptr(info.get());
  const size_t count = fido_cbor_info_extensions_len(info.get());
  for (size_t i = 0; i < count; ++i) {
    if (extensions[i] != nullptr && std::strcmp(extensions[i], kHmacSecretExtension) == 0) {
      return true;
    }
  }
  return false;
}

// The first token libfido2 finds (its hidraw path).
Result<std::string> FirstDevicePath() {
  InitLibrary();
  DevInfoPtr list(fido_dev_info_new(kMaxDevices), DevInfoDeleter{kMaxDevices});
  if (!list) throw std::bad_alloc();
  size_t found = 0;
  const int rc = fido_dev_info_manifest(list.get(), kMaxDevices, &found);
  if (rc != FIDO_OK) return FidoError("cannot list FIDO2 tokens", rc);
  for (size_t i = 0; i < found; ++i) {
    const char* path = fido_dev_info_path(fido_dev_info_ptr(list.get(), i));
    if (path != nullptr && *path != '\0') return std::string(path);
  }
  return Error(Code::kNotFound,
               "no FIDO2 token found (plug one in, or name it with --fido2-device)");
}

// Opens the device afresh for each operation (see the file comment).
class Fido2Device : public Fido2Token {
 public:
  explicit Fido2Device(std::string path) : path_(std::move(path)) {}

  Result<Bytes> MakeCredential(const std::string& rp_id) override {
    CredPtr cred(fido_cred_new());
    if (!cred) throw std::bad_alloc();
    std::array<uint8_t, kUserIdSize> user_id;
    std::array<uint8_t, kHashSize> client_data_hash;
    crypto::RandomBytes(user_id);
    crypto::RandomBytes(client_data_hash);
    int rc = fido_cred_set_type(cred.get(), COSE_ES256);
    if (rc == FIDO_OK) rc = fido_cred_set_rp(cred.get(), rp_id.c_str(), kRpName);
    if (rc == FIDO_OK) {
      rc = fido_cred_set_user(cred.get(), user_id.data(), user_id.size(), kUserName, nullptr,
                              nullptr);
    }
    if (rc == FIDO_OK) {
      rc = fido_cred_set_clientdata_hash(cred.get(), client_data_hash.data(),
                                         client_data_hash.size());
    }
    if (rc == FIDO_OK) rc = fido_cred_set_extensions(cred.get(), FIDO_EXT_HMAC_SECRET);
    // Not resident: the credential id lives in the keyslot, the token keeps nothing.
    if (rc == FIDO_OK) rc = fido_cred_set_rk(cred.get(), FIDO_OPT_OMIT);
    if (rc != FIDO_OK) return FidoError("cannot prepare a FIDO2 credential", rc);

    MFS_ASSIGN(DevPtr dev, OpenDev(path_));
    AskForTouch();
    rc = fido_dev_make_cred(dev.get(), cred.get(), Pin());
    if (rc != FIDO_OK) return OperationError("making a credential", path_, rc);

    const unsigned char* id = fido_cred_id_ptr(cred.get());
    const size_t id_len = fido_cred_id_len(cred.get());
    if (id == nullptr || id_len == 0) {
      return Error(Code::kIo, "the FIDO2 token at " + path_ + " returned no credential id");
    }
    if (id_len > kFido2MaxCredentialId) {
      return Error(Code::kUnsupported, "the FIDO2 token's credential id is too long (" +
                                           std::to_string(id_len) + " bytes, at most " +
                                           std::to_string(kFido2MaxCredentialId) + ")");
    }
    return Bytes(id, id + id_len);
  }

  Result<crypto::SecureBuffer> HmacSecret(const std::string& rp_id, ByteSpan credential_id,
                                          ByteSpan salt) override {
    if (salt.size() != kFido2HmacSaltSize) {
      return Error(Code::kInvalidArgument, "FIDO2 hmac-secret salt must be 32 bytes");
    }
    if (credential_id.empty() || credential_id.size() > kFido2MaxCredentialId) {
      return Error(Code::kInvalidArgument, "FIDO2 credential id has an impossible length");
    }
    AssertPtr assert(fido_assert_new());
    if (!assert) throw std::bad_alloc();
    std::array<uint8_t, kHashSize> client_data_hash;
    crypto::RandomBytes(client_data_hash);
    int rc = fido_assert_set_rp(assert.get(), rp_id.c_str());
    if (rc == FIDO_OK) {
      rc = fido_assert_set_clientdata_hash(assert.get(), client_data_hash.data(),
                                           client_data_hash.size());
    }
    if (rc == FIDO_OK) {
      rc = fido_assert_allow_cred(assert.get(), credential_id.data(), credential_id.size());
    }
    if (rc == FIDO_OK) rc = fido_assert_set_extensions(assert.get(), FIDO_EXT_HMAC_SECRET);
    if (rc == FIDO_OK) rc = fido_assert_set_hmac_salt(assert.get(), salt.data(), salt.size());
    if (rc == FIDO_OK) rc = fido_assert_set_up(assert.get(), FIDO_OPT_TRUE);
    if (rc != FIDO_OK) return FidoError("cannot prepare a FIDO2 assertion", rc);

    MFS_ASSIGN(DevPtr dev, OpenDev(path_));
    AskForTouch();
    rc = fido_dev_get_assert(dev.get(), assert.get(), Pin());
    if (rc == FIDO_ERR_NO_CREDENTIALS) {
      return Error(Code::kWrongKey, "this FIDO2 token does not hold the keyslot's credential");
    }
    if (rc != FIDO_OK) return OperationError("asking for the hmac-secret", path_, rc);

    if (fido_assert_count(assert.get()) < 1 ||
        fido_assert_hmac_secret_len(assert.get(), 0) != kHmacSecretSize ||
        fido_assert_hmac_secret_ptr(assert.get(), 0) == nullptr) {
      return Error(Code::kIo, "the FIDO2 token at " + path_ + " returned no hmac-secret");
    }
    crypto::SecureBuffer out(kHmacSecretSize);
    std::memcpy(out.data(), fido_assert_hmac_secret_ptr(assert.get(), 0), kHmacSecretSize);
    return out;
  }

 private:
  const std::string path_;
};
}  // namespace

Result<std::shared_ptr<Fido2Token>> OpenFido2Device(const std::optional<std::string>& device) {
  std::string path;
  if (device) {
    path = *device;
  } else {
    MFS_ASSIGN(path, FirstDevicePath());
  }
  MFS_ASSIGN(DevPtr dev, OpenDev(path));
  MFS_ASSIGN(bool hmac_secret, SupportsHmacSecret(dev.get(), path));
  if (!hmac_secret) {
    return Error(Code::kUnsupported,
                 "the FIDO2 token at " + path + " does not support hmac-secret");
  }
  return std::shared_ptr<Fido2Token>(std::make_shared<Fido2Device>(std::move(path)));
}

}  // namespace matterfs::vault
