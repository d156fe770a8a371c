// matterctl: key custody (escrow keygen|add, recover, config backup|restore|upgrade).
// docs/OPERATIONS.md "Key custody" explains how a firm uses them.
#include <fcntl.h>

#include <iostream>

#include "tools/cli.h"
#include "util/file_io.h"
#include "util/log.h"

namespace matterfs::tools {

namespace {
constexpr size_t kMaxConfigFile = 64 * 1024;
}  // namespace

void AddCustodyCommands(Commands& cmds) {
  cmds.push_back(
      {"escrow keygen", "PRIVATE PUBLIC",
       "make the firm's escrow key pair (once): keep PRIVATE offline, give PUBLIC to escrow add",
       [](auto& d, auto& p) {
         d.add_options()("private", po::value<std::string>()->required(),
                         "private key file to create (mode 0600)")(
             "public", po::value<std::string>()->required(), "public key file to create");
         p.add("private", 1).add("public", 1);
       },
       [](const po::variables_map& vm) {
         const auto pair = crypto::MakeEscrowKeyPair();
         Check(vault::WriteEscrowKeyPair(vm["private"].as<std::string>(),
                                         vm["public"].as<std::string>(), pair));
         std::cout << "wrote the escrow key pair: private " << vm["private"].as<std::string>()
                   << ", public " << vm["public"].as<std::string>() << " (fingerprint "
                   << vault::EscrowFingerprint(pair.public_key) << ")\n"
                   << "Keep the private key offline (two copies, e.g. in the firm's safe): it "
                      "opens every vault escrowed to it.\n";
         return 0;
       }});
  cmds.push_back(
      {"escrow add", "VAULT",
       "add an escrow keyslot sealed to the firm's public key (unlock with an existing slot)",
       [](auto& d, auto& p) {
         d.add_options()("vault", po::value<std::string>()->required(), "vault directory")(
             "public-key", po::value<std::string>()->required(),
             "the firm's escrow public key (matterctl escrow keygen)");
         AddVaultOptions(d, true);
         p.add("vault", 1);
       },
       [](const po::variables_map& vm) {
         const auto key =
             Check(vault::ReadEscrowPublicKey(vm["public-key"].as<std::string>()), "--public-key");
         auto v = OpenUnlocked(vm);
         const size_t index = Check(v->AddEscrowSlot(key));
         const std::string fp = vault::EscrowFingerprint(key);
         RecordVaultEvent(
             vm, audit::audit_events::kEscrowAdd,
             "escrow keyslot " + std::to_string(index) + " added for the firm key " + fp);
         std::cout << "added keyslot " << index << " (escrow to the firm key " << fp << ")\n";
         return 0;
       }});
  cmds.push_back(
      {"recover", "VAULT",
       "open the vault with the firm's escrow private key and add a new keyslot for the user",
       [](auto& d, auto& p) {
         d.add_options()("vault", po::value<std::string>()->required(), "vault directory")(
             "escrow-key", po::value<std::string>()->required(),
             "the firm's escrow private key file")(
             "new-passphrase-file", po::value<std::string>(),
             "the new slot's passphrase, from a file (- for standard input; default: asked)")(
             "new-key-file", po::value<std::string>(),
             "the new slot's key file (with a passphrase: a slot that needs both)")(
             "new-fido2", po::bool_switch(), "a slot that needs the passphrase and a FIDO2 token")(
             "new-fido2-device", po::value<std::string>(), "the new slot's FIDO2 token device");
         AddVaultOptions(d, false);
         AddKdfOptions(d);
         p.add("vault", 1);
       },
       [](const po::variables_map& vm) {
         auto v = OpenVault(vm);
         auto escrow =
             Check(vault::ReadEscrowPrivateKey(vm["escrow-key"].as<std::string>()), "--escrow-key");
         Status opened = v->Unlock(escrow);
         if (!opened.ok()) {
           RecordVaultEvent(vm, audit::audit_events::kEscrowRecover,
                            "escrow recovery failed: " + opened.error().message(), false);
           Check(opened);
         }
         const size_t escrow_slot = v->unlocked_slot();
         auto cred = ReadNewCredential(vm);
         const size_t index =
             Check(v->AddKeyslot(cred, KdfParams(vm, vault::UsesPassphrase(cred.kind))));
         RecordVaultEvent(vm, audit::audit_events::kEscrowRecover,
                          "vault opened with escrow keyslot " + std::to_string(escrow_slot) +
                              "; new keyslot " + std::to_string(index) + " (" +
                              vault::SlotKindName(cred.kind) + ")");
         std::cout << "recovered with escrow keyslot " << escrow_slot << "; added keyslot " << index
                   << " (" << vault::SlotKindName(cred.kind) << ")\n";
         return 0;
       }});
  cmds.push_back(
      {"config backup", "VAULT FILE",
       "copy the vault config (its keyslots) to FILE (needs no key; mode 0600)",
       [](auto& d, auto& p) {
         d.add_options()("vault", po::value<std::string>()->required(), "vault directory")(
             "file", po::value<std::string>()->required(), "backup file to create");
         p.add("vault", 1).add("file", 1);
       },
       [](const po::variables_map& vm) {
         const std::string path = vm["vault"].as<std::string>();
         const vault::VaultConfig config = ReadConfigOnly(path);
         auto raw = Check(
             ReadWholeFile(AT_FDCWD, path + "/" + std::string(vault::kConfigName), kMaxConfigFile),
             path);
         const std::string file = vm["file"].as<std::string>();
         Check(WriteNewFile(file, raw, 0600), "config backup");
         std::cout << "wrote a backup of the config of " << path << " to " << file << " ("
                   << config.slots.size() << " keyslots, config version " << config.version
                   << ")\n";
         return 0;
       }});
  cmds.push_back({"config restore", "VAULT FILE",
                  "replace the vault config with a backup (unlock with a keyslot of the backup)",
                  [](auto& d, auto& p) {
                    d.add_options()("vault", po::value<std::string>()->required(),
                                    "vault directory")("file", po::value<std::string>()->required(),
                                                       "backup from matterctl config backup");
                    AddVaultOptions(d, true);
                    p.add("vault", 1).add("file", 1);
                  },
                  [](const po::variables_map& vm) {
                    const std::string path = vm["vault"].as<std::string>();
                    const std::string file = vm["file"].as<std::string>();
                    vault::OpenOptions open;
                    open.config = Check(ReadWholeFile(AT_FDCWD, file, kMaxConfigFile), file);
                    auto v = Check(vault::Vault::Open(path, Opt(vm, "keystore"), open), file);
                    Check(v->Unlock(ReadUnlock(vm, v->config(), file)), file);
                    Check(v->RestoreConfig());
                    RecordVaultEvent(vm, audit::audit_events::kConfigRestore,
                                     "config restored from a backup (" +
                                         std::to_string(v->config().slots.size()) + " keyslots)");
                    std::cout << "restored the config of " << path << " from " << file << " ("
                              << v->config().slots.size() << " keyslots)\n";
                    return 0;
                  }});
  cmds.push_back(
      {"config upgrade", "VAULT",
       "upgrade the vault config to version 3 (two copies; two-factor and escrow keyslots)",
       [](auto& d, auto& p) {
         d.add_options()("vault", po::value<std::string>()->required(), "vault directory");
         AddVaultOptions(d, true);
         p.add("vault", 1);
       },
       [](const po::variables_map& vm) {
         auto v = OpenUnlocked(vm);
         const uint16_t was = v->config().version;
         if (!Check(v->UpgradeConfig())) {
           std::cout << "the config of " << v->path() << " is already version "
                     << v->config().version << "\n";
           return 0;
         }
         RecordVaultEvent(vm, audit::audit_events::kConfigUpgrade,
                          "config upgraded from version " + std::to_string(was) + " to " +
                              std::to_string(v->config().version));
         std::cout << "upgraded the config of " << v->path() << " from version " << was << " to "
                   << v->config().version
                   << " (matterfs releases before it can no longer open this vault)\n";
         return 0;
       }});
}

}  // namespace matterfs::tools
