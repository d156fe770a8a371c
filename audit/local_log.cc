#include "audit/local_log.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <nlohmann/json.hpp>
#include <set>

#include "crypto/kdf.h"
#include "util/file_io.h"
#include "util/json.h"

namespace matterfs::audit {

namespace {

constexpr size_t kHashSize = 32;
constexpr char kCheckpointContext[] = "matterfs audit checkpoint v1";
// The writer reads at most this much of an existing log to find its last line; our own
// lines are far shorter (a path is at most 4 KiB, escaped at most 6 bytes per byte).
constexpr size_t kMaxTailLine = 1 << 20;
// The verifier gives up on a line longer than this (a hostile file must not exhaust memory).
constexpr size_t kMaxVerifyLine = 16 << 20;
constexpr size_t kMaxProblems = 100;

Bytes LineHash(std::string_view line) { return crypto::Blake2b(kHashSize, AsBytes(line)); }

// One line of the log as a JSON object, read by nlohmann-json. Only a flat object is
// accepted: members that are objects or arrays, and duplicate keys, are refused (a
// duplicate "seq" must not mean two things), as is anything nlohmann refuses (trailing
// bytes, invalid UTF-8, lone surrogates).
std::optional<nlohmann::json> ParseLine(std::string_view line) {
  using Event = nlohmann::json::parse_event_t;
  bool flat = true;
  std::set<std::string, std::less<>> keys;
  // depth 0 is the line's object; its keys and members are at depth 1.
  auto check = [&](int depth, Event event, nlohmann::json& parsed) {
    if ((event == Event::object_start || event == Event::array_start) && depth > 0) {
      flat = false;
      return false;  // do not keep it
    }
    if (event == Event::key && depth == 1 &&
        !keys.insert(parsed.get_ref<const std::string&>()).second) {
      flat = false;
    }
    return true;
  };
  nlohmann::json obj = nlohmann::json::parse(line.begin(), line.end(), check,
                                             /*allow_exceptions=*/false);
  if (!flat || obj.is_discarded() || !obj.is_object()) return std::nullopt;
  return obj;
}

std::optional<uint64_t> GetU64Field(const nlohmann::json& obj, std::string_view key) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_number_unsigned()) return std::nullopt;
  return it->get<uint64_t>();
}

const std::string* GetString(const nlohmann::json& obj, std::string_view key) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return nullptr;
  return &it->get_ref<const std::string&>();
}

// Lowercase hex of exactly `bytes` bytes.
std::optional<Bytes> GetHexField(const nlohmann::json& obj, std::string_view key, size_t bytes) {
  const std::string* s = GetString(obj, key);
  if (s == nullptr || s->size() != bytes * 2) return std::nullopt;
  for (char c : *s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return std::nullopt;
  }
  return FromHex(*s);
}

std::string Abbrev(const std::string& hex) {
  return hex.size() > 16 ? hex.substr(0, 16) + "..." : hex;
}

}  // namespace

Bytes CheckpointMessage(uint64_t seq, ByteSpan hash) {
  // Sized up front and filled by position: GCC 12 misreads vector::insert here
  // (a false -Warray-bounds).
  constexpr size_t kContext = sizeof kCheckpointContext;  // with its NUL
  Bytes msg(kContext + 8 + hash.size());
  std::copy(kCheckpointContext, kCheckpointContext + kContext, msg.begin());
  PutU64(msg.data() + kContext, seq);
  std::copy(hash.begin(), hash.end(), msg.begin() + kContext + 8);
  return msg;
}

// ---- Writer ----

