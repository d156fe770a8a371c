// One encrypted backing file's header, handled in one place for the daemon and the tools
// (docs/FORMAT.md "File header"): read it and check it against the vault (magic, version,
// the vault's cipher), unwrap its data key, write the header of a new file, and rewrite
// a header in place (rotation).
//
// An empty backing file is an empty plaintext file without a header yet (a crash between
// the create and the header write leaves exactly that): ReadFileHeader returns nullopt.
//
// Errors: kCorruption for a header that is malformed, names another cipher than the
// vault's, or does not authenticate; kUnsupported for a newer format version; kNotFound
// (errno EIO) when the file's key version was destroyed by a rotation; kIo from the OS.
// Thread-safety: stateless functions; callers serialise writers of one file.
#pragma once

#include <optional>

#include "crypto/aead.h"
#include "fs/vault/file_codec.h"
#include "fs/vault/keyring.h"
#include "util/result.h"

namespace matterfs::vault {

// Reads and checks the header of the open backing file `fd`.
Result<std::optional<FileHeader>> ReadFileHeader(int fd, crypto::Cipher vault_cipher);

// The header and the unwrapped data key of an existing file (nullopt: empty file).
struct OpenedFile {
  FileHeader header;
  FileCrypto crypto;
};
Result<std::optional<OpenedFile>> OpenFile(int fd, crypto::Cipher vault_cipher,
                                           const Keyring& ring);

// Gives the empty backing file `fd` a header: a fresh file id and data key wrapped by the
// matter's current key version. Returns the file's crypto.
Result<FileCrypto> WriteNewHeader(int fd, crypto::Cipher vault_cipher, const Keyring& ring);

// Replaces the header of a file in place: one 100-byte pwrite at offset 0, inside the
// first sector, so a crash leaves the old or the new header (sector writes are atomic on
// the disks and file systems matterfs supports; docs/FORMAT.md "Crash safety").
// `sync`: fdatasync afterwards (rotation syncs before it destroys an old key version).
Status RewriteHeader(int fd, const FileHeader& header, bool sync);

}  // namespace matterfs::vault
