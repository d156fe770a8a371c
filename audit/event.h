// Audit events and their two wire formats (docs/AUDIT.md).
//
// An AuditEvent is a plain value: one decision or one admin action, with the fields
// DESIGN.md "Audit events" lists. The caller (the daemon, matterctl) fills it in, with
// the time, host and process details it looked up itself: nothing here reads a clock,
// a user database or /proc. FormatRfc5424() and FormatJson() turn it into one syslog
// message or one JSON object; both are pure functions that never fail and never emit a
// byte that could split a record (control characters and invalid UTF-8 are escaped or
// replaced, see below).
//
// Paths are sensitive (a file name can name a client). PathRedactor applies the
// configured PathMode once, when the event is built, so in kHash and kOmit modes the
// plain path never enters the queue, the syslog datagram or the local log.
//
// Thread-safety: AuditEvent is a value type. PathRedactor's const methods may be called
// from any number of threads at once. The free functions are stateless.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "crypto/secure_memory.h"
#include "util/bytes.h"
#include "util/result.h"

namespace matterfs::audit {

// Event names (the RFC 5424 MSGID and the JSON "event"). The set is open: the daemon may
// add more (the format only requires printable ASCII, at most 32 characters).
namespace audit_events {
inline constexpr char kOpen[] = "open";
inline constexpr char kCreate[] = "create";
inline constexpr char kMkdir[] = "mkdir";
inline constexpr char kUnlink[] = "unlink";
inline constexpr char kRmdir[] = "rmdir";
inline constexpr char kRename[] = "rename";
inline constexpr char kLink[] = "link";
inline constexpr char kSymlink[] = "symlink";
inline constexpr char kSetattr[] = "setattr";
inline constexpr char kSetxattr[] = "setxattr";
inline constexpr char kRemovexattr[] = "removexattr";
inline constexpr char kLookup[] = "lookup";
inline constexpr char kReaddir[] = "readdir";
inline constexpr char kMount[] = "mount";
inline constexpr char kUnmount[] = "unmount";
inline constexpr char kPolicyReload[] = "policy-reload";
inline constexpr char kMatterCreate[] = "matter-create";
inline constexpr char kMatterClose[] = "matter-close";
inline constexpr char kMatterReopen[] = "matter-reopen";
inline constexpr char kMatterHold[] = "matter-hold";
inline constexpr char kMatterRelease[] = "matter-release";
inline constexpr char kMatterRotate[] = "matter-rotate";
inline constexpr char kMatterWipe[] = "matter-wipe";
inline constexpr char kMasterRotate[] = "master-rotate";
inline constexpr char kKeyslotAdd[] = "keyslot-add";
inline constexpr char kKeyslotRemove[] = "keyslot-remove";
inline constexpr char kEscrowAdd[] = "escrow-add";
inline constexpr char kEscrowRecover[] = "escrow-recover";
inline constexpr char kConfigRestore[] = "config-restore";
inline constexpr char kConfigUpgrade[] = "config-upgrade";
inline constexpr char kBreakGlass[] = "break-glass";
inline constexpr char kTamper[] = "tamper";
inline constexpr char kInternalError[] = "internal-error";
inline constexpr char kBulkAccess[] = "bulk-access";
inline constexpr char kAuditDropped[] = "audit-dropped";
}  // namespace audit_events

enum class AuditResult {
  kAllow,  // a policy decision that granted access
  kDeny,   // a policy decision that refused access
  kOk,     // an admin action or notice that succeeded
  kError,  // an admin action that failed, a tamper finding, lost events
};
const char* AuditResultName(AuditResult r);  // "allow", "deny", "ok", "error"

// A subset of the syslog severities (RFC 5424 section 6.2.1); the numbers are the codes.
enum class AuditSeverity : int {
  kAlert = 1,    // break-glass, bulk access, tamper, lost audit events
  kWarning = 4,  // denials
  kNotice = 5,   // admin actions (mount, reload, matter status)
  kInfo = 6,     // allowed accesses
};
const char* AuditSeverityName(AuditSeverity s);  // "alert", "warning", "notice", "info"

// Syslog facilities an operator may choose; the numbers are the RFC 5424 codes.
enum class SyslogFacility : int {
  kAuth = 4,
  kDaemon = 3,
  kAuthpriv = 10,  // the default: readable by root only on a stock Debian rsyslog
  kLocal0 = 16,
  kLocal1 = 17,
  kLocal2 = 18,
  kLocal3 = 19,
  kLocal4 = 20,
  kLocal5 = 21,
  kLocal6 = 22,
  kLocal7 = 23,
};
// "authpriv", "auth", "daemon", "local0".."local7" (case-insensitive);
// kInvalidArgument naming the accepted values otherwise.
Result<SyslogFacility> ParseFacility(std::string_view name);
const char* FacilityName(SyslogFacility f);
// RFC 5424 PRI: facility * 8 + severity.
int SyslogPri(SyslogFacility f, AuditSeverity s);

enum class PathMode {
  kPlain,  // the path as given
  kHash,   // keyed BLAKE2b of the path, so equal paths correlate without being revealed
  kOmit,   // no path at all
};
// "plain", "hash", "omit"; kInvalidArgument otherwise.
Result<PathMode> ParsePathMode(std::string_view name);
const char* PathModeName(PathMode m);

using AuditClock = std::chrono::system_clock;
using AuditTime = std::chrono::time_point<AuditClock, std::chrono::microseconds>;

struct AuditEvent {
  AuditTime time{};   // UTC, microseconds; AuditSink fills it in when left at the epoch
  std::string host;   // AuditSink fills it in when empty
  std::string event;  // one of audit_events (or a newer name)
  AuditResult result = AuditResult::kOk;
  AuditSeverity severity = AuditSeverity::kInfo;
  std::string user;             // the requesting user's name ("" if unknown)
  std::optional<uint32_t> uid;  // the requesting uid
  std::optional<int32_t> pid;   // the requesting process (not the daemon)
  std::string process;          // its name (/proc/PID/comm)
  std::string matter;
  std::string path;               // set by PathRedactor in kPlain mode, else empty
  std::string path_hash;          // set by PathRedactor in kHash mode, else empty
  std::string access;             // "read", "write", "read-write", "delete", "admin", ...
  std::string rule;               // the text of the rule that decided
  std::optional<uint64_t> count;  // audit-dropped: events lost; bulk-access: files opened
  std::string message;            // free text: a reason, an error, a break-glass reason
};

// Applies a PathMode. Owns a copy of the hash key in secure memory. Move-only.
class PathRedactor {
 public:
  static constexpr size_t kKeySize = 32;
  static constexpr size_t kHashSize = 16;  // bytes kept of the BLAKE2b-256 output

