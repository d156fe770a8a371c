#include "fs/vault/credentials.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "crypto/secure_memory.h"
#include "util/unique_fd.h"

namespace matterfs::vault {

namespace {
constexpr size_t kMaxPassphrase = 4096;
constexpr size_t kMaxKeyFile = 1 << 20;

Result<crypto::SecureBuffer> ReadAll(int fd, size_t max, const std::string& what) {
  crypto::SecureBuffer buf(max + 1);
  size_t len = 0;
  while (len <= max) {
    ssize_t n = ::read(fd, buf.data() + len, max + 1 - len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError("read " + what);
    }
    if (n == 0) break;
    len += static_cast<size_t>(n);
  }
  if (len > max) return Error(Code::kInvalidArgument, what + " is too large");
  buf.Truncate(len);
  return buf;
}

Result<UniqueFd> OpenSecretFile(const std::string& path, const std::string& what) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd.valid()) {
    int err = errno;
    if (err == ENOENT) return Error(Code::kNotFound, what + " " + path + " does not exist", err);
    return IoError("cannot read " + what + " " + path, err);
  }
  return fd;
}

void StripNewline(crypto::SecureBuffer& buf) {
  size_t len = buf.size();
  if (len > 0 && buf.data()[len - 1] == '\n') --len;
  if (len > 0 && buf.data()[len - 1] == '\r') --len;
  buf.Truncate(len);
}

// The passphrase asked through systemd-ask-password (no shell: posix_spawnp searches
// PATH), which reaches the password agents of systemd: the boot console, `systemd-tty-
// ask-password-agent`, Plymouth. Its stdout is a pipe read straight into secure memory.
// nullopt when it is not installed; an error when it ran and gave no passphrase.
std::optional<Result<crypto::SecureBuffer>> AskPassword(const std::string& prompt,
                                                        const std::string& id) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return IoError("pipe for systemd-ask-password");
  UniqueFd out(fds[0]);
  UniqueFd in(fds[1]);
  std::string message = prompt;
  while (!message.empty() && message.back() == ' ') message.pop_back();
  std::string id_arg = "--id=" + id;
  std::string program = "systemd-ask-password";
  std::vector<char*> argv = {program.data(), id_arg.data(), message.data(), nullptr};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in.get(), STDOUT_FILENO);  // dup2 clears CLOEXEC
  pid_t pid = -1;
  const int err = ::posix_spawnp(&pid, program.c_str(), &actions, nullptr, argv.data(), ::environ);
  posix_spawn_file_actions_destroy(&actions);
  if (err == ENOENT) return std::nullopt;
  if (err != 0) return IoError("cannot run systemd-ask-password", err);
  in.reset();
  auto line = ReadSecretLine(out.get());
  out.reset();  // a child still writing gets EPIPE
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return Error(Code::kInvalidArgument,
                 "systemd-ask-password gave no passphrase (timed out or cancelled); use "
                 "--passphrase-file or --key-file, or a credential of the service");
  }
  return line;
}

Result<crypto::SecureBuffer> Prompt(const std::string& prompt, const std::string& ask_id) {
  UniqueFd tty(::open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY));
  if (!tty.valid()) {
    if (!ask_id.empty()) {
      if (auto asked = AskPassword(prompt, ask_id)) return std::move(*asked);
      return Error(Code::kInvalidArgument,
                   "no terminal to ask for the passphrase (and no systemd-ask-password); use "
                   "--passphrase-file or --key-file");
    }
    return Error(Code::kInvalidArgument,
                 "no terminal to ask for the passphrase; use --passphrase-file or --key-file");
  }
  struct termios old_mode;
  bool restore = ::tcgetattr(tty.get(), &old_mode) == 0;
  if (restore) {
    struct termios quiet = old_mode;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    quiet.c_lflag |= ECHONL;
    ::tcsetattr(tty.get(), TCSAFLUSH, &quiet);
  }
  (void)!::write(tty.get(), prompt.data(), prompt.size());
  auto line = ReadSecretLine(tty.get());
  if (restore) ::tcsetattr(tty.get(), TCSAFLUSH, &old_mode);
  return line;
}
}  // namespace

Result<crypto::SecureBuffer> ReadSecretLine(int fd) {
  crypto::SecureBuffer buf(kMaxPassphrase);
  size_t len = 0;
  for (;;) {
    uint8_t c;
    ssize_t n = ::read(fd, &c, 1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError("read passphrase");
    }
    if (n == 0 || c == '\n') break;
    if (len == kMaxPassphrase) return Error(Code::kInvalidArgument, "passphrase too long");
    buf.data()[len++] = c;
  }
  buf.Truncate(len);
  StripNewline(buf);  // a trailing \r from a Windows-edited file
  return buf;
}

Result<Credential> ReadCredential(const UnlockOptions& opts, const std::string& prompt,
                                  bool confirm, const std::string& ask_id) {
  if (opts.passphrase_file && opts.key_file) {
    return Error(Code::kInvalidArgument, "give either --passphrase-file or --key-file, not both");
  }
  if (opts.key_file) {
    MFS_ASSIGN(UniqueFd fd, OpenSecretFile(*opts.key_file, "key file"));
    MFS_ASSIGN(crypto::SecureBuffer buf, ReadAll(fd.get(), kMaxKeyFile, "key file"));
    if (buf.size() < 32) {
      return Error(Code::kInvalidArgument,
                   "key file " + *opts.key_file + " is shorter than 32 bytes");
    }
    return Credential{SlotKind::kKeyFile, std::move(buf)};
  }
  crypto::SecureBuffer pass;
  if (opts.passphrase_file && *opts.passphrase_file == kStdinName) {
    // Read whole, like a file: a script pipes the passphrase in (`pass show x |
    // matterctl ... --passphrase-file -`). A terminal there would echo what is typed:
    // the prompt (no --passphrase-file) is the way to type it.
    if (::isatty(STDIN_FILENO) == 1) {
      return Error(Code::kInvalidArgument,
                   "--passphrase-file -: standard input is a terminal; pipe the passphrase in, "
                   "or leave out --passphrase-file to be asked for it with echo off");
    }
    MFS_ASSIGN(pass, ReadAll(STDIN_FILENO, kMaxPassphrase, "passphrase on standard input"));
    StripNewline(pass);
  } else if (opts.passphrase_file) {
    MFS_ASSIGN(UniqueFd fd, OpenSecretFile(*opts.passphrase_file, "passphrase file"));
    MFS_ASSIGN(pass, ReadAll(fd.get(), kMaxPassphrase, "passphrase file"));
    StripNewline(pass);
  } else {
    MFS_ASSIGN(pass, Prompt(prompt, ask_id));
    if (confirm) {
      MFS_ASSIGN(crypto::SecureBuffer again, Prompt("Repeat the passphrase: ", ask_id));
      if (!crypto::ConstantTimeEqual(pass.span(), again.span())) {
        return Error(Code::kInvalidArgument, "the passphrases do not match");
      }
    }
  }
  if (pass.empty()) return Error(Code::kInvalidArgument, "empty passphrase");
  return Credential{SlotKind::kPassphrase, std::move(pass)};
}

std::string PassphraseWarning(const Credential& cred) {
  if (cred.kind != SlotKind::kPassphrase || cred.secret.size() >= kMinPassphraseLength) return "";
  return "warning: this passphrase has only " + std::to_string(cred.secret.size()) +
         " characters; anyone with a copy of the vault can try guesses offline. Use at least " +
         std::to_string(kMinPassphraseLength) + " (four or more random words), or a key file";
}

}  // namespace matterfs::vault
