// The command-line framework of matterctl, shared by the command groups (one file each:
// cmd_vault.cc, cmd_matter.cc, cmd_rotate.cc, cmd_rotate_master.cc, cmd_mount.cc,
// cmd_policy.cc, cmd_certificate.cc, cmd_wipe.cc, cmd_fsck.cc).
//
// A command is a name ("init", "matter close"), its positional arguments, a summary, a
// function that declares its options and one that runs it. A command that fails throws
// Failure (a message and an exit code from util/exit_codes.h); RunMatterctl prints it as
// one line "matterctl: ..." and exits with the code. Check() turns a Result into a value
// or a Failure with the exit code for its error.
// Thread-safety: single-threaded (one command per process).
#pragma once

#include <boost/program_options.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "crypto/kdf.h"
#include "fs/control/protocol.h"
#include "fs/vault/admin.h"
#include "fs/vault/credentials.h"
#include "fs/vault/vault.h"
#include "util/exit_codes.h"
#include "util/json.h"
#include "util/result.h"
#include "util/unix_time.h"

namespace matterfs::tools {

namespace po = boost::program_options;

// Thrown inside a command to end it with a message and an exit code.
struct Failure {
  int code;
  std::string message;
};

template <typename T>
T Check(Result<T> r, const std::string& context = "") {
  if (!r.ok()) {
    throw Failure{ExitCodeFor(r.error().code()),
                  context.empty() ? r.error().message() : context + ": " + r.error().message()};
  }
  return std::move(r).value();
}
void Check(const Status& s, const std::string& context = "");

struct Command {
  std::string name;   // "init" or "matter create"
  std::string usage;  // positional arguments
  std::string summary;
  std::function<void(po::options_description&, po::positional_options_description&)> options;
  std::function<int(const po::variables_map&)> run;
};
using Commands = std::vector<Command>;

// The command groups.
void AddVaultCommands(Commands& cmds);         // init, keyslot add|list|remove, genkey
void AddRotateCommands(Commands& cmds);        // rotate
void AddRotateMasterCommands(Commands& cmds);  // rotate-master
void AddMatterCommands(Commands& cmds);        // matter create|list|close|reopen|hold|release, cat
void AddMountCommands(Commands& cmds);         // status, break-glass, policy reload
void AddPolicyCommands(Commands& cmds);        // policy check|explain, audit verify|report
void AddCertificateCommands(Commands& cmds);   // certificate verify
void AddWipeCommands(Commands& cmds);          // wipe
void AddFsckCommands(Commands& cmds);          // fsck
void AddCustodyCommands(
    Commands& cmds);  // escrow keygen|add, recover, config backup|restore|upgrade

// ---- options and vault access shared by the groups ----

// --keystore and --syslog-socket; with `unlock` also --passphrase-file and --key-file.
void AddVaultOptions(po::options_description& d, bool unlock);
// --kdf-ops, --kdf-memory, --kdf-time.
void AddKdfOptions(po::options_description& d);
// The Argon2id parameters of a new slot; for a passphrase without --kdf-ops, the passes
// are calibrated to --kdf-time (one timed run here, docs/FORMAT.md §6.3).
crypto::Argon2Params KdfParams(const po::variables_map& vm, bool for_passphrase);
// --control-socket.
void AddControlOptions(po::options_description& d);

// ---- --json (docs/MATTERCTL.md "JSON output") ----
// Every JSON document matterctl prints starts with "format" (matterfs-NAME) and
// "version" (1); members are only ever added in a later version, never renamed.
void AddJsonOption(po::options_description& d);
bool WantsJson(const po::variables_map& vm);
nlohmann::ordered_json JsonHeader(const std::string& format);
// `doc` pretty-printed (2 spaces) through DumpJson, and a newline, on standard output.
void PrintJson(const nlohmann::ordered_json& doc);
// Runs `body`. With `json`, a Failure it throws first prints the error document
// {"format", "version", "error", "exit"} on standard output (as fsck --json does); the
// one-line message still goes to standard error and the exit code is unchanged.
int RunJsonCommand(bool json, const std::string& format, const std::function<int()>& body);
// A time as the pair of members NAME (ISO 8601 UTC, "2026-12-02T15:36:00Z") and
// NAME_unix (seconds); both null when `seconds` is nullopt.
void SetJsonTime(nlohmann::ordered_json& obj, const std::string& name,
                 std::optional<uint64_t> seconds);

std::optional<std::string> Opt(const po::variables_map& vm, const char* name);
// Standard input holds one passphrase: a command line on which more than one of
// --passphrase-file, --new-passphrase-file and --keep-passphrase-file is "-" is a usage
// error (Failure, exit 2), found before anything is read. Run for every command.
void CheckOneStdinPassphrase(const po::variables_map& vm);
vault::UnlockOptions UnlockOpts(const po::variables_map& vm);
// A new keyslot's credential (keyslot add, recover): --new-passphrase-file and/or
// --new-key-file, or --new-fido2 with the passphrase; a passphrase not in a file is asked
// twice. A weak passphrase gets its warning on stderr.
vault::Credential ReadNewCredential(const po::variables_map& vm);
// The credential that unlocks the vault at `path` (options or prompt; see
// vault::ReadUnlockCredential).
vault::Credential ReadUnlock(const po::variables_map& vm, const vault::VaultConfig& config,
                             const std::string& path);

// Opens vm["vault"] (with --keystore), unlocked with the credential the options name
// (or a prompt).
std::unique_ptr<vault::Vault> OpenVault(const po::variables_map& vm);
std::unique_ptr<vault::Vault> OpenUnlocked(const po::variables_map& vm);
// The vault's config alone (keyslots, public key): needs neither a key nor the keystore.
vault::VaultConfig ReadConfigOnly(const std::string& dir);

// True when `path` holds a vault config (else it is taken for a mount point).
bool IsVault(const std::string& path);

// Sends a request to the daemon of `mountpoint` (or --control-socket) and returns its
// rows; an error reply becomes a Failure (EACCES: exit 10, ENOENT: 5, EINVAL: 2).
// `timeout`: how long to wait for the answer (a rotation answers when it is done).
std::vector<control::Fields> CallDaemon(
    const po::variables_map& vm, const std::string& mountpoint, const control::Request& req,
    std::chrono::milliseconds timeout = std::chrono::seconds(5));
std::string Field(const control::Fields& row, const char* key);
// CallDaemon for a long request (a week bounds the wait): on a terminal, `show` gets the
// daemon's `status` rows every 500 ms meanwhile (from another thread; for a progress
// line). A status call that fails only loses the display.
std::vector<control::Fields> CallDaemonWithProgress(
    const po::variables_map& vm, const std::string& mountpoint, const control::Request& req,
    const std::function<void(const std::vector<control::Fields>& status)>& show);

// matterctl working on a vault itself: the actor (the invoking user, "matterctl") and
// an event sink that sends each event to syslog (--syslog-socket or /dev/log), warning
// on stderr when it cannot.
vault::AdminContext OfflineContext(const po::variables_map& vm);
// One audit event about the vault itself (keyslot-add, escrow-recover, ...; no matter),
// sent as OfflineContext sends them; result ok, or error (severity warning) when !ok.
void RecordVaultEvent(const po::variables_map& vm, const char* event, const std::string& message,
                      bool ok = true);

}  // namespace matterfs::tools
