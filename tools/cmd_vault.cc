// matterctl: the vault itself (init, keyslot add|list|remove, genkey).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <iostream>

#include "crypto/secure_memory.h"
#include "tools/cli.h"
#include "util/file_io.h"
#include "util/log.h"

namespace matterfs::tools {

void AddVaultCommands(Commands& cmds) {
  cmds.push_back(
      {"init", "VAULT", "create a new, empty vault in VAULT (a missing or empty directory)",
       [](auto& d, auto& p) {
         d.add_options()("vault", po::value<std::string>()->required(), "vault directory")(
             "cipher", po::value<std::string>(),
             "aes-256-gcm or xchacha20-poly1305 (default: AES-GCM where the CPU has AES-NI)")(
             "keystore", po::value<std::string>(),
             "keep matter keyrings in DIR, outside the vault (then every command "
             "and the mount need --keystore DIR)")(
             "passphrase-file", po::value<std::string>(),
             "read the passphrase from this file (- for standard input)")(
             "key-file", po::value<std::string>(),
             "protect the vault with this key file (with --passphrase-file: both are needed)")(
             "escrow-public-key", po::value<std::string>(),
             "also seal the vault to the firm's escrow key (matterctl escrow keygen)")(
             "file-format", po::value<int>(),
             "3 (default: recorded sizes and name binding) or 2 (readable by matterfs releases "
             "before file format 3)");
         AddKdfOptions(d);
         p.add("vault", 1);
       },
       [](const po::variables_map& vm) {
         vault::InitOptions o;
         if (vm.count("cipher")) {
           auto c = crypto::ParseCipher(vm["cipher"].as<std::string>());
           if (!c)
             throw Failure{kExitUsage, "unknown cipher '" + vm["cipher"].as<std::string>() + "'"};
           o.cipher = *c;
         }
         if (vm.count("file-format")) {
           const int f = vm["file-format"].as<int>();
           if (f != 2 && f != 3) throw Failure{kExitUsage, "--file-format takes 2 or 3"};
           o.file_format = static_cast<uint8_t>(f);
         }
         o.keystore = Opt(vm, "keystore");
         if (auto f = Opt(vm, "escrow-public-key")) {
           o.escrow = Check(vault::ReadEscrowPublicKey(*f), "--escrow-public-key");
         }
         const std::string path = vm["vault"].as<std::string>();
         auto cred = Check(
             vault::ReadCredential(UnlockOpts(vm), "New passphrase for " + path + ": ", true));
         if (auto w = vault::PassphraseWarning(cred); !w.empty()) log::Warning(w);
         o.argon = KdfParams(vm, vault::UsesPassphrase(cred.kind));
         Check(vault::Vault::Create(path, o, cred));
         std::cout << "created vault " << path << " (cipher " << crypto::CipherName(o.cipher)
                   << ", file format " << int{o.file_format} << ", keyslot 0 "
                   << vault::SlotKindName(cred.kind);
         if (vault::UsesPassphrase(cred.kind)) {
           std::cout << ", argon2id ops=" << o.argon.opslimit
                     << " memory=" << (o.argon.memlimit >> 20) << "MiB";
         }
         std::cout << ")\n";
         if (o.escrow) {
           std::cout << "keyslot 1: escrow to the firm key " << vault::EscrowFingerprint(*o.escrow)
                     << "\n";
         }
         return 0;
       }});
  cmds.push_back(
      {"keyslot add", "VAULT",
       "add a keyslot: a passphrase, a key file, or a passphrase with a key file or FIDO2 token "
       "(unlock with an existing one)",
       [](auto& d, auto& p) {
         d.add_options()("vault", po::value<std::string>()->required(), "vault directory")(
             "new-passphrase-file", po::value<std::string>(),
             "the new slot's passphrase, from a file (- for standard input)")(
             "new-key-file", po::value<std::string>(),
             "the new slot's key file (with a passphrase: a slot that needs both)")(
             "new-fido2", po::bool_switch(),
             "a slot that needs the passphrase and this FIDO2 token (a touch at each unlock)")(
             "new-fido2-device", po::value<std::string>(),
             "the new slot's FIDO2 token device (default: the first token found)");
         AddVaultOptions(d, true);
         AddKdfOptions(d);
         p.add("vault", 1);
       },
       [](const po::variables_map& vm) {
         auto v = OpenUnlocked(vm);
         auto cred = ReadNewCredential(vm);
         const size_t index =
             Check(v->AddKeyslot(cred, KdfParams(vm, vault::UsesPassphrase(cred.kind))));
         const vault::Keyslot& slot = v->config().slots[index];
         std::string what = vault::SlotKindName(cred.kind);
         if (vault::UsesPassphrase(cred.kind)) {
           what += ", argon2id ops=" + std::to_string(slot.argon.opslimit) +
                   " memory=" + std::to_string(slot.argon.memlimit >> 20) + "MiB";
         }
         RecordVaultEvent(vm, audit::audit_events::kKeyslotAdd,
                          "keyslot " + std::to_string(index) + " added (" + what + ")");
         std::cout << "added keyslot " << index << " (" << what << ")\n";
         return 0;
       }});
  cmds.push_back(
      {"keyslot list", "VAULT", "list the vault's keyslots (needs no key)",
       [](auto& d, auto& p) {
         d.add_options()("vault", po::value<std::string>()->required(), "vault directory");
         AddVaultOptions(d, false);
         AddJsonOption(d);
         p.add("vault", 1);
       },
       [](const po::variables_map& vm) {
         const bool json = WantsJson(vm);
         return RunJsonCommand(json, "matterfs-keyslots", [&] {
           const std::string path = vm["vault"].as<std::string>();
           const vault::VaultConfig config = ReadConfigOnly(path);
           nlohmann::ordered_json doc = JsonHeader("matterfs-keyslots");
           doc["vault"] = path;
           nlohmann::ordered_json slots = nlohmann::ordered_json::array();
           size_t i = 0;
           for (const auto& s : config.slots) {
             const bool passphrase = vault::UsesPassphrase(s.kind);
             const auto escrow = s.escrow_public_key();
             if (json) {
               nlohmann::ordered_json j;
               j["index"] = i;
               j["kind"] = vault::SlotKindName(s.kind);
               // 0: a slot from before creation times were recorded.
               SetJsonTime(j, "created",
                           s.created != 0 ? std::optional<uint64_t>(s.created) : std::nullopt);
               j["argon2id"] = passphrase
                                   ? nlohmann::ordered_json{{"ops", s.argon.opslimit},
                                                            {"memory_mib", s.argon.memlimit >> 20}}
                                   : nlohmann::ordered_json(nullptr);
               j["escrow_key"] = escrow ? nlohmann::ordered_json(vault::EscrowFingerprint(*escrow))
                                        : nlohmann::ordered_json(nullptr);
               slots.push_back(std::move(j));
             } else {
               std::cout << i << "  " << vault::SlotKindName(s.kind) << "  created "
                         << FormatUnixTime(s.created);
               if (passphrase) {
                 std::cout << "  argon2id ops=" << s.argon.opslimit
                           << " memory=" << (s.argon.memlimit >> 20) << "MiB";
               }
               if (escrow) std::cout << "  firm key " << vault::EscrowFingerprint(*escrow);
               std::cout << "\n";
             }
             ++i;
           }
           if (json) {
             doc["keyslots"] = std::move(slots);
             PrintJson(doc);
           }
           return 0;
         });
       }});
  cmds.push_back(
      {"keyslot remove", "VAULT INDEX", "remove keyslot INDEX (never the last one)",
       [](auto& d, auto& p) {
         d.add_options()("vault", po::value<std::string>()->required(), "vault directory")(
             "index", po::value<size_t>()->required(), "keyslot number from 'keyslot list'");
         AddVaultOptions(d, true);
         p.add("vault", 1).add("index", 1);
       },
       [](const po::variables_map& vm) {
         auto v = OpenUnlocked(vm);
         const size_t index = vm["index"].as<size_t>();
         const std::string kind = index < v->config().slots.size()
                                      ? vault::SlotKindName(v->config().slots[index].kind)
                                      : "";
         Check(v->RemoveKeyslot(index));
         RecordVaultEvent(vm, audit::audit_events::kKeyslotRemove,
                          "keyslot " + std::to_string(index) + " removed (" + kind + ")");
         std::cout << "removed keyslot " << index << " (" << kind << ")\n";
         return 0;
       }});
  cmds.push_back(
      {"genkey", "FILE", "write a new random 64-byte key file (mode 0600) for --key-file",
       [](auto& d, auto& p) {
         d.add_options()("file", po::value<std::string>()->required(), "key file to create");
         p.add("file", 1);
       },
       [](const po::variables_map& vm) {
         const std::string file = vm["file"].as<std::string>();
         crypto::SecureBuffer key(64);
         crypto::RandomBytes(key.mutable_span());
         Status st = WriteNewFile(file, key.span(), 0600);
         if (!st.ok() && st.error().code() == Code::kExists) {
           throw Failure{kExitExists, file + " already exists; not overwriting a key"};
         }
         Check(st, "write key file " + file);
         std::cout << "wrote key file " << vm["file"].as<std::string>() << "\n";
         return 0;
       }});
}

}  // namespace matterfs::tools
