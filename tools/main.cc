#include "tools/matterctl.h"

int main(int argc, char** argv) { return matterfs::tools::RunMatterctl(argc, argv); }
