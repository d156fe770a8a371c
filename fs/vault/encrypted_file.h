// One encrypted backing file's header, handled in one place for the daemon and the tools
// (docs/FORMAT.md §13.1, §13.1a): read it and check it against the vault (magic, the
// vault's file format and cipher), unwrap its data key, choose the current copy of a
// format 2 header, write the header of a new file, rewrite a header (rotation), and
// write a changed hole table.
//
// An empty backing file is an empty plaintext file without a header yet (a crash between
// the create and the header write leaves exactly that): the functions return nullopt.
//
// Errors: kCorruption for a header that is malformed, of another format or cipher than
// the vault's, or does not authenticate; kUnsupported for a newer format version;
// kNotFound (errno EIO) when the file's key version was destroyed by a rotation; kIo.
// Thread-safety: stateless functions; callers serialise writers of one file.
#pragma once

#include <array>
#include <optional>

#include "crypto/aead.h"
#include "fs/vault/file_codec.h"
#include "fs/vault/keyring.h"
#include "util/result.h"

namespace matterfs::vault {

// What a vault's files look like: its cipher and its file format (= the vault's format).
struct FileFormat {
  crypto::Cipher cipher = crypto::Cipher::kXChaCha20Poly1305;
  uint8_t version = 1;
  size_t header_size() const { return version == 1 ? kHeaderSize : kHeaderSizeV2; }
  BlockLayout layout() const { return BlockLayout(cipher, header_size()); }
};

// Reads the header's fixed fields without a key (format 2: from the first copy whose
// fields parse; nothing is authenticated). For tools that only look (the walker).
Result<std::optional<FileHeader>> ReadFileHeader(int fd, const FileFormat& format);

// The authenticated header (format 2: the current copy, with its holes) and the
// unwrapped data key of an existing file (nullopt: empty file).
struct OpenedFile {
  FileHeader header;
  FileCrypto crypto;
};
Result<std::optional<OpenedFile>> OpenFile(int fd, const FileFormat& format, const Keyring& ring);

// fsck: for a format 2 file whose header opened (`crypto` holds its key), why each copy is
// invalid (nullopt: it parses and its MAC verifies). A file whose other copy is valid
// still reads; RewriteHeader writes both copies again.
Result<std::array<std::optional<Error>, 2>> CheckHeaderCopies(int fd, const FileCrypto& crypto);

// Gives the empty backing file `fd` a header: a fresh file id and data key wrapped by the
// matter's current key version.
Result<OpenedFile> WriteNewHeader(int fd, const FileFormat& format, const Keyring& ring);

// Replaces the header in place (format 2: both copies, with the next sequence number, in
// one write). `sync`: fdatasync afterwards (rotation syncs before it destroys an old key
// version). Updates header.sequence and header.copy.
Status RewriteHeader(int fd, FileHeader& header, const FileCrypto& crypto, bool sync);

// Format 2: writes `header` (its new hole table) into the copy that is not the current
// one, with the next sequence number, so a crash keeps the current copy whole. Updates
// header.sequence and header.copy.
Status WriteHoleTable(int fd, FileHeader& header, const FileCrypto& crypto);

// Format 2: re-reads the current copy (another server may have changed the hole table)
// with the key already unwrapped.
Status ReloadHeader(int fd, FileHeader& header, const FileCrypto& crypto);

}  // namespace matterfs::vault
