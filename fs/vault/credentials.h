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
};

// Reads the credential the options name, or prompts ("Passphrase for VAULT: ").
// `confirm` prompts twice and requires both to match (for init and new keyslots).
// Without a terminal, and only when ASK_ID is not empty (the daemon under systemd), the
// prompt goes to `systemd-ask-password --id=ASK_ID PROMPT` (found in PATH, started with
// posix_spawn, its stdout read through a pipe into secure memory); otherwise the missing
// terminal is an error at once (a script must not wait for an agent nobody runs).
// kInvalidArgument when both files are given, the prompt is impossible (no terminal and
// no systemd-ask-password), systemd-ask-password fails (timeout, cancelled), the
// passphrase file is "-" and standard input is a terminal, or the passphrase is empty;
// kNotFound/kIo for an unreadable file.
// ASK_ID ("matterfs:VAULT") tells agents and `systemd-tty-ask-password-agent --query`
// which vault asks.
Result<Credential> ReadCredential(const UnlockOptions& opts, const std::string& prompt,
                                  bool confirm, const std::string& ask_id = "");

// For a new passphrase: a one-line warning when it is weak (shorter than
// kMinPassphraseLength characters), else "". Weak passphrases are allowed (the firm's
// own rules may differ) but never silently.
inline constexpr size_t kMinPassphraseLength = 12;
std::string PassphraseWarning(const Credential& cred);

// Reads a passphrase from a file descriptor until newline/EOF (for the prompt and tests).
Result<crypto::SecureBuffer> ReadSecretLine(int fd);

}  // namespace matterfs::vault
