// matterctl: a running mount through its daemon (status, break-glass, policy reload).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <iostream>

#include "tools/cli.h"

namespace matterfs::tools {

void AddMountCommands(Commands& cmds) {
  cmds.push_back(
      {"status", "MOUNTPOINT",
       "a running mount: its policy, the matters you may see, break-glass grants, audit counters",
       [](auto& d, auto& p) {
         d.add_options()("mountpoint", po::value<std::string>()->required(), "mount point");
         AddControlOptions(d);
         p.add("mountpoint", 1);
       },
       [](const po::variables_map& vm) {
         auto rows = CallDaemon(vm, vm["mountpoint"].as<std::string>(), {"status", {}});
         for (const auto& row : rows) {
           const std::string kind = Field(row, "kind");
           if (kind == "mount") {
             std::cout << "vault:    " << Field(row, "vault")
                       << "\npolicy:   " << Field(row, "policy")
                       << "\naudit:    " << Field(row, "audit_queued") << " queued, "
                       << Field(row, "audit_dropped") << " dropped, " << Field(row, "audit_refused")
                       << " refused (strict)\n"
                       << "policy decisions: " << Field(row, "decisions_computed") << " computed, "
                       << Field(row, "decisions_cached") << " from the cache\n";
             const std::string problem = Field(row, "syslog_problem");
             std::cout << "syslog:   " << Field(row, "syslog")
                       << (problem.empty() ? "" : " (" + problem + ")") << "\n";
             if (!problem.empty()) {
               std::cerr << "matterctl: warning: audit events cannot reach syslog ("
                         << Field(row, "syslog") << ": " << problem
                         << "); they are queued, then dropped or refused when the queue is full\n";
             }
           } else if (kind == "matter") {
             std::cout << "matter:   " << Field(row, "name") << "\t" << Field(row, "status");
             if (!Field(row, "key_version").empty()) {
               std::cout << "\tkey-version " << Field(row, "key_version")
                         << (Field(row, "rotation_unfinished") == "1" ? " (rotation unfinished)"
                                                                      : "");
             }
             if (!Field(row, "rotated").empty()) std::cout << "\trotated " << Field(row, "rotated");
             std::cout << "\n";
           } else if (kind == "rotation") {
             std::cout << "rotating: " << Field(row, "matter") << ": " << Field(row, "files")
                       << " of " << Field(row, "total") << " files done\n";
           } else if (kind == "break-glass") {
             std::cout << "break-glass: " << Field(row, "user") << " on " << Field(row, "matter")
                       << " until " << Field(row, "until") << " (reason: " << Field(row, "reason")
                       << ")\n";
           }
         }
         return 0;
       }});
  cmds.push_back(
      {"break-glass", "MOUNTPOINT",
       "take time-limited read access to a matter in an emergency (alert event; policy decides)",
       [](auto& d, auto& p) {
         d.add_options()("mountpoint", po::value<std::string>()->required(), "mount point")(
             "matter", po::value<std::string>()->required(), "the matter")(
             "reason", po::value<std::string>()->required(), "why (recorded in the audit trail)")(
             "duration", po::value<std::string>()->default_value("1h"), "how long, e.g. 30m, 2h");
         AddControlOptions(d);
         p.add("mountpoint", 1);
       },
       [](const po::variables_map& vm) {
         auto rows = CallDaemon(vm, vm["mountpoint"].as<std::string>(),
                                {"break-glass",
                                 {{"matter", vm["matter"].as<std::string>()},
                                  {"reason", vm["reason"].as<std::string>()},
                                  {"duration", vm["duration"].as<std::string>()}}});
         for (const auto& row : rows) {
           std::cout << "break-glass: " << Field(row, "user") << " may read "
                     << Field(row, "matter") << " until " << Field(row, "until") << "\n";
         }
         return 0;
       }});
  cmds.push_back(
      {"policy reload", "MOUNTPOINT", "make a running daemon re-read its policy now (root)",
       [](auto& d, auto& p) {
         d.add_options()("mountpoint", po::value<std::string>()->required(), "mount point");
         AddControlOptions(d);
         p.add("mountpoint", 1);
       },
       [](const po::variables_map& vm) {
         CallDaemon(vm, vm["mountpoint"].as<std::string>(), {"reload", {}});
         std::cout << "policy reloaded\n";
         return 0;
       }});
}

}  // namespace matterfs::tools
