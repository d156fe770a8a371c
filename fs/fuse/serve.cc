#define FUSE_USE_VERSION 312
#include "fs/fuse/serve.h"

#include <dirent.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <sstream>
#include <vector>

#include "util/exit_codes.h"
#include "util/log.h"
#include "util/mountinfo.h"
#include "util/unique_fd.h"

namespace matterfs::fuse {

namespace {

bool IsMatterfsMount(const std::string& path) {
  for (const MountEntry& m : ReadMountInfo()) {
    if (m.mount_point == path && m.fstype.rfind("fuse.matterfs", 0) == 0) return true;
  }
  return false;
}

// One line for everything that is wrong with the mount point, or "".
std::string CheckMountpoint(const std::string& mountpoint, bool nonempty_ok) {
  struct stat st;
  if (::stat(mountpoint.c_str(), &st) != 0) {
    if (errno == ENOENT) return "mount point " + mountpoint + " does not exist";
    if (errno == ENOTCONN) {
      return "mount point " + mountpoint + " is a dead FUSE mount; run: fusermount3 -u " +
             mountpoint;
    }
    return "mount point " + mountpoint + ": " + std::strerror(errno);
  }
  if (!S_ISDIR(st.st_mode)) return "mount point " + mountpoint + " is not a directory";
  char real[PATH_MAX];
  if (::realpath(mountpoint.c_str(), real) != nullptr && IsMatterfsMount(real)) {
    return mountpoint + " is already a matterfs mount";
  }
  if (!nonempty_ok) {
    UniqueFd fd(::open(mountpoint.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd.valid()) {
      DIR* d = ::fdopendir(fd.release());
      bool empty = true;
      while (struct dirent* e = d ? ::readdir(d) : nullptr) {
        if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
          empty = false;
          break;
        }
      }
      if (d) ::closedir(d);
      if (!empty) {
        return "mount point " + mountpoint + " is not empty (use -o nonempty to mount over it)";
      }
    }
  }
  return "";
}

}  // namespace

std::atomic<AccessControl*> g_reload_target{nullptr};

void OnSighup(int) {
  // Async-signal-safe: a lock-free atomic flag; the watcher thread does the reload.
  if (AccessControl* a = g_reload_target.load()) a->RequestReload();
}

// The -o words of the mount, with ours ("nonempty", "shared", "noxattr": libfuse 3 dropped
// nonempty) taken out before libfuse sees them.
struct SplitOptions {
  std::string fuse_opts;
  bool nonempty = false;
  bool shared = false;
  bool multi_user = false;
  bool no_xattr = false;
  bool require_owner = false;
};

SplitOptions Split(const std::string& given) {
  SplitOptions o;
  std::istringstream in(given);
  std::string one;
  while (std::getline(in, one, ',')) {
    if (one == "nonempty") {
      o.nonempty = true;
    } else if (one == "shared") {
      o.shared = true;
    } else if (one == "noxattr") {
      o.no_xattr = true;
    } else if (one == "require_owner") {
      o.require_owner = true;
    } else if (!one.empty()) {
      if (one == "allow_other" || one == "allow_root") o.multi_user = true;
      o.fuse_opts += (o.fuse_opts.empty() ? "" : ",") + one;
    }
  }
  return o;
}

// libfuse's arguments for the mount of the vault at `vault_path`.
std::vector<std::string> FuseArgs(const std::string& vault_path, const std::string& fuse_opts,
                                  bool debug) {
  std::string fsname = vault_path;
  for (char& c : fsname) {
    if (c == ',') c = '_';
  }
  std::vector<std::string> argv_s = {"matterfs", "-o",
                                     "default_permissions,fsname=" + fsname + ",subtype=matterfs" +
                                         (fuse_opts.empty() ? "" : "," + fuse_opts)};
  if (debug) argv_s.push_back("-d");
  return argv_s;
}

// -o require_owner: "" when this daemon can give new backing files to other users on
// the vault's storage, else why not. Tried for real on a nameless file in the vault's
// data directory (a storage that squashes root, such as NFS with root_squash, refuses
// the chown even to root).
static std::string OwnershipProblem(int data_fd) {
  if (::geteuid() != 0) {
    return "the daemon does not run as root, so it cannot give new files to the users who "
           "create them";
  }
  constexpr uid_t kProbeId = 65534;  // nobody
  UniqueFd fd(::openat(data_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  std::string named;
  if (!fd.valid()) {
    named = ".tmp.owner-probe." + std::to_string(::getpid());
    fd.reset(::openat(data_fd, named.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600));
    if (!fd.valid())
      return std::string("cannot create a file in the vault: ") + std::strerror(errno);
  }
  std::string problem;
  struct stat st;
  if (::fchown(fd.get(), kProbeId, kProbeId) != 0) {
    problem = std::string("the vault's storage refuses to give files to other users (chown: ") +
              std::strerror(errno) + ")";
  } else if (::fstat(fd.get(), &st) != 0 || st.st_uid != kProbeId) {
    problem = "the vault's storage does not keep the owner of a file";
  }
  if (!named.empty()) ::unlinkat(data_fd, named.c_str(), 0);
  return problem;
}

int MountpointProblemCode(const std::string& problem) {
  log::Error(problem);
  return problem.find("already") != std::string::npos          ? kExitExists
         : problem.find("does not exist") != std::string::npos ? kExitNotFound
                                                               : kExitError;
}

int PreMount(const std::string& vault_path, const MountOptions& opts,
             const std::function<bool(int fd)>& hand_over) {
  const SplitOptions split = Split(opts.fuse_options);
  const std::string problem = CheckMountpoint(opts.mountpoint, split.nonempty);
  if (!problem.empty()) return MountpointProblemCode(problem);
  std::vector<std::string> argv_s = FuseArgs(vault_path, split.fuse_opts, false);
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  const fuse_lowlevel_ops no_ops = {};  // never served from here
  fuse_session* se = fuse_session_new(&args, &no_ops, sizeof no_ops, nullptr);
  if (se == nullptr) {
    log::Error("invalid mount options: " + split.fuse_opts);
    return kExitUsage;
  }
  int rc = kExitOk;
  if (fuse_session_mount(se, opts.mountpoint.c_str()) != 0) {
    log::Error("cannot mount on " + opts.mountpoint +
               " (is /dev/fuse available and fusermount3 installed?)");
    rc = kExitError;
  } else if (!hand_over(fuse_session_fd(se))) {
    fuse_session_unmount(se);
    rc = kExitError;
  }
  // Closes our copy of the descriptor only: the holder's copy keeps the mount alive.
  fuse_session_destroy(se);
  fuse_opt_free_args(&args);
  return rc;
}

int Serve(std::unique_ptr<vault::Vault> vault, const MountOptions& opts, const ServeHooks& hooks,
          int premounted_fd) {
  UniqueFd premounted(premounted_fd);
  const SplitOptions split = Split(opts.fuse_options);
  const std::string& fuse_opts = split.fuse_opts;
  const bool shared = split.shared;
  const bool multi_user = split.multi_user;
  const bool no_xattr = split.no_xattr;
  const std::string problem =
      premounted.valid() ? std::string() : CheckMountpoint(opts.mountpoint, split.nonempty);
  if (!problem.empty()) return MountpointProblemCode(problem);
  // One daemon per vault unless every mount says -o shared (several file servers).
  auto mount_lock = vault->LockMounted(shared);
  if (!mount_lock.ok()) {
    log::Error(mount_lock.error().message());
    return ExitCodeFor(mount_lock.error().code());
  }
  if (split.require_owner) {
    if (std::string why = OwnershipProblem(vault->data_fd()); !why.empty()) {
      log::Error("not mounted: -o require_owner: " + why);
      return kExitError;
    }
  }
  auto access = AccessControl::Create(opts.access, vault->signing_key(), vault->audit_path_key());
  if (!access.ok()) {
    // An invalid policy refuses the mount, with every problem as file:line: reason.
    std::cerr << access.error().message() << "\n";
    log::Error("not mounted: the policy is invalid or the audit trail cannot start");
    return kExitUsage;
  }
  AccessControl* ac = access->get();
  if (std::string syslog_problem = ac->SyslogProblem(); !syslog_problem.empty()) {
    // Mounting anyway keeps the files reachable; the events wait in the queue (and are
    // dropped, counted, or refuse access under audit = strict) until syslog is back.
    log::Warning("audit events cannot reach syslog: " + ac->syslog_socket() + " " + syslog_problem +
                 "; they wait in the audit queue until it is back (matterctl status shows this)");
  }
  // The kernel has applied the caller's umask to every mode it sends us; ours must not
  // strip more (a group-writable file asked for must stay group-writable).
  ::umask(0);
  std::vector<std::string> argv_s = FuseArgs(vault->path(), fuse_opts, opts.debug);
  std::vector<char*> argv;
  for (auto& s : argv_s) argv.push_back(s.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());

  auto fs =
      std::make_unique<MatterFs>(std::move(vault), std::move(access).value(), opts.max_fds, shared);
  fs->set_multi_user(multi_user);
  fs->set_no_xattr(no_xattr);
  fs->set_require_owner(split.require_owner);
  ac->SetReloadHook([raw = fs.get()] { raw->ForgetRootEntries(); });
  // Log lines name paths the way the audit trail does (audit_path = plain|hash|omit).
  log::SetPathRedactor([ac](std::string_view p) { return ac->LogPath(p); });
  struct Unset {
    ~Unset() { log::SetPathRedactor(nullptr); }  // runs before `fs` (and `ac`) go
  } unset_redactor;
  if (hooks.start) {
    if (Status st = hooks.start(*fs); !st.ok()) {
      log::Error(st.error().message());
      return ExitCodeFor(st.error().code());
    }
  }
  fuse_session* se = fuse_session_new(&args, &MatterFs::Ops(), sizeof(fuse_lowlevel_ops), fs.get());
  if (se == nullptr) {
    log::Error("invalid mount options: " + fuse_opts);
    if (hooks.stop) hooks.stop();
    return kExitUsage;
  }
  fs->set_session(se);
  int rc = kExitError;
  if (fuse_set_signal_handlers(se) != 0) {
    log::Error("cannot install signal handlers");
  } else {
    // libfuse ends the session on SIGHUP; for us it means "reload the policy".
    g_reload_target = ac;
    struct sigaction sa = {};
    sa.sa_handler = OnSighup;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGHUP, &sa, nullptr);
    // A premounted descriptor is served through libfuse's /dev/fd/N: the session then
    // owns (and at destroy closes) it, and does not unmount.
    const std::string mount_at =
        premounted.valid() ? "/dev/fd/" + std::to_string(premounted.get()) : opts.mountpoint;
    if (fuse_session_mount(se, mount_at.c_str()) != 0) {
      log::Error("cannot mount on " + opts.mountpoint +
                 " (is /dev/fuse available and fusermount3 installed?)");
    } else {
      MatterFs* raw_fs = fs.get();
      ac->StartWatcher([raw_fs] { raw_fs->matters().Refresh(); });
      ac->Notice(audit::audit_events::kMount, audit::AuditResult::kOk,
                 audit::AuditSeverity::kNotice, nullptr, "",
                 "mounted " + fs->vault().path() + " on " + opts.mountpoint);
      // Mounted and serving: only now may the parent exit with success.
      if (hooks.ready) hooks.ready();
      fuse_loop_config* config = fuse_loop_cfg_create();
      fuse_loop_cfg_set_max_threads(config, 16);
      fuse_loop_cfg_set_idle_threads(config, 8);
      // The loop ends with 0 on unmount and with the signal number on SIGINT/SIGTERM
      // (the session then unmounts cleanly): both are a clean exit.
      const int loop = fuse_session_loop_mt(se, config);
      rc = (loop == 0 || loop == SIGINT || loop == SIGTERM || loop == -SIGINT || loop == -SIGTERM)
               ? kExitOk
               : kExitError;
      fuse_loop_cfg_destroy(config);
      if (hooks.stopping) hooks.stopping();
      fuse_session_unmount(se);
      if (premounted.valid()) {
        (void)premounted.release();  // the session closes it
        // Lazily, as libfuse does for its own mounts; in a sandbox this detaches only our
        // view, and ExecStopPost= unmounts the host's.
        (void)::umount2(opts.mountpoint.c_str(), MNT_DETACH);
      }
      ac->Notice(audit::audit_events::kUnmount, audit::AuditResult::kOk,
                 audit::AuditSeverity::kNotice, nullptr, "", "unmounted " + opts.mountpoint);
    }
    g_reload_target = nullptr;
    fuse_remove_signal_handlers(se);
  }
  if (hooks.stop) hooks.stop();
  ac->StopWatcher();
  // Unmounted and the control socket closed: a new mount or an offline matterctl may
  // start now; they wait only until this process exits (the audit queue drains first).
  vault::Vault::LeaveMounted(mount_lock->get());
  fs->set_session(nullptr);
  fuse_session_destroy(se);
  fuse_opt_free_args(&args);
  return rc;
}

}  // namespace matterfs::fuse
