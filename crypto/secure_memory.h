// Secret-holding memory and purpose-tagged keys.
//
// SecureBuffer owns a sodium_malloc region: guard pages around it, mlock'ed (kept out of
// swap), excluded from core dumps, zeroed by sodium_free. SecretKey<P> is a 32-byte key
// in such a buffer, sealed read-only once filled, tagged with its purpose so that a name
// key cannot be passed where a data key is expected (securefs tags.h does the same).
// Both are move-only: a key has exactly one owner and is never copied into a std::string,
// a vector or a stream.
// Per-file keys (data keys and their cipher states) are many and short-lived: each
// sodium_malloc region costs several memory mappings, so a busy server would run out of
// mappings long before memory. They live in one shared secure pool instead
// (Storage::kPooled): 512-byte slots carved out of 64 KiB sodium_malloc chunks (guarded,
// mlock'ed, excluded from core dumps, zeroed when a slot is freed), up to a limit the
// daemon sets from its open-file limit. Pooled memory cannot be made read-only slot by
// slot (ReadOnly is a no-op for it); long-lived keys keep a region of their own.
// Thread-safety: const methods may be called from any number of threads at once; the
// pool is internally locked.
// Allocation failure throws std::bad_alloc (the FUSE dispatcher maps it to ENOMEM); a
// pool at its limit throws PoolExhausted (ENFILE: too many open files in the daemon).
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <span>
#include <string>
#include <utility>

namespace matterfs::crypto {

// Must be called once before any other crypto function (idempotent, thread-safe).
// Reads MATTERFS_FAULT_INJECT_ALLOC_FILE (tests only): while a file of that name exists,
// every secure allocation fails as if memory were exhausted.
void Init();

enum class Storage {
  kGuarded,  // a sodium_malloc region of its own (long-lived keys)
  kPooled,   // a slot of the shared secure pool (per-file keys; at most kPoolSlotSize)
};
inline constexpr size_t kPoolSlotSize = 512;

// The pool is at its limit: the daemon serves as many open files as it can already.
class PoolExhausted : public std::bad_alloc {
 public:
  const char* what() const noexcept override { return "secure key pool exhausted"; }
};

struct SecurePoolStats {
  size_t slots_in_use = 0;
  size_t chunks = 0;  // 64 KiB regions mapped
  size_t limit = 0;   // slots
};
// Sets the most slots the pool hands out at once (the daemon: its open-file limit plus
// room for keys being unwrapped). 0 = no limit. Thread-safe.
void SetSecurePoolLimit(size_t slots);
SecurePoolStats SecurePoolStatistics();

class SecureBuffer {
 public:
  SecureBuffer() = default;
  explicit SecureBuffer(size_t size, Storage storage = Storage::kGuarded);
  ~SecureBuffer();
  SecureBuffer(const SecureBuffer&) = delete;
  SecureBuffer& operator=(const SecureBuffer&) = delete;
  SecureBuffer(SecureBuffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)),
        size_(std::exchange(o.size_, 0)),
        pooled_(std::exchange(o.pooled_, false)) {}
  SecureBuffer& operator=(SecureBuffer&& o) noexcept;

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::span<const uint8_t> span() const { return {data_, size_}; }
  std::span<uint8_t> mutable_span() { return {data_, size_}; }
  // Makes the memory read-only (writes fault) / writable again (no-ops when pooled).
  void ReadOnly();
  void ReadWrite();
  // Shrinks the logical size (e.g. after reading a passphrase); the bytes past it are zeroed.
  void Truncate(size_t size);

 private:
  void Release();
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool pooled_ = false;
};

enum class KeyPurpose {
  kSlot,        // derived from a passphrase or key file; wraps the vault master key
  kMaster,      // vault master key (VMK)
  kVaultSub,    // a subkey of the VMK (keyring wrapping, config MAC, ...)
  kMatterWrap,  // matter wrapping key MWK_v: wraps file data keys
  kMatterRoot,  // matter root key MRK: in the vault's key table, wraps a matter's keyring keys
  kName,        // name key (a matter's, or the vault's for matter names)
  kData,        // a file's data key (DEK)
  kNameSub,     // a subkey of a name key (SIV MAC / stream / symlink / xattr)
  kFileSub,     // a subkey of a file's data key (the format 2 header MAC key)
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
  // Keys held per open file (the data key and its header MAC subkey) are pooled (see
  // the file comment).
  static constexpr bool kPerFile = P == KeyPurpose::kData || P == KeyPurpose::kFileSub;
  SecretKey() : buf_(kSize, kPerFile ? Storage::kPooled : Storage::kGuarded) {}
  SecureBuffer buf_;
};

// A copy of `b` in new secure memory.
SecureBuffer CopySecure(const SecureBuffer& b);

// Fills `out` with random bytes from the operating system's CSPRNG.
void RandomBytes(std::span<uint8_t> out);

// Constant-time equality of two equally long byte strings (false if lengths differ).
bool ConstantTimeEqual(std::span<const uint8_t> a, std::span<const uint8_t> b);

}  // namespace matterfs::crypto
