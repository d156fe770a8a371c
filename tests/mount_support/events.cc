#include "tests/mount_support/events.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace matterfs::mount_support {

std::optional<AuditMsg> ParseRfc5424(const std::string& text) {
  AuditMsg m;
  m.raw = text;
  size_t pos = 0;
  if (text.empty() || text[0] != '<') return std::nullopt;
  const size_t gt = text.find('>');
  if (gt == std::string::npos || gt < 2 || gt > 4) return std::nullopt;
  m.pri = std::atoi(text.substr(1, gt - 1).c_str());
  pos = gt + 1;
  auto token = [&](std::string* out) {
    const size_t sp = text.find(' ', pos);
    if (sp == std::string::npos) return false;
    *out = text.substr(pos, sp - pos);
    pos = sp + 1;
    return true;
  };
  std::string version;
  if (!token(&version) || version != "1") return std::nullopt;
  if (!token(&m.timestamp) || !token(&m.host) || !token(&m.app) || !token(&m.procid) ||
      !token(&m.msgid)) {
    return std::nullopt;
  }
  if (pos < text.size() && text[pos] == '-') {
    pos += 1;
  } else {
    while (pos < text.size() && text[pos] == '[') {
      ++pos;
      const size_t id_end = text.find_first_of(" ]", pos);
      if (id_end == std::string::npos) return std::nullopt;
      const std::string id = text.substr(pos, id_end - pos);
      pos = id_end;
      while (pos < text.size() && text[pos] == ' ') {
        ++pos;
        const size_t eq = text.find('=', pos);
        if (eq == std::string::npos || eq + 1 >= text.size() || text[eq + 1] != '"') {
          return std::nullopt;
        }
        const std::string key = text.substr(pos, eq - pos);
        pos = eq + 2;
        std::string value;
        bool closed = false;
        while (pos < text.size()) {
          const char c = text[pos++];
          if (c == '\\' && pos < text.size() &&
              (text[pos] == '"' || text[pos] == '\\' || text[pos] == ']')) {
            value.push_back(text[pos++]);
          } else if (c == '"') {
            closed = true;
            break;
          } else {
            value.push_back(c);
          }
        }
        if (!closed) return std::nullopt;
        if (id == "matterfs@32473") m.sd[key] = value;
      }
      if (pos >= text.size() || text[pos] != ']') return std::nullopt;
      ++pos;
    }
  }
  if (pos < text.size() && text[pos] == ' ') m.msg = text.substr(pos + 1);
  return m;
}

bool EventQuery::Matches(const AuditMsg& m) const {
  if (!event.empty() && m.msgid != event) return false;
  if (!result.empty() && m.Field("result") != result) return false;
  if (!user.empty() && m.Field("user") != user) return false;
  if (!matter.empty() && m.Field("matter") != matter) return false;
  if (!access.empty() && m.Field("access") != access) return false;
  if (!path.empty() && m.Field("path") != path) return false;
  if (!rule_has.empty() && m.Field("rule").find(rule_has) == std::string::npos) return false;
  if (severity >= 0 && m.severity() != severity) return false;
  return true;
}

void PrintTo(const EventQuery& q, std::ostream* os) {
  *os << "{";
  auto f = [&](const char* k, const std::string& v) {
    if (!v.empty()) *os << " " << k << "=\"" << v << "\"";
  };
  f("event", q.event);
  f("result", q.result);
  f("user", q.user);
  f("matter", q.matter);
  f("access", q.access);
  f("path", q.path);
  f("rule contains", q.rule_has);
  if (q.severity >= 0) *os << " severity=" << q.severity;
  *os << " }";
}

EventReceiver::EventReceiver(std::string path) : path_(std::move(path)) {
  fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return;
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (path_.size() >= sizeof addr.sun_path) {
    ::close(fd_);
    fd_ = -1;
    return;
  }
  std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
  ::unlink(path_.c_str());
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd_);
    fd_ = -1;
    return;
  }
  int size = 4 << 20;
  (void)::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  thread_ = std::thread([this] { Loop(); });
}

EventReceiver::~EventReceiver() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) ::close(fd_);
  ::unlink(path_.c_str());
}

void EventReceiver::Loop() {
  std::vector<char> buf(1 << 17);
  while (!stop_) {
    if (paused_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    struct pollfd p = {fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    ssize_t n = ::recv(fd_, buf.data(), buf.size(), MSG_DONTWAIT);
    if (n <= 0) continue;
    auto m = ParseRfc5424(std::string(buf.data(), static_cast<size_t>(n)));
    if (!m) {
      ++unparsed_;
      m = AuditMsg{};
      m->raw = std::string(buf.data(), static_cast<size_t>(n));
    }
    {
      std::lock_guard<std::mutex> g(mu_);
      msgs_.push_back(std::move(*m));
    }
    cv_.notify_all();
  }
}

size_t EventReceiver::Mark() {
  std::lock_guard<std::mutex> g(mu_);
  return msgs_.size();
}

std::optional<AuditMsg> EventReceiver::Wait(const EventQuery& q, size_t from,
                                            std::chrono::milliseconds timeout) {
  return WaitMatching([&q](const AuditMsg& m) { return q.Matches(m); }, from, timeout);
}

std::optional<AuditMsg> EventReceiver::WaitMatching(
    const std::function<bool(const AuditMsg&)>& match, size_t from,
    std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock<std::mutex> lock(mu_);
  size_t seen = from;
  while (true) {
    for (; seen < msgs_.size(); ++seen) {
      if (match(msgs_[seen])) return msgs_[seen];
    }
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
      for (; seen < msgs_.size(); ++seen) {
        if (match(msgs_[seen])) return msgs_[seen];
      }
      return std::nullopt;
    }
  }
}

std::vector<AuditMsg> EventReceiver::All(const EventQuery& q, size_t from) {
  std::lock_guard<std::mutex> g(mu_);
  std::vector<AuditMsg> out;
  for (size_t i = from; i < msgs_.size(); ++i) {
    if (q.Matches(msgs_[i])) out.push_back(msgs_[i]);
  }
  return out;
}

std::vector<std::string> EventReceiver::Raw() {
  std::lock_guard<std::mutex> g(mu_);
  std::vector<std::string> out;
  out.reserve(msgs_.size());
  for (const AuditMsg& m : msgs_) out.push_back(m.raw);
  return out;
}

std::string EventReceiver::Tail(size_t n) {
  std::lock_guard<std::mutex> g(mu_);
  std::string out;
  const size_t start = msgs_.size() > n ? msgs_.size() - n : 0;
  for (size_t i = start; i < msgs_.size(); ++i) {
    out += "  #" + std::to_string(i) + " " + msgs_[i].raw + "\n";
  }
  if (out.empty()) out = "  (no events at all)\n";
  return out;
}

}  // namespace matterfs::mount_support
