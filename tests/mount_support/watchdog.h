// Watchdog: fails a hung mount test instead of hanging the suite. If it is not stopped
// within its time, it calls on_timeout from its own thread (MountFixture's reports a
// failure and kills the daemon, so that every request blocked on the mount fails).
//
// Thread-safety: construct, Stop and destroy from one thread; on_timeout runs on the
// watchdog's thread and must lock what it shares with the test.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace matterfs::mount_support {

// MATTERFS_TEST_TIMEOUT (seconds) from the environment, else 150.
int TestTimeoutSeconds();

class Watchdog {
 public:
  Watchdog(int seconds, std::function<void()> on_timeout);
  ~Watchdog();  // Stop()
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // After Stop returns, on_timeout is not running and never will (Stop waits for a call
  // that has begun).
  void Stop();

 private:
  std::mutex mu_;  // guards stop_
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace matterfs::mount_support
