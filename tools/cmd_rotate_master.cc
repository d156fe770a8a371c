// matterctl rotate-master: a new vault master key (fs/vault/master_rotation.h), offline.
#include <signal.h>

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "fs/vault/master_rotation.h"
#include "tools/cli.h"

namespace matterfs::tools {

void AddRotateMasterCommands(Commands& cmds) {
  cmds.push_back(
      {"rotate-master", "VAULT",
       "replace the vault master key: keyslots, matter keyrings, matter names and bindings "
       "move to a new one (files untouched), so an old copy of the config no longer opens "
       "them; offline, crash-safe, and a rerun finishes an interrupted run",
       [](auto& d, auto& p) {
         d.add_options()("vault", po::value<std::string>()->required(), "vault directory")(
             "keep-passphrase-file", po::value<std::vector<std::string>>()->composing(),
             "keep the keyslot this passphrase opens (repeatable)")(
             "keep-key-file", po::value<std::vector<std::string>>()->composing(),
             "keep the keyslot this key file opens (repeatable)")(
             "drop-other-slots", po::bool_switch(),
             "remove the keyslots that are neither unlocked with nor kept");
         AddVaultOptions(d, true);
         p.add("vault", 1);
       },
       [](const po::variables_map& vm) {
         const std::string path = vm["vault"].as<std::string>();
         vault::OpenOptions open;
         open.unfinished_master_rotation = true;
         auto v = Check(vault::Vault::Open(path, Opt(vm, "keystore"), open));
         auto cred = ReadUnlock(vm, v->config(), v->path());
         vault::MasterRotationOptions options;
         options.drop_other_slots = vm["drop-other-slots"].as<bool>();
         auto keep = [&](const char* option, bool passphrase) {
           if (!vm.count(option)) return;
           for (const std::string& file : vm[option].as<std::vector<std::string>>()) {
             vault::UnlockOptions u;
             (passphrase ? u.passphrase_file : u.key_file) = file;
             options.keep.push_back(
                 Check(vault::ReadCredential(u, "", false), std::string("--") + option));
           }
         };
         keep("keep-passphrase-file", true);
         keep("keep-key-file", false);
         // Crash tests (tests/mount/master_rotation_test.cc): kill -9 ourselves at one of
         // the points master_rotation.h lists ("journal", "config", "matter:2:keyring", ...).
         if (const char* at = std::getenv("MATTERFS_FAULT_INJECT_MASTER_KILL_AT")) {
           const std::string point = at;
           options.checkpoint = [point](std::string_view here) -> Status {
             if (here == point) ::raise(SIGKILL);
             return {};
           };
         }
         auto r = Check(vault::RotateMasterKey(*v, cred, OfflineContext(vm), options));
         std::cout << vault::MasterRotationSummary(r) << "\n";
         if (r.kind != vault::MasterRotationResult::Kind::kRotated &&
             (!options.keep.empty() || options.drop_other_slots)) {
           std::cerr << "matterctl: note: the interrupted run had already chosen the keyslots; "
                        "--keep-passphrase-file, --keep-key-file and --drop-other-slots were "
                        "not used (matterctl keyslot list shows them)\n";
         }
         return 0;
       }});
}

}  // namespace matterfs::tools
