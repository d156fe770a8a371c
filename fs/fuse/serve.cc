#define FUSE_USE_VERSION 312
#include "fs/fuse/serve.h"

#include <dirent.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
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

int Serve(std::unique_ptr<vault::Vault> vault, const MountOptions& opts, const ServeHooks& hooks) {
  std::string fuse_opts = opts.fuse_options;
  bool nonempty = false;
  bool shared = false;
  bool multi_user = false;
  bool no_xattr = false;
  {
    // "nonempty", "shared" and "noxattr" are ours (libfuse 3 dropped nonempty): strip them before
    // libfuse sees them.
    std::string kept;
    std::istringstream in(fuse_opts);
    std::string one;
    while (std::getline(in, one, ',')) {
      if (one == "nonempty") {
        nonempty = true;
        continue;
      }
      if (one == "shared") {
        shared = true;
        continue;
      }
      if (one == "noxattr") {
        no_xattr = true;
        continue;
      }
      if (one == "allow_other" || one == "allow_root") multi_user = true;
      if (!one.empty()) kept += (kept.empty() ? "" : ",") + one;
    }
    fuse_opts = kept;
  }
  const std::string problem = CheckMountpoint(opts.mountpoint, nonempty);
  if (!problem.empty()) {
    log::Error(problem);
    return problem.find("already") != std::string::npos          ? kExitExists
           : problem.find("does not exist") != std::string::npos ? kExitNotFound
                                                                 : kExitError;
  }
  // One daemon per vault unless every mount says -o shared (several file servers).
  auto mount_lock = vault->LockMounted(shared);
  if (!mount_lock.ok()) {
    log::Error(mount_lock.error().message());
    return ExitCodeFor(mount_lock.error().code());
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
  std::string fsname = vault->path();
  for (char& c : fsname) {
    if (c == ',') c = '_';
  }
  std::vector<std::string> argv_s = {"matterfs", "-o",
                                     "default_permissions,fsname=" + fsname + ",subtype=matterfs" +
                                         (fuse_opts.empty() ? "" : "," + fuse_opts)};
  if (opts.debug) argv_s.push_back("-d");
  std::vector<char*> argv;
  for (auto& s : argv_s) argv.push_back(s.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());

  auto fs =
      std::make_unique<MatterFs>(std::move(vault), std::move(access).value(), opts.max_fds, shared);
  fs->set_multi_user(multi_user);
  fs->set_no_xattr(no_xattr);
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
    if (fuse_session_mount(se, opts.mountpoint.c_str()) != 0) {
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
