// Shared helpers for audit_test: a temporary directory removed at the end, whole-file
// reads and writes, and a typical event.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "audit/event.h"

namespace matterfs::audit::testing {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "audit_test.XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void WriteAll(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

// Lines without their '\n' (a final line without '\n' is kept as is).
inline std::vector<std::string> SplitLines(const std::string& s) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < s.size()) {
    size_t nl = s.find('\n', start);
    if (nl == std::string::npos) {
      lines.push_back(s.substr(start));
      break;
    }
    lines.push_back(s.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

inline std::string JoinLines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

// 2024-05-01T12:34:56.123456Z
inline AuditTime SampleTime() { return AuditTime(std::chrono::microseconds(1714566896123456)); }

inline AuditEvent SampleEvent(const std::string& user = "bob", uint32_t uid = 1001) {
  AuditEvent e;
  e.time = SampleTime();
  e.host = "files1";
  e.event = audit_events::kOpen;
  e.result = AuditResult::kDeny;
  e.severity = AuditSeverity::kWarning;
  e.user = user;
  e.uid = uid;
  e.pid = 4242;
  e.process = "soffice.bin";
  e.matter = "acme-v-smith";
  e.path = "acme-v-smith/pleadings/draft.docx";
  e.access = "read";
  e.rule = "matter acme-v-smith: deny = carol";
  return e;
}

}  // namespace matterfs::audit::testing
