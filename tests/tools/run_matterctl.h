// Runs matterctl in-process (RunMatterctl) for tools_test, capturing standard output and
// standard error, optionally with `stdin_text` as standard input (through a temporary
// file, so the command sees a file, not a terminal). Header-only.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "tools/matterctl.h"

namespace matterfs::test {

struct CliRun {
  int code = 0;
  std::string out;
  std::string err;
};

inline CliRun Matterctl(const std::vector<std::string>& args,
                        const std::optional<std::string>& stdin_text = std::nullopt) {
  std::vector<std::string> all = {"matterctl"};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  int saved_in = -1;
  if (stdin_text) {
    char inpath[] = "/tmp/matterfs-tools-in.XXXXXX";
    const int infd = ::mkstemp(inpath);
    ::unlink(inpath);
    (void)!::write(infd, stdin_text->data(), stdin_text->size());
    ::lseek(infd, 0, SEEK_SET);
    saved_in = ::dup(STDIN_FILENO);
    ::dup2(infd, STDIN_FILENO);
    ::close(infd);
  }
  std::ostringstream out;
  std::streambuf* old = std::cout.rdbuf(out.rdbuf());
  std::fflush(stderr);
  char errpath[] = "/tmp/matterfs-tools-err.XXXXXX";
  const int errfd = ::mkstemp(errpath);
  const int saved = ::dup(STDERR_FILENO);
  ::dup2(errfd, STDERR_FILENO);
  CliRun r;
  r.code = tools::RunMatterctl(static_cast<int>(all.size()), argv.data());
  std::cout.flush();
  std::cout.rdbuf(old);
  std::fflush(stderr);
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  ::close(errfd);
  if (saved_in >= 0) {
    ::dup2(saved_in, STDIN_FILENO);
    ::close(saved_in);
  }
  std::ifstream in(errpath);
  r.err.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  ::unlink(errpath);
  r.out = out.str();
  return r;
}

}  // namespace matterfs::test
