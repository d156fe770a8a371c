// Secret-holding memory and purpose-tagged keys.
//
// SecureBuffer owns a sodium_malloc region: guard pages around it, mlock'ed (kept out of
// swap), excluded from core dumps, zeroed by sodium_free. SecretKey<P> is a 32-byte key
// in such a buffer, sealed read-only once filled, tagged with its purpose so that a name
// key cannot be passed where a data key is expected (securefs tags.h does the same).
// Both are move-only: a key has exactly one owner and is never copied into a std::string,
// a vector or a stream.
// Thread-safety: const methods may be called from any number of threads at once.
// Allocation failure throws std::bad_alloc (the FUSE dispatcher maps it to ENOMEM).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>

namespace matterfs::crypto {

// Must be called once before any other crypto function (idempotent, thread-safe).
void Init();

class SecureBuffer {
 public:
  SecureBuffer() = default;
  explicit SecureBuffer(size_t size);
  ~SecureBuffer();
  SecureBuffer(const SecureBuffer&) = delete;
  SecureBuffer& operator=(const SecureBuffer&) = delete;
  SecureBuffer(SecureBuffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  SecureBuffer& operator=(SecureBuffer&& o) noexcept;

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::span<const uint8_t> span() const { return {data_, size_}; }
  std::span<uint8_t> mutable_span() { return {data_, size_}; }
  // Makes the memory read-only (writes fault) / writable again.
  void ReadOnly();
  void ReadWrite();
  // Shrinks the logical size (e.g. after reading a passphrase); the bytes past it are zeroed.
  void Truncate(size_t size);

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

enum class KeyPurpose {
  kSlot,        // derived from a passphrase or key file; wraps the vault master key
  kMaster,      // vault master key (VMK)
  kVaultSub,    // a subkey of the VMK (keyring wrapping, config MAC, ...)
  kMatterWrap,  // matter wrapping key MWK_v: wraps file data keys
  kName,        // name key (a matter's, or the vault's for matter names)
  kData,        // a file's data key (DEK)
  kNameSub,     // a subkey of a name key (SIV MAC / stream / symlink / xattr)
};

template <KeyPurpose P>
class SecretKey {
 public:
  static constexpr size_t kSize = 32;

  // A fresh random key.
  static SecretKey Random();
  // A key filled by fill(uint8_t* out32); sealed read-only afterwards.
  template <typename Fill>
  static SecretKey Make(Fill&& fill) {
    SecretKey k;
    fill(k.buf_.data());
    k.buf_.ReadOnly();
    return k;
  }
  // Copies 32 bytes (tests and known-answer vectors).
  static SecretKey FromBytes(std::span<const uint8_t> bytes);

  SecretKey(SecretKey&&) noexcept = default;
  SecretKey& operator=(SecretKey&&) noexcept = default;
  SecretKey(const SecretKey&) = delete;
  SecretKey& operator=(const SecretKey&) = delete;

  const uint8_t* data() const { return buf_.data(); }
  std::span<const uint8_t> bytes() const { return buf_.span(); }

 private:
  SecretKey() : buf_(kSize) {}
  SecureBuffer buf_;
};

// Fills `out` with random bytes from the operating system's CSPRNG.
void RandomBytes(std::span<uint8_t> out);

// Constant-time equality of two equally long byte strings (false if lengths differ).
bool ConstantTimeEqual(std::span<const uint8_t> a, std::span<const uint8_t> b);

}  // namespace matterfs::crypto
