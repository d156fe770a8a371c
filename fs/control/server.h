// ControlServer: the daemon's end of the control socket (protocol.h).
//
// Owns the listening socket and one thread that accepts connections one at a time, reads
// one request (at most kMaxRequest bytes, 2 s), identifies the peer with SO_PEERCRED and
// calls the handler, which must not block for long. Malformed or hostile requests get an
// "ERR EINVAL ..." reply; nothing a client sends can crash the daemon or stall it past
// the read timeout. Start/Stop from one thread; the handler runs on the server thread.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <functional>
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
  std::string path_;
  Handler handler_;
  UniqueFd listen_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace matterfs::control
