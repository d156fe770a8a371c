#include "fs/daemon.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/program_options.hpp>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "crypto/secure_memory.h"
#include "fs/control/server.h"
#include "fs/control_handler.h"
#include "fs/fuse/serve.h"
#include "fs/systemd.h"
#include "fs/vault/credentials.h"
#include "fs/vault/vault.h"
#include "util/exit_codes.h"
#include "util/log.h"

namespace po = boost::program_options;

namespace matterfs::daemon {

namespace {

// Capabilities a root daemon never needs (it mounts, unmounts, serves files, makes them
// owned by their callers and reads /proc of its callers): dropped from its permitted,
// effective and inheritable sets at start, so that a compromised daemon cannot trace
// other processes, load modules or reach raw devices. Above all CAP_SYS_PTRACE: a
// process of the daemon's own user that keeps every other capability still cannot trace
// it or read its memory (it is not dumpable).
void DropUnneededCapabilities() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (::syscall(SYS_capget, &header, data) != 0) return;
  for (int cap : {CAP_SYS_PTRACE, CAP_SYS_MODULE, CAP_SYS_RAWIO, CAP_SYS_BOOT, CAP_SYS_TIME,
                  CAP_NET_RAW, CAP_NET_ADMIN, CAP_MKNOD}) {
    const uint32_t bit = uint32_t{1} << (cap % 32);
    data[cap / 32].effective &= ~bit;
    data[cap / 32].permitted &= ~bit;
    data[cap / 32].inheritable &= ~bit;
  }
  (void)::syscall(SYS_capset, &header, data);  // nothing to drop for an ordinary user
}

// No core dumps, no ptrace by other users (or its own: not dumpable), capabilities it
// does not need dropped, room for many open files.
size_t Harden() {
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  DropUnneededCapabilities();
  struct rlimit core = {0, 0};
  ::setrlimit(RLIMIT_CORE, &core);
  struct rlimit files;
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0) {
    files.rlim_cur = files.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &files);
  }
  ::getrlimit(RLIMIT_NOFILE, &files);
  // Half the descriptors for remembered inodes; the rest for open files and the system.
  size_t limit = static_cast<size_t>(files.rlim_cur / 2);
  return limit < 64 ? 64 : limit;
}

// `path` made absolute against the current directory: resolved through symlinks when it
// exists, joined lexically when it does not (yet), unchanged when already absolute.
std::string Absolute(const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  char real[PATH_MAX];
  if (::realpath(path.c_str(), real) != nullptr) return real;
  char cwd[PATH_MAX];
  if (::getcwd(cwd, sizeof cwd) == nullptr) return path;
  return std::string(cwd) + "/" + path;
}

void Usage(std::ostream& out, const po::options_description& desc) {
  out << "usage: matterfs VAULT MOUNTPOINT [-f] [-o opts] [--passphrase-file F] [--key-file F]\n"
         "                [--fido2 [--fido2-device DEV]]\n"
         "Mounts the vault; matters appear as folders. Unmount with fusermount3 -u MOUNTPOINT.\n\n"
      << desc
      << "\n-o takes libfuse mount options (allow_other, ro, ...) and, for /etc/fstab,\n"
         "passphrase_file=F, key_file=F (both: a two-factor keyslot), fido2,\n"
         "fido2_device=DEV, keystore=DIR, nonempty, shared, noxattr and require_owner.\n";
}

}  // namespace

