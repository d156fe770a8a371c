#include "fs/vault/credentials.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cstring>

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

Result<crypto::SecureBuffer> Prompt(const std::string& prompt) {
  UniqueFd tty(::open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY));
  if (!tty.valid()) {
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
                                  bool confirm) {
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
    MFS_ASSIGN(pass, Prompt(prompt));
    if (confirm) {
      MFS_ASSIGN(crypto::SecureBuffer again, Prompt("Repeat the passphrase: "));
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
