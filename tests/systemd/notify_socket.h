// systemd's side of the service protocols, for tests that emulate it (systemd is not
// PID 1 in CI): the $NOTIFY_SOCKET a service manager listens on (sd_notify(3)), and
// starting a service's process with an environment and passed descriptors.
//
// ServiceTest is a MountFixture (vault with matter "alpha", not mounted at start) with a
// bound NotifySocket and the pid of the service's main process, killed (SIGKILL) and
// reaped at TearDown if the test left it running.
//
// Thread-safety: one NotifySocket per test, used from the test's thread. Errors: Bind
// reports gtest failures; Next returns nullopt on timeout.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "tests/mount_support/fixture.h"
#include "util/unique_fd.h"

namespace matterfs::systemd_test {

struct Notification {
  std::string text;   // "READY=1\nSTATUS=..."
  pid_t sender = -1;  // from SCM_CREDENTIALS (systemd checks NotifyAccess= with it)
  UniqueFd fd;        // a descriptor passed with it (FDSTORE=1), if any
};

class NotifySocket {
 public:
  // Binds a datagram socket at path and asks for the senders' credentials.
  void Bind(const std::string& path);
  const std::string& path() const { return path_; }
  // The next notification within timeout_ms.
  std::optional<Notification> Next(int timeout_ms = 20000);

 private:
  std::string path_;
  UniqueFd socket_;
};

// True when `text` has `line` as one of its lines ("READY=1").
bool HasLine(const std::string& text, const std::string& line);

// posix_spawn of argv[0] (a path) with exactly `env`, and `fd3` (when >= 0) as fd 3, as
// systemd passes stored and socket descriptors; the pid, or -1.
pid_t SpawnService(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                   int fd3 = -1);

class ServiceTest : public mount_support::MountFixture {
 protected:
  std::vector<std::string> Matters() const override { return {"alpha"}; }
  bool MountAtStart() const override { return false; }
  void SetUp() override;
  void TearDown() override;

  NotifySocket notify_;
  pid_t pid_ = -1;  // the service's main process
};

}  // namespace matterfs::systemd_test
