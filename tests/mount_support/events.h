// The daemon's audit events as a test receives them (docs/AUDIT.md): RFC 5424 messages,
// parsed, matched against what a test expects, and collected by EventReceiver, the
// test's private syslog (a unix datagram socket given to the daemon with
// --syslog-socket).
//
// Thread-safety: EventReceiver reads on its own thread; every public method may be called
// from any thread (the messages are guarded by its mutex). The parsing functions are pure.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

namespace matterfs::mount_support {

// One RFC 5424 message as the daemon sent it, parsed.
struct AuditMsg {
  int pri = -1;
  std::string timestamp;
  std::string host;
  std::string app;
  std::string procid;
  std::string msgid;                      // the event name
  std::map<std::string, std::string> sd;  // the matterfs@32473 params, unescaped
  std::string msg;                        // the summary
  std::string raw;
  int severity() const { return pri < 0 ? -1 : pri % 8; }
  int facility() const { return pri < 0 ? -1 : pri / 8; }
  std::string Field(const std::string& k) const {
    auto it = sd.find(k);
    return it == sd.end() ? "" : it->second;
  }
};
// nullopt when the text is not an RFC 5424 message with matterfs structured data.
std::optional<AuditMsg> ParseRfc5424(const std::string& text);

// What an expected event must have; empty fields match anything.
struct EventQuery {
  std::string event;
  std::string result;
  std::string user;
  std::string matter;
  std::string rule_has;  // a substring of the rule
  std::string access;
  std::string path;
  int severity = -1;
  bool Matches(const AuditMsg& m) const;
};
void PrintTo(const EventQuery& q, std::ostream* os);

// The test's syslog: a unix datagram socket bound at `path` (replacing what is there)
// and read by a thread. Every datagram is kept; one that does not parse is kept with
// only `raw` set (and counted by unparsed()). Pause() stops reading (the daemon's sends
// then fail with EAGAIN once the socket's queue is full) until Resume().
class EventReceiver {
 public:
  explicit EventReceiver(std::string path);
  ~EventReceiver();  // stops the thread and removes the socket
  EventReceiver(const EventReceiver&) = delete;
  EventReceiver& operator=(const EventReceiver&) = delete;

  bool ok() const { return fd_ >= 0; }
  const std::string& path() const { return path_; }
  // The number of messages received so far: events after a mark are newer.
  size_t Mark();
  // The first message at index >= from matching q, waiting up to timeout.
  std::optional<AuditMsg> Wait(const EventQuery& q, size_t from,
                               std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // The first message at index >= from for which match is true, waiting up to timeout.
  std::optional<AuditMsg> WaitMatching(const std::function<bool(const AuditMsg&)>& match,
                                       size_t from, std::chrono::milliseconds timeout);
  // Every message at index >= from matching q, at this moment.
  std::vector<AuditMsg> All(const EventQuery& q, size_t from = 0);
  // Every message received so far, as it arrived.
  std::vector<std::string> Raw();
  // The last n messages (raw), for failure messages.
  std::string Tail(size_t n = 15);
  void Pause() { paused_ = true; }
  void Resume() { paused_ = false; }
  size_t unparsed() const { return unparsed_; }

 private:
  void Loop();
  std::string path_;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<bool> paused_{false};
  std::atomic<size_t> unparsed_{0};
  std::mutex mu_;  // guards msgs_
  std::condition_variable cv_;
  std::vector<AuditMsg> msgs_;
  std::thread thread_;
};

}  // namespace matterfs::mount_support
