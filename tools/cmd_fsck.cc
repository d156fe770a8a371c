// matterctl fsck: checks a vault (fs/vault/fsck.h) and, with --repair, moves what cannot
// be read into its matter's lost+found. Exit codes like fsck(8) (util/exit_codes.h).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <iostream>

#include "fs/vault/fsck.h"
#include "tools/cli.h"
#include "util/file_io.h"
#include "util/json.h"

namespace matterfs::tools {
namespace {

// "\r"-updated on a terminal (stderr), at most five times a second; nothing otherwise.
class FsckProgress {
 public:
  FsckProgress() : on_(::isatty(STDERR_FILENO) == 1) {}
  void Update(const std::string& matter, uint64_t files) {
    if (!on_) return;
    const auto now = std::chrono::steady_clock::now();
    if (matter == matter_ && now - last_ < std::chrono::milliseconds(200)) return;
    last_ = now;
    matter_ = matter;
    std::fprintf(stderr, "\r\033[Kmatter %s: %llu files checked", matter.c_str(),
                 static_cast<unsigned long long>(files));
    shown_ = true;
  }
  ~FsckProgress() {
    if (shown_) std::fprintf(stderr, "\r\033[K");
  }

 private:
  bool on_;
  bool shown_ = false;
  std::string matter_;
  std::chrono::steady_clock::time_point last_{};
};

int ExitFor(const vault::FsckReport& r) {
  if (r.Problems() == 0) return kExitFsckClean;
  return r.Left() == 0 ? kExitFsckRepaired : kExitFsckProblemsLeft;
}

std::string Where(const vault::FsckProblem& p) {
  if (p.matter.empty()) return p.path;
  // The matter's keyring or key table entry: a file of the keystore, not of the matter.
  if (p.path.rfind("keystore/", 0) == 0) return p.path + " (matter " + p.matter + ")";
  return p.path.empty() ? p.matter : p.matter + "/" + p.path;
}

nlohmann::ordered_json ToJson(const std::string& vault_path,
                              const std::optional<std::string>& matter, bool repair,
                              const vault::FsckReport& r, int code) {
  nlohmann::ordered_json doc;
  doc["format"] = "matterfs-fsck";
  doc["version"] = 1;
  doc["vault"] = vault_path;
  doc["matter"] = matter ? nlohmann::ordered_json(*matter) : nlohmann::ordered_json(nullptr);
  doc["repair"] = repair;
  nlohmann::ordered_json problems = nlohmann::ordered_json::array();
  for (const auto& p : r.problems) {
    nlohmann::ordered_json j;
    j["severity"] = p.note ? "note" : "problem";
    j["matter"] = p.matter;
    j["path"] = p.path;
    j["entry"] = p.entry;
    j["kind"] = p.kind;
    if (p.block) j["block"] = *p.block;
    j["message"] = p.message;
    j["repaired"] = p.repaired;
    j["action"] = p.action;
    problems.push_back(std::move(j));
  }
  doc["problems"] = std::move(problems);
  nlohmann::ordered_json lf = nlohmann::ordered_json::array();
  for (const auto& l : r.lost_found) lf.push_back({{"matter", l.matter}, {"entries", l.entries}});
  doc["lost_found"] = std::move(lf);
  doc["reports"] = r.reports;
  doc["summary"] = {{"matters", r.checked.matters},
                    {"directories", r.checked.directories},
                    {"files", r.checked.files},
                    {"blocks", r.checked.blocks},
                    {"symlinks", r.checked.symlinks},
                    {"problems", r.Problems()},
                    {"repaired", r.Repaired()},
                    {"left", r.Left()},
                    {"notes", r.problems.size() - r.Problems()}};
  doc["exit"] = code;
  return doc;
}

void PrintHuman(const std::string& vault_path, const vault::FsckReport& r) {
  for (const auto& p : r.problems) {
    std::cout << Where(p) << ": " << (p.note ? "note: " : "") << p.kind << ": " << p.message;
    if (!p.action.empty()) std::cout << " [" << p.action << "]";
    std::cout << "\n";
  }
  for (const auto& l : r.lost_found) {
    std::cout << l.matter << "/lost+found: holds " << l.entries
              << " entries moved there by an earlier repair (not checked)\n";
  }
  for (const auto& f : r.reports) std::cout << "report written: " << f << "\n";
  const auto& c = r.checked;
  std::cout << "fsck " << vault_path << ": " << c.matters << " matters, " << c.directories
            << " directories, " << c.files << " files, " << c.blocks << " blocks, " << c.symlinks
            << " symlinks checked: ";
  if (r.Problems() == 0) {
    std::cout << "clean";
  } else {
    std::cout << r.Problems() << " problems (" << r.Repaired() << " repaired, " << r.Left()
              << " left)";
  }
  const size_t notes = r.problems.size() - r.Problems();
  if (notes > 0) std::cout << ", " << notes << " notes";
  std::cout << "\n";
}

}  // namespace

void AddFsckCommands(Commands& cmds) {
  cmds.push_back(
      {"fsck", "VAULT [MATTER]",
       "check the config, keyrings, key table and every header, block, name, side file and "
       "directory IV of a vault (or one matter); --repair moves what cannot be read into the "
       "matter's lost+found. Exit 0 clean, 1 all repaired, 4 problems left, 8 could not run",
       [](auto& d, auto& p) {
         d.add_options()("vault", po::value<std::string>()->required(), "vault directory")(
             "matter", po::value<std::string>(), "check only this matter")(
             "repair", po::bool_switch(),
             "move damaged items into MATTER/lost+found with a report (needs the vault "
             "unmounted; never deletes anything)")("json", po::bool_switch(),
                                                   "one JSON document on standard output");
         AddVaultOptions(d, true);
         p.add("vault", 1).add("matter", 1);
       },
       [](const po::variables_map& vm) {
         const std::string path = vm["vault"].as<std::string>();
         const std::optional<std::string> matter = Opt(vm, "matter");
         const bool repair = vm["repair"].as<bool>();
         const bool json = vm["json"].as<bool>();
         vault::FsckReport report;
         try {
           // Anything that stops the check is "could not run" (exit 8), one line on stderr.
           auto could_not_run = [](const Error& e) {
             throw Failure{kExitFsckCouldNotRun, "fsck: could not run: " + e.message()};
           };
           // The config tells which factors its slots need, when it can be read at all.
           auto raw =
               ReadWholeFile(AT_FDCWD, path + "/" + std::string(vault::kConfigName), 64 * 1024);
           auto config =
               raw.ok() ? vault::VaultConfig::Parse(*raw) : Result<vault::VaultConfig>(raw.error());
           auto cred = config.ok() ? vault::ReadUnlockCredential(*config, UnlockOpts(vm),
                                                                 "Passphrase for " + path + ": ")
                                   : vault::ReadCredential(UnlockOpts(vm),
                                                           "Passphrase for " + path + ": ", false);
           if (!cred.ok()) could_not_run(cred.error());
           auto start = vault::FsckOpen(path, Opt(vm, "keystore"), *cred);
           if (!start.ok()) could_not_run(start.error());
           report = std::move(start->report);
           if (start->vault) {
             auto lock = repair ? start->vault->LockOffline() : start->vault->LockReadOnly();
             if (!lock.ok() && !repair && lock.error().code() == Code::kIo &&
                 (lock.error().sys_errno() == EROFS || lock.error().sys_errno() == EACCES)) {
               // A vault on read-only storage (a backup): no daemon can hold it there.
               std::cerr << "matterctl: note: fsck: the vault lock cannot be taken ("
                         << lock.error().message() << "): checking without it\n";
             } else if (!lock.ok()) {
               could_not_run(lock.error());
             }
             vault::FsckOptions opts;
             opts.matter = matter;
             opts.repair = repair;
             FsckProgress progress;
             opts.progress = [&](const std::string& m, uint64_t files) {
               progress.Update(m, files);
             };
             Status st = vault::Fsck(*start->vault, opts, report);
             if (!st.ok()) could_not_run(st.error());
           }
         } catch (const Failure& f) {
           if (json) {
             nlohmann::ordered_json doc;
             doc["format"] = "matterfs-fsck";
             doc["version"] = 1;
             doc["vault"] = path;
             doc["error"] = f.message;
             doc["exit"] = f.code;
             std::cout << DumpJson(doc, 2) << "\n";
           }
           throw;
         }
         const int code = ExitFor(report);
         if (json) {
           std::cout << DumpJson(ToJson(path, matter, repair, report, code), 2) << "\n";
         } else {
           PrintHuman(path, report);
         }
         return code;
       }});
}

}  // namespace matterfs::tools
