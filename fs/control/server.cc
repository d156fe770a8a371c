#include "fs/control/server.h"

#include <poll.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <thread>

namespace matterfs::control {

namespace {
Status MakeDirs(const std::string& dir, mode_t mode) {
  if (dir.empty()) return {};
  size_t pos = 0;
  while ((pos = dir.find('/', pos + 1)) != std::string::npos) {
    std::string part = dir.substr(0, pos);
    if (::mkdir(part.c_str(), mode) != 0 && errno != EEXIST) return IoError("mkdir " + part);
  }
  if (::mkdir(dir.c_str(), mode) != 0 && errno != EEXIST) return IoError("mkdir " + dir);
  return {};
}
}  // namespace

Status ControlServer::Start(const std::string& path, Handler handler) {
  path_ = path;
  handler_ = std::move(handler);
  const std::string dir = path.substr(0, path.rfind('/'));
  MFS_TRY(MakeDirs(dir, ::geteuid() == 0 ? 0755 : 0700));
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return IoError("stat " + dir);
  if (st.st_uid != ::geteuid() || (st.st_mode & 022) != 0) {
    return Error(Code::kPermissionDenied, "control socket directory " + dir +
                                              " must be owned by us and not writable by others");
  }
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path)
    return Error(Code::kInvalidArgument, "socket path too long");
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  // A socket file nobody listens on is a leftover from a crash; one that answers is not.
  {
    UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (::connect(probe.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      return Error(Code::kExists, "another matterfs daemon already listens on " + path);
    }
  }
  ::unlink(path.c_str());
  listen_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!listen_.valid()) return IoError("socket");
  if (::bind(listen_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return IoError("bind " + path);
  }
  // Anyone may connect; the daemon authorises each request by the peer's uid.
  ::chmod(path.c_str(), 0666);
  if (::listen(listen_.get(), 16) != 0) return IoError("listen");
  stop_ = false;
  thread_ = std::thread([this] { Loop(); });
  return {};
}

void ControlServer::Stop() {
  if (!thread_.joinable()) return;
  stop_ = true;
  thread_.join();
  {
    std::unique_lock<std::mutex> g(clients_mu_);
    clients_cv_.wait(g, [this] { return clients_ == 0; });
  }
  listen_.reset();
  ::unlink(path_.c_str());
}

void ControlServer::Loop() {
  while (!stop_) {
    pollfd p = {listen_.get(), POLLIN, 0};
    int rc = ::poll(&p, 1, 200);
    if (rc <= 0) continue;
    UniqueFd conn(::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn.valid()) continue;
    {
      std::lock_guard<std::mutex> g(clients_mu_);
      if (clients_ >= kMaxClients) {
        static const std::string busy = "ERR EBUSY too many control connections at once\n.\n";
        (void)::send(conn.get(), busy.data(), busy.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        continue;
      }
      ++clients_;
    }
    try {
      std::thread([this, c = std::move(conn)]() mutable { ServeAndCount(std::move(c)); }).detach();
    } catch (const std::exception&) {
      // No thread to be had: this client goes unanswered, the daemon goes on.
      std::lock_guard<std::mutex> g(clients_mu_);
      --clients_;
    }
  }
}

void ControlServer::ServeAndCount(UniqueFd conn) {
  try {
    Serve(conn.get());
  } catch (...) {
    // Nothing a connection does may end the daemon (e.g. an allocation failure).
  }
  conn.reset();
  std::lock_guard<std::mutex> g(clients_mu_);
  --clients_;
  clients_cv_.notify_all();
}

void ControlServer::Serve(int fd) {
  auto reply = [&](const Response& r) {
    std::string out = EncodeResponse(r);
    (void)::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
  };
  auto error = [&](const std::string& code, const std::string& msg) {
    Response r;
    r.ok = false;
    r.code = code;
    r.message = msg;
    reply(r);
  };
  ucred cred = {};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return;
  std::string in;
  char buf[1024];
  const auto deadline = std::chrono::steady_clock::now() + kReadTimeout;
  while (in.find('\n') == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return error("ETIMEDOUT", "request not received in time");
    pollfd p = {fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    in.append(buf, static_cast<size_t>(n));
    if (in.size() > kMaxRequest) return error("EINVAL", "request too long");
  }
  size_t nl = in.find('\n');
  if (nl == std::string::npos) return error("EINVAL", "request not terminated by a newline");
  auto req = DecodeRequest(std::string_view(in).substr(0, nl + 1));
  if (!req.ok()) return error("EINVAL", req.error().message());
  Response resp;
  try {
    resp = handler_(*req, Peer{cred.pid, cred.uid, cred.gid});
  } catch (const std::exception& e) {
    return error("EIO", std::string("internal error: ") + e.what());
  }
  reply(resp);
}

}  // namespace matterfs::control
