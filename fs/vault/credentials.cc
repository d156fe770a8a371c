#include "fs/vault/credentials.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>
#include <zxcvbn.h>

#include <cstring>
#include <vector>

#include "crypto/kdf.h"
#include "crypto/secure_memory.h"
#include "util/file_io.h"
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

namespace {
Result<crypto::SecureBuffer> ReadKeyFile(const std::string& path) {
  MFS_ASSIGN(UniqueFd fd, OpenSecretFile(path, "key file"));
  MFS_ASSIGN(crypto::SecureBuffer buf, ReadAll(fd.get(), kMaxKeyFile, "key file"));
  if (buf.size() < crypto::kMinKeyFileSize) {
    return Error(Code::kInvalidArgument, "key file " + path + " is shorter than 32 bytes");
  }
  return buf;
}

Result<crypto::SecureBuffer> ReadPassphrase(const UnlockOptions& opts, const std::string& prompt,
                                            bool confirm, const std::string& ask_id) {
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
  return pass;
}

Result<std::string> ReadKeyLine(const std::string& path, std::string_view tag,
                                crypto::SecureBuffer& hex_out) {
  MFS_ASSIGN(UniqueFd fd, OpenSecretFile(path, "escrow key file"));
  MFS_ASSIGN(crypto::SecureBuffer text, ReadAll(fd.get(), 256, "escrow key file " + path));
  StripNewline(text);
  const std::string_view view(reinterpret_cast<const char*>(text.data()), text.size());
  const std::string_view prefix = view.substr(0, view.find(' '));
  if (prefix != tag || view.size() != tag.size() + 1 + 64) {
    return Error(Code::kInvalidArgument,
                 path + " is not a matterfs escrow " +
                     (tag.find("private") != std::string_view::npos ? "private" : "public") +
                     " key file (matterctl escrow keygen writes them)");
  }
  hex_out = crypto::SecureBuffer(64);
  std::memcpy(hex_out.data(), view.data() + tag.size() + 1, 64);
  return std::string(prefix);
}

Result<crypto::SecureBuffer> HexKey(const crypto::SecureBuffer& hex, const std::string& path) {
  crypto::SecureBuffer key(32);
  for (size_t i = 0; i < 32; ++i) {
    int v = 0;
    for (size_t j = 0; j < 2; ++j) {
      const uint8_t c = hex.data()[2 * i + j];
      int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
      if (d < 0) return Error(Code::kInvalidArgument, path + ": the key is not 64 hex digits");
      v = v * 16 + d;
    }
    key.data()[i] = static_cast<uint8_t>(v);
  }
  return key;
}

constexpr std::string_view kPublicTag = "matterfs-escrow-public-key-v1";
constexpr std::string_view kPrivateTag = "matterfs-escrow-private-key-v1";

}  // namespace

Result<Credential> ReadCredential(const UnlockOptions& opts, const std::string& prompt,
                                  bool confirm, const std::string& ask_id) {
  if (opts.fido2 && opts.key_file) {
    return Error(Code::kInvalidArgument,
                 "give --key-file or --fido2 as the second factor, not both");
  }
  if (opts.key_file && !opts.passphrase_file) {
    MFS_ASSIGN(crypto::SecureBuffer key, ReadKeyFile(*opts.key_file));
    return Credential(SlotKind::kKeyFile, std::move(key));
  }
  std::shared_ptr<Fido2Token> token;
  if (opts.fido2) {
    MFS_ASSIGN(token, OpenFido2Device(opts.fido2_device));
  }
  crypto::SecureBuffer key;
  if (opts.key_file) {
    MFS_ASSIGN(key, ReadKeyFile(*opts.key_file));
  }
  MFS_ASSIGN(crypto::SecureBuffer pass, ReadPassphrase(opts, prompt, confirm, ask_id));
  if (opts.key_file) {
    return Credential(SlotKind::kPassphraseKeyFile, std::move(pass), std::move(key));
  }
  if (token) return Credential(SlotKind::kPassphraseFido2, std::move(pass), {}, std::move(token));
  return Credential(SlotKind::kPassphrase, std::move(pass));
}

