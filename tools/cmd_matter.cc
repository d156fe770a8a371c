// matterctl: matters in a vault (matter create|list|close|reopen|hold|release, cat).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <iostream>

#include "fs/vault/admin.h"
#include "fs/vault/matter.h"
#include "tools/cli.h"
#include "util/bytes.h"

namespace matterfs::tools {

void AddMatterCommands(Commands& cmds) {
  cmds.push_back(
      {"matter create", "VAULT NAME", "create matter NAME with its own keys",
       [](auto& d, auto& p) {
         d.add_options()("vault", po::value<std::string>()->required(), "vault directory")(
             "name", po::value<std::string>()->required(), "matter name (a directory name)");
         AddVaultOptions(d, true);
         p.add("vault", 1).add("name", 1);
       },
       [](const po::variables_map& vm) {
         auto v = OpenUnlocked(vm);
         auto info = Check(v->CreateMatter(vm["name"].as<std::string>()));
         std::cout << "created matter " << info.name << " (id " << ToHex(info.id) << ")\n";
         return 0;
       }});
  cmds.push_back(
      {"matter list", "VAULT", "list matters with their status and id",
       [](auto& d, auto& p) {
         d.add_options()("vault", po::value<std::string>()->required(), "vault directory");
         AddVaultOptions(d, true);
         AddJsonOption(d);
         p.add("vault", 1);
       },
       [](const po::variables_map& vm) {
         const bool json = WantsJson(vm);
         return RunJsonCommand(json, "matterfs-matters", [&] {
           auto v = OpenUnlocked(vm);
           auto list = Check(v->ListMatters());
           std::sort(list.begin(), list.end(),
                     [](const auto& a, const auto& b) { return a.name < b.name; });
           if (json) {
             nlohmann::ordered_json doc = JsonHeader("matterfs-matters");
             doc["vault"] = vm["vault"].as<std::string>();
             nlohmann::ordered_json matters = nlohmann::ordered_json::array();
             for (const auto& m : list) {
               nlohmann::ordered_json j;
               j["name"] = m.name;
               j["status"] = vault::MatterStatusName(m.status);
               j["id"] = ToHex(m.id);
               j["key_version"] = m.key_version;
               j["rotation_unfinished"] = m.key_versions > 1;
               SetJsonTime(j, "rotated",
                           m.rotated != 0 ? std::optional<uint64_t>(m.rotated) : std::nullopt);
               matters.push_back(std::move(j));
             }
             doc["matters"] = std::move(matters);
             PrintJson(doc);
             return 0;
           }
           for (const auto& m : list) {
             std::cout << m.name << "\t" << vault::MatterStatusName(m.status) << "\t" << ToHex(m.id)
                       << "\tkey-version " << m.key_version
                       << (m.key_versions > 1 ? " (rotation unfinished)" : "")
                       << (m.rotated != 0 ? "\trotated " + FormatUnixTime(m.rotated)
                                          : std::string())
                       << "\n";
           }
           return 0;
         });
       }});
  for (const auto& [verb, summary] : std::vector<std::pair<std::string, std::string>>{
           {"close", "close a matter: read-only for everyone, nothing new in it"},
           {"reopen", "reopen a closed matter"},
           {"hold",
            "place a legal hold: nothing in the matter may be deleted, truncated, renamed "
            "away or wiped"},
           {"release", "release a legal hold (the matter is open again)"}}) {
    cmds.push_back({"matter " + verb, "VAULT|MOUNTPOINT MATTER",
                    summary + " (offline on a vault, or online through a mount's daemon)",
                    [](auto& d, auto& p) {
                      d.add_options()("vault", po::value<std::string>()->required(),
                                      "vault directory, or the mount point of a running daemon")(
                          "matter", po::value<std::string>()->required(), "matter name");
                      AddVaultOptions(d, true);
                      AddControlOptions(d);
                      p.add("vault", 1).add("matter", 1);
                    },
                    [verb](const po::variables_map& vm) {
                      const std::string target = vm["vault"].as<std::string>();
                      const std::string name = vm["matter"].as<std::string>();
                      if (!IsVault(target)) {
                        // A mount point: the daemon checks the policy (admin) and records it.
                        auto rows = CallDaemon(
                            vm, target, {"matter-status", {{"matter", name}, {"verb", verb}}});
                        for (const auto& row : rows) {
                          std::cout << "matter " << name << ": " << Field(row, "from") << " -> "
                                    << Field(row, "to") << "\n";
                        }
                        return 0;
                      }
                      auto v = OpenUnlocked(vm);
                      // Offline: no daemon may have the vault mounted (it would not see the change
                      // before its next refresh, and a rotation or wipe must not run beside it).
                      auto lock = Check(v->LockOffline());
                      auto change =
                          Check(vault::ChangeMatterStatus(*v, name, verb, OfflineContext(vm)));
                      std::cout << "matter " << name << ": " << vault::MatterStatusName(change.from)
                                << " -> " << vault::MatterStatusName(change.to) << "\n";
                      return 0;
                    }});
  }
  cmds.push_back(
      {"cat", "VAULT MATTER/PATH",
       "decrypt one file to standard output without mounting (disaster recovery)",
       [](auto& d, auto& p) {
         d.add_options()("vault", po::value<std::string>()->required(), "vault directory")(
             "path", po::value<std::string>()->required(), "MATTER/path/in/matter");
         AddVaultOptions(d, true);
         p.add("vault", 1).add("path", 1);
       },
       [](const po::variables_map& vm) {
         const std::string path = vm["path"].as<std::string>();
         std::string_view rest = path;
         while (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);
         size_t slash = rest.find('/');
         if (slash == std::string_view::npos || slash + 1 >= rest.size()) {
           throw Failure{kExitUsage, "give MATTER/PATH, e.g. acme-v-smith/brief.docx"};
         }
         auto v = OpenUnlocked(vm);
         auto matter = Check(vault::Matter::Load(*v, rest.substr(0, slash)));
         auto fd = Check(matter->OpenPath(*v, rest.substr(slash + 1), O_RDONLY), path);
         Check(vault::DecryptFileTo(*matter, v->file_format(), fd.get(), STDOUT_FILENO), path);
         return 0;
       }});
}

}  // namespace matterfs::tools
