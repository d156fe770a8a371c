// Reading the secret that unlocks a vault: --passphrase-file F, --key-file F, or a prompt
// on the controlling terminal with echo off, or, with no terminal (a daemon started by
// systemd), through systemd-ask-password when it is installed. The secret goes straight
// into secure memory; it never passes through a std::string. Shared by matterctl and
// matterfs.
#pragma once

#include <optional>
#include <string>

#include "fs/vault/vault_config.h"
#include "util/result.h"

namespace matterfs::vault {

// A passphrase file named "-" is standard input (read to its end, like a file; refused
// when it is a terminal). A file really named "-" is "./-". Key files have no such name.
inline constexpr char kStdinName[] = "-";

struct UnlockOptions {
  std::optional<std::string> passphrase_file;
  std::optional<std::string> key_file;
  // A FIDO2 token as the second factor (with the passphrase); `fido2_device` names its
  // hidraw device, else the first token found is used.
  bool fido2 = false;
  std::optional<std::string> fido2_device;
};

// Reads the credential the options name, or prompts ("Passphrase for VAULT: ").
// `confirm` prompts twice and requires both to match (for init and new keyslots).
// Without a terminal, and only when ASK_ID is not empty (the daemon under systemd), the
// prompt goes to `systemd-ask-password --id=ASK_ID PROMPT` (found in PATH, started with
// posix_spawn, its stdout read through a pipe into secure memory); otherwise the missing
// terminal is an error at once (a script must not wait for an agent nobody runs).
// Both --passphrase-file and --key-file make one two-factor credential (kind 3); `fido2`
// with a passphrase makes kind 4 (the token is opened here).
// kInvalidArgument when --key-file and --fido2 are both given, the prompt is impossible (no
// terminal and no systemd-ask-password), systemd-ask-password fails (timeout, cancelled), the
// passphrase file is "-" and standard input is a terminal, or the passphrase is empty;
// kNotFound/kIo for an unreadable file.
// ASK_ID ("matterfs:VAULT") tells agents and `systemd-tty-ask-password-agent --query`
// which vault asks.
Result<Credential> ReadCredential(const UnlockOptions& opts, const std::string& prompt,
                                  bool confirm, const std::string& ask_id = "");

// ReadCredential for unlocking a vault whose config is `config`: a key file given alone
// for a vault whose key-file slots all need a passphrase too (kind 3) asks for the
// passphrase (or reads --passphrase-file); a passphrase alone for a vault whose
// passphrase slots all need a second factor is refused (kWrongKey, as the unlock would
// be) before anything is read, naming the option that is missing.
Result<Credential> ReadUnlockCredential(const VaultConfig& config, const UnlockOptions& opts,
                                        const std::string& prompt, const std::string& ask_id = "");

// For a new passphrase (kinds 1, 3, 4): a one-line warning when it is weak, else "".
// The strength is zxcvbn's estimate (Debian libzxcvbn): under kMinPassphraseBits bits of
// entropy is weak. Weak passphrases are allowed (the firm's own rules may differ) but
// never silently.
inline constexpr double kMinPassphraseBits = 60;
std::string PassphraseWarning(const Credential& cred);
// zxcvbn's entropy estimate of a passphrase, in bits.
double PassphraseBits(ByteSpan passphrase);

// Firm escrow keys (docs/OPERATIONS.md "Key custody"): one-line text files,
// "matterfs-escrow-public-key-v1 <64 hex digits>" and
// "matterfs-escrow-private-key-v1 <64 hex digits>". The private file is written with
// mode 0600 and read into secure memory. kExists rather than overwrite a key.
Status WriteEscrowKeyPair(const std::string& private_path, const std::string& public_path,
                          const crypto::EscrowKeyPair& pair);
Result<crypto::EscrowPublicKey> ReadEscrowPublicKey(const std::string& path);
// The escrow credential (kind 5) of a private key file.
Result<Credential> ReadEscrowPrivateKey(const std::string& path);
// A short fingerprint of a public key to compare by eye: "xxxx-xxxx-xxxx-xxxx" (the
// first 8 bytes of its BLAKE2b-256, hex).
std::string EscrowFingerprint(const crypto::EscrowPublicKey& key);

// Reads a passphrase from a file descriptor until newline/EOF (for the prompt and tests).
Result<crypto::SecureBuffer> ReadSecretLine(int fd);

}  // namespace matterfs::vault