Result<Credential> ReadUnlockCredential(const VaultConfig& config, const UnlockOptions& opts,
                                        const std::string& prompt, const std::string& ask_id) {
  if (opts.key_file && !opts.passphrase_file && !opts.fido2 &&
      !config.HasSlot(SlotKind::kKeyFile) && config.HasSlot(SlotKind::kPassphraseKeyFile)) {
    // Its key-file slots also need the passphrase: ask for it.
    MFS_ASSIGN(crypto::SecureBuffer key, ReadKeyFile(*opts.key_file));
    auto pass = ReadPassphrase(opts, prompt, false, ask_id);
    if (!pass.ok()) {
      const bool no_terminal = pass.error().message().find("no terminal") != std::string::npos;
      return Error(pass.error().code(),
                   no_terminal ? "this vault's key-file keyslots also need the passphrase, and "
                                 "there is no terminal to ask for it: add --passphrase-file"
                               : "this vault's key-file keyslots also need the passphrase: " +
                                     pass.error().message());
    }
    return Credential(SlotKind::kPassphraseKeyFile, std::move(pass).value(), std::move(key));
  }
  if (!opts.key_file && !opts.fido2 && !config.HasSlot(SlotKind::kPassphrase)) {
    if (config.HasSlot(SlotKind::kPassphraseKeyFile) && !config.HasSlot(SlotKind::kKeyFile)) {
      return Error(Code::kWrongKey,
                   "this vault's keyslots need a key file with the passphrase: add --key-file");
    }
    if (config.HasSlot(SlotKind::kPassphraseFido2) && !config.HasSlot(SlotKind::kKeyFile)) {
      return Error(Code::kWrongKey,
                   "this vault's keyslots need a FIDO2 token with the passphrase: add --fido2");
    }
    if (config.HasSlot(SlotKind::kKeyFile)) {
      return Error(Code::kWrongKey, "this vault has no passphrase keyslot: give --key-file");
    }
  }
  return ReadCredential(opts, prompt, false, ask_id);
}

double PassphraseBits(ByteSpan passphrase) {
  // zxcvbn reads a C string: a copy with its NUL, in secure memory.
  crypto::SecureBuffer text(passphrase.size() + 1);
  std::memcpy(text.data(), passphrase.data(), passphrase.size());
  text.data()[passphrase.size()] = 0;
  return ZxcvbnMatch(reinterpret_cast<const char*>(text.data()), nullptr, nullptr);
}

std::string PassphraseWarning(const Credential& cred) {
  if (!UsesPassphrase(cred.kind)) return "";
  const double bits = PassphraseBits(cred.secret.span());
  if (bits >= kMinPassphraseBits) return "";
  return "warning: this passphrase is weak (about " + std::to_string(static_cast<int>(bits)) +
         " bits by zxcvbn's estimate; at least " +
         std::to_string(static_cast<int>(kMinPassphraseBits)) +
         " is advised): anyone with a copy of the vault can try guesses offline. Use four or "
         "more random words, or add a key file or FIDO2 token as a second factor";
}

Status WriteEscrowKeyPair(const std::string& private_path, const std::string& public_path,
                          const crypto::EscrowKeyPair& pair) {
  // The private key's text in secure memory.
  const size_t len = kPrivateTag.size() + 1 + 64 + 1;
  crypto::SecureBuffer text(len);
  std::memcpy(text.data(), kPrivateTag.data(), kPrivateTag.size());
  text.data()[kPrivateTag.size()] = ' ';
  static constexpr char kDigits[] = "0123456789abcdef";
  for (size_t i = 0; i < 32; ++i) {
    text.data()[kPrivateTag.size() + 1 + 2 * i] = kDigits[pair.private_key.data()[i] >> 4];
    text.data()[kPrivateTag.size() + 2 + 2 * i] = kDigits[pair.private_key.data()[i] & 15];
  }
  text.data()[len - 1] = '\n';
  const std::string pub = std::string(kPublicTag) + " " + ToHex(pair.public_key) + "\n";
  // Neither file is overwritten; the public one first, so a refusal leaves no lone
  // private key behind.
  MFS_TRY(WriteNewFile(public_path, AsBytes(pub), 0644));
  Status st = WriteNewFile(private_path, text.span(), 0600);
  if (!st.ok()) ::unlink(public_path.c_str());
  return st;
}

Result<crypto::EscrowPublicKey> ReadEscrowPublicKey(const std::string& path) {
  crypto::SecureBuffer hex;
  MFS_TRY(ReadKeyLine(path, kPublicTag, hex));
  MFS_ASSIGN(crypto::SecureBuffer key, HexKey(hex, path));
  crypto::EscrowPublicKey pk{};
  std::memcpy(pk.data(), key.data(), pk.size());
  return pk;
}

Result<Credential> ReadEscrowPrivateKey(const std::string& path) {
  crypto::SecureBuffer hex;
  MFS_TRY(ReadKeyLine(path, kPrivateTag, hex));
  MFS_ASSIGN(crypto::SecureBuffer key, HexKey(hex, path));
  return Credential(SlotKind::kEscrow, std::move(key));
}

std::string EscrowFingerprint(const crypto::EscrowPublicKey& key) {
  const std::string hex = ToHex(crypto::Blake2b(32, key));
  return hex.substr(0, 4) + "-" + hex.substr(4, 4) + "-" + hex.substr(8, 4) + "-" +
         hex.substr(12, 4);
}

}  // namespace matterfs::vault
