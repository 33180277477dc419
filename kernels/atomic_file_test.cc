#include "kernels/atomic_file.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"

namespace quantbench {
namespace {

std::string TestDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir ? dir : "/tmp";
}

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string Host() {
  char name[256] = {0};
  gethostname(name, sizeof(name) - 1);
  std::string host(name);
  for (char& c : host) {
    if (c == '.' || c == '/') c = '_';
  }
  return host;
}

TEST(WriteFileAtomically, WritesPiecesAndCreatesDirectories) {
  const std::string path = TestDir() + "/a/b/x.json";
  ASSERT_TRUE(WriteFileAtomically(path, {"{\"a\":", "1}"}).ok());
  EXPECT_EQ(Read(path), "{\"a\":1}");
}

// A temporary left by a killed writer on this host goes with the next write of the same file;
// a live writer's, another file's and another host's stay.
TEST(WriteFileAtomically, RemovesTemporariesOfDeadWritersOnly) {
  const std::string dir = TestDir() + "/stale";
  std::filesystem::create_directories(dir);
  const pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);  // now a pid that does not run
  const std::string path = dir + "/r.json";
  const std::string dead = absl::StrCat(path, ".tmp.", Host(), ".", child, ".0");
  const std::string live = absl::StrCat(path, ".tmp.", Host(), ".", getpid(), ".7");
  const std::string other_host = absl::StrCat(path, ".tmp.elsewhere.", child, ".0");
  const std::string other_file = absl::StrCat(dir, "/s.json.tmp.", Host(), ".", child, ".0");
  for (const std::string& p : {dead, live, other_host, other_file}) std::ofstream(p) << "partial";
  ASSERT_TRUE(WriteFileAtomically(path, "whole").ok());
  EXPECT_EQ(Read(path), "whole");
  EXPECT_FALSE(std::filesystem::exists(dead));
  EXPECT_TRUE(std::filesystem::exists(live));
  EXPECT_TRUE(std::filesystem::exists(other_host));
  EXPECT_TRUE(std::filesystem::exists(other_file));
}

TEST(WriteFileAtomically, ErrorNamesTheFileAndLeavesNoTemporary) {
  const std::string dir = TestDir() + "/is_a_dir";
  std::filesystem::create_directories(dir + "/target");
  absl::Status status = WriteFileAtomically(dir + "/target", "x");
  EXPECT_FALSE(status.ok());
  EXPECT_NE(std::string(status.message()).find("target"), std::string::npos) << status;
  int left = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) left += entry.path().filename() != "target";
  EXPECT_EQ(left, 0);
}

}  // namespace
}  // namespace quantbench
