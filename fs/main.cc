#include "fs/daemon.h"

int main(int argc, char** argv) { return matterfs::daemon::RunMatterfs(argc, argv); }
