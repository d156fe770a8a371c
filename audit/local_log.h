// The local audit log: JSON lines, hash-chained, with signed checkpoints
// (docs/AUDIT.md "The local log").
//
// Every line is one JSON object ending in '\n'. Let H(line) be BLAKE2b-256 of the line's
// bytes without the '\n', and head(0) = 32 zero bytes.
//
//   record      {"seq":S,"prev":"<hex H(previous line) or 64 zeros>","time":...,"event":...}
//   checkpoint  {"checkpoint":"<time>","seq":S,"hash":"<hex H(previous line)>",
//                "sig":"<hex Ed25519 signature>","key":"<hex Ed25519 public key>"}
//
// Records are numbered 1, 2, 3, ... ("seq"); a checkpoint carries the seq of the record
// before it and does not take a number. Checkpoints are links of the chain like records:
// the line after a checkpoint names the checkpoint's hash as its "prev". The signature
// is over
//
//   "matterfs audit checkpoint v1" 0x00 | seq (u64 little-endian) | hash (32 bytes)
//
// so a valid checkpoint vouches for every line before it. A checkpoint is written every
// `checkpoint_every` records, on a Tick() once records have waited `checkpoint_after`
// unsigned, and at Close(); each one is followed by fsync.
//
// Ownership: AuditLog owns its fd (opened O_APPEND, mode 0600, with an exclusive flock so
// two writers cannot interleave chains) and borrows the signing key, which must outlive
// it. Thread-safety: none; one thread (AuditSink's writer) uses it.
// Errors: kIo (errno kept) for the file system; kBusy when another process holds the
// log; kCorruption when the existing log's last line cannot be continued.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "audit/event.h"
#include "audit/sink.h"
#include "crypto/signing.h"
#include "util/bytes.h"
#include "util/result.h"
#include "util/unique_fd.h"

namespace matterfs::audit {

struct AuditLogOptions {
  uint64_t checkpoint_every = 1000;           // records between checkpoints (>= 1)
  std::chrono::seconds checkpoint_after{60};  // longest a record waits unsigned (on Tick)
};

class AuditLog : public AuditOutput {
 public:
  // Opens or creates the log at `path`. An existing log is continued: the chain goes on
  // from its last line. A final line without '\n' (a crash in the middle of a write) is
  // cut off first; discarded_tail_bytes() says how many bytes that removed.
  static Result<std::unique_ptr<AuditLog>> Open(const std::string& path,
                                                const crypto::SigningKey& key,
                                                AuditLogOptions options = {});
  ~AuditLog() override;

  // Appends one record (and a checkpoint when one is due). On error nothing of the
  // record stays in the file (a partial write is cut off again).
  Status Append(const AuditEvent& event);
  // Signs the chain as it stands; a no-op if no record came since the last checkpoint.
  Status Checkpoint();

  // AuditOutput.
  Status Write(const AuditEvent& event) override { return Append(event); }
  Status Tick() override;   // checkpoint when records have waited checkpoint_after
  Status Close() override;  // final checkpoint, fsync; the object is unusable after
  std::string Name() const override { return "audit log " + path_; }

  uint64_t last_seq() const { return seq_; }
  uint64_t unsigned_records() const { return unsigned_; }
  size_t discarded_tail_bytes() const { return discarded_tail_bytes_; }

 private:
  AuditLog(std::string path, UniqueFd fd, const crypto::SigningKey& key, AuditLogOptions o)
      : path_(std::move(path)), fd_(std::move(fd)), key_(key), options_(o) {}
  Status LoadTail();
  Status CloseFile();  // Close() without virtual dispatch, for the destructor
  Status AppendLine(const std::string& line);

  std::string path_;
  UniqueFd fd_;
  const crypto::SigningKey& key_;
  AuditLogOptions options_;
  Bytes head_ = Bytes(32, 0);  // H(last line), or zeros for an empty log
  uint64_t seq_ = 0;           // seq of the last record
  uint64_t unsigned_ = 0;      // records after the last checkpoint (at least 1 if any)
  off_t size_ = 0;             // bytes in the file that belong to complete lines
  size_t discarded_tail_bytes_ = 0;
  std::chrono::steady_clock::time_point first_unsigned_{};
};

// The message a checkpoint signs (see above).
Bytes CheckpointMessage(uint64_t seq, ByteSpan hash);

struct VerifyReport {
  bool intact = true;  // no tampering found (warnings do not count)
  uint64_t lines = 0;
  uint64_t records = 0;
  uint64_t checkpoints = 0;
  uint64_t last_seq = 0;
  uint64_t signed_seq = 0;            // last seq covered by a valid checkpoint
  uint64_t unsigned_records = 0;      // records after the last valid checkpoint
  std::string first_time;             // "time" of the first record ("" if none)
  std::string last_time;              // "time" of the last record
  std::string key_hex;                // the key the checkpoints were signed with
  bool key_pinned = false;            // an expected key was given and every checkpoint used it
  std::vector<std::string> problems;  // tampering: "line N: ...", at most 100
  std::vector<std::string> warnings;
};

// Reads the log at `path` and checks the chain, the numbering and every checkpoint.
// With `expected_key`, every checkpoint must be signed by it (otherwise a forger could
// rebuild the whole log and sign it with a key of their own). Tampering is reported in
// the VerifyReport; the Result is an error only when the log cannot be read:
// kNotFound if it does not exist, kIo otherwise.
//
// `visit`, if given, is called with each well-formed record (not the checkpoints), in
// order, with its line number, as the verifier reads it: a reader that needs the events
// (the access report, audit/access_report.h) sees exactly the bytes that were verified,
// with no second read the file could change under. It must wait for the report's
// verdict before trusting them.
using RecordVisitor = std::function<void(uint64_t line, const nlohmann::json& record)>;
Result<VerifyReport> VerifyLog(const std::string& path,
                               std::optional<ByteSpan> expected_key = std::nullopt,
                               const RecordVisitor& visit = {});

}  // namespace matterfs::audit