  // kPlain or kOmit (no key needed). kHash without a key is kInvalidArgument.
  static Result<PathRedactor> Make(PathMode mode, ByteSpan hash_key = {});

  PathMode mode() const { return mode_; }
  // Fills event.path or event.path_hash (or neither) from `path`, clearing the other.
  // Writes into the event's strings in place: no allocation when they have the room.
  void Apply(std::string_view path, AuditEvent& event) const;
  // hex(first 16 bytes of BLAKE2b-256(message = path, key = hash key)); "" unless kHash.
  std::string Hash(std::string_view path) const;

 private:
  PathRedactor(PathMode mode, crypto::SecureBuffer key) : mode_(mode), key_(std::move(key)) {}
  // Appends the hex hash of `path` (kHash mode only).
  void AppendHash(std::string_view path, std::string& out) const;
  PathMode mode_;
  crypto::SecureBuffer key_;
};

// 2024-05-01T12:34:56.123456Z
std::string FormatAuditTime(AuditTime t);
// Parses what FormatAuditTime writes; nullopt otherwise.
std::optional<AuditTime> ParseAuditTime(std::string_view s);

// The RFC 5424 header fields that belong to the sender rather than the event.
struct SyslogHeader {
  SyslogFacility facility = SyslogFacility::kAuthpriv;
  std::string app_name = "matterfs";
  int64_t procid = 0;  // the daemon's pid; 0 writes the NILVALUE "-"
};

// The private enterprise number in the SD-ID. 32473 is the IANA number reserved for
// documentation (RFC 5612); the SD-ID is "matterfs@32473".
inline constexpr char kSdId[] = "matterfs@32473";

// One RFC 5424 message, without a trailing newline:
//   <PRI>1 TIMESTAMP HOST APP PROCID EVENT [matterfs@32473 result="deny" user="bob" ...] MSG
// Header fields are cut to RFC 5424 lengths, and characters outside printable ASCII
// become '_' ("-" when empty). SD-PARAM values escape '"', '\' and ']' with a backslash
// as RFC 5424 requires, and write control characters and bytes that are not valid UTF-8
// as the four characters \xNN (unambiguous, because a real backslash is always "\\").
// Empty fields are left out of the structured data. MSG is a short human summary.
std::string FormatRfc5424(const AuditEvent& e, const SyslogHeader& header);

// The event as a JSON object (nlohmann::ordered_json). Members, in this order, empty
// ones left out: time, host, event, result, severity, user, uid, pid, process, matter,
// path, path_hash, access, rule, count, message. The local log puts "seq" and "prev" in
// front of these.
nlohmann::ordered_json EventJson(const AuditEvent& e);
// EventJson as one line of JSON without a trailing newline, written by DumpJson
// (util/json.h): printable ASCII only, control and non-ASCII characters as \uXXXX escapes,
// each invalid UTF-8 sequence as \ufffd. Never throws for any field's content.
std::string FormatJson(const AuditEvent& e);

// Helpers, exposed for tests.
std::string EscapeSdParam(std::string_view value);
// The human summary used as the RFC 5424 MSG.
std::string AuditSummary(const AuditEvent& e);

}  // namespace matterfs::audit
