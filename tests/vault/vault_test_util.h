// Helpers for the vault-layer tests: temporary directories, credentials, whole-file I/O.
// Header-only; test code may throw (gtest reports an uncaught exception as a failure).
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <string_view>

#include "crypto/kdf.h"
#include "crypto/secure_memory.h"
#include "fs/vault/vault_config.h"
#include "tests/crypto/test_util.h"

namespace matterfs::test {

// Argon2id parameters small enough for unit tests (8 MiB, one pass).
inline constexpr crypto::Argon2Params kFastArgon = {1, uint64_t{8192} * 1024};

// A fresh directory under /tmp, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = "/tmp/matterfs-test.XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string Sub(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

inline vault::Credential MakeCredential(vault::SlotKind kind, ByteSpan secret) {
  vault::Credential c{kind, crypto::SecureBuffer(secret.size())};
  if (!secret.empty()) std::memcpy(c.secret.data(), secret.data(), secret.size());
  return c;
}
inline vault::Credential Passphrase(std::string_view p) {
  return MakeCredential(vault::SlotKind::kPassphrase, AsBytes(p));
}
inline vault::Credential KeyFile(ByteSpan contents) {
  return MakeCredential(vault::SlotKind::kKeyFile, contents);
}

inline Bytes ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void WriteFileBytes(const std::string& path, ByteSpan data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw std::runtime_error("cannot write " + path);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

}  // namespace matterfs::test
