#include "tests/mount_support/watchdog.h"

#include <chrono>
#include <cstdlib>
#include <utility>

namespace matterfs::mount_support {

int TestTimeoutSeconds() {
  const char* v = std::getenv("MATTERFS_TEST_TIMEOUT");
  int t = v != nullptr ? std::atoi(v) : 0;
  return t > 0 ? t : 150;
}

Watchdog::Watchdog(int seconds, std::function<void()> on_timeout) {
  thread_ = std::thread([this, seconds, fire = std::move(on_timeout)] {
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (cv_.wait_for(lock, std::chrono::seconds(seconds), [this] { return stop_; })) return;
    }
    fire();
  });
}

Watchdog::~Watchdog() { Stop(); }

void Watchdog::Stop() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace matterfs::mount_support
