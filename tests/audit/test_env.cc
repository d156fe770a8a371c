// Initialises libsodium once for the whole audit_test binary (checkpoints are signed,
// path hashes keyed). Registering the environment during static initialisation lets the
// binary use gtest_main instead of its own main().
#include <gtest/gtest.h>

#include "crypto/secure_memory.h"

namespace {

class AuditEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { matterfs::crypto::Init(); }
};

[[maybe_unused]] ::testing::Environment* const kAuditEnvironment =
    ::testing::AddGlobalTestEnvironment(new AuditEnvironment);

}  // namespace