int RunMatterfs(int argc, char** argv) {
  po::options_description desc("options");
  desc.add_options()("help,h", "show this help")("version,V", "show the version")(
      "foreground,f", "stay in the foreground")("debug,d", "log every FUSE request (implies -f)")(
      "option,o", po::value<std::vector<std::string>>()->composing(),
      "mount options, comma-separated")("passphrase-file", po::value<std::string>(),
                                        "read the passphrase from this file")(
      "key-file", po::value<std::string>(),
      "unlock with this key file (with --passphrase-file: a two-factor keyslot)")(
      "fido2", "unlock with the passphrase and a FIDO2 token (a touch)")(
      "fido2-device", po::value<std::string>(),
      "the FIDO2 token's hidraw device (default: the first token found)")(
      "keystore", po::value<std::string>(),
      "directory of the matter keyrings, if outside the vault")(
      "max-fds", po::value<size_t>(), "at most this many backing fds kept for remembered inodes")(
      "max-open-files", po::value<size_t>()->default_value(65536),
      "at most this many files open at once (each holds its key in secure memory); more get "
      "ENFILE")(
      "policy", po::value<std::string>(),
      "access policy (INI, docs/POLICY.md); without it only the mounting user has access")(
      "syslog-socket", po::value<std::string>(),
      "send audit events to this unix socket (default /dev/log)")(
      "premount",
      "mount only, and hand the mount's /dev/fuse descriptor to systemd's file descriptor "
      "store (ExecStartPre=+ of a sandboxed unit; docs/OPERATIONS.md)")(
      "audit", po::value<std::string>(),
      "drop|strict: when the audit queue is full, drop events or deny access (overrides the "
      "policy)")("control-socket", po::value<std::string>(),
                 "listen for matterctl here (default /run/matterfs/<id>.sock)");
  po::options_description hidden;
  hidden.add_options()("vault", po::value<std::string>())("mountpoint", po::value<std::string>());
  po::options_description all;
  all.add(desc).add(hidden);
  po::positional_options_description pos;
  pos.add("vault", 1).add("mountpoint", 1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(all).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    log::Error(std::string(e.what()) + " (see matterfs --help)");
    return kExitUsage;
  }
  if (vm.count("help")) {
    Usage(std::cout, desc);
    return kExitOk;
  }
  if (vm.count("version")) {
    std::cout << "matterfs 0.1.0 (vault format " << vault::kFormatVersion << ")\n";
    return 0;
  }
  if (!vm.count("vault") || !vm.count("mountpoint")) {
    log::Error("give VAULT and MOUNTPOINT (see matterfs --help)");
    return kExitUsage;
  }
  vault::UnlockOptions unlock;
  std::optional<std::string> keystore;
  fuse::MountOptions mount;
  mount.mountpoint = Absolute(vm["mountpoint"].as<std::string>());
  mount.debug = vm.count("debug") > 0;
  // Under systemd's Type=notify the daemon must stay the process systemd started (the
  // main process): it never forks then, -f or not, and says READY=1 instead.
  const bool service = UnderServiceManager();
  mount.foreground = vm.count("foreground") > 0 || mount.debug || service;
  if (vm.count("passphrase-file")) unlock.passphrase_file = vm["passphrase-file"].as<std::string>();
  if (vm.count("key-file")) unlock.key_file = vm["key-file"].as<std::string>();
  unlock.fido2 = vm.count("fido2") > 0;
  if (vm.count("fido2-device")) unlock.fido2_device = vm["fido2-device"].as<std::string>();
  if (vm.count("keystore")) keystore = vm["keystore"].as<std::string>();
  std::string fuse_opts;
  if (vm.count("option")) {
    for (const std::string& group : vm["option"].as<std::vector<std::string>>()) {
      std::istringstream in(group);
      std::string one;
      while (std::getline(in, one, ',')) {
        auto value = [&](const char* key) -> std::optional<std::string> {
          std::string prefix = std::string(key) + "=";
          if (one.rfind(prefix, 0) == 0) return one.substr(prefix.size());
          return std::nullopt;
        };
        if (auto v = value("passphrase_file")) {
          unlock.passphrase_file = *v;
        } else if (auto k = value("key_file")) {
          unlock.key_file = *k;
        } else if (one == "fido2") {
          unlock.fido2 = true;
        } else if (auto d = value("fido2_device")) {
          unlock.fido2_device = *d;
        } else if (auto s = value("keystore")) {
          keystore = *s;
        } else if (one.empty() || one == "defaults" || one == "auto" || one == "noauto" ||
                   one == "nofail" || one == "_netdev" || one == "user" || one == "users" ||
                   one.rfind("x-", 0) == 0 || one.rfind("comment=", 0) == 0) {
          // fstab-only words: meaningless to the filesystem itself.
        } else {
          fuse_opts += (fuse_opts.empty() ? "" : ",") + one;
        }
      }
    }
  }
  mount.fuse_options = fuse_opts;
  // No unlock option: the service's credential (LoadCredential=key:... or passphrase:...),
  // so that the secret is in neither the unit nor the command line.
  // Both `key` and `passphrase`: a two-factor keyslot (passphrase + key file) if the vault
  // has one, else the key file alone, as before two-factor slots existed.
  bool service_credentials = false;
  if (auto from_service = CredentialsFrom(unlock)) {
    unlock = *from_service;
    service_credentials = true;
  }
  mount.max_fds = vm.count("max-fds") ? vm["max-fds"].as<size_t>() : 0;
  // Every path the daemon uses after it detaches (and changes to /) is made absolute now,
  // against the directory it was started in.
  if (vm.count("policy")) mount.access.policy_path = Absolute(vm["policy"].as<std::string>());
  if (vm.count("syslog-socket")) {
    mount.access.syslog_socket = Absolute(vm["syslog-socket"].as<std::string>());
  }
  if (vm.count("audit")) mount.access.audit_mode = vm["audit"].as<std::string>();
  if (vm.count("control-socket")) {
    mount.control_socket = Absolute(vm["control-socket"].as<std::string>());
  }
  mount.access.mountpoint = mount.mountpoint;
  mount.access.vault = vm["vault"].as<std::string>();
  {
    struct passwd pw;
    struct passwd* found = nullptr;
    char buf[4096];
    if (::getpwuid_r(::getuid(), &pw, buf, sizeof buf, &found) == 0 && found != nullptr) {
      mount.access.owner = found->pw_name;
    } else {
      mount.access.owner = std::to_string(::getuid());
    }
  }
  if (vm.count("premount")) {
    // No key, no policy: the mount alone, made outside the service's sandbox.
    log::Init({"matterfs", true, true});
    return fuse::PreMount(mount.access.vault, mount, StoreFuseFd);
  }
  // A mount made by --premount, passed by systemd (LISTEN_FDS, LISTEN_FDNAMES=fuse).
  const int premounted_fd = TakeFuseFd();
  // Detach before any key exists (memory locks are not inherited across fork) but keep
  // the parent waiting: it exits 0 only once the child reports the mount is up.
  int report_fd = -1;
  if (!mount.foreground) {
    int pipefd[2];
    if (::pipe2(pipefd, O_CLOEXEC) != 0) {
      log::Error(std::string("pipe: ") + std::strerror(errno));
      return kExitError;
    }
    pid_t pid = ::fork();
    if (pid < 0) {
      log::Error(std::string("fork: ") + std::strerror(errno));
      return kExitError;
    }
    if (pid > 0) {
      ::close(pipefd[1]);
      unsigned char code = 1;
      ssize_t n;
      do {
        n = ::read(pipefd[0], &code, 1);
      } while (n < 0 && errno == EINTR);
      if (n != 1) {
        int status = 0;
        ::waitpid(pid, &status, 0);
        return WIFEXITED(status) && WEXITSTATUS(status) != 0 ? WEXITSTATUS(status) : 1;
      }
      return code;
    }
    ::close(pipefd[0]);
    report_fd = pipefd[1];
  }
  auto finish = [&](int code) {
    if (report_fd >= 0) {
      unsigned char c = static_cast<unsigned char>(code);
      (void)!::write(report_fd, &c, 1);
      ::close(report_fd);
      report_fd = -1;
    }
    return code;
  };

  try {
    crypto::Init();
    // Room for the open files' keys (a data key and, in format 2, its header MAC key:
    // two slots each) plus the keys being unwrapped by the worker threads at any moment.
    crypto::SetSecurePoolLimit(2 * vm["max-open-files"].as<size_t>() + 64);
    const size_t max_fds = Harden();
    if (mount.max_fds == 0) mount.max_fds = max_fds;
    log::Init({"matterfs", true, true});
    const std::string path = vm["vault"].as<std::string>();
    auto opened = vault::Vault::Open(path, keystore);
    if (!opened.ok()) {
      log::Error(opened.error().message());
      return finish(ExitCodeFor(opened.error().code()));
    }
    if (service_credentials && unlock.key_file && unlock.passphrase_file) {
      bool two_factor = false;
      for (const vault::Keyslot& s : (*opened)->config().slots) {
        two_factor |= s.kind == vault::SlotKind::kPassphraseKeyFile;
      }
      if (!two_factor) unlock.passphrase_file.reset();
    }
    auto cred =
        vault::ReadUnlockCredential((*opened)->config(), unlock, "Passphrase for " + path + ": ",
                                    UnderSystemd() ? "matterfs:" + path : std::string());
    if (!cred.ok()) {
      log::Error(cred.error().message());
      return finish(ExitCodeFor(cred.error().code()));
    }
    Status unlocked = (*opened)->Unlock(*cred);
    if (!unlocked.ok()) {
      log::Error(unlocked.error().message());
      return finish(ExitCodeFor(unlocked.error().code()));
    }
    cred->secret = crypto::SecureBuffer();  // the passphrase is no longer needed
    const bool foreground = mount.foreground;
    std::unique_ptr<ControlHandler> handler;
    control::ControlServer server;
    fuse::ServeHooks hooks;
    // READY=1 once serving; a reload before that (the watcher's first round) says nothing.
    std::atomic<bool> announced{false};
    const std::string status = "serving " + path + " on " + mount.mountpoint;
    hooks.start = [&](fuse::MatterFs& fs) -> Status {
      if (service) {
        fs.access().SetReloadObserver([&](bool reloading) {
          if (!announced.load()) return;
          if (reloading) {
            NotifyReloading();
          } else {
            NotifyReady(status);
          }
        });
      }
      handler = std::make_unique<ControlHandler>(fs);
      const std::string socket_path = mount.control_socket.empty()
                                          ? control::DefaultSocketPath(mount.mountpoint)
                                          : mount.control_socket;
      Status st = server.Start(socket_path, [&](const control::Request& r, const control::Peer& p) {
        return handler->Handle(r, p);
      });
      if (!st.ok()) return Error(st.error().code(), "control socket: " + st.error().message());
      return {};
    };
    hooks.stop = [&] { server.Stop(); };
    hooks.stopping = [&] {
      if (service) NotifyStopping();
    };
    hooks.ready = [&] {
      log::Notice("mounted " + path + " on " + mount.mountpoint);
      if (service) {
        NotifyReady(status);
        announced = true;
        // From here on syslog alone: it reaches the journal too, and stderr (the journal
        // as well) would log every line twice. Start-up errors went to both.
        log::SetStderr(false);
      }
      if (foreground) return;
      finish(0);
      // Detach: own session, no terminal, no stray cwd.
      ::setsid();
      (void)!::chdir("/");
      log::SetStderr(false);
      int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
      if (null >= 0) {
        ::dup2(null, STDIN_FILENO);
        ::dup2(null, STDOUT_FILENO);
        ::dup2(null, STDERR_FILENO);
        if (null > STDERR_FILENO) ::close(null);
      }
    };
    int rc = fuse::Serve(std::move(opened).value(), mount, hooks, premounted_fd);
    if (report_fd >= 0) return finish(rc == 0 ? kExitError : rc);
    log::Notice("unmounted " + mount.mountpoint);
    return rc;
  } catch (const std::exception& e) {
    log::Error(e.what());
    return finish(kExitError);
  }
}

}  // namespace matterfs::daemon
