// matterctl: the administrator's command-line tool. RunMatterctl parses argv and runs one
// command (the command groups are in cmd_*.cc, their framework in cli.h); main.cc is a
// thin wrapper. Exit codes are util/exit_codes.h's, documented in docs/MATTERCTL.md;
// errors are one line on stderr ("matterctl: ...").
#pragma once

#include "util/exit_codes.h"

namespace matterfs::tools {

int RunMatterctl(int argc, char** argv);

}  // namespace matterfs::tools
