// matterctl rotate: a matter's keys (fs/vault/rotation.h), offline on a vault or online
// through a mount's daemon.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "fs/vault/rotation.h"
#include "tools/cli.h"

namespace matterfs::tools {
namespace {

// A progress line on a terminal (stderr), at most five times a second.
class ProgressLine {
 public:
  explicit ProgressLine(std::string matter)
      : matter_(std::move(matter)),
        on_(::isatty(STDERR_FILENO) == 1),
        start_(std::chrono::steady_clock::now()) {}
  void Update(const vault::RotateProgress& p) {
    if (!on_) return;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::milliseconds(200)) return;
    last_ = now;
    const double secs = std::chrono::duration<double>(now - start_).count();
    std::fprintf(stderr, "\r\033[Krotate %s: %llu files, %llu rewrapped, %.0f files/s",
                 matter_.c_str(), static_cast<unsigned long long>(p.files),
                 static_cast<unsigned long long>(p.rewrapped),
                 secs > 0 ? static_cast<double>(p.files) / secs : 0.0);
    shown_ = true;
  }
  ~ProgressLine() {
    if (shown_) std::fprintf(stderr, "\r\033[K");
  }

 private:
  std::string matter_;
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
                                                                "rotate every matter");
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
         if (!IsVault(target)) {
           // A mount point: the daemon checks the policy (admin) and rotates while the
           // matter stays in use.
           control::Fields req{{"matter", all ? "" : vm["matter"].as<std::string>()},
                               {"all", all ? "1" : "0"}};
           // The answer comes when every file is done: a week bounds the wait.
           auto rows = CallDaemon(vm, target, {"rotate", req}, std::chrono::hours(24 * 7));
           for (const auto& row : rows) std::cout << Field(row, "summary") << "\n";
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
         int rc = 0;
         for (const std::string& name : matters) {
           vault::RotateResult r;
           {
             ProgressLine line(name);
             vault::RotateOptions opts;
             opts.progress = [&](const vault::RotateProgress& p) {
               line.Update(p);
               if (kill_after > 0 && p.files >= static_cast<uint64_t>(kill_after)) {
                 ::raise(SIGKILL);
               }
             };
             opts.keyring_changed = [&](const vault::Keyring&) {
               if (kill_after == 0) ::raise(SIGKILL);
             };
             r = Check(vault::RotateMatter(*v, name, OfflineContext(vm), opts));
           }
           std::cout << vault::RotateSummary(r) << "\n";
           for (const auto& f : r.failures) std::cerr << "matterctl: " << f << "\n";
           if (r.KeptOldVersions()) {
             std::cerr << "matterctl: matter " << name << ": " << r.counts.failed
                       << " files could not be rewrapped; the old key version is kept "
                          "(run matterctl rotate again once they are repaired or removed)\n";
             rc = kExitCorrupt;
           }
         }
         return rc;
       }});
}

}  // namespace matterfs::tools
