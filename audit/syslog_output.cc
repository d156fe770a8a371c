#include "audit/syslog_output.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace matterfs::audit {

Result<std::unique_ptr<SyslogOutput>> SyslogOutput::Make(SyslogOutputOptions options) {
  sockaddr_un addr{};
  if (options.socket_path.empty() || options.socket_path.size() >= sizeof addr.sun_path) {
    return Error(Code::kInvalidArgument, "syslog socket path must be 1.." +
                                             std::to_string(sizeof addr.sun_path - 1) +
                                             " bytes: '" + options.socket_path + "'");
  }
  if (options.header.procid == 0) options.header.procid = ::getpid();
  return std::unique_ptr<SyslogOutput>(new SyslogOutput(std::move(options)));
}

Status SyslogOutput::Connect() {
  fd_.reset();
  UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return IoError("syslog: socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, options_.socket_path.data(), options_.socket_path.size());
  int rc = 0;
  do {
    rc = ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) return IoError("syslog: connect " + options_.socket_path);
  fd_ = std::move(fd);
  return {};
}

Status SyslogOutput::Send(const std::string& message) {
  // Two attempts: the second after reconnecting, for a daemon that restarted.
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!fd_.valid()) MFS_TRY(Connect());
    ssize_t n = 0;
    do {
      n = ::send(fd_.get(), message.data(), message.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n >= 0) return {};
    const int err = errno;
    switch (err) {
      case EAGAIN:
      case ENOBUFS:
        return Error(Code::kIo, "syslog: " + options_.socket_path + " is busy", err);
      case EMSGSIZE:
        return Error(Code::kInvalidArgument,
                     "syslog: message of " + std::to_string(message.size()) +
                         " bytes is too large for " + options_.socket_path,
                     err);
      default:
        // ECONNREFUSED, ENOTCONN, EPIPE, ENOENT, ...: the receiver went away; reconnect.
        fd_.reset();
        if (attempt == 1) return IoError("syslog: send to " + options_.socket_path, err);
    }
  }
  return Error(Code::kIo, "syslog: send failed");
}

Status SyslogOutput::Write(const AuditEvent& event) {
  return Send(FormatRfc5424(event, options_.header));
}

Status SyslogOutput::Close() {
  fd_.reset();
  return {};
}

}  // namespace matterfs::audit