Result<std::unique_ptr<AuditLog>> AuditLog::Open(const std::string& path,
                                                 const crypto::SigningKey& key,
                                                 AuditLogOptions options) {
  if (path.empty()) return Error(Code::kInvalidArgument, "audit log path is empty");
  options.checkpoint_every = std::max<uint64_t>(options.checkpoint_every, 1);
  bool created = false;
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_APPEND | O_CLOEXEC));
  if (!fd.valid() && errno == ENOENT) {
    fd.reset(::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    created = fd.valid();
    if (!fd.valid() && errno == EEXIST) {  // someone else created it meanwhile
      fd.reset(::open(path.c_str(), O_RDWR | O_APPEND | O_CLOEXEC));
    }
  }
  if (!fd.valid()) return IoError("open audit log " + path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return IoError("stat audit log " + path);
  if (!S_ISREG(st.st_mode)) {
    return Error(Code::kInvalidArgument, "audit log " + path + " is not a regular file");
  }
  int rc = 0;
  do {
    rc = ::flock(fd.get(), LOCK_EX | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    if (errno == EWOULDBLOCK) {
      return Error(Code::kBusy, "audit log " + path + " is in use by another process");
    }
    return IoError("lock audit log " + path);
  }
  if (created) {
    // The new file must survive a crash, or the chain would restart silently.
    const size_t slash = path.rfind('/');
    const std::string dir = slash == std::string::npos ? "."
                            : slash == 0               ? "/"
                                                       : path.substr(0, slash);
    UniqueFd dirfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dirfd.valid()) return IoError("open directory " + dir);
    MFS_TRY(FsyncDir(dirfd.get()));
  }
  std::unique_ptr<AuditLog> log(new AuditLog(path, std::move(fd), key, options));
  log->size_ = st.st_size;
  MFS_TRY(log->LoadTail());
  return log;
}

AuditLog::~AuditLog() {
  if (fd_.valid()) (void)CloseFile();
}

Status AuditLog::LoadTail() {
  if (size_ == 0) return {};
  const size_t window = static_cast<size_t>(std::min<off_t>(size_, 2 * kMaxTailLine));
  const off_t start = size_ - static_cast<off_t>(window);
  std::string buf(window, '\0');
  MFS_ASSIGN(size_t got, PreadFull(fd_.get(), buf.data(), window, start));
  if (got != window) return Error(Code::kIo, "audit log " + path_ + " shrank while reading");
  const auto foreign = [&] {
    return Error(Code::kCorruption,
                 "audit log " + path_ +
                     ": the last line is not a matterfs audit record, so the chain cannot be "
                     "continued (check it with `matterctl audit verify`, then move it aside)");
  };
  const auto too_long = [&] {
    return Error(Code::kCorruption, "audit log " + path_ + ": last line is too long");
  };

  // Split into complete lines and a partial tail (bytes after the last '\n').
  const size_t last_nl = buf.rfind('\n');
  if (last_nl == std::string::npos && start > 0) return too_long();
  const size_t complete = last_nl == std::string::npos ? 0 : last_nl + 1;
  const std::string_view partial(buf.data() + complete, buf.size() - complete);
  // A partial tail is what a crash in the middle of our write leaves: it starts like one
  // of our lines. Anything else means this is not our file; touch nothing.
  if (!partial.empty() && partial.substr(0, 2) != "{\"") return foreign();

  if (complete > 0) {
    // The last complete line starts after the '\n' before it.
    const size_t prev_nl = complete >= 2 ? buf.rfind('\n', complete - 2) : std::string::npos;
    if (prev_nl == std::string::npos && start > 0) return too_long();
    const size_t line_start = prev_nl == std::string::npos ? 0 : prev_nl + 1;
    const std::string_view line(buf.data() + line_start, complete - 1 - line_start);
    auto obj = ParseLine(line);
    std::optional<uint64_t> seq;
    if (obj) seq = GetU64Field(*obj, "seq");
    if (!seq) return foreign();
    seq_ = *seq;
    head_ = LineHash(line);
    if (obj->contains("checkpoint")) {
      unsigned_ = 0;
    } else {
      unsigned_ = 1;  // at least the last record is unsigned; the next checkpoint covers it
      first_unsigned_ = std::chrono::steady_clock::now();
    }
  }
  if (!partial.empty()) {
    // The record never completed, so no chain includes it: cut it off.
    const off_t new_size = start + static_cast<off_t>(complete);
    if (::ftruncate(fd_.get(), new_size) != 0) return IoError("truncate audit log " + path_);
    discarded_tail_bytes_ = partial.size();
    size_ = new_size;
  }
  return {};
}

Status AuditLog::AppendLine(const std::string& line) {
  if (!fd_.valid()) return Error(Code::kInvalidArgument, "audit log " + path_ + " is closed");
  size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(fd_.get(), line.data() + done, line.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      // Leave no half line behind: the next line would be glued to it.
      if (done > 0) (void)::ftruncate(fd_.get(), size_);
      return IoError("write audit log " + path_, err);
    }
    done += static_cast<size_t>(n);
  }
  size_ += static_cast<off_t>(line.size());
  return {};
}

Status AuditLog::Append(const AuditEvent& event) {
  nlohmann::ordered_json record = nlohmann::ordered_json::object();
  record["seq"] = seq_ + 1;
  record["prev"] = ToHex(head_);
  record.update(EventJson(event));
  const std::string line = DumpJson(record) + "\n";
  MFS_TRY(AppendLine(line));
  ++seq_;
  if (unsigned_++ == 0) first_unsigned_ = std::chrono::steady_clock::now();
  head_ = LineHash(std::string_view(line).substr(0, line.size() - 1));
  if (unsigned_ >= options_.checkpoint_every) {
    // The record is stored, so this Append succeeded even if signing it failed: a retry
    // would store it twice. The checkpoint is tried again on the next Append or Tick.
    (void)Checkpoint();
  }
  return {};
}

