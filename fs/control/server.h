// ControlServer: the daemon's end of the control socket (protocol.h).
//
// Owns the listening socket, one thread that accepts connections, and one short-lived
// thread per connection (at most kMaxClients at once; beyond that a client is answered
// "ERR EBUSY" at once). A connection thread reads one request (at most kMaxRequest
// bytes, within kReadTimeout), identifies the peer with SO_PEERCRED and calls the
// handler, so a client that sends nothing delays only itself, never another client.
// Malformed or hostile requests get an "ERR EINVAL ..." reply; nothing a client sends can
// crash the daemon. Start/Stop from one thread; the handler runs on connection threads,
// several at once, and must be thread-safe. Stop waits for running connections.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "fs/control/protocol.h"
#include "util/result.h"
#include "util/unique_fd.h"

namespace matterfs::control {

struct Peer {
  pid_t pid;
  uid_t uid;
  gid_t gid;
};

class ControlServer {
 public:
  static constexpr int kMaxClients = 32;
  static constexpr std::chrono::milliseconds kReadTimeout{2000};

  using Handler = std::function<Response(const Request&, const Peer&)>;
  ControlServer() = default;
  ~ControlServer() { Stop(); }

  // Creates the socket's directory (root-owned 0755 when run as root, else 0700), refuses
  // if another daemon already listens there, binds, and starts the thread.
  Status Start(const std::string& path, Handler handler);
  void Stop();
  const std::string& path() const { return path_; }

 private:
  void Loop();
  void Serve(int fd);
  void ServeAndCount(UniqueFd conn);
  std::string path_;
  Handler handler_;
  UniqueFd listen_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex clients_mu_;
  std::condition_variable clients_cv_;
  int clients_ = 0;  // guarded by clients_mu_: connection threads running
};

}  // namespace matterfs::control
