#include "fs/vault/encrypted_file.h"

#include <unistd.h>

#include "util/file_io.h"

namespace matterfs::vault {

Result<std::optional<FileHeader>> ReadFileHeader(int fd, crypto::Cipher vault_cipher) {
  uint8_t raw[kHeaderSize];
  MFS_ASSIGN(size_t got, PreadFull(fd, raw, sizeof raw, 0));
  if (got == 0) return std::optional<FileHeader>();
  MFS_ASSIGN(FileHeader header, FileHeader::Parse({raw, got}));
  if (header.cipher != vault_cipher) {
    return Error(Code::kCorruption, "file header names another cipher than the vault's", EIO);
  }
  return std::optional<FileHeader>(std::move(header));
}

Result<std::optional<OpenedFile>> OpenFile(int fd, crypto::Cipher vault_cipher,
                                           const Keyring& ring) {
  MFS_ASSIGN(std::optional<FileHeader> header, ReadFileHeader(fd, vault_cipher));
  if (!header) return std::optional<OpenedFile>();
  MFS_ASSIGN(FileCrypto fc, FileCrypto::Open(*header, ring));
  return std::optional<OpenedFile>(OpenedFile{std::move(*header), std::move(fc)});
}

Result<FileCrypto> WriteNewHeader(int fd, crypto::Cipher vault_cipher, const Keyring& ring) {
  MFS_ASSIGN(auto created, FileCrypto::Create(vault_cipher, ring));
  const auto raw = created.second.Serialize();
  MFS_TRY(PwriteFull(fd, raw.data(), raw.size(), 0));
  return std::move(created.first);
}

Status RewriteHeader(int fd, const FileHeader& header, bool sync) {
  const auto raw = header.Serialize();
  MFS_TRY(PwriteFull(fd, raw.data(), raw.size(), 0));
  if (sync && ::fdatasync(fd) != 0) return IoError("fdatasync");
  return {};
}

}  // namespace matterfs::vault
