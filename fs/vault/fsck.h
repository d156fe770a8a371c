// fsck: checks every structure of a vault that a key can check, and (with `repair`) moves
// what cannot be read into its matter's lost+found (docs/MATTERCTL.md "fsck").
//
//   FsckOpen   the config (parse, unlock, MAC, signing key): a damaged config is a problem
//              in the report, a wrong credential or a missing vault an error (could not run)
//   Fsck       vault leftovers (config temp, master rotation journal), the keystore
//              (every keyring copy, the key table entries, orphan keyrings, wipe journals),
//              then per matter: its name, `.matter`, every directory IV, name, long-name
//              side file, file header, data block and symlink target (the matter walker),
//              and the metadata entries of every directory (temporaries, journals, orphan
//              side files).
//
// Nothing is written unless `repair`; repair never deletes anything but the leftovers
// that docs/FORMAT.md calls harmless, by the cleanup it describes (an empty `.tmp.*`
// directory of MakeEncryptedDir, a `*.tmp` of an atomic write). Damaged items are renamed
// into MATTER/lost+found (an encrypted directory of the matter) and listed in an encrypted
// report file lost+found/fsck-<UTC time>.txt; a file with bad blocks also gets a copy
// NAME.recovered there (readable blocks, zeros for the bad ones); one damaged copy of a
// format 2 header is repaired by writing both copies again from the valid one. A check
// without repair writes nothing (its lock may create the empty matterfs.lock). Keyrings
// and the key table are never
// rewritten or copied (keys must not multiply: a wipe would miss a copy).
// The contents of lost+found are not checked: each matter's lost+found is reported as a
// count of entries, apart from the problems.
//
// The caller holds the vault lock it needs (LockOffline to repair, LockReadOnly to check).
// Thread-safety: one call at a time per vault object; the vault is only read (except
// repair). Hostile input is reported, never trusted: every decode is checked.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fs/vault/vault.h"
#include "util/result.h"

namespace matterfs::vault {

struct FsckProblem {
  std::string matter;  // "" for vault-level items (config, keystore)
  // The plaintext path below the matter, with undecodable components shown as <entry>;
  // for vault-level items the file below the vault or keystore ("matterfs.vault",
  // "keys/<hex>.keyring").
  std::string path;
  std::string entry;    // the backing path below the matter directory ("" for vault items)
  std::string kind;     // config, keyring, key-table, matter, dir-iv, name, long-name, header,
                        // size, block, symlink, temp, journal, orphan, io
  std::string message;  // what is wrong, one line
  std::optional<uint64_t> block;  // kind "block": which block
  bool note = false;              // harmless: reported, never counted as a problem
  bool repaired = false;          // --repair dealt with it (see action)
  std::string action;             // what repair did, or what to run to fix it
};

struct FsckCounts {
  uint64_t matters = 0, directories = 0, files = 0, blocks = 0, symlinks = 0, other = 0;
};

struct FsckReport {
  std::vector<FsckProblem> problems;  // in the order found
  FsckCounts checked;
  struct LostFound {
    std::string matter;
    uint64_t entries = 0;
  };
  std::vector<LostFound> lost_found;  // matters whose lost+found holds anything
  std::vector<std::string> reports;   // report files written by this repair (MATTER/lost+found/…)

  size_t Problems() const;  // not notes
  size_t Repaired() const;
  size_t Left() const { return Problems() - Repaired(); }
};

struct FsckOptions {
  std::optional<std::string> matter;  // only this matter (plus the vault-level checks)
  bool repair = false;
  // Called after every file checked (matter name, files checked in it so far).
  std::function<void(const std::string& matter, uint64_t files)> progress;
};

// Opens and unlocks the vault. A config (or data directory IV) that does not parse or
// authenticate is a problem in `report`, and `vault` is then null: nothing else can be
// checked. Errors (could not run): kNotFound (no vault), kWrongKey, kUnsupported,
// kUnfinished (a master key rotation must be finished first), kInvalidArgument (an
// external keystore not given), kIo.
struct FsckStart {
  std::unique_ptr<Vault> vault;
  FsckReport report;
};
Result<FsckStart> FsckOpen(const std::string& path, const std::optional<std::string>& keystore,
                           const Credential& cred);

// Checks the unlocked vault, adding to `report`. kNotFound when options.matter names no
// matter; kIo when the vault's own directories cannot be read. Problems inside the vault
// are never errors.
Status Fsck(const Vault& vault, const FsckOptions& options, FsckReport& report);

// The name of the lost+found directory in every matter.
inline constexpr char kLostFoundName[] = "lost+found";

}  // namespace matterfs::vault
