#include "crypto/escrow.h"

#include <sodium.h>

static_assert(crypto_box_SEALBYTES + 32 == matterfs::crypto::kEscrowSealedSize);
static_assert(crypto_box_PUBLICKEYBYTES == matterfs::crypto::kEscrowPublicKeySize);
static_assert(crypto_box_SECRETKEYBYTES == matterfs::crypto::kEscrowPrivateKeySize);

namespace matterfs::crypto {

EscrowKeyPair MakeEscrowKeyPair() {
  EscrowKeyPair pair;
  pair.private_key = SecureBuffer(kEscrowPrivateKeySize);
  crypto_box_keypair(pair.public_key.data(), pair.private_key.data());
  return pair;
}

Result<EscrowPublicKey> EscrowPublicOf(ByteSpan private_key) {
  if (private_key.size() != kEscrowPrivateKeySize) {
    return Error(Code::kInvalidArgument, "an escrow private key is 32 bytes");
  }
  EscrowPublicKey pk{};
  crypto_scalarmult_base(pk.data(), private_key.data());
  return pk;
}

Bytes SealToEscrow(const EscrowPublicKey& public_key, ByteSpan key32) {
  Bytes sealed(kEscrowSealedSize);
  crypto_box_seal(sealed.data(), key32.data(), key32.size(), public_key.data());
  return sealed;
}

Result<SecretKey<KeyPurpose::kSlot>> OpenEscrowSeal(ByteSpan sealed, ByteSpan private_key) {
  MFS_ASSIGN(EscrowPublicKey pk, EscrowPublicOf(private_key));
  if (sealed.size() != kEscrowSealedSize) {
    return Error(Code::kCorruption, "escrow seal has the wrong size");
  }
  int rc = 0;
  auto key = SecretKey<KeyPurpose::kSlot>::Make([&](uint8_t* out) {
    rc = crypto_box_seal_open(out, sealed.data(), sealed.size(), pk.data(), private_key.data());
  });
  if (rc != 0) return Error(Code::kWrongKey, "the escrow key does not open this escrow keyslot");
  return key;
}

}  // namespace matterfs::crypto
