#include "fs/systemd.h"

#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "util/log.h"

namespace matterfs::daemon {

bool UnderServiceManager() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  return socket != nullptr && socket[0] != '\0';
}

bool UnderSystemd() {
  const char* invocation = std::getenv("INVOCATION_ID");
  return sd_booted() > 0 || (invocation != nullptr && invocation[0] != '\0') ||
         UnderServiceManager();
}

void NotifyReady(const std::string& status) {
  // STATUS= is one line: the status a caller sees in `systemctl status`.
  std::string line = status;
  for (char& c : line) {
    if (c == '\n') c = ' ';
  }
  (void)sd_notifyf(0, "READY=1\nSTATUS=%s\nMAINPID=%ld", line.c_str(),
                   static_cast<long>(::getpid()));
}

void NotifyReloading() {
  struct timespec now = {};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  const unsigned long long usec = static_cast<unsigned long long>(now.tv_sec) * 1000000ULL +
                                  static_cast<unsigned long long>(now.tv_nsec) / 1000ULL;
  (void)sd_notifyf(0, "RELOADING=1\nSTATUS=reloading the policy\nMONOTONIC_USEC=%llu", usec);
}

void NotifyStopping() { (void)sd_notify(0, "STOPPING=1\nSTATUS=unmounting"); }

bool StoreFuseFd(int fd) {
  const int rc = sd_pid_notify_with_fds(0, 0, "FDSTORE=1\nFDNAME=fuse", &fd, 1);
  if (rc > 0) return true;
  log::Error(rc == 0 ? std::string("no $NOTIFY_SOCKET: nothing keeps the mount's descriptor")
                     : std::string("cannot hand the mount's descriptor to systemd: ") +
                           std::strerror(-rc));
  return false;
}

int TakeFuseFd() {
  char** names = nullptr;
  const int n = sd_listen_fds_with_names(1, &names);
  int found = -1;
  for (int i = 0; i < n; ++i) {
    const int fd = SD_LISTEN_FDS_START + i;
    if (found < 0 && names != nullptr && std::strcmp(names[i], "fuse") == 0) {
      found = fd;
    } else {
      ::close(fd);  // nothing else is ours
    }
  }
  for (int i = 0; names != nullptr && i < n; ++i) std::free(names[i]);
  std::free(names);
  if (found >= 0) (void)sd_notify(0, "FDSTOREREMOVE=1\nFDNAME=fuse");
  return found;
}

std::optional<vault::UnlockOptions> CredentialsFrom(const vault::UnlockOptions& opts) {
  if (opts.key_file || opts.passphrase_file) return std::nullopt;
  const char* dir = std::getenv("CREDENTIALS_DIRECTORY");
  if (dir == nullptr || dir[0] != '/') return std::nullopt;
  auto present = [&](const char* name) -> std::optional<std::string> {
    std::string path = std::string(dir) + "/" + name;
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return std::nullopt;
    return path;
  };
  vault::UnlockOptions found = opts;  // keeps --fido2
  // Both present: a two-factor keyslot (passphrase + key file).
  found.key_file = present("key");
  found.passphrase_file = present("passphrase");
  if (!found.key_file && !found.passphrase_file) return std::nullopt;
  return found;
}

}  // namespace matterfs::daemon
