// matterctl: a running mount through its daemon (status, break-glass, policy reload).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <iostream>

#include "policy/timestamp.h"
#include "tools/cli.h"

namespace matterfs::tools {

namespace {

// A number of a status row, null if the daemon sent none (or something else): a counter,
// or with `decimal` a double as the daemon writes it (std::to_string).
nlohmann::ordered_json Number(const control::Fields& row, const char* key, bool decimal = false) {
  const std::string text = Field(row, key);
  if (text.empty() ||
      text.find_first_not_of(decimal ? "0123456789." : "0123456789") != std::string::npos) {
    return nullptr;
  }
  try {
    return decimal ? nlohmann::ordered_json(std::stod(text))
                   : nlohmann::ordered_json(std::stoull(text));
  } catch (const std::exception&) {
    return nullptr;
  }
}

std::optional<uint64_t> Seconds(std::optional<policy::Time> t) {
  if (!t || t->time_since_epoch().count() < 0) return std::nullopt;
  return static_cast<uint64_t>(t->time_since_epoch().count());
}

// `matterctl status --json` (docs/MATTERCTL.md "status"): the daemon's rows, typed.
nlohmann::ordered_json StatusJson(const std::string& mountpoint,
                                  const std::vector<control::Fields>& rows) {
  nlohmann::ordered_json doc = JsonHeader("matterfs-status");
  doc["mountpoint"] = mountpoint;
  nlohmann::ordered_json matters = nlohmann::ordered_json::array();
  nlohmann::ordered_json rotations = nlohmann::ordered_json::array();
  nlohmann::ordered_json wipes = nlohmann::ordered_json::array();
  nlohmann::ordered_json grants = nlohmann::ordered_json::array();
  auto text_or_null = [](const std::string& s) {
    return s.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(s);
  };
  for (const auto& row : rows) {
    const std::string kind = Field(row, "kind");
    if (kind == "mount") {
      doc["vault"] = Field(row, "vault");
      doc["policy"] = Field(row, "policy");
      doc["audit"] = {{"queued", Number(row, "audit_queued")},
                      {"dropped", Number(row, "audit_dropped")},
                      {"refused", Number(row, "audit_refused")},
                      {"last_error", text_or_null(Field(row, "audit_error"))}};
      doc["syslog"] = {{"socket", Field(row, "syslog")},
                       {"problem", text_or_null(Field(row, "syslog_problem"))}};
      doc["decisions"] = {{"computed", Number(row, "decisions_computed")},
                          {"cached", Number(row, "decisions_cached")}};
    } else if (kind == "matter") {
      nlohmann::ordered_json m;
      m["name"] = Field(row, "name");
      m["status"] = Field(row, "status");
      m["key_version"] = Number(row, "key_version");
      m["rotation_unfinished"] = Field(row, "rotation_unfinished") == "1";
      SetJsonTime(m, "rotated", ParseUnixTime(Field(row, "rotated")));
      matters.push_back(std::move(m));
    } else if (kind == "rotation") {
      rotations.push_back({{"matter", Field(row, "matter")},
                           {"files", Number(row, "files")},
                           {"total", Number(row, "total")},
                           {"rewrapped", Number(row, "rewrapped")},
                           {"seconds", Number(row, "seconds", true)}});
    } else if (kind == "wipe") {
      wipes.push_back({{"matter", Field(row, "matter")},
                       {"files", Number(row, "files")},
                       {"total", Number(row, "total")},
                       {"bytes", Number(row, "bytes")},
                       {"total_bytes", Number(row, "total_bytes")}});
    } else if (kind == "break-glass") {
      nlohmann::ordered_json g;
      g["user"] = Field(row, "user");
      g["matter"] = Field(row, "matter");
      auto until = policy::ParseTime(Field(row, "until"));
      SetJsonTime(g, "until",
                  Seconds(until.ok() ? std::optional<policy::Time>(*until) : std::nullopt));
      g["reason"] = Field(row, "reason");
      grants.push_back(std::move(g));
    }
  }
  doc["matters"] = std::move(matters);
  doc["rotations"] = std::move(rotations);
  doc["wipes"] = std::move(wipes);
  doc["break_glass"] = std::move(grants);
  return doc;
}

}  // namespace

void AddMountCommands(Commands& cmds) {
  cmds.push_back(
      {"status", "MOUNTPOINT",
       "a running mount: its policy, the matters you may see, break-glass grants, audit counters",
       [](auto& d, auto& p) {
         d.add_options()("mountpoint", po::value<std::string>()->required(), "mount point");
         AddControlOptions(d);
         AddJsonOption(d);
         p.add("mountpoint", 1);
       },
       [](const po::variables_map& vm) {
         const bool json = WantsJson(vm);
         const std::string mountpoint = vm["mountpoint"].as<std::string>();
         std::vector<control::Fields> rows;
         RunJsonCommand(json, "matterfs-status", [&] {
           rows = CallDaemon(vm, mountpoint, {"status", {}});
           return 0;
         });
         if (json) {
           PrintJson(StatusJson(mountpoint, rows));
           return 0;
         }
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
