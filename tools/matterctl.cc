#include "tools/matterctl.h"

#include <sys/prctl.h>
#include <sys/resource.h>

#include <iostream>
#include <string>
#include <vector>

#include "crypto/secure_memory.h"
#include "fs/vault/format.h"
#include "tools/cli.h"
#include "util/log.h"

namespace matterfs::tools {

namespace {

using Args = std::vector<std::string>;

void PrintCommand(std::ostream& out, const Command& c) {
  const std::string head = c.name + " " + c.usage;
  if (head.size() < 34) {
    out << "  " << head << std::string(34 - head.size(), ' ') << c.summary << "\n";
  } else {
    out << "  " << head << "\n" << std::string(36, ' ') << c.summary << "\n";
  }
}

void PrintTopUsage(const Commands& cmds) {
  std::cout << "usage: matterctl COMMAND [ARGS] [OPTIONS]   (matterctl COMMAND --help)\n\n"
               "commands:\n";
  for (const auto& c : cmds) PrintCommand(std::cout, c);
  std::cout << "\nCommands that need the vault's keys take --passphrase-file F (F = - reads\n"
               "standard input) or --key-file F, or ask for the passphrase on the terminal.\n"
               "Commands a script reads take --json. Exit codes: 0 ok, 1 error, 2 usage,\n"
               "3 wrong key, 4 corrupt, 5 not found, 6 unsupported version, 7 exists, 8 busy\n"
               "(the vault is mounted), 9 unfinished (run rotate-master to finish an\n"
               "interrupted master key rotation), 10 denied by the policy.\n";
}

}  // namespace

int RunMatterctl(int argc, char** argv) {
  log::Init({"matterctl", true, false});
  Commands cmds;
  AddVaultCommands(cmds);
  AddMatterCommands(cmds);
  AddRotateCommands(cmds);
  AddRotateMasterCommands(cmds);
  AddWipeCommands(cmds);
  AddFsckCommands(cmds);
  AddCustodyCommands(cmds);
  AddMountCommands(cmds);
  AddPolicyCommands(cmds);
  AddCertificateCommands(cmds);
  Args args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    PrintTopUsage(cmds);
    return args.empty() ? kExitUsage : kExitOk;
  }
  if (args[0] == "--version" || args[0] == "version") {
    std::cout << "matterctl 0.1.0 (vault format " << vault::kFormatVersion << ")\n";
    return kExitOk;
  }
  const Command* cmd = nullptr;
  size_t consumed = 0;
  for (const auto& c : cmds) {
    std::string two = args.size() >= 2 ? args[0] + " " + args[1] : "";
    if (c.name == two) {
      cmd = &c;
      consumed = 2;
      break;
    }
    if (c.name == args[0]) {
      cmd = &c;
      consumed = 1;
    }
  }
  if (cmd == nullptr) {
    std::vector<const Command*> group;
    for (const auto& c : cmds) {
      if (c.name.rfind(args[0] + " ", 0) == 0) group.push_back(&c);
    }
    if (!group.empty()) {
      // `matterctl matter` lists its subcommands; with --help that is the answer.
      const bool help = args.size() >= 2 && (args[1] == "--help" || args[1] == "-h");
      std::ostream& out = help ? std::cout : std::cerr;
      if (!help) {
        out << "matterctl: '" << args[0] << "' needs a subcommand:";
        for (const Command* c : group) out << " " << c->name.substr(args[0].size() + 1);
        out << "\n";
      }
      out << "usage: matterctl " << args[0] << " SUBCOMMAND [ARGS] [OPTIONS]\n\nsubcommands:\n";
      for (const Command* c : group) PrintCommand(out, *c);
      out << "\n(matterctl " << args[0] << " SUBCOMMAND --help for its options)\n";
      return help ? kExitOk : kExitUsage;
    }
    log::Error("unknown command '" + args[0] + "' (see matterctl --help)");
    return kExitUsage;
  }
  Args rest(args.begin() + static_cast<std::ptrdiff_t>(consumed), args.end());
  po::options_description desc("options");
  po::positional_options_description pos;
  cmd->options(desc, pos);
  desc.add_options()("help,h", "show this help");
  try {
    crypto::Init();
    // matterctl holds the vault master key: no core dumps, no ptrace by others.
    ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    struct rlimit no_core = {0, 0};
    ::setrlimit(RLIMIT_CORE, &no_core);
    po::variables_map vm;
    po::store(po::command_line_parser(rest).options(desc).positional(pos).run(), vm);
    if (vm.count("help")) {
      std::cout << "usage: matterctl " << cmd->name << " " << cmd->usage << " [OPTIONS]\n"
                << cmd->summary << "\n\n"
                << desc << "\n";
      return kExitOk;
    }
    po::notify(vm);
    CheckOneStdinPassphrase(vm);
    return cmd->run(vm);
  } catch (const Failure& f) {
    log::Error(f.message);
    return f.code;
  } catch (const po::error& e) {
    log::Error(cmd->name + ": " + e.what() + " (see --help)");
    return kExitUsage;
  } catch (const std::exception& e) {
    log::Error(e.what());
    return kExitError;
  }
}

}  // namespace matterfs::tools
