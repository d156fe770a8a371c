#include <malloc.h>

#include "fs/daemon.h"

int main(int argc, char** argv) {
  // glibc gives each thread that allocates its own arena (up to 8 per core): with 16
  // worker threads the daemon's memory is spread over as many heaps, each keeping its
  // freed memory. Two arenas cost no measurable speed (the per-request paths hardly
  // allocate) and keep the resident size down (docs/PERFORMANCE.md "Memory").
  mallopt(M_ARENA_MAX, 2);
  return matterfs::daemon::RunMatterfs(argc, argv);
}