Status AuditLog::Checkpoint() {
  if (unsigned_ == 0) return {};
  const Bytes sig = key_.Sign(CheckpointMessage(seq_, head_));
  const std::string now =
      FormatAuditTime(std::chrono::floor<std::chrono::microseconds>(AuditClock::now()));
  nlohmann::ordered_json checkpoint = nlohmann::ordered_json::object();
  checkpoint["checkpoint"] = now;
  checkpoint["seq"] = seq_;
  checkpoint["hash"] = ToHex(head_);
  checkpoint["sig"] = ToHex(sig);
  checkpoint["key"] = ToHex(key_.public_key());
  const std::string line = DumpJson(checkpoint) + "\n";
  MFS_TRY(AppendLine(line));
  head_ = LineHash(std::string_view(line).substr(0, line.size() - 1));
  unsigned_ = 0;
  if (::fsync(fd_.get()) != 0) return IoError("fsync audit log " + path_);
  return {};
}

Status AuditLog::Tick() {
  if (unsigned_ == 0) return {};
  if (unsigned_ >= options_.checkpoint_every ||
      std::chrono::steady_clock::now() - first_unsigned_ >= options_.checkpoint_after) {
    return Checkpoint();
  }
  return {};
}

Status AuditLog::Close() { return CloseFile(); }

Status AuditLog::CloseFile() {
  if (!fd_.valid()) return {};
  Status st = Checkpoint();
  if (st.ok() && ::fsync(fd_.get()) != 0) st = IoError("fsync audit log " + path_);
  fd_.reset();
  return st;
}

// ---- Verifier ----

namespace {

// Reads a file line by line without loading it whole.
class LineReader {
 public:
  explicit LineReader(int fd) : fd_(fd) {}
  // Next line without its '\n'. `complete` is false for a final line without '\n'.
  // nullopt at the end; an error for a read failure or a line over kMaxVerifyLine.
  Result<std::optional<std::string>> Next(bool& complete) {
    for (;;) {
      const size_t nl = buf_.find('\n', pos_);
      if (nl != std::string::npos) {
        std::string line = buf_.substr(pos_, nl - pos_);
        pos_ = nl + 1;
        complete = true;
        return std::optional<std::string>(std::move(line));
      }
      if (eof_) {
        if (pos_ >= buf_.size()) return std::optional<std::string>();
        std::string line = buf_.substr(pos_);
        pos_ = buf_.size();
        complete = false;
        return std::optional<std::string>(std::move(line));
      }
      if (buf_.size() - pos_ > kMaxVerifyLine) {
        return Error(Code::kCorruption, "a line is longer than 16 MiB");
      }
      buf_.erase(0, pos_);
      pos_ = 0;
      char chunk[65536];
      ssize_t n = 0;
      do {
        n = ::read(fd_, chunk, sizeof chunk);
      } while (n < 0 && errno == EINTR);
      if (n < 0) return IoError("read audit log");
      if (n == 0) {
        eof_ = true;
      } else {
        buf_.append(chunk, static_cast<size_t>(n));
      }
    }
  }

 private:
  int fd_;
  std::string buf_;
  size_t pos_ = 0;
  bool eof_ = false;
};

}  // namespace

