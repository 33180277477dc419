// The sweep binary's contract at the command line: bad input is one actionable line on
// stderr, a non-zero exit, and no result file.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>
#include <string>

namespace {

struct CommandResult {
  int exit_code;
  std::string output;
};

CommandResult RunSweep(const std::string& args) {
  std::string command = "experiments/sweep " + args + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  std::string output;
  std::array<char, 4096> buffer;
  while (fgets(buffer.data(), buffer.size(), pipe) != nullptr) output += buffer.data();
  int status = pclose(pipe);
  return {WEXITSTATUS(status), output};
}

std::string TestDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir ? dir : "/tmp";
}

TEST(SweepCli, MissingConfigListsPathsTried) {
  CommandResult run = RunSweep("--config=nope.pbtxt");
  EXPECT_NE(run.exit_code, 0);
  EXPECT_NE(run.output.find("sweep: error: config 'nope.pbtxt' not found; tried: "), std::string::npos)
      << run.output;
  EXPECT_NE(run.output.find("configs/nope.pbtxt"), std::string::npos) << run.output;
}

TEST(SweepCli, InvalidConfigIsOneLineAndWritesNothing) {
  std::string config = TestDir() + "/bad.pbtxt";
  std::string output = TestDir() + "/bad.json";
  std::ofstream(config) << "name: \"bad\"\nnetwork { architecture: \"mlp\" mlp { hidden: [4] } train {} }\n"
                           "quantizers { name: \"linear\" }\nbits: [2, 40]\n";
  CommandResult run = RunSweep("--config=" + config + " --output=" + output);
  EXPECT_NE(run.exit_code, 0);
  EXPECT_EQ(run.output.find("sweep: error: " + config + ":4:"), 0u) << run.output;
  EXPECT_NE(run.output.find("bits[1]: 40 is outside 1..16"), std::string::npos) << run.output;
  EXPECT_EQ(std::count(run.output.begin(), run.output.end(), '\n'), 1) << run.output;
  struct stat st;
  EXPECT_NE(stat(output.c_str(), &st), 0) << "no result file may be written on error";
}

TEST(SweepCli, UnknownFlagAndBadThreads) {
  EXPECT_NE(RunSweep("--confg=x").exit_code, 0);
  CommandResult run = RunSweep("--config=x --threads=many");
  EXPECT_NE(run.exit_code, 0);
  // absl's flag parser names the flag and the value it refused.
  EXPECT_NE(run.output.find("Illegal value 'many' specified for flag 'threads'"), std::string::npos) << run.output;
}

TEST(SweepCli, HelpExitsZero) {
  CommandResult run = RunSweep("--help");
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_NE(run.output.find("usage:"), std::string::npos);
}

}  // namespace
