#include "experiments/environment.h"

#include <google/protobuf/stubs/common.h>
#include <oneapi/dnnl/dnnl.hpp>
#include <zlib.h>

#include <Eigen/Core>
#include <array>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <thread>

#include "absl/base/config.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace quantbench {
namespace {

// Output of a shell command, trimmed; empty when it fails.
std::string CommandOutput(const std::string& command) {
  std::string output;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return output;
  std::array<char, 512> buffer;
  while (fgets(buffer.data(), buffer.size(), pipe) != nullptr) output += buffer.data();
  if (pclose(pipe) != 0) return "";
  while (!output.empty() && (output.back() == '\n' || output.back() == ' ')) output.pop_back();
  return output;
}

nlohmann::json DescribeCpu() {
  nlohmann::json cpu = {{"model", "unknown"}, {"flags", nlohmann::json::array()}};
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> parts = absl::StrSplit(line, absl::MaxSplits(':', 1));
    if (parts.size() != 2) continue;
    std::string key(absl::StripAsciiWhitespace(parts[0]));
    std::string value(absl::StripAsciiWhitespace(parts[1]));
    if (key == "model name" && cpu["model"] == "unknown") cpu["model"] = value;
    if (key == "flags" && cpu["flags"].empty()) {
      // Keep the SIMD features that decide which kernels can run; the full list is noise.
      for (absl::string_view flag : absl::StrSplit(value, ' ')) {
        if (absl::StartsWith(flag, "avx") || absl::StartsWith(flag, "sse") || flag == "fma" ||
            flag == "f16c" || flag == "popcnt" || flag == "bmi2" || absl::StartsWith(flag, "amx")) {
          cpu["flags"].push_back(std::string(flag));
        }
      }
    }
  }
  return cpu;
}

}  // namespace

std::string UtcTimestamp() {
  std::time_t now = std::time(nullptr);
  char buffer[32];
  std::strftime(buffer, sizeof(buffer), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return buffer;
}

nlohmann::json DescribeEnvironment(const std::string& workspace, int threads) {
  nlohmann::json env;
  std::string git = "git -C '" + workspace + "' ";
  std::string commit = CommandOutput(git + "rev-parse HEAD 2>/dev/null");
  // Dirty = the code or configs differ from the commit; results/ is what sweeps write, so a
  // sweep run after another (uncommitted) sweep is still a sweep of a clean tree.
  std::string status =
      CommandOutput(git + "status --porcelain --untracked-files=no -- . ':(exclude)results' 2>/dev/null");
  env["git"] = {{"commit", commit.empty() ? "unknown" : commit},
                {"dirty", commit.empty() ? nlohmann::json("unknown") : nlohmann::json(!status.empty())}};
  nlohmann::json cpu = DescribeCpu();
  env["host"] = {{"cpu", cpu["model"]},
                 {"cpu_flags", cpu["flags"]},
                 {"hardware_threads", std::thread::hardware_concurrency()},
                 {"threads", threads}};
  const dnnl_version_t* dnnl = dnnl_version();
  env["libraries"] = {
      {"onednn", absl::StrCat(dnnl->major, ".", dnnl->minor, ".", dnnl->patch, " (", dnnl->hash, ")")},
      {"protobuf", google::protobuf::internal::VersionString(GOOGLE_PROTOBUF_VERSION)},
      {"eigen", absl::StrCat(EIGEN_WORLD_VERSION, ".", EIGEN_MAJOR_VERSION, ".", EIGEN_MINOR_VERSION)},
      {"abseil", absl::StrCat(ABSL_LTS_RELEASE_VERSION, ".", ABSL_LTS_RELEASE_PATCH_LEVEL)},
      {"zlib", zlibVersion()},
      {"compiler", __VERSION__}};
  return env;
}

}  // namespace quantbench