Result<VerifyReport> VerifyLog(const std::string& path, std::optional<ByteSpan> expected_key,
                               const RecordVisitor& visit) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return Error(Code::kNotFound, "audit log " + path + " does not exist");
    return IoError("open audit log " + path);
  }
  VerifyReport r;
  const std::string expected_hex = expected_key ? ToHex(*expected_key) : "";
  auto problem = [&](uint64_t line_no, const std::string& what) {
    r.intact = false;
    if (r.problems.size() < kMaxProblems) {
      r.problems.push_back("line " + std::to_string(line_no) + ": " + what);
    } else if (r.problems.size() == kMaxProblems) {
      r.problems.emplace_back("more problems not listed");
    }
  };

  Bytes head(kHashSize, 0);
  bool key_mismatch = false;
  LineReader reader(fd.get());
  for (;;) {
    bool complete = true;
    auto next = reader.Next(complete);
    if (!next.ok()) {
      if (next.error().code() == Code::kCorruption) {
        problem(r.lines + 1, next.error().message());
        break;
      }
      return next.error();
    }
    if (!next->has_value()) break;
    const std::string& line = **next;
    const uint64_t n = ++r.lines;
    if (!complete) {
      --r.lines;
      r.warnings.push_back("line " + std::to_string(n) + ": incomplete final line of " +
                           std::to_string(line.size()) +
                           " bytes ignored (a crash during a write, or a cut-off file)");
      break;
    }
    const std::string head_hex = ToHex(head);
    head = LineHash(line);

    auto obj = ParseLine(line);
    if (!obj) {
      problem(n, "not a JSON object (edited or inserted)");
      continue;
    }
    if (obj->contains("checkpoint")) {
      ++r.checkpoints;
      const auto seq = GetU64Field(*obj, "seq");
      const auto hash = GetHexField(*obj, "hash", kHashSize);
      const auto sig = GetHexField(*obj, "sig", crypto::kSignatureSize);
      const auto key = GetHexField(*obj, "key", crypto::kSignPublicKeySize);
      if (!seq || !hash || !sig || !key) {
        problem(n, "malformed checkpoint");
        continue;
      }
      bool ok = true;
      if (ToHex(*hash) != head_hex) {
        problem(n,
                "checkpoint hash does not match the line before it (a line before it was "
                "edited, removed, inserted or reordered)");
        ok = false;
      }
      if (*seq != r.last_seq) {
        problem(n, "checkpoint names seq " + std::to_string(*seq) + " but the last record is seq " +
                       std::to_string(r.last_seq));
        ok = false;
      }
      if (!crypto::VerifySignature(*key, CheckpointMessage(*seq, *hash), *sig)) {
        problem(n, "checkpoint signature is invalid");
        ok = false;
      }
      const std::string key_hex = ToHex(*key);
      if (expected_key) {
        if (key_hex != expected_hex) {
          problem(n, "checkpoint is signed by key " + Abbrev(key_hex) + ", not the expected key " +
                         Abbrev(expected_hex) + " (the log was re-signed)");
          ok = false;
          key_mismatch = true;
        }
      } else if (!r.key_hex.empty() && key_hex != r.key_hex) {
        problem(n, "checkpoint is signed by key " + Abbrev(key_hex) +
                       ", not the key of the earlier checkpoints " + Abbrev(r.key_hex));
        ok = false;
      }
      if (r.key_hex.empty()) r.key_hex = key_hex;
      if (ok) {
        r.signed_seq = *seq;
        r.unsigned_records = 0;
      }
      continue;
    }

    ++r.records;
    ++r.unsigned_records;
    const auto seq = GetU64Field(*obj, "seq");
    const auto prev = GetHexField(*obj, "prev", kHashSize);
    if (!seq || !prev || GetString(*obj, "event") == nullptr) {
      problem(n, "malformed record (no seq, prev or event)");
      continue;
    }
    if (ToHex(*prev) != head_hex) {
      problem(n, "seq " + std::to_string(*seq) +
                     ": prev does not match the line before it (that line was edited, or lines "
                     "were removed, inserted or reordered)");
    }
    if (*seq != r.last_seq + 1) {
      if (*seq > r.last_seq + 1) {
        problem(n, "seq jumps from " + std::to_string(r.last_seq) + " to " + std::to_string(*seq) +
                       ": " + std::to_string(*seq - r.last_seq - 1) + " record(s) removed");
      } else {
        problem(n, "seq " + std::to_string(*seq) + " after seq " + std::to_string(r.last_seq) +
                       ": a record inserted or reordered");
      }
    }
    r.last_seq = *seq;
    if (const std::string* time = GetString(*obj, "time")) {
      if (r.first_time.empty()) r.first_time = *time;
      r.last_time = *time;
    }
    if (visit) visit(n, *obj);
  }

  if (r.records > 0 && r.checkpoints == 0) {
    r.warnings.push_back("no checkpoint: all " + std::to_string(r.records) +
                         " records are unsigned");
  } else if (r.unsigned_records > 0) {
    r.warnings.push_back(std::to_string(r.unsigned_records) +
                         " record(s) after the last valid checkpoint (seq " +
                         std::to_string(r.signed_seq) +
                         ") are unsigned: a cut-off or edited tail there cannot be detected");
  }
  if (expected_key) {
    r.key_pinned = r.checkpoints > 0 && !key_mismatch;
  } else if (r.checkpoints > 0) {
    r.warnings.push_back("signatures checked against the key named in the log itself (" +
                         Abbrev(r.key_hex) +
                         "); give the vault's public key to rule out a re-signed log");
  }
  return r;
}

}  // namespace matterfs::audit
