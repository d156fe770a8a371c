#include "fs/control/protocol.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <cstring>

#include "crypto/kdf.h"
#include "util/bytes.h"
#include "util/unique_fd.h"

namespace matterfs::control {

namespace {
bool Plain(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         std::strchr("._~/:@+-", c) != nullptr;
}
bool KeyChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

Result<Fields> DecodeFields(std::string_view rest) {
  Fields out;
  while (!rest.empty()) {
    size_t sp = rest.find(' ');
    std::string_view tok = rest.substr(0, sp);
    rest = sp == std::string_view::npos ? std::string_view() : rest.substr(sp + 1);
    if (tok.empty()) continue;
    size_t eq = tok.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      return Error(Code::kInvalidArgument, "field without key=value");
    }
    std::string_view key = tok.substr(0, eq);
    for (char c : key) {
      if (!KeyChar(c)) return Error(Code::kInvalidArgument, "bad character in key");
    }
    auto value = PercentDecode(tok.substr(eq + 1));
    if (!value) return Error(Code::kInvalidArgument, "bad percent-encoding");
    if (!out.emplace(std::string(key), std::move(*value)).second) {
      return Error(Code::kInvalidArgument, "duplicate key " + std::string(key));
    }
  }
  return out;
}

std::string EncodeFields(const Fields& f) {
  std::string out;
  for (const auto& [k, v] : f) {
    if (!out.empty()) out.push_back(' ');
    out += k + "=" + PercentEncode(v);
  }
  return out;
}
}  // namespace

std::string PercentEncode(std::string_view s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (Plain(c)) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::optional<std::string> PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      auto hex = FromHex(s.substr(i + 1, 2));
      if (!hex) return std::nullopt;
      out.push_back(static_cast<char>((*hex)[0]));
      i += 2;
    } else if (Plain(static_cast<unsigned char>(s[i]))) {
      out.push_back(s[i]);
    } else {
      return std::nullopt;
    }
  }
  return out;
}

std::string EncodeRequest(const Request& r) {
  std::string line = std::string(kMagic) + " " + r.command;
  std::string fields = EncodeFields(r.args);
  if (!fields.empty()) line += " " + fields;
  return line + "\n";
}

Result<Request> DecodeRequest(std::string_view line) {
  if (line.size() > kMaxRequest) return Error(Code::kInvalidArgument, "request too long");
  if (line.empty() || line.back() != '\n')
    return Error(Code::kInvalidArgument, "request not terminated");
  line.remove_suffix(1);
  if (line.substr(0, kMagic.size()) != kMagic ||
      (line.size() > kMagic.size() && line[kMagic.size()] != ' ')) {
    return Error(Code::kInvalidArgument, "unknown protocol (expected MFS1)");
  }
  std::string_view rest = line.size() > kMagic.size() ? line.substr(kMagic.size() + 1) : "";
  size_t sp = rest.find(' ');
  Request r;
  r.command = std::string(rest.substr(0, sp));
  if (r.command.empty()) return Error(Code::kInvalidArgument, "missing command");
  for (char c : r.command) {
    if (!KeyChar(c)) return Error(Code::kInvalidArgument, "bad character in command");
  }
  MFS_ASSIGN(r.args, DecodeFields(sp == std::string_view::npos ? "" : rest.substr(sp + 1)));
  return r;
}

std::string EncodeResponse(const Response& r) {
  std::string out = r.ok ? "OK\n" : "ERR " + r.code + " " + PercentEncode(r.message) + "\n";
  for (const Fields& row : r.rows) out += EncodeFields(row) + "\n";
  return out + ".\n";
}

Result<Response> DecodeResponse(std::string_view text) {
  Response r;
  size_t nl = text.find('\n');
  if (nl == std::string_view::npos) return Error(Code::kInvalidArgument, "truncated response");
  std::string_view first = text.substr(0, nl);
  text.remove_prefix(nl + 1);
  if (first == "OK") {
    r.ok = true;
  } else if (first.substr(0, 4) == "ERR ") {
    r.ok = false;
    std::string_view rest = first.substr(4);
    size_t sp = rest.find(' ');
    r.code = std::string(rest.substr(0, sp));
    auto msg = PercentDecode(sp == std::string_view::npos ? "" : rest.substr(sp + 1));
    r.message = msg ? *msg : "";
  } else {
    return Error(Code::kInvalidArgument, "malformed response");
  }
  for (;;) {
    nl = text.find('\n');
    if (nl == std::string_view::npos) return Error(Code::kInvalidArgument, "truncated response");
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl + 1);
    if (line == ".") return r;
    MFS_ASSIGN(Fields row, DecodeFields(line));
    r.rows.push_back(std::move(row));
  }
}

namespace {
std::string SocketId(const std::string& mountpoint) {
  char real[PATH_MAX];
  std::string path = ::realpath(mountpoint.c_str(), real) != nullptr ? real : mountpoint;
  return ToHex(crypto::Blake2b(16, AsBytes(path))).substr(0, 16);
}
}  // namespace

std::string FindSocketPath(const std::string& mountpoint) {
  const std::string system = "/run/matterfs/" + SocketId(mountpoint) + ".sock";
  if (::access(system.c_str(), F_OK) == 0) return system;
  return DefaultSocketPath(mountpoint);
}

std::string DefaultSocketPath(const std::string& mountpoint) {
  const std::string id = SocketId(mountpoint);
  if (::geteuid() == 0) return "/run/matterfs/" + id + ".sock";
  const char* xdg = std::getenv("XDG_RUNTIME_DIR");
  std::string base = xdg != nullptr && *xdg ? xdg : "/tmp/matterfs-" + std::to_string(::geteuid());
  return base + "/matterfs/" + id + ".sock";
}

Result<Response> Call(const std::string& socket_path, const Request& request,
                      std::chrono::milliseconds timeout) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return IoError("socket");
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof addr.sun_path) {
    return Error(Code::kInvalidArgument, "control socket path too long");
  }
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    if (err == ENOENT || err == ECONNREFUSED) {
      return Error(Code::kNotFound,
                   "no matterfs daemon listens on " + socket_path + " (is the mount up?)", err);
    }
    return IoError("connect " + socket_path, err);
  }
  const std::string wire = EncodeRequest(request);
  if (::send(fd.get(), wire.data(), wire.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(wire.size())) {
    return IoError("send request");
  }
  ::shutdown(fd.get(), SHUT_WR);
  std::string in;
  char buf[4096];
  for (;;) {
    pollfd p = {fd.get(), POLLIN, 0};
    int rc = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (rc == 0) return Error(Code::kIo, "the daemon did not answer in time", ETIMEDOUT);
    if (rc < 0) {
      if (errno == EINTR) continue;
      return IoError("poll");
    }
    ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError("recv");
    }
    if (n == 0) break;
    in.append(buf, static_cast<size_t>(n));
    if (in.size() > kMaxResponse) return Error(Code::kInvalidArgument, "response too large");
  }
  return DecodeResponse(in);
}

}  // namespace matterfs::control
