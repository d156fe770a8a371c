// SyslogOutput: sends each audit event as one RFC 5424 datagram to a local syslog
// socket (/dev/log unless configured, e.g. `--syslog-socket PATH`).
//
// The socket is connected lazily and reconnected when it goes away: a syslog daemon that
// restarts binds a new socket at the same path, and a datagram socket connected to the
// old one then fails with ECONNREFUSED. Sends never block (MSG_DONTWAIT): a receiver
// whose buffer is full gives kIo ("busy") and AuditSink retries later.
// Only datagram sockets are supported (/dev/log is one on Linux, for rsyslog's imuxsock
// and for journald alike).
//
// Errors from Write: kIo when the socket is missing, refuses or is busy (transient);
// kInvalidArgument when the message is larger than the socket accepts (permanent).
// Thread-safety: none; AuditSink calls it from its writer thread only.
#pragma once

#include <memory>
#include <string>

#include "audit/event.h"
#include "audit/sink.h"
#include "util/result.h"
#include "util/unique_fd.h"

namespace matterfs::audit {

inline constexpr char kDefaultSyslogSocket[] = "/dev/log";

struct SyslogOutputOptions {
  std::string socket_path = kDefaultSyslogSocket;
  // facility (authpriv by default), app name "matterfs"; procid 0 means getpid() at Make.
  SyslogHeader header;
};

class SyslogOutput : public AuditOutput {
 public:
  // kInvalidArgument if the path does not fit a sockaddr_un. The socket need not exist
  // yet: Write connects (and reconnects) when needed.
  static Result<std::unique_ptr<SyslogOutput>> Make(SyslogOutputOptions options);

  Status Write(const AuditEvent& event) override;
  Status Close() override;
  std::string Name() const override { return "syslog " + options_.socket_path; }

  // The facility of later messages (a policy reload; called on the writer thread, through
  // AuditSink::Reconfigure).
  void set_facility(SyslogFacility f) { options_.header.facility = f; }
  // The socket path, and whether the last attempt to reach it succeeded.
  const std::string& socket_path() const { return options_.socket_path; }

  // Sends one already formatted message (tests, and matterctl's offline events).
  Status Send(const std::string& message);

 private:
  explicit SyslogOutput(SyslogOutputOptions options) : options_(std::move(options)) {}
  Status Connect();

  SyslogOutputOptions options_;
  UniqueFd fd_;
};

}  // namespace matterfs::audit
