// The control socket protocol between the matterfs daemon and matterctl, version 1.
// (docs/CONTROL.md). A unix stream socket; one request and one response per connection.
//
//   request:  "MFS1 COMMAND key=value key=value\n"       (at most 4096 bytes)
//   response: "OK\n" or "ERR CODE message\n", then data lines "key=value key=value",
//             then a line ".\n".
// Keys are [a-z0-9_-]+; values are percent-encoded (every byte outside [A-Za-z0-9._~/:@+-]
// as %XX), so no value contains a space, '=', a newline or a control byte.
// The daemon identifies the caller with SO_PEERCRED, never from the request.
// Pure functions except Call (client I/O); thread-safe.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace matterfs::control {

inline constexpr std::string_view kMagic = "MFS1";
inline constexpr size_t kMaxRequest = 4096;
inline constexpr size_t kMaxResponse = 1 << 20;

using Fields = std::map<std::string, std::string>;

struct Request {
  std::string command;
  Fields args;
};

struct Response {
  bool ok = true;
  std::string code;     // on error: "EACCES", "ENOENT", "EINVAL", ...
  std::string message;  // on error
  std::vector<Fields> rows;
};

std::string PercentEncode(std::string_view s);
std::optional<std::string> PercentDecode(std::string_view s);

std::string EncodeRequest(const Request& r);
// kInvalidArgument with a reason for anything malformed (never throws).
Result<Request> DecodeRequest(std::string_view line);
std::string EncodeResponse(const Response& r);
Result<Response> DecodeResponse(std::string_view text);

// Where the daemon for a mount point listens by default: /run/matterfs/<id>.sock for root
// (a root-owned directory), $XDG_RUNTIME_DIR/matterfs/<id>.sock otherwise; <id> is a hash
// of the mount point's real path.
std::string DefaultSocketPath(const std::string& mountpoint);
// Where a client looks for the daemon of a mount point: the root daemon's path first
// (whoever the client is), then the client's own runtime directory.
std::string FindSocketPath(const std::string& mountpoint);

// Connects, sends, reads the whole response (bounded by timeout).
Result<Response> Call(const std::string& socket_path, const Request& request,
                      std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));

}  // namespace matterfs::control
