// Fuzzes an encrypted directory as read from disk: ReadDirIv (.diriv), EncryptedDir::Open,
// EncryptedDir::Decode of a long entry (its side file ".L<hash>.n") and of a short entry,
// and EncryptedDir::List, with the fixed name key, in a scratch directory.
// The input: one byte n, then n bytes of .diriv, then the side file's contents; the same
// text also becomes a short entry when it is a valid file name. Invariants: an IV of any
// size but 16 is refused; List and Decode agree on every entry; nothing that failed
// authentication is listed as a name.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "fs/vault/encrypted_dir.h"
#include "tests/fuzz/fuzz_support.h"
#include "util/file_io.h"

using namespace matterfs;

namespace {
void Put(int dirfd, const std::string& name, const uint8_t* data, size_t size) {
  UniqueFd fd(::openat(dirfd, name.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  FUZZ_CHECK(fd.valid());
  FUZZ_CHECK(PwriteFull(fd.get(), data, size, 0).ok());
}

bool ValidFileName(const std::string& s) {
  return !s.empty() && s.size() <= 255 && s != "." && s != ".." &&
         s.find('/') == std::string::npos && s.find('\0') == std::string::npos;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size > 8192) return 0;
  static const vault::NameKey key = fuzz::FixedKey<crypto::KeyPurpose::kName>(4);
  static const vault::NameCodec codec(key);
  static const std::string dir = fuzz::ScratchDir() + "/dir";
  ::mkdir(dir.c_str(), 0700);
  UniqueFd dirfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  FUZZ_CHECK(dirfd.valid());

  const size_t iv_len = std::min<size_t>(data[0], size - 1);
  const uint8_t* side = data + 1 + iv_len;
  const size_t side_len = size - 1 - iv_len;
  const std::string text(reinterpret_cast<const char*>(side), side_len);
  const std::string long_entry = std::string(vault::kLongNamePrefix) +
                                 vault::Base64UrlEncode(crypto::Blake2b(32, AsBytes(text)));
  std::vector<std::string> made = {std::string(vault::kDirIvName), long_entry,
                                   vault::NameCodec::LongNameFile(long_entry)};
  Put(dirfd.get(), made[0], data + 1, iv_len);
  Put(dirfd.get(), made[1], nullptr, 0);
  Put(dirfd.get(), made[2], side, side_len);
  if (ValidFileName(text) && text[0] != '.') {
    Put(dirfd.get(), text, nullptr, 0);
    made.push_back(text);
  }

  auto iv = vault::ReadDirIv(dirfd.get());
  FUZZ_CHECK(iv.ok() == (iv_len == 16));
  auto opened = vault::EncryptedDir::Open(dirfd.get(), codec);
  FUZZ_CHECK(opened.ok() == iv.ok());
  if (opened.ok()) {
    std::map<std::string, Result<std::string>> listed;
    Status st = opened->List([&](vault::DirEntry& e) { listed.emplace(e.entry, e.name); });
    FUZZ_CHECK(st.ok());
    for (const auto& [entry, name] : listed) {
      FUZZ_CHECK(vault::NameCodec::Classify(entry) != vault::EntryKind::kMeta);
      auto again = opened->Decode(entry);
      FUZZ_CHECK(again.ok() == name.ok());
      if (name.ok()) {
        FUZZ_CHECK(*again == *name);
        auto stored = opened->Encode(*name);
        FUZZ_CHECK(stored.ok() && stored->entry == entry);
      }
    }
  }
  for (const std::string& name : made) ::unlinkat(dirfd.get(), name.c_str(), 0);
  return 0;
}
