// Users and groups from the system's name service (NSS: /etc/passwd, LDAP, sssd, winbind).
//
// This is the one file in policy/ that does I/O; it is a separate library,
// mfs_policy_nss, linked by the tools and the daemon, never used by the decision
// (policy/decision.h takes a resolved Subject). NSS lookups can block (a directory
// server), so the daemon should call these off its FUSE threads or cache the results.
// Thread-safety: stateless; uses the reentrant getpwnam_r/getgrnam_r family.
// Errors: kNotFound for a user that does not exist, kIo when NSS itself fails.
#pragma once

#include <cstdint>
#include <string_view>

#include "policy/decision.h"
#include "policy/policy.h"
#include "util/result.h"

namespace matterfs::policy {

class NssResolver final : public Resolver {
 public:
  Result<bool> UserExists(std::string_view user) const override;
  Result<bool> GroupExists(std::string_view group) const override;
};

// The subject for a login name / a uid: its name, uid, and the names of its primary and
// supplementary groups (getgrouplist). Groups without a name are left out.
Result<Subject> LookupSubject(std::string_view user);
Result<Subject> LookupSubject(uint32_t uid);

}  // namespace matterfs::policy
