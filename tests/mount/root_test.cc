// The root of the mount: it lists the matters, mkdir there creates a matter, and nothing
// else may be created, removed or renamed there.
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "tests/mount/mount_fixture.h"
#include "util/unique_fd.h"

namespace matterfs::mount_test {
namespace {

using Names = std::vector<std::string>;

TEST_F(TwoMatterTest, RootListsTheMatters) {
  EXPECT_EQ(ListDir(mnt_).value_or(Names{"?"}), (Names{"alpha", "beta"}));
  struct stat st;
  ASSERT_EQ(::stat((mnt_ + "/alpha").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  ASSERT_EQ(::stat(mnt_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(::stat((mnt_ + "/gamma").c_str(), &st), -1);
  EXPECT_EQ(errno, ENOENT);
}

TEST_F(MountTest, MkdirAtTheRootCreatesAMatter) {
  ASSERT_EQ(::mkdir((mnt_ + "/gamma").c_str(), 0755), 0) << std::strerror(errno);
  struct stat st;
  ASSERT_EQ(::stat((mnt_ + "/gamma").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(ListDir(mnt_).value_or(Names{"?"}), (Names{"alpha", "gamma"}));
  ASSERT_TRUE(WriteFile(mnt_ + "/gamma/first", "in gamma"));
  EXPECT_EQ(ReadFile(mnt_ + "/gamma/first").value_or("?"), "in gamma");
  EXPECT_EQ(ListDir(mnt_ + "/gamma").value_or(Names{"?"}), Names{"first"});
  // The tools see the new matter.
  CmdResult list = Matterctl({"matter", "list", vault_, "--passphrase-file", pass_});
  EXPECT_EQ(list.status, 0) << ::testing::PrintToString(list);
  EXPECT_NE(list.out.find("gamma"), std::string::npos) << list.out;
  EXPECT_EQ(::mkdir((mnt_ + "/gamma").c_str(), 0755), -1);
  EXPECT_EQ(errno, EEXIST);
  // It is a matter of its own: a rename to alpha is EXDEV.
  EXPECT_EQ(::rename((mnt_ + "/gamma/first").c_str(), M("first").c_str()), -1);
  EXPECT_EQ(errno, EXDEV);
  ASSERT_NO_FATAL_FAILURE(Remount());
  EXPECT_EQ(ReadFile(mnt_ + "/gamma/first").value_or("?"), "in gamma");
  ASSERT_NO_FATAL_FAILURE(Unmount());
  CmdResult cat = Matterctl({"cat", vault_, "gamma/first", "--passphrase-file", pass_});
  EXPECT_EQ(cat.status, 0) << ::testing::PrintToString(cat);
  EXPECT_EQ(cat.out, "in gamma");
}

TEST_F(MountTest, MkdirAtTheRootRefusesANameNoPolicyCouldName) {
  // The rule of `matterctl matter create` (util/matter_name.h): a policy section
  // [matter NAME] must be able to name every matter.
  for (const std::string& bad : {std::string("wall]"), std::string("tab\there"),
                                 std::string("bell\x07"), std::string("del\x7f")}) {
    EXPECT_EQ(::mkdir((mnt_ + "/" + bad).c_str(), 0755), -1) << bad;
    EXPECT_EQ(errno, EINVAL) << bad;
  }
  EXPECT_EQ(ListDir(mnt_).value_or(Names{"?"}), (Names{"alpha"})) << "nothing was created";
  CmdResult list = Matterctl({"matter", "list", vault_, "--passphrase-file", pass_});
  EXPECT_EQ(list.status, 0) << ::testing::PrintToString(list);
  EXPECT_EQ(list.out.find("wall"), std::string::npos) << list.out;
}

TEST_F(MountTest, NoPlainFilesAtTheRoot) {
  ASSERT_TRUE(WriteFile(M("f"), "f"));
  const std::string at_root = mnt_ + "/file";
  EXPECT_EQ(::open(at_root.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(::open(at_root.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0644), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(::mknod(at_root.c_str(), S_IFREG | 0644, 0), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(::mknod((mnt_ + "/fifo").c_str(), S_IFIFO | 0644, 0), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(::symlink("alpha", (mnt_ + "/link").c_str()), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(::link(M("f").c_str(), (mnt_ + "/hard").c_str()), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(::rename(M("f").c_str(), (mnt_ + "/moved").c_str()), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(ListDir(mnt_).value_or(Names{"?"}), Names{"alpha"});
  EXPECT_EQ(ReadFile(M("f")).value_or("?"), "f");
}

TEST_F(MountTest, MattersCannotBeRemovedOrRenamedThroughTheMount) {
  ASSERT_TRUE(WriteFile(M("keep"), "keep"));
  EXPECT_EQ(::rmdir(M().c_str()), -1);
  EXPECT_EQ(errno, EPERM);
  // Not even an empty one.
  ASSERT_EQ(::mkdir((mnt_ + "/empty").c_str(), 0755), 0);
  EXPECT_EQ(::rmdir((mnt_ + "/empty").c_str()), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(::unlink(M().c_str()), -1);
  EXPECT_TRUE(errno == EPERM || errno == EISDIR) << std::strerror(errno);
  EXPECT_EQ(::rename(M().c_str(), (mnt_ + "/renamed").c_str()), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(ListDir(mnt_).value_or(Names{"?"}), (Names{"alpha", "empty"}));
  EXPECT_EQ(ReadFile(M("keep")).value_or("?"), "keep");
  ASSERT_NO_FATAL_FAILURE(Remount());
  EXPECT_EQ(ReadFile(M("keep")).value_or("?"), "keep");
}

}  // namespace
}  // namespace matterfs::mount_test
