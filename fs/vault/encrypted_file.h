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
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "crypto/aead.h"
#include "fs/vault/file_codec.h"
#include "fs/vault/keyring.h"
#include "util/result.h"
#include "util/unique_fd.h"

namespace matterfs::vault {

// What a vault's files look like: its cipher and its file format (= the vault's format).
struct FileFormat {
  crypto::Cipher cipher = crypto::Cipher::kXChaCha20Poly1305;
  uint8_t version = 1;  // 1, 2 or 3 (a vault of format 2 with feature bit 2)
  size_t header_size() const { return version == 1 ? kHeaderSize : kHeaderSizeV2; }
  BlockLayout layout() const { return BlockLayout(cipher, header_size()); }
};

// Reads the header's fixed fields without a key (format 2: from the first copy whose
// fields parse; nothing is authenticated). For tools that only look (the walker).
Result<std::optional<FileHeader>> ReadFileHeader(int fd, const FileFormat& format);

// The authenticated header (format 2: the current copy, with its holes) and the
// unwrapped data key of an existing file (nullopt: empty file without a header, which
// format 3 does not have: there it is kCorruption).
// Format 3: the plaintext size is checked against the header's recorded size (a file
// shorter than its record was truncated: kCorruption); `name`, when given, is the
// directory entry the file is reached by, and a header bound to another name is kCorruption
// (a file moved or swapped under another name).
struct OpenedFile {
  FileHeader header;
  FileCrypto crypto;
  uint64_t plain_size = 0;  // from the backing file's size, checked
};
Result<std::optional<OpenedFile>> OpenFile(int fd, const FileFormat& format, const Keyring& ring,
                                           std::optional<std::string_view> name = std::nullopt);

// Format 3 checks of an opened header against what the file is now: its plaintext size
// (not below the recorded one) and, when `name` is given, its directory entry (the binding).
// Formats 1 and 2: nothing to check.
Status CheckRecord(const FileHeader& header, uint64_t plain_size,
                   std::optional<std::string_view> name);

// Format 3: records `size` as the file's size (the copy that is not current, next
// sequence). Nothing to do when it is recorded already or for formats 1 and 2.
Status RecordSize(int fd, FileHeader& header, const FileCrypto& crypto, uint64_t size);

// Format 3: writes the copy that is not current with the name binding `unbound` / `tag`
// (NameTagOf of a directory entry; zeros when unbound). A rename calls it before the
// rename and once more after it, so that both copies hold the new binding; a crash in
// between leaves the older copy bound to the old name, one sequence behind, which
// CheckRecord accepts (docs/FORMAT.md §13.1b).
Status WriteBinding(int fd, FileHeader& header, const FileCrypto& crypto, bool unbound,
                    const NameTag& tag);

// RecordSize and WriteBinding change the header only, not the file's content: the backing
// file's access and modification times are put back afterwards (what a user sees as the
// file's times; tar and rsync compare them).

// fsck: for a format 2 or 3 file whose header opened (`crypto` holds its key), why each
// copy is invalid (nullopt: it parses and its MAC verifies). A file whose other copy is
// valid still reads; RewriteHeader writes both copies again.
Result<std::array<std::optional<Error>, 2>> CheckHeaderCopies(int fd, const FileCrypto& crypto);

// Gives the empty backing file `fd` a header: a fresh file id and data key wrapped by the
// matter's current key version (format 3: bound to `name`, the encoded name it will have;
// nullopt: unbound).
Result<OpenedFile> WriteNewHeader(int fd, const FileFormat& format, const Keyring& ring,
                                  std::optional<std::string_view> name = std::nullopt);

// Creates the regular file `entry` in directory `dirfd` with its header already written
// (format 3: no one ever sees it without one, and it is bound to `entry`): an unnamed file
// (O_TMPFILE) that gets its header and `prepare` (e.g. its owner) and is then linked
// under `entry`; where the file
// system has no O_TMPFILE, a temporary name `.tmp.new.<random>` linked and then removed.
// EEXIST when `entry` exists. Returns the open (O_RDWR) file and its header.
struct CreatedFile {
  UniqueFd fd;
  OpenedFile opened;
};
Result<CreatedFile> CreateWithHeader(int dirfd, const std::string& entry, mode_t mode,
                                     const FileFormat& format, const Keyring& ring,
                                     const std::function<void(int fd)>& prepare);

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
