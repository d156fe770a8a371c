// matterctl wipe: destroys a closed matter (fs/vault/wipe.h) and writes its signed
// certificate of destruction, offline on a vault or online through a mount's daemon.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "fs/vault/certificate.h"
#include "fs/vault/wipe.h"
#include "tools/cli.h"
#include "util/file_io.h"
#include "util/log.h"

namespace matterfs::tools {
namespace {

// A progress line on a terminal (stderr), at most five times a second.
class WipeProgressLine {
 public:
  explicit WipeProgressLine(std::string matter)
      : matter_(std::move(matter)),
        on_(::isatty(STDERR_FILENO) == 1),
        start_(std::chrono::steady_clock::now()) {}
  void Update(const vault::WipeProgress& p) {
    if (!on_) return;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::milliseconds(200)) return;
    last_ = now;
    const double secs = std::chrono::duration<double>(now - start_).count();
    std::fprintf(stderr,
                 "\r\033[Kwipe %s: overwriting, %llu/%llu files, %.1f of %.1f MB, %.0f MB/s",
                 matter_.c_str(), static_cast<unsigned long long>(p.files),
                 static_cast<unsigned long long>(p.total), static_cast<double>(p.bytes) / 1e6,
                 static_cast<double>(p.total_bytes) / 1e6,
                 secs > 0 ? static_cast<double>(p.bytes) / 1e6 / secs : 0.0);
    shown_ = true;
  }
  ~WipeProgressLine() {
    if (shown_) std::fprintf(stderr, "\r\033[K");
  }

