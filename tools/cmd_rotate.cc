// matterctl rotate: a matter's keys (fs/vault/rotation.h), offline on a vault or online
// through a mount's daemon.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <mutex>
#include <thread>

#include "fs/vault/rotation.h"
#include "tools/cli.h"

namespace matterfs::tools {
namespace {

// A progress line on a terminal (stderr), at most five times a second: files done of the
// total, the rate, and the time left (by files for a rewrap, by bytes for a re-encryption,
// whose cost is the data).
class ProgressLine {
 public:
  ProgressLine(std::string matter, bool reencrypt)
      : matter_(std::move(matter)),
        reencrypt_(reencrypt),
        on_(::isatty(STDERR_FILENO) == 1),
        start_(std::chrono::steady_clock::now()) {}
  void Update(const vault::RotateProgress& p) {
    if (!on_) return;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::milliseconds(200)) return;
    last_ = now;
    const double secs = std::chrono::duration<double>(now - start_).count();
    const double done = reencrypt_ ? static_cast<double>(p.bytes) : static_cast<double>(p.files);
    const double total =
        reencrypt_ ? static_cast<double>(p.total_bytes) : static_cast<double>(p.total);
    std::string left = "?";
    if (done > 0 && total >= done && secs > 0.5) {
      const auto remaining = static_cast<long long>((total - done) * secs / done + 0.5);
      left = remaining >= 3600 ? std::to_string(remaining / 3600) + " h " +
                                     std::to_string(remaining % 3600 / 60) + " min"
             : remaining >= 60
                 ? std::to_string(remaining / 60) + " min " + std::to_string(remaining % 60) + " s"
                 : std::to_string(remaining) + " s";
    }
    std::fprintf(stderr, "\r\033[K%s %s: %llu/%llu files, %.0f files/s",
                 reencrypt_ ? "re-encrypt" : "rotate", matter_.c_str(),
                 static_cast<unsigned long long>(p.files), static_cast<unsigned long long>(p.total),
                 secs > 0 ? static_cast<double>(p.files) / secs : 0.0);
    if (reencrypt_) {
      std::fprintf(stderr, ", %.0f MB/s",
                   secs > 0 ? static_cast<double>(p.bytes) / 1e6 / secs : 0.0);
    }
    std::fprintf(stderr, ", %s left", left.c_str());
    shown_ = true;
  }
  ~ProgressLine() {
    if (shown_) std::fprintf(stderr, "\r\033[K");
  }

