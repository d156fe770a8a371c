#include "tools/cli.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <ctime>
#include <iostream>
#include <mutex>
#include <thread>

#include "audit/syslog_output.h"
#include "util/file_io.h"
#include "util/log.h"

namespace matterfs::tools {

void Check(const Status& s, const std::string& context) {
  if (!s.ok()) {
    throw Failure{ExitCodeFor(s.error().code()),
                  context.empty() ? s.error().message() : context + ": " + s.error().message()};
  }
}

void AddVaultOptions(po::options_description& d, bool unlock) {
  d.add_options()("keystore", po::value<std::string>(),
                  "directory holding the matter keyrings, if outside the vault")(
      "syslog-socket", po::value<std::string>(), "send audit events here (default /dev/log)");
  if (unlock) {
    d.add_options()(
        "passphrase-file", po::value<std::string>(),
        "read the passphrase from this file (trailing newline ignored; - for standard input)")(
        "key-file", po::value<std::string>(),
        "unlock with this key file (with --passphrase-file: a two-factor keyslot)")(
        "fido2", po::bool_switch(), "unlock with the passphrase and a FIDO2 token")(
        "fido2-device", po::value<std::string>(),
        "the FIDO2 token's hidraw device (default: the first token found)");
  }
}

void AddKdfOptions(po::options_description& d) {
  d.add_options()("kdf-ops", po::value<uint64_t>(),
                  "Argon2id passes (default: calibrated to --kdf-time on this machine)")(
      "kdf-memory", po::value<uint64_t>(), "Argon2id memory in MiB (default 256)")(
      "kdf-time", po::value<double>(),
      "seconds one unlock should take here, for the calibration (default 1)");
}

crypto::Argon2Params KdfParams(const po::variables_map& vm, bool for_passphrase) {
  crypto::Argon2Params p = crypto::DefaultArgon2Params();
  if (vm.count("kdf-memory")) p.memlimit = vm["kdf-memory"].as<uint64_t>() << 20;
  double seconds = 1.0;
  if (vm.count("kdf-time")) {
    seconds = vm["kdf-time"].as<double>();
    if (!(seconds > 0 && seconds <= 60)) {
      throw Failure{kExitUsage, "--kdf-time takes 0 to 60 seconds"};
    }
  }
  if (vm.count("kdf-ops")) {
    p.opslimit = vm["kdf-ops"].as<uint64_t>();
  } else if (for_passphrase && crypto::Argon2ParamsSane(p)) {
    p.opslimit = crypto::CalibrateArgon2Ops(seconds, p.memlimit);
  }
  if (!crypto::Argon2ParamsSane(p)) {
    throw Failure{kExitUsage, "--kdf-ops must be 1..64 and --kdf-memory 1..4096 MiB"};
  }
  return p;
}

void AddControlOptions(po::options_description& d) {
  d.add_options()("control-socket", po::value<std::string>(),
                  "the daemon's control socket (default: derived from the mount point)");
}

void AddJsonOption(po::options_description& d) {
  d.add_options()("json", po::bool_switch(), "print one JSON document on standard output");
}

bool WantsJson(const po::variables_map& vm) { return vm.count("json") && vm["json"].as<bool>(); }

nlohmann::ordered_json JsonHeader(const std::string& format) {
  nlohmann::ordered_json doc;
  doc["format"] = format;
  doc["version"] = 1;
  return doc;
}

void PrintJson(const nlohmann::ordered_json& doc) { std::cout << DumpJson(doc, 2) << "\n"; }

int RunJsonCommand(bool json, const std::string& format, const std::function<int()>& body) {
  try {
    return body();
  } catch (const Failure& f) {
    if (json) {
      nlohmann::ordered_json doc = JsonHeader(format);
      doc["error"] = f.message;
      doc["exit"] = f.code;
      PrintJson(doc);
    }
    throw;
  }
}

void SetJsonTime(nlohmann::ordered_json& obj, const std::string& name,
                 std::optional<uint64_t> seconds) {
  obj[name] = seconds ? nlohmann::ordered_json(FormatUnixTime(*seconds)) : nullptr;
  obj[name + "_unix"] = seconds ? nlohmann::ordered_json(*seconds) : nullptr;
}

std::optional<std::string> Opt(const po::variables_map& vm, const char* name) {
  if (vm.count(name)) return vm[name].as<std::string>();
  return std::nullopt;
}

void CheckOneStdinPassphrase(const po::variables_map& vm) {
  std::vector<std::string> readers;
  for (const char* name : {"passphrase-file", "new-passphrase-file"}) {
    if (vm.count(name) && vm[name].as<std::string>() == vault::kStdinName) {
      readers.push_back(std::string("--") + name + " -");
    }
  }
  if (vm.count("keep-passphrase-file")) {
    for (const auto& f : vm["keep-passphrase-file"].as<std::vector<std::string>>()) {
      if (f == vault::kStdinName) readers.emplace_back("--keep-passphrase-file -");
    }
  }
  if (readers.size() > 1) {
    throw Failure{kExitUsage, readers[0] + " and " + readers[1] +
                                  " both read standard input, which holds one passphrase: give "
                                  "the other one in a file"};
  }
}

vault::UnlockOptions UnlockOpts(const po::variables_map& vm) {
  return {Opt(vm, "passphrase-file"), Opt(vm, "key-file"),
          vm.count("fido2") != 0 && vm["fido2"].as<bool>(), Opt(vm, "fido2-device")};
}

vault::Credential ReadNewCredential(const po::variables_map& vm) {
  vault::UnlockOptions n{Opt(vm, "new-passphrase-file"), Opt(vm, "new-key-file"),
                         vm.count("new-fido2") != 0 && vm["new-fido2"].as<bool>(),
                         Opt(vm, "new-fido2-device")};
  auto cred = Check(vault::ReadCredential(n, "New passphrase: ", true));
  if (auto w = vault::PassphraseWarning(cred); !w.empty()) log::Warning(w);
  return cred;
}

vault::Credential ReadUnlock(const po::variables_map& vm, const vault::VaultConfig& config,
                             const std::string& path) {
  return Check(
      vault::ReadUnlockCredential(config, UnlockOpts(vm), "Passphrase for " + path + ": "));
}

std::unique_ptr<vault::Vault> OpenVault(const po::variables_map& vm) {
  const std::string path = vm["vault"].as<std::string>();
  return Check(vault::Vault::Open(path, Opt(vm, "keystore")));
}

std::unique_ptr<vault::Vault> OpenUnlocked(const po::variables_map& vm) {
  auto v = OpenVault(vm);
  Check(v->Unlock(ReadUnlock(vm, v->config(), v->path())));
  return v;
}

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

bool IsVault(const std::string& path) {
  struct stat st;
  return ::stat((path + "/" + std::string(vault::kConfigName)).c_str(), &st) == 0;
}

std::string Field(const control::Fields& row, const char* key) {
  auto it = row.find(key);
  return it == row.end() ? "" : it->second;
}

std::vector<control::Fields> CallDaemonWithProgress(
    const po::variables_map& vm, const std::string& mountpoint, const control::Request& req,
    const std::function<void(const std::vector<control::Fields>& status)>& show) {
  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  std::thread poller;
  if (::isatty(STDERR_FILENO) == 1) {
    poller = std::thread([&] {
      std::unique_lock<std::mutex> g(mu);
      while (!cv.wait_for(g, std::chrono::milliseconds(500), [&] { return finished; })) {
        g.unlock();
        try {
          show(CallDaemon(vm, mountpoint, {"status", {}}, std::chrono::seconds(2)));
        } catch (...) {
          // Only the display is lost; the request's own answer still comes.
        }
        g.lock();
      }
    });
  }
  // Stops the poller however the request ends (an error reply throws).
  struct StopPoller {
    std::mutex& mu;
    std::condition_variable& cv;
    bool& finished;
    std::thread& poller;
    ~StopPoller() {
      {
        std::lock_guard<std::mutex> g(mu);
        finished = true;
      }
      cv.notify_all();
      if (poller.joinable()) poller.join();
    }
  } stop{mu, cv, finished, poller};
  return CallDaemon(vm, mountpoint, req, std::chrono::hours(24 * 7));
}

std::vector<control::Fields> CallDaemon(const po::variables_map& vm, const std::string& mountpoint,
                                        const control::Request& req,
                                        std::chrono::milliseconds timeout) {
  struct stat st;
  if (!vm.count("control-socket") && ::stat(mountpoint.c_str(), &st) != 0) {
    throw Failure{kExitNotFound, mountpoint + ": no such vault or mount point"};
  }
  const std::string path = vm.count("control-socket") ? vm["control-socket"].as<std::string>()
                                                      : control::FindSocketPath(mountpoint);
  auto resp = Check(control::Call(path, req, timeout), mountpoint);
  if (!resp.ok) {
    const int code = resp.code == "EACCES"   ? kExitDenied
                     : resp.code == "ENOENT" ? kExitNotFound
                     : resp.code == "EINVAL" ? kExitUsage
                                             : kExitError;
    throw Failure{code, resp.message};
  }
  return resp.rows;
}

vault::AdminContext OfflineContext(const po::variables_map& vm) {
  vault::AdminContext ctx;
  struct passwd pw;
  struct passwd* found = nullptr;
  char buf[4096];
  if (::getpwuid_r(::getuid(), &pw, buf, sizeof buf, &found) == 0 && found) {
    ctx.actor.user = found->pw_name;
  }
  ctx.actor.uid = ::getuid();
  ctx.actor.pid = ::getpid();
  ctx.actor.process = "matterctl";
  ctx.online = false;
  audit::SyslogOutputOptions so;
  if (vm.count("syslog-socket")) so.socket_path = vm["syslog-socket"].as<std::string>();
  so.header.procid = ::getpid();
  ctx.events = [so](audit::AuditEvent e) {
    e.time =
        std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    e.host = host;
    auto out = audit::SyslogOutput::Make(so);
    if (!out.ok() || !(*out)->Write(e).ok()) {
      log::Warning("could not send the audit event to syslog (" + so.socket_path + ")");
      return false;
    }
    return true;
  };
  return ctx;
}

void RecordVaultEvent(const po::variables_map& vm, const char* event, const std::string& message,
                      bool ok) {
  vault::AdminContext ctx = OfflineContext(vm);
  audit::AuditEvent e = vault::AdminEvent(ctx, event, "");
  if (!ok) {
    e.result = audit::AuditResult::kError;
    e.severity = audit::AuditSeverity::kWarning;
  }
  e.message = message + " (matterctl)";
  ctx.events(std::move(e));
}

}  // namespace matterfs::tools
