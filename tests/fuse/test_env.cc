// Initialises libsodium once for the whole fuse_test binary. Registering the environment
// during static initialisation lets the binary use gtest_main instead of its own main().
#include <gtest/gtest.h>

#include "crypto/secure_memory.h"

namespace {

class FuseEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { matterfs::crypto::Init(); }
};

[[maybe_unused]] ::testing::Environment* const kFuseEnvironment =
    ::testing::AddGlobalTestEnvironment(new FuseEnvironment);

}  // namespace
