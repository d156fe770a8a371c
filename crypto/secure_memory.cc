#include "crypto/secure_memory.h"

#include <sodium.h>

#include <algorithm>
#include <cstdlib>
#include <new>
#include <stdexcept>

namespace matterfs::crypto {

void Init() {
  if (sodium_init() < 0) {
    throw std::runtime_error("libsodium could not be initialised");
  }
}

SecureBuffer::SecureBuffer(size_t size) : size_(size) {
  if (size == 0) return;
  data_ = static_cast<uint8_t*>(sodium_malloc(size));
  if (data_ == nullptr) throw std::bad_alloc();
  sodium_memzero(data_, size);
}

SecureBuffer::~SecureBuffer() {
  if (data_ != nullptr) sodium_free(data_);  // zeroes before unmapping
}

SecureBuffer& SecureBuffer::operator=(SecureBuffer&& o) noexcept {
  if (this != &o) {
    if (data_ != nullptr) sodium_free(data_);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
  }
  return *this;
}

void SecureBuffer::ReadOnly() {
  if (data_ != nullptr) sodium_mprotect_readonly(data_);
}

void SecureBuffer::ReadWrite() {
  if (data_ != nullptr) sodium_mprotect_readwrite(data_);
}

void SecureBuffer::Truncate(size_t size) {
  if (size >= size_) return;
  sodium_memzero(data_ + size, size_ - size);
  size_ = size;
}

template <KeyPurpose P>
SecretKey<P> SecretKey<P>::Random() {
  return Make([](uint8_t* out) { randombytes_buf(out, kSize); });
}

template <KeyPurpose P>
SecretKey<P> SecretKey<P>::FromBytes(std::span<const uint8_t> bytes) {
  if (bytes.size() != kSize) throw std::invalid_argument("a key is 32 bytes");
  return Make([&](uint8_t* out) { std::copy(bytes.begin(), bytes.end(), out); });
}

template class SecretKey<KeyPurpose::kSlot>;
template class SecretKey<KeyPurpose::kMaster>;
template class SecretKey<KeyPurpose::kVaultSub>;
template class SecretKey<KeyPurpose::kMatterWrap>;
template class SecretKey<KeyPurpose::kName>;
template class SecretKey<KeyPurpose::kData>;
template class SecretKey<KeyPurpose::kNameSub>;

void RandomBytes(std::span<uint8_t> out) { randombytes_buf(out.data(), out.size()); }

bool ConstantTimeEqual(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  if (a.size() != b.size()) return false;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace matterfs::crypto
