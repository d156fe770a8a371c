// Initialises libsodium once for the whole crypto_test binary. Registering the environment
// during static initialisation lets the binary use gtest_main instead of its own main().
#include <gtest/gtest.h>

#include "crypto/secure_memory.h"

namespace {

class CryptoEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { matterfs::crypto::Init(); }
};

[[maybe_unused]] ::testing::Environment* const kCryptoEnvironment =
    ::testing::AddGlobalTestEnvironment(new CryptoEnvironment);

}  // namespace
