#include "crypto/secure_memory.h"

#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <stdexcept>
#include <vector>

namespace matterfs::crypto {

namespace {

std::string& FaultFile() {
  static std::string* path = new std::string();  // set once by Init; never freed
  return *path;
}
std::atomic<bool> g_fault_enabled{false};

// Whether the test hook says to fail this allocation.
bool FaultInjected() {
  return g_fault_enabled.load(std::memory_order_relaxed) &&
         ::access(FaultFile().c_str(), F_OK) == 0;
}

// The shared pool (see secure_memory.h). One mutex; O(1) allocate and free.
class Pool {
 public:
  static constexpr size_t kChunkSize = 64 * 1024;
  static constexpr size_t kSlots = kChunkSize / kPoolSlotSize;

  uint8_t* Allocate() {
    std::lock_guard<std::mutex> g(mu_);
    if (limit_ != 0 && in_use_ >= limit_) throw PoolExhausted();
    if (FaultInjected()) throw std::bad_alloc();
    if (free_.empty()) Grow();
    uint8_t* p = free_.back();
    free_.pop_back();
    ++in_use_;
    ++chunks_.at(ChunkOf(p)).used;
    return p;
  }

  void Free(uint8_t* p) {
    sodium_memzero(p, kPoolSlotSize);
    std::lock_guard<std::mutex> g(mu_);
    --in_use_;
    const uintptr_t base = ChunkOf(p);
    Chunk& c = chunks_.at(base);
    --c.used;
    free_.push_back(p);
    // Give back a chunk that has emptied, unless it is the only one left.
    if (c.used == 0 && chunks_.size() > 1) {
      std::erase_if(free_, [&](uint8_t* q) { return ChunkOf(q) == base; });
      sodium_free(reinterpret_cast<void*>(base));  // zeroes it
      chunks_.erase(base);
    }
  }

  void SetLimit(size_t slots) {
    std::lock_guard<std::mutex> g(mu_);
    limit_ = slots;
  }

  SecurePoolStats Stats() {
    std::lock_guard<std::mutex> g(mu_);
    return {in_use_, chunks_.size(), limit_};
  }

 private:
  struct Chunk {
    size_t used = 0;
  };
  void Grow() {
    // sodium_malloc of a page multiple starts on a page boundary, so every slot is
    // aligned for an AES-GCM state (16 bytes).
    auto* base = static_cast<uint8_t*>(sodium_malloc(kChunkSize));
    if (base == nullptr) throw std::bad_alloc();
    sodium_memzero(base, kChunkSize);
    chunks_.emplace(reinterpret_cast<uintptr_t>(base), Chunk{});
    for (size_t i = kSlots; i-- > 0;) free_.push_back(base + i * kPoolSlotSize);
  }
  uintptr_t ChunkOf(const uint8_t* p) const {
    auto it = chunks_.upper_bound(reinterpret_cast<uintptr_t>(p));
    --it;  // the chunk starting at or before p
    return it->first;
  }

  std::mutex mu_;
  std::map<uintptr_t, Chunk> chunks_;  // by base address
  std::vector<uint8_t*> free_;
  size_t in_use_ = 0;
  size_t limit_ = 0;
};

Pool& ThePool() {
  static Pool* pool = new Pool();  // never destroyed: keys may be freed during exit
  return *pool;
}

}  // namespace

void Init() {
  if (sodium_init() < 0) {
    throw std::runtime_error("libsodium could not be initialised");
  }
  static std::once_flag once;
  std::call_once(once, [] {
    if (const char* f = std::getenv("MATTERFS_FAULT_INJECT_ALLOC_FILE"); f != nullptr && *f) {
      FaultFile() = f;
      g_fault_enabled = true;
    }
  });
}

void SetSecurePoolLimit(size_t slots) { ThePool().SetLimit(slots); }
SecurePoolStats SecurePoolStatistics() { return ThePool().Stats(); }

SecureBuffer::SecureBuffer(size_t size, Storage storage) : size_(size) {
  if (size == 0) return;
  if (storage == Storage::kPooled) {
    if (size > kPoolSlotSize) throw std::invalid_argument("pooled secure buffer too large");
    data_ = ThePool().Allocate();
    pooled_ = true;
    return;
  }
  if (FaultInjected()) throw std::bad_alloc();
  data_ = static_cast<uint8_t*>(sodium_malloc(size));
  if (data_ == nullptr) throw std::bad_alloc();
  sodium_memzero(data_, size);
}

void SecureBuffer::Release() {
  if (data_ == nullptr) return;
  if (pooled_) {
    ThePool().Free(data_);  // zeroes the slot
  } else {
    sodium_free(data_);  // zeroes before unmapping
  }
  data_ = nullptr;
}

SecureBuffer::~SecureBuffer() { Release(); }

SecureBuffer& SecureBuffer::operator=(SecureBuffer&& o) noexcept {
  if (this != &o) {
    Release();
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    pooled_ = std::exchange(o.pooled_, false);
  }
  return *this;
}

void SecureBuffer::ReadOnly() {
  if (data_ != nullptr && !pooled_) sodium_mprotect_readonly(data_);
}

void SecureBuffer::ReadWrite() {
  if (data_ != nullptr && !pooled_) sodium_mprotect_readwrite(data_);
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
template class SecretKey<KeyPurpose::kMatterRoot>;
template class SecretKey<KeyPurpose::kName>;
template class SecretKey<KeyPurpose::kData>;
template class SecretKey<KeyPurpose::kNameSub>;
template class SecretKey<KeyPurpose::kFileSub>;

void RandomBytes(std::span<uint8_t> out) {
  // randombytes_buf's pointer is declared nonnull: an empty span may have none.
  if (out.empty()) return;
  randombytes_buf(out.data(), out.size());
}

bool ConstantTimeEqual(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  if (a.size() != b.size()) return false;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

SecureBuffer CopySecure(const SecureBuffer& b) {
  SecureBuffer out(b.size());
  if (!b.empty()) std::memcpy(out.data(), b.data(), b.size());
  return out;
}

}  // namespace matterfs::crypto
