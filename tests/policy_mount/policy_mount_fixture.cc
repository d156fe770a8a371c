#include "tests/policy_mount/policy_mount_fixture.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>

namespace matterfs::policy_mount_test {

// ---- users -----------------------------------------------------------------------

void EnsureTestUsers() {
  EnsureUsers({{kAlice, {kLitGroup}},
               {kBob, {}},
               {kCarol, {}},
               {kDave, {}},
               {kErin, {kParaGroup}},
               {kFrank, {}},
               {kGina, {}},
               {kHugo, {}},
               {kClerk, {}}});
}

// ---- the standard policy ----------------------------------------------------------

// Who may do what (the tests rely on every line):
//   mfs-t-alice  partners (via @mfs-t-litp): read acme (role containing a group), admin
//                of every matter ([matter *]), may create matters
//   mfs-t-bob    associates: read acme/globex/initech (role), write them (user)
//   mfs-t-carol  associates and risk, admin of acme, but walled off acme
//   mfs-t-dave   risk: may break glass, granted nothing
//   mfs-t-erin   @mfs-t-para: read acme, globex, initech (group)
//   mfs-t-frank  nothing; mfs-t-hugo nothing
//   mfs-t-gina   read acme until 2020-06-30 (expired)
//   mfs-t-clerk  write on every matter (writes the test files)
//   root         nothing
std::string StandardPolicy(const PolicyOptions& o) {
  std::string p;
  p += "; policy_mount_test: the standard test policy\n";
  p += "[policy]\n";
  p += std::string("hide_denied     = ") + (o.hide_denied ? "yes" : "no") + "\n";
  p += "create_matters  = " + o.create_matters + "\n";
  p += "break_glass     = risk\n";
  p += "break_glass_max = 1h\n";
  p += o.policy_extra;
  if (o.policy_extra.find("bulk_threshold") == std::string::npos) {
    p += "bulk_threshold  = off\n";
  }
  p += "\n[role partners]\nmembers = @mfs-t-litp\n";
  p += "\n[role associates]\nmembers = mfs-t-bob, mfs-t-carol\n";
  p += "\n[role risk]\nmembers = mfs-t-dave, mfs-t-carol\n";
  p += "\n[matter *]\nwrite = mfs-t-clerk\nadmin = partners\n";
  p += "\n[matter acme]\n";
  p += "read  = associates, @mfs-t-para, partners, mfs-t-gina until=2020-06-30\n";
  p += "write = mfs-t-bob\n";
  p += "admin = mfs-t-carol\n";
  p += "deny  = mfs-t-carol   ; ethical wall\n";
  p += "\n[matter globex]\nread  = associates, @mfs-t-para\nwrite = mfs-t-bob\n";
  p += "\n[matter initech]\nread  = associates, @mfs-t-para\nwrite = mfs-t-bob\n";
  p += o.sections_extra;
  return p;
}

// ---- the fixture ------------------------------------------------------------------

void PolicyMountTest::SetUp() {
  ASSERT_NO_FATAL_FAILURE(EnsureTestUsers());
  alice_ = User(kAlice);
  bob_ = User(kBob);
  carol_ = User(kCarol);
  dave_ = User(kDave);
  erin_ = User(kErin);
  frank_ = User(kFrank);
  gina_ = User(kGina);
  hugo_ = User(kHugo);
  clerk_ = User(kClerk);
  root_ = User("root");
  ASSERT_FALSE(HasFailure());
  ASSERT_NO_FATAL_FAILURE(MountFixture::SetUp());
  if (MountAtStart() && SeedAtStart()) {
    ASSERT_NO_FATAL_FAILURE(Seed());
  }
}

void PolicyMountTest::Seed() {
  auto has = [&](const char* m) {
    auto ms = Matters();
    return std::find(ms.begin(), ms.end(), m) != ms.end();
  };
  auto write = [&](const std::string& rel, const std::string& data) {
    Sys s = WriteAs(clerk_, M(rel), data);
    ASSERT_EQ(s.rc, static_cast<long>(data.size()))
        << "seeding " << rel << ": " << ::testing::PrintToString(s);
    // Explicitly 0666, so that the kernel's mode check (default_permissions) lets every
    // user through and only the policy decides: the daemon applies its own umask to new
    // files (see CreatedFilesKeepTheRequestedMode).
    const std::string path = M(rel);
    Sys c = AsUser(clerk_, [&] {
      Sys out;
      out.rc = ::chmod(path.c_str(), 0666);
      out.err = out.rc < 0 ? errno : 0;
      return out;
    });
    ASSERT_EQ(c.rc, 0) << "chmod " << rel << ": " << ::testing::PrintToString(c);
  };
  auto mkdir = [&](const std::string& rel) {
    Sys s = MkdirAs(clerk_, M(rel));
    ASSERT_EQ(s.rc, 0) << "seeding " << rel << ": " << ::testing::PrintToString(s);
  };
  if (has("acme")) {
    ASSERT_NO_FATAL_FAILURE(write("acme/brief.txt", "acme brief v1\n"));
    ASSERT_NO_FATAL_FAILURE(mkdir("acme/docs"));
    ASSERT_NO_FATAL_FAILURE(write("acme/docs/memo.txt", "acme memo\n"));
  }
  if (has("globex")) {
    ASSERT_NO_FATAL_FAILURE(write("globex/deal.txt", "globex deal\n"));
  }
  if (has("initech")) {
    ASSERT_NO_FATAL_FAILURE(write("initech/patent.txt", "initech patent claims\n"));
    ASSERT_NO_FATAL_FAILURE(write("initech/notes.txt", "initech notes\n"));
    ASSERT_NO_FATAL_FAILURE(mkdir("initech/empty"));
  }
}

}  // namespace matterfs::policy_mount_test
