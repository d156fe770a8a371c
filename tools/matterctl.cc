#include "tools/matterctl.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <functional>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "crypto/secure_memory.h"
#include "fs/control/protocol.h"
#include "fs/vault/matter.h"
#include "fs/vault/vault.h"
#include "audit/event.h"
#include "audit/syslog_output.h"
#include "tools/audit_cmd.h"
#include "tools/policy_cmd.h"
#include "util/file_io.h"

namespace po = boost::program_options;

namespace matterfs::tools {

namespace {

using Args = std::vector<std::string>;

// Thrown inside a command to end it with a message and an exit code.
struct Failure {
  int code;
  std::string message;
};

int ExitFor(Code code) {
  switch (code) {
    case Code::kWrongKey:
      return kExitWrongKey;
    case Code::kCorruption:
      return kExitCorrupt;
    case Code::kNotFound:
      return kExitNotFound;
    case Code::kUnsupported:
      return kExitUnsupported;
    case Code::kExists:
      return kExitExists;
    case Code::kInvalidArgument:
      return kExitUsage;
    default:
      return kExitError;
  }
}

template <typename T>
T Check(Result<T> r, const std::string& context = "") {
  if (!r.ok()) {
    throw Failure{ExitFor(r.error().code()),
                  context.empty() ? r.error().message() : context + ": " + r.error().message()};
  }
  return std::move(r).value();
}

void Check(Status s, const std::string& context = "") {
  if (!s.ok()) {
    throw Failure{ExitFor(s.error().code()),
                  context.empty() ? s.error().message() : context + ": " + s.error().message()};
  }
}

struct Command {
  std::string name;   // "init" or "matter create"
  std::string usage;  // positional arguments
  std::string summary;
  std::function<void(po::options_description&, po::positional_options_description&)> options;
  std::function<int(const po::variables_map&)> run;
};

// Options every command that opens a vault takes.
void AddVaultOptions(po::options_description& d, bool unlock) {
  d.add_options()("keystore", po::value<std::string>(),
                  "directory holding the matter keyrings, if outside the vault")(
      "syslog-socket", po::value<std::string>(), "send audit events here (default /dev/log)");
  if (unlock) {
    d.add_options()("passphrase-file", po::value<std::string>(),
                    "read the passphrase from this file (trailing newline ignored)")(
        "key-file", po::value<std::string>(), "unlock with this key file");
  }
}

void AddKdfOptions(po::options_description& d) {
  d.add_options()("kdf-ops", po::value<uint64_t>(), "Argon2id passes (default 3)")(
      "kdf-memory", po::value<uint64_t>(), "Argon2id memory in MiB (default 256)");
}

crypto::Argon2Params KdfParams(const po::variables_map& vm) {
  crypto::Argon2Params p = crypto::DefaultArgon2Params();
  if (vm.count("kdf-ops")) p.opslimit = vm["kdf-ops"].as<uint64_t>();
  if (vm.count("kdf-memory")) p.memlimit = vm["kdf-memory"].as<uint64_t>() << 20;
  if (!crypto::Argon2ParamsSane(p)) {
    throw Failure{kExitUsage, "--kdf-ops must be 1..64 and --kdf-memory 1..4096 MiB"};
  }
  return p;
}

std::optional<std::string> Opt(const po::variables_map& vm, const char* name) {
  if (vm.count(name)) return vm[name].as<std::string>();
  return std::nullopt;
}

vault::UnlockOptions UnlockOpts(const po::variables_map& vm) {
  return {Opt(vm, "passphrase-file"), Opt(vm, "key-file")};
}

std::unique_ptr<vault::Vault> OpenVault(const po::variables_map& vm) {
  const std::string path = vm["vault"].as<std::string>();
  return Check(vault::Vault::Open(path, Opt(vm, "keystore")));
}

// The vault's config alone (keyslots, public key): needs neither a key nor the keystore.
vault::VaultConfig ReadConfigOnly(const std::string& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    throw Failure{kExitNotFound, "vault " + dir + " does not exist"};
  }
  auto raw = ReadWholeFile(AT_FDCWD, dir + "/" + std::string(vault::kConfigName), 64 * 1024);
  if (!raw.ok() && raw.error().code() == Code::kNotFound) {
    throw Failure{kExitNotFound,
                  dir + " is not a matterfs vault (no " + std::string(vault::kConfigName) + ")"};
  }
  return Check(vault::VaultConfig::Parse(Check(std::move(raw), dir)), dir);
}

std::unique_ptr<vault::Vault> OpenUnlocked(const po::variables_map& vm) {
  auto v = OpenVault(vm);
  auto cred =
      Check(vault::ReadCredential(UnlockOpts(vm), "Passphrase for " + v->path() + ": ", false));
  Check(v->Unlock(cred));
  return v;
}

std::string FormatTime(uint64_t t) {
  time_t tt = static_cast<time_t>(t);
  struct tm tm;
  gmtime_r(&tt, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void AddControlOptions(po::options_description& d) {
  d.add_options()("control-socket", po::value<std::string>(),
                  "the daemon's control socket (default: derived from the mount point)");
}

bool IsVault(const std::string& path) {
  struct stat st;
  return ::stat((path + "/" + std::string(vault::kConfigName)).c_str(), &st) == 0;
}

std::string Field(const control::Fields& row, const char* key) {
  auto it = row.find(key);
  return it == row.end() ? "" : it->second;
}

std::vector<control::Fields> CallDaemon(const po::variables_map& vm, const std::string& mountpoint,
                                        const control::Request& req) {
  const std::string path = vm.count("control-socket") ? vm["control-socket"].as<std::string>()
                                                      : control::FindSocketPath(mountpoint);
  auto resp = Check(control::Call(path, req), mountpoint);
  if (!resp.ok) {
    const int code = resp.code == "EACCES"   ? kExitDenied
                     : resp.code == "ENOENT" ? kExitNotFound
                     : resp.code == "EINVAL" ? kExitUsage
                                             : kExitError;
    throw Failure{code, resp.message};
  }
  return resp.rows;
}

// An offline admin action is an audit event too: sent to syslog (best effort).
void SendOfflineEvent(const po::variables_map& vm, const std::string& event,
                      const std::string& matter, const std::string& message) {
  audit::SyslogOutputOptions so;
  if (vm.count("syslog-socket")) so.socket_path = vm["syslog-socket"].as<std::string>();
  so.header.procid = ::getpid();
  auto out = audit::SyslogOutput::Make(so);
  audit::AuditEvent e;
  e.time =
      std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  e.host = host;
  e.event = event;
  e.result = audit::AuditResult::kOk;
  e.severity = audit::AuditSeverity::kNotice;
  struct passwd pw;
  struct passwd* found = nullptr;
  char buf[4096];
  if (::getpwuid_r(::getuid(), &pw, buf, sizeof buf, &found) == 0 && found) e.user = found->pw_name;
  e.uid = ::getuid();
  e.pid = ::getpid();
  e.process = "matterctl";
  e.matter = matter;
  e.access = "admin";
  e.message = message;
  if (!out.ok() || !(*out)->Write(e).ok()) {
    std::cerr << "matterctl: warning: could not send the audit event to syslog\n";
  }
}

std::vector<Command> Commands() {
  std::vector<Command> cmds;
  cmds.push_back(
      {"init", "VAULT", "create a new, empty vault in VAULT (a missing or empty directory)",
       [](auto& d, auto& p) {
         d.add_options()("vault", po::value<std::string>()->required(), "vault directory")(
             "cipher", po::value<std::string>(),
             "aes-256-gcm or xchacha20-poly1305 (default: AES-GCM where the CPU has AES-NI)")(
             "keystore", po::value<std::string>(),
             "keep matter keyrings in DIR, outside the vault (then every command "
             "and the mount need --keystore DIR)")("passphrase-file", po::value<std::string>(),
                                                   "read the passphrase from this file")(
             "key-file", po::value<std::string>(), "protect the vault with this key file");
         AddKdfOptions(d);
         p.add("vault", 1);
       },
       [](const po::variables_map& vm) {
         vault::InitOptions o;
         if (vm.count("cipher")) {
           auto c = crypto::ParseCipher(vm["cipher"].as<std::string>());
           if (!c)
             throw Failure{kExitUsage, "unknown cipher '" + vm["cipher"].as<std::string>() + "'"};
           o.cipher = *c;
         }
         o.argon = KdfParams(vm);
         o.keystore = Opt(vm, "keystore");
         const std::string path = vm["vault"].as<std::string>();
         auto cred = Check(
             vault::ReadCredential(UnlockOpts(vm), "New passphrase for " + path + ": ", true));
         Check(vault::Vault::Create(path, o, cred));
         std::cout << "created vault " << path << " (cipher " << crypto::CipherName(o.cipher)
                   << ")\n";
         return 0;
       }});
  cmds.push_back(
      {"keyslot add", "VAULT", "add a passphrase or key-file keyslot (unlock with an existing one)",
       [](auto& d, auto& p) {
         d.add_options()("vault", po::value<std::string>()->required(), "vault directory")(
             "new-passphrase-file", po::value<std::string>(),
             "the new slot's passphrase, from a file")("new-key-file", po::value<std::string>(),
                                                       "the new slot's key file");
         AddVaultOptions(d, true);
         AddKdfOptions(d);
         p.add("vault", 1);
       },
       [](const po::variables_map& vm) {
         auto v = OpenUnlocked(vm);
         vault::UnlockOptions n{Opt(vm, "new-passphrase-file"), Opt(vm, "new-key-file")};
         auto cred = Check(vault::ReadCredential(n, "New passphrase: ", true));
         Check(v->AddKeyslot(cred, KdfParams(vm)));
         std::cout << "added keyslot " << v->config().slots.size() - 1 << " ("
                   << vault::SlotKindName(cred.kind) << ")\n";
         return 0;
       }});
  cmds.push_back({"keyslot list", "VAULT", "list the vault's keyslots (needs no key)",
                  [](auto& d, auto& p) {
                    d.add_options()("vault", po::value<std::string>()->required(),
                                    "vault directory");
                    AddVaultOptions(d, false);
                    p.add("vault", 1);
                  },
                  [](const po::variables_map& vm) {
                    const vault::VaultConfig config = ReadConfigOnly(vm["vault"].as<std::string>());
                    size_t i = 0;
                    for (const auto& s : config.slots) {
                      std::cout << i++ << "  " << vault::SlotKindName(s.kind) << "  created "
                                << FormatTime(s.created);
                      if (s.kind == vault::SlotKind::kPassphrase) {
                        std::cout << "  argon2id ops=" << s.argon.opslimit
                                  << " memory=" << (s.argon.memlimit >> 20) << "MiB";
                      }
                      std::cout << "\n";
                    }
                    return 0;
                  }});
  cmds.push_back({"keyslot remove", "VAULT INDEX", "remove keyslot INDEX (never the last one)",
                  [](auto& d, auto& p) {
                    d.add_options()("vault", po::value<std::string>()->required(),
                                    "vault directory")("index", po::value<size_t>()->required(),
                                                       "keyslot number from 'keyslot list'");
                    AddVaultOptions(d, true);
                    p.add("vault", 1).add("index", 1);
                  },
                  [](const po::variables_map& vm) {
                    auto v = OpenUnlocked(vm);
                    Check(v->RemoveKeyslot(vm["index"].as<size_t>()));
                    std::cout << "removed keyslot " << vm["index"].as<size_t>() << "\n";
                    return 0;
                  }});
  cmds.push_back(
      {"matter create", "VAULT NAME", "create matter NAME with its own keys",
       [](auto& d, auto& p) {
         d.add_options()("vault", po::value<std::string>()->required(), "vault directory")(
             "name", po::value<std::string>()->required(), "matter name (a directory name)");
         AddVaultOptions(d, true);
         p.add("vault", 1).add("name", 1);
       },
       [](const po::variables_map& vm) {
         auto v = OpenUnlocked(vm);
         auto info = Check(v->CreateMatter(vm["name"].as<std::string>()));
         std::cout << "created matter " << info.name << " (id " << ToHex(info.id) << ")\n";
         return 0;
       }});
  cmds.push_back({"matter list", "VAULT", "list matters with their status and id",
                  [](auto& d, auto& p) {
                    d.add_options()("vault", po::value<std::string>()->required(),
                                    "vault directory");
                    AddVaultOptions(d, true);
                    p.add("vault", 1);
                  },
                  [](const po::variables_map& vm) {
                    auto v = OpenUnlocked(vm);
                    auto list = Check(v->ListMatters());
                    std::sort(list.begin(), list.end(),
                              [](const auto& a, const auto& b) { return a.name < b.name; });
                    for (const auto& m : list) {
                      std::cout << m.name << "\t" << vault::MatterStatusName(m.status) << "\t"
                                << ToHex(m.id) << "\n";
                    }
                    return 0;
                  }});
  for (const auto& [verb, summary] : std::vector<std::pair<std::string, std::string>>{
           {"close", "close a matter: read-only for everyone, nothing new in it"},
           {"reopen", "reopen a closed matter"},
           {"hold",
            "place a legal hold: nothing in the matter may be deleted, truncated, renamed "
            "away or wiped"},
           {"release", "release a legal hold (the matter is open again)"}}) {
    cmds.push_back(
        {"matter " + verb, "VAULT|MOUNTPOINT MATTER",
         summary + " (offline on a vault, or online through a mount's daemon)",
         [](auto& d, auto& p) {
           d.add_options()("vault", po::value<std::string>()->required(),
                           "vault directory, or the mount point of a running daemon")(
               "matter", po::value<std::string>()->required(), "matter name");
           AddVaultOptions(d, true);
           AddControlOptions(d);
           p.add("vault", 1).add("matter", 1);
         },
         [verb](const po::variables_map& vm) {
           const std::string target = vm["vault"].as<std::string>();
           const std::string name = vm["matter"].as<std::string>();
           if (!IsVault(target)) {
             // A mount point: the daemon checks the policy (admin) and records it.
             auto rows =
                 CallDaemon(vm, target, {"matter-status", {{"matter", name}, {"verb", verb}}});
             for (const auto& row : rows) {
               std::cout << "matter " << name << ": " << Field(row, "from") << " -> "
                         << Field(row, "to") << "\n";
             }
             return 0;
           }
           auto v = OpenUnlocked(vm);
           auto info = Check(v->FindMatter(name));
           auto next = vault::StatusAfter(verb, info.status);
           if (!next.ok()) {
             throw Failure{kExitUsage, "matter '" + name + "': " + next.error().message()};
           }
           auto old = Check(v->SetMatterStatus(name, *next));
           SendOfflineEvent(vm, "matter-" + verb, name,
                            std::string("matter ") + vault::MatterStatusName(old) + " -> " +
                                vault::MatterStatusName(*next) + " (offline, matterctl)");
           std::cout << "matter " << name << ": " << vault::MatterStatusName(old) << " -> "
                     << vault::MatterStatusName(*next) << "\n";
           return 0;
         }});
  }
  cmds.push_back(
      {"status", "MOUNTPOINT",
       "a running mount: its policy, the matters you may see, break-glass grants, audit counters",
       [](auto& d, auto& p) {
         d.add_options()("mountpoint", po::value<std::string>()->required(), "mount point");
         AddControlOptions(d);
         p.add("mountpoint", 1);
       },
       [](const po::variables_map& vm) {
         auto rows = CallDaemon(vm, vm["mountpoint"].as<std::string>(), {"status", {}});
         for (const auto& row : rows) {
           const std::string kind = Field(row, "kind");
           if (kind == "mount") {
             std::cout << "vault:    " << Field(row, "vault")
                       << "\npolicy:   " << Field(row, "policy")
                       << "\naudit:    " << Field(row, "audit_queued") << " queued, "
                       << Field(row, "audit_dropped") << " dropped, " << Field(row, "audit_refused")
                       << " refused (strict)\n";
           } else if (kind == "matter") {
             std::cout << "matter:   " << Field(row, "name") << "\t" << Field(row, "status")
                       << "\n";
           } else if (kind == "break-glass") {
             std::cout << "break-glass: " << Field(row, "user") << " on " << Field(row, "matter")
                       << " until " << Field(row, "until") << " (reason: " << Field(row, "reason")
                       << ")\n";
           }
         }
         return 0;
       }});
  cmds.push_back(
      {"break-glass", "MOUNTPOINT",
       "take time-limited read access to a matter in an emergency (alert event; policy decides)",
       [](auto& d, auto& p) {
         d.add_options()("mountpoint", po::value<std::string>()->required(), "mount point")(
             "matter", po::value<std::string>()->required(), "the matter")(
             "reason", po::value<std::string>()->required(), "why (recorded in the audit trail)")(
             "duration", po::value<std::string>()->default_value("1h"), "how long, e.g. 30m, 2h");
         AddControlOptions(d);
         p.add("mountpoint", 1);
       },
       [](const po::variables_map& vm) {
         auto rows = CallDaemon(vm, vm["mountpoint"].as<std::string>(),
                                {"break-glass",
                                 {{"matter", vm["matter"].as<std::string>()},
                                  {"reason", vm["reason"].as<std::string>()},
                                  {"duration", vm["duration"].as<std::string>()}}});
         for (const auto& row : rows) {
           std::cout << "break-glass: " << Field(row, "user") << " may read "
                     << Field(row, "matter") << " until " << Field(row, "until") << "\n";
         }
         return 0;
       }});
  cmds.push_back(
      {"policy check", "FILE", "validate a policy file: every problem as file:line: reason",
       [](auto& d, auto& p) {
         d.add_options()("file", po::value<std::string>()->required(), "policy file");
         p.add("file", 1);
       },
       [](const po::variables_map& vm) { return PolicyCheck(vm["file"].as<std::string>()); }});
  cmds.push_back(
      {"policy explain", "FILE",
       "the decision and the rule for one user, matter and action (exit 0 allow, 10 deny)",
       [](auto& d, auto& p) {
         d.add_options()("file", po::value<std::string>()->required(), "policy file")(
             "user", po::value<std::string>()->required(), "user name")(
             "matter", po::value<std::string>()->required(), "matter name")(
             "action", po::value<std::string>()->required(),
             "read, write, delete, admin, create_matter, list or wipe")(
             "status", po::value<std::string>(), "open (default), closed or hold")(
             "time", po::value<std::string>(), "decide as of this time (default now)");
         p.add("file", 1);
       },
       [](const po::variables_map& vm) {
         return PolicyExplain(vm["file"].as<std::string>(), vm["user"].as<std::string>(),
                              vm["matter"].as<std::string>(), vm["action"].as<std::string>(),
                              Opt(vm, "status"), Opt(vm, "time"));
       }});
  cmds.push_back(
      {"policy reload", "MOUNTPOINT", "make a running daemon re-read its policy now (root)",
       [](auto& d, auto& p) {
         d.add_options()("mountpoint", po::value<std::string>()->required(), "mount point");
         AddControlOptions(d);
         p.add("mountpoint", 1);
       },
       [](const po::variables_map& vm) {
         CallDaemon(vm, vm["mountpoint"].as<std::string>(), {"reload", {}});
         std::cout << "policy reloaded\n";
         return 0;
       }});
  cmds.push_back(
      {"audit verify", "LOG", "check a local audit log's hash chain and signed checkpoints",
       [](auto& d, auto& p) {
         d.add_options()("log", po::value<std::string>()->required(), "the JSON-lines audit log")(
             "vault", po::value<std::string>(), "require checkpoints signed by this vault's key")(
             "public-key", po::value<std::string>(),
             "require checkpoints signed by this key (hex)");
         p.add("log", 1);
       },
       [](const po::variables_map& vm) {
         std::optional<std::string> key = Opt(vm, "public-key");
         if (vm.count("vault")) {
           key = ToHex(ReadConfigOnly(vm["vault"].as<std::string>()).sign_public);
         }
         return AuditVerify(vm["log"].as<std::string>(), key);
       }});
  cmds.push_back({"cat", "VAULT MATTER/PATH",
                  "decrypt one file to standard output without mounting (disaster recovery)",
                  [](auto& d, auto& p) {
                    d.add_options()("vault", po::value<std::string>()->required(),
                                    "vault directory")("path", po::value<std::string>()->required(),
                                                       "MATTER/path/in/matter");
                    AddVaultOptions(d, true);
                    p.add("vault", 1).add("path", 1);
                  },
                  [](const po::variables_map& vm) {
                    const std::string path = vm["path"].as<std::string>();
                    std::string_view rest = path;
                    while (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);
                    size_t slash = rest.find('/');
                    if (slash == std::string_view::npos || slash + 1 >= rest.size()) {
                      throw Failure{kExitUsage, "give MATTER/PATH, e.g. acme-v-smith/brief.docx"};
                    }
                    auto v = OpenUnlocked(vm);
                    auto matter = Check(vault::Matter::Load(*v, rest.substr(0, slash)));
                    auto fd = Check(matter->OpenPath(*v, rest.substr(slash + 1), O_RDONLY), path);
                    Check(vault::DecryptFileTo(*matter, fd.get(), STDOUT_FILENO), path);
                    return 0;
                  }});
  cmds.push_back(
      {"genkey", "FILE", "write a new random 64-byte key file (mode 0600) for --key-file",
       [](auto& d, auto& p) {
         d.add_options()("file", po::value<std::string>()->required(), "key file to create");
         p.add("file", 1);
       },
       [](const po::variables_map& vm) {
         // WriteFileExclusive fsyncs the directory fd it is given, so it needs a
         // real directory fd: AT_FDCWD made fsync fail with EBADF after the key
         // file had already been written.
         const std::string file = vm["file"].as<std::string>();
         const size_t slash = file.rfind('/');
         const std::string dir = slash == std::string::npos ? "."
                                 : slash == 0               ? "/"
                                                            : file.substr(0, slash);
         const std::string base = slash == std::string::npos ? file : file.substr(slash + 1);
         if (base.empty()) throw Failure{kExitUsage, "give a file name, not a directory"};
         UniqueFd dirfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
         if (!dirfd.valid()) Check(Status(IoError("open directory " + dir)));
         crypto::SecureBuffer key(64);
         crypto::RandomBytes(key.mutable_span());
         Status st = WriteFileExclusive(dirfd.get(), base, key.span(), 0600);
         if (!st.ok() && st.error().code() == Code::kExists) {
           throw Failure{kExitExists, file + " already exists; not overwriting a key"};
         }
         Check(st, "write key file " + file);
         std::cout << "wrote key file " << vm["file"].as<std::string>() << "\n";
         return 0;
       }});
  return cmds;
}

void PrintTopUsage(const std::vector<Command>& cmds) {
  std::cout << "usage: matterctl COMMAND [ARGS] [OPTIONS]   (matterctl COMMAND --help)\n\n"
               "commands:\n";
  for (const auto& c : cmds) {
    std::string head = c.name + " " + c.usage;
    std::cout << "  " << head << std::string(head.size() < 34 ? 34 - head.size() : 1, ' ')
              << c.summary << "\n";
  }
  std::cout << "\nCommands that need the vault's keys take --passphrase-file F or --key-file F,\n"
               "or ask for the passphrase on the terminal. Exit codes: 0 ok, 1 error, 2 usage,\n"
               "3 wrong key, 4 corrupt, 5 not found, 6 unsupported version, 7 exists.\n";
}

}  // namespace

int RunMatterctl(int argc, char** argv) {
  std::vector<Command> cmds = Commands();
  Args args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    PrintTopUsage(cmds);
    return args.empty() ? kExitUsage : kExitOk;
  }
  if (args[0] == "--version" || args[0] == "version") {
    std::cout << "matterctl 0.1.0 (vault format " << vault::kFormatVersion << ")\n";
    return kExitOk;
  }
  const Command* cmd = nullptr;
  size_t consumed = 0;
  for (const auto& c : cmds) {
    std::string two = args.size() >= 2 ? args[0] + " " + args[1] : "";
    if (c.name == two) {
      cmd = &c;
      consumed = 2;
      break;
    }
    if (c.name == args[0]) {
      cmd = &c;
      consumed = 1;
    }
  }
  if (cmd == nullptr) {
    bool group = false;
    for (const auto& c : cmds) group |= c.name.rfind(args[0] + " ", 0) == 0;
    if (group) {
      std::cerr << "matterctl: '" << args[0] << "' needs a subcommand:";
      for (const auto& c : cmds) {
        if (c.name.rfind(args[0] + " ", 0) == 0)
          std::cerr << " " << c.name.substr(args[0].size() + 1);
      }
      std::cerr << "\n";
    } else {
      std::cerr << "matterctl: unknown command '" << args[0] << "' (see matterctl --help)\n";
    }
    return kExitUsage;
  }
  Args rest(args.begin() + static_cast<std::ptrdiff_t>(consumed), args.end());
  po::options_description desc("options");
  po::positional_options_description pos;
  cmd->options(desc, pos);
  desc.add_options()("help,h", "show this help");
  try {
    crypto::Init();
    // matterctl holds the vault master key: no core dumps, no ptrace by others.
    ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    struct rlimit no_core = {0, 0};
    ::setrlimit(RLIMIT_CORE, &no_core);
    po::variables_map vm;
    po::store(po::command_line_parser(rest).options(desc).positional(pos).run(), vm);
    if (vm.count("help")) {
      std::cout << "usage: matterctl " << cmd->name << " " << cmd->usage << " [OPTIONS]\n"
                << cmd->summary << "\n\n"
                << desc << "\n";
      return kExitOk;
    }
    po::notify(vm);
    return cmd->run(vm);
  } catch (const Failure& f) {
    std::cerr << "matterctl: " << f.message << "\n";
    return f.code;
  } catch (const po::error& e) {
    std::cerr << "matterctl " << cmd->name << ": " << e.what() << " (see --help)\n";
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "matterctl: " << e.what() << "\n";
    return kExitError;
  }
}

}  // namespace matterfs::tools