 private:
  std::string matter_;
  bool on_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_{};
};

// Crash tests (tests/mount/wipe_test.cc, tests/tools/matterctl_test.sh): kill -9
// ourselves at the point MATTERFS_FAULT_INJECT_WIPE_KILL_AT names (wipe.h lists them, and
// "after-certificate": the certificate written, the journal not yet removed).
void MaybeKill(std::string_view point) {
  const char* at = std::getenv("MATTERFS_FAULT_INJECT_WIPE_KILL_AT");
  if (at != nullptr && point == at) ::raise(SIGKILL);
}

// Whether `text` is a certificate of destruction of a matter called `matter` (a rerun
// after a crash that came right after the certificate was written may find it).
bool IsCertificateOf(const std::string& text, const std::string& matter) {
  try {
    const auto j = nlohmann::json::parse(text);
    return j.is_object() && j.value("format", "") == vault::kCertificateFormat &&
           j.value("matter", "") == matter;
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

std::optional<std::string> ReadSmallFile(const std::string& path) {
  auto raw = ReadWholeFile(AT_FDCWD, path, vault::kMaxCertificateSize);
  if (!raw.ok()) return std::nullopt;
  return std::string(raw->begin(), raw->end());
}

// Before anything changes: the certificate file must be new (or, on a rerun, hold this
// matter's certificate), in a directory that exists.
void CheckCertificatePath(const std::string& path, const std::string& matter) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    throw Failure{kExitNotFound,
                  "--certificate " + path + ": its directory does not exist; nothing was changed"};
  }
  if (::lstat(path.c_str(), &st) != 0) return;
  const auto text = ReadSmallFile(path);
  if (!S_ISREG(st.st_mode) || !text || !IsCertificateOf(*text, matter)) {
    throw Failure{kExitExists, "--certificate " + path +
                                   " exists: name a new file (a certificate is never written "
                                   "over another file); nothing was changed"};
  }
}

// Writes the certificate to `path`, mode 0644, never over another file: a temporary
// sibling, fsync, link(2) to the name (which fails if it exists), the temporary removed,
// the directory fsynced. A file that already holds exactly these bytes (a rerun) is fine.
void WriteCertificate(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  ::unlink(tmp.c_str());
  {
    UniqueFd fd(::open(tmp.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644));
    if (!fd.valid()) Check(Status(IoError("create " + tmp)), "--certificate");
    Check(PwriteFull(fd.get(), text.data(), text.size(), 0), "--certificate " + path);
    if (::fchmod(fd.get(), 0644) != 0 || ::fsync(fd.get()) != 0) {
      const int err = errno;
      ::unlink(tmp.c_str());
      Check(Status(IoError("write " + tmp, err)), "--certificate");
    }
  }
  if (::link(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    if (err == EEXIST && ReadSmallFile(path) == text) return;
    if (err == EEXIST) {
      throw Failure{kExitExists,
                    "--certificate " + path +
                        " exists and holds another certificate: the wipe is complete but its "
                        "certificate was not written; run the same command with another "
                        "--certificate FILE to get it"};
    }
    Check(Status(IoError("write " + path, err)), "--certificate");
  }
  ::unlink(tmp.c_str());
  const size_t slash = path.rfind('/');
  UniqueFd dir(::open(slash == std::string::npos ? "." : path.substr(0, slash + 1).c_str(),
                      O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.valid()) (void)FsyncDir(dir.get());
}

// Writes the certificate where the options say and prints the summary: with
// --certificate FILE the summary goes to stdout; without, the certificate goes to stdout
// (so that it can be piped or redirected whole) and the summary to stderr.
void Deliver(const po::variables_map& vm, const std::string& text, const std::string& summary) {
  if (auto path = Opt(vm, "certificate")) {
    WriteCertificate(*path, text);
    MaybeKill("after-certificate");
    std::cout << summary << "\ncertificate of destruction: " << *path << "\n";
  } else {
    std::cout << text << std::flush;
    MaybeKill("after-certificate");
    log::Notice(summary);
  }
}

int WipeOnline(const po::variables_map& vm, const std::string& target, const std::string& matter,
               uint32_t passes) {
  control::Fields req{{"matter", matter},
                      {"confirm", vm["confirm"].as<std::string>()},
                      {"passes", std::to_string(passes)}};
  // On a terminal, the progress line follows the daemon's status meanwhile.
  std::vector<control::Fields> rows;
  {
    WipeProgressLine line(matter);
    rows = CallDaemonWithProgress(
        vm, target, {"wipe", req}, [&](const std::vector<control::Fields>& status) {
          for (const auto& row : status) {
            if (Field(row, "kind") != "wipe" || Field(row, "matter") != matter) continue;
            vault::WipeProgress p;
            p.files = std::stoull(Field(row, "files"));
            p.total = std::stoull(Field(row, "total"));
            p.bytes = std::stoull(Field(row, "bytes"));
            p.total_bytes = std::stoull(Field(row, "total_bytes"));
            line.Update(p);
          }
        });
  }
  if (rows.empty()) throw Failure{kExitError, "the daemon's answer holds no certificate"};
  const auto& row = rows.front();
  if (Field(row, "legacy_keyring") == "1") {
    log::Warning("note: " +
                 vault::LegacyKeyringNote(
                     Field(row, "vault").empty() ? "VAULT" : Field(row, "vault"), matter));
  }
  Deliver(vm, Field(row, "certificate"), Field(row, "summary"));
  // Stored: the daemon may now remove the journal (until then a rerun issues the same
  // certificate again).
  CallDaemon(vm, target, {"wipe-finish", {{"matter", matter}}});
  return kExitOk;
}

int WipeOffline(const po::variables_map& vm, const std::string& matter, uint32_t passes) {
  auto v = OpenUnlocked(vm);
  auto lock = Check(v->LockOffline());
  vault::WipeResult r;
  {
    WipeProgressLine line(matter);
    vault::WipeOptions opts;
    opts.confirm = vm["confirm"].as<std::string>();
    opts.passes = passes;
    opts.progress = [&](const vault::WipeProgress& p) { line.Update(p); };
    opts.reached = MaybeKill;
    r = Check(vault::WipeMatter(*v, matter, OfflineContext(vm), opts));
  }
  if (r.legacy_keyring) log::Warning("note: " + vault::LegacyKeyringNote(v->path(), matter));
  Deliver(vm, r.certificate_text, vault::WipeSummary(r));
  Check(vault::FinishWipe(*v, r.journal.matter_id));
  return kExitOk;
}

}  // namespace

void AddWipeCommands(Commands& cmds) {
  cmds.push_back(
      {"wipe", "VAULT|MOUNTPOINT MATTER --confirm MATTER",
       "destroy a closed matter for good: its keys destroyed (crypto-shredding), its "
       "ciphertext overwritten and removed; writes a signed certificate of destruction "
       "(offline on a vault, or online through a mount's daemon); a rerun completes an "
       "interrupted wipe",
       [](auto& d, auto& p) {
         d.add_options()("vault", po::value<std::string>()->required(),
                         "vault directory, or the mount point of a running daemon")(
             "matter", po::value<std::string>()->required(), "matter name")(
             "confirm", po::value<std::string>()->required(),
             "the matter's name again: nothing happens unless it matches")(
             "certificate", po::value<std::string>(),
             "write the certificate of destruction to this new file (mode 0644; never over "
             "another file); default: standard output")(
             "passes", po::value<uint32_t>()->default_value(1),
             "overwrite passes over the ciphertext, 0 to 16 (0: destroy the keys only)");
         AddVaultOptions(d, true);
         AddControlOptions(d);
         p.add("vault", 1).add("matter", 1);
       },
       [](const po::variables_map& vm) {
         const std::string target = vm["vault"].as<std::string>();
         const std::string matter = vm["matter"].as<std::string>();
         const uint32_t passes = vm["passes"].as<uint32_t>();
         if (vm["confirm"].as<std::string>() != matter) {
           throw Failure{kExitUsage, "wipe: --confirm '" + vm["confirm"].as<std::string>() +
                                         "' does not repeat the matter's name '" + matter +
                                         "'; nothing was changed"};
         }
         if (passes > vault::kMaxWipePasses) {
           throw Failure{kExitUsage,
                         "wipe: --passes must be 0 to " + std::to_string(vault::kMaxWipePasses)};
         }
         if (auto path = Opt(vm, "certificate")) CheckCertificatePath(*path, matter);
         if (!IsVault(target)) return WipeOnline(vm, target, matter, passes);
         return WipeOffline(vm, matter, passes);
       }});
}

}  // namespace matterfs::tools