 private:
  std::string matter_;
  bool reencrypt_;
  bool on_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace

void AddRotateCommands(Commands& cmds) {
  cmds.push_back(
      {"rotate", "VAULT|MOUNTPOINT MATTER|--all",
       "new keys for a matter: a new key version, every file's data key rewrapped under it "
       "(no re-encryption), the old versions destroyed; crash-safe, and a rerun completes an "
       "interrupted rotation (offline on a vault, or online through a mount's daemon)",
       [](auto& d, auto& p) {
         d.add_options()("vault", po::value<std::string>()->required(),
                         "vault directory, or the mount point of a running daemon")(
             "matter", po::value<std::string>(), "matter name")("all", po::bool_switch(),
                                                                "rotate every matter")(
             "reencrypt", po::bool_switch(),
             "also re-encrypt every file under a fresh data key (for a suspected data-key "
             "exposure; offline only; writes every file again)");
         AddVaultOptions(d, true);
         AddControlOptions(d);
         p.add("vault", 1).add("matter", 1);
       },
       [](const po::variables_map& vm) {
         const std::string target = vm["vault"].as<std::string>();
         const bool all = vm["all"].as<bool>();
         if (all == (vm.count("matter") > 0)) {
           throw Failure{kExitUsage, "give one MATTER or --all"};
         }
         std::vector<std::string> matters;
         const bool reencrypt = vm["reencrypt"].as<bool>();
         if (!IsVault(target)) {
           if (reencrypt) {
             throw Failure{kExitUsage,
                           "--reencrypt runs offline: unmount the vault and give the vault "
                           "directory"};
           }
           // A mount point: the daemon checks the policy (admin) and rotates while the
           // matter stays in use.
           control::Fields req{{"matter", all ? "" : vm["matter"].as<std::string>()},
                               {"all", all ? "1" : "0"}};
           // On a terminal, the progress line follows the daemon's status meanwhile.
           std::unique_ptr<ProgressLine> line;
           std::string shown;
           const std::vector<control::Fields> rows = CallDaemonWithProgress(
               vm, target, {"rotate", req}, [&](const std::vector<control::Fields>& status) {
                 for (const auto& row : status) {
                   if (Field(row, "kind") != "rotation") continue;
                   if (!line || shown != Field(row, "matter")) {
                     line.reset();
                     shown = Field(row, "matter");
                     line = std::make_unique<ProgressLine>(shown, false);
                   }
                   vault::RotateProgress p;
                   p.files = std::stoull(Field(row, "files"));
                   p.total = std::stoull(Field(row, "total"));
                   line->Update(p);
                 }
               });
           line.reset();
           int failed = 0;
           for (const auto& row : rows) {
             std::cout << Field(row, "summary") << "\n";
             if (Field(row, "failed") == "1") ++failed;
           }
           if (failed > 0) {
             std::cerr << "matterctl: " << failed << " of " << rows.size()
                       << " matters could not be rotated (see above); run matterctl rotate "
                          "again once they are repaired\n";
             return static_cast<int>(kExitError);
           }
           return 0;
         }
         auto v = OpenUnlocked(vm);
         auto lock = Check(v->LockOffline());
         if (all) {
           for (const auto& m : Check(v->ListMatters())) matters.push_back(m.name);
           std::sort(matters.begin(), matters.end());
         } else {
           matters.push_back(vm["matter"].as<std::string>());
         }
         // Crash tests (tests/mount/rotation_test.cc): kill -9 ourselves right after the new
         // key version is written (0) or after N files.
         long kill_after = -1;
         if (const char* e = std::getenv("MATTERFS_FAULT_INJECT_ROTATE_KILL_AFTER")) {
           kill_after = std::atol(e);
         }
         // ... or after the Nth name of a hard-linked file is relinked by a re-encryption.
         long kill_at_link = -1;
         if (const char* e = std::getenv("MATTERFS_FAULT_INJECT_REENCRYPT_KILL_AT_LINK")) {
           kill_at_link = std::atol(e);
         }
         long links_done = 0;
         int rc = 0;
         for (const std::string& name : matters) {
           vault::RotateResult r;
           {
             ProgressLine line(name, reencrypt);
             vault::RotateOptions opts;
             opts.reencrypt = reencrypt;
             opts.progress = [&](const vault::RotateProgress& p) {
               line.Update(p);
               if (kill_after > 0 && p.files >= static_cast<uint64_t>(kill_after)) {
                 ::raise(SIGKILL);
               }
             };
             if (kill_at_link > 0) {
               opts.relinked = [&] {
                 if (++links_done >= kill_at_link) ::raise(SIGKILL);
               };
             }
             opts.keyring_changed = [&](const vault::Keyring&) {
               if (kill_after == 0) ::raise(SIGKILL);
             };
             auto rotated = vault::RotateMatter(*v, name, OfflineContext(vm), opts);
             if (!rotated.ok() && all) {
               // --all goes on with the other matters.
               std::cerr << "matterctl: matter " << name << ": " << rotated.error().message()
                         << "\n";
               rc = static_cast<int>(ExitCodeFor(rotated.error().code()));
               continue;
             }
             r = Check(std::move(rotated));
           }
           std::cout << vault::RotateSummary(r) << "\n";
           for (const auto& f : r.failures) std::cerr << "matterctl: " << f << "\n";
           if (r.KeptOldVersions()) {
             std::cerr
                 << "matterctl: matter " << name << ": " << r.counts.failed
                 << " files could not be rewrapped (re-encrypted); the old key version is kept "
                    "(run matterctl rotate again once they are repaired or removed)\n";
             rc = kExitCorrupt;
           }
         }
         return rc;
       }});
}

}  // namespace matterfs::tools
