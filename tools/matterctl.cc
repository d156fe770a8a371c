#include "tools/matterctl.h"

#include <sys/prctl.h>
#include <sys/resource.h>

#include <iostream>
#include <string>
#include <vector>

#include "crypto/secure_memory.h"
#include "fs/vault/format.h"
#include "tools/cli.h"

namespace matterfs::tools {

namespace {

using Args = std::vector<std::string>;

void PrintTopUsage(const Commands& cmds) {
  std::cout << "usage: matterctl COMMAND [ARGS] [OPTIONS]   (matterctl COMMAND --help)\n\n"
               "commands:\n";
  for (const auto& c : cmds) {
    std::string head = c.name + " " + c.usage;
    std::cout << "  " << head << std::string(head.size() < 34 ? 34 - head.size() : 1, ' ')
              << c.summary << "\n";
  }
  std::cout << "\nCommands that need the vault's keys take --passphrase-file F or --key-file F,\n"
               "or ask for the passphrase on the terminal. Exit codes: 0 ok, 1 error, 2 usage,\n"
               "3 wrong key, 4 corrupt, 5 not found, 6 unsupported version, 7 exists.\n";
}

}  // namespace

int RunMatterctl(int argc, char** argv) {
  Commands cmds;
  AddVaultCommands(cmds);
  AddMatterCommands(cmds);
  AddMountCommands(cmds);
  AddPolicyCommands(cmds);
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
    bool group = false;
    for (const auto& c : cmds) group |= c.name.rfind(args[0] + " ", 0) == 0;
    if (group) {
      std::cerr << "matterctl: '" << args[0] << "' needs a subcommand:";
      for (const auto& c : cmds) {
        if (c.name.rfind(args[0] + " ", 0) == 0)
          std::cerr << " " << c.name.substr(args[0].size() + 1);
      }
      std::cerr << "\n";
    } else {
      std::cerr << "matterctl: unknown command '" << args[0] << "' (see matterctl --help)\n";
    }
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
    return cmd->run(vm);
  } catch (const Failure& f) {
    std::cerr << "matterctl: " << f.message << "\n";
    return f.code;
  } catch (const po::error& e) {
    std::cerr << "matterctl " << cmd->name << ": " << e.what() << " (see --help)\n";
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "matterctl: " << e.what() << "\n";
    return kExitError;
  }
}

}  // namespace matterfs::tools
