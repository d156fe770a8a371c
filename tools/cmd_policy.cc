// matterctl: policy files and audit logs (policy check|explain, audit verify|report).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <iostream>

#include "tools/audit_cmd.h"
#include "tools/cli.h"
#include "tools/policy_cmd.h"

namespace matterfs::tools {

void AddPolicyCommands(Commands& cmds) {
  cmds.push_back({"policy check", "FILE",
                  "validate a policy file: every problem as file:line: reason",
                  [](auto& d, auto& p) {
                    d.add_options()("file", po::value<std::string>()->required(), "policy file")(
                        "vault", po::value<std::string>(),
                        "also warn about [matter NAME] sections that name no matter of this vault "
                        "(unlock options needed) or of this mount point (through its daemon)");
                    AddVaultOptions(d, true);
                    AddControlOptions(d);
                    p.add("file", 1);
                  },
                  [](const po::variables_map& vm) {
                    std::optional<KnownMatters> known;
                    if (vm.count("vault")) {
                      const std::string target = vm["vault"].as<std::string>();
                      KnownMatters k;
                      if (IsVault(target)) {
                        auto v = OpenUnlocked(vm);
                        for (const auto& m : Check(v->ListMatters())) k.names.push_back(m.name);
                        k.where = "vault " + target;
                      } else {
                        for (const auto& row : CallDaemon(vm, target, {"status", {}})) {
                          if (Field(row, "kind") == "matter") k.names.push_back(Field(row, "name"));
                        }
                        k.where = "the mount " + target;
                      }
                      known = std::move(k);
                    }
                    return PolicyCheck(vm["file"].as<std::string>(), known);
                  }});
  cmds.push_back(
      {"policy explain", "FILE",
       "the decision and the rule for one user, matter and action (exit 0 allow, 10 deny)",
       [](auto& d, auto& p) {
         d.add_options()("file", po::value<std::string>()->required(), "policy file")(
             "user", po::value<std::string>()->required(), "user name")(
             "matter", po::value<std::string>()->required(), "matter name")(
             "action", po::value<std::string>()->required(),
             "read, write, delete, admin, create_matter, list or wipe")(
             "status", po::value<std::string>(), "open (default), closed or hold")(
             "time", po::value<std::string>(), "decide as of this time (default now)");
         AddJsonOption(d);
         p.add("file", 1);
       },
       [](const po::variables_map& vm) {
         return PolicyExplain(vm["file"].as<std::string>(), vm["user"].as<std::string>(),
                              vm["matter"].as<std::string>(), vm["action"].as<std::string>(),
                              Opt(vm, "status"), Opt(vm, "time"), WantsJson(vm));
       }});
  cmds.push_back(
      {"audit verify", "LOG", "check a local audit log's hash chain and signed checkpoints",
       [](auto& d, auto& p) {
         d.add_options()("log", po::value<std::string>()->required(), "the JSON-lines audit log")(
             "vault", po::value<std::string>(), "require checkpoints signed by this vault's key")(
             "public-key", po::value<std::string>(),
             "require checkpoints signed by this key (hex)");
         AddJsonOption(d);
         p.add("log", 1);
       },
       [](const po::variables_map& vm) {
         const bool json = WantsJson(vm);
         std::optional<std::string> key = Opt(vm, "public-key");
         RunJsonCommand(json, "matterfs-audit-verify", [&] {
           if (vm.count("vault")) {
             key = ToHex(ReadConfigOnly(vm["vault"].as<std::string>()).sign_public);
           }
           return 0;
         });
         return AuditVerify(vm["log"].as<std::string>(), key, json);
       }});
  cmds.push_back(
      {"audit report", "LOG",
       "who opened, changed or was denied what in a matter (from a verified local audit log)",
       [](auto& d, auto& p) {
         d.add_options()("log", po::value<std::string>()->required(), "the JSON-lines audit log")(
             "matter", po::value<std::string>()->required(), "the matter")(
             "since", po::value<std::string>(),
             "from this UTC date or time (2026-12-01 or 2026-12-01T09:30:00Z), inclusive")(
             "until", po::value<std::string>(), "before this UTC date or time (exclusive)")(
             "user", po::value<std::string>(), "only this user (a name or a uid)")(
             "format", po::value<std::string>()->default_value("table"), "table, csv or json")(
             "vault", po::value<std::string>(), "require checkpoints signed by this vault's key")(
             "public-key", po::value<std::string>(),
             "require checkpoints signed by this key (hex)");
         p.add("log", 1);
       },
       [](const po::variables_map& vm) {
         AuditReportArgs a;
         a.log = vm["log"].as<std::string>();
         a.matter = vm["matter"].as<std::string>();
         a.since = Opt(vm, "since");
         a.until = Opt(vm, "until");
         a.user = Opt(vm, "user");
         a.format = vm["format"].as<std::string>();
         a.public_key_hex = Opt(vm, "public-key");
         RunJsonCommand(a.format == "json", "matterfs-access-report", [&] {
           if (vm.count("vault")) {
             a.public_key_hex = ToHex(ReadConfigOnly(vm["vault"].as<std::string>()).sign_public);
           }
           return 0;
         });
         return AuditReport(a);
       }});
}

}  // namespace matterfs::tools
