// bazel run //experiments:ecr -- --output=results/ecr_fashion.json results/a.json results/b.json ...
//
// Reads labelled sweep results of one task at several network sizes and writes the resiliency
// paper's effective compression ratio for every cell (experiments/ecr.h) and the accuracy-vs-size
// curves with mean ± std over seed repeats (experiments/size_curves.h, key "size_curves"): JSON
// plus Markdown beside it. One line on stderr and a non-zero exit on any error; nothing is written then.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "datasets/paths.h"
#include "experiments/ecr.h"
#include "experiments/result_files.h"
#include "experiments/size_curves.h"
#include "kernels/atomic_file.h"

namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "ecr: error: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  // bazel run changes the working directory: relative names are the user's.
  const char* user_dir = std::getenv("BUILD_WORKING_DIRECTORY");
  const std::string base = user_dir ? user_dir : ".";
  std::string output;
  std::vector<std::string> inputs, names;  // resolved paths; names as the user wrote them
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (absl::StartsWith(arg, "--output=")) {
      output = quantbench::JoinPath(base, arg.substr(9));
    } else if (absl::StartsWith(arg, "--")) {
      return Fail("unknown flag " + arg + "; usage: ecr --output=OUT.json SWEEP.json SWEEP.json...");
    } else {
      inputs.push_back(quantbench::JoinPath(base, arg));
      names.push_back(arg);
    }
  }
  if (output.empty()) return Fail("--output=OUT.json is required");
  std::vector<nlohmann::json> sweeps;
  for (const std::string& path : inputs) {
    absl::StatusOr<nlohmann::json> sweep = quantbench::ReadSweepFile(path);
    if (!sweep.ok()) return Fail(std::string(sweep.status().message()));
    sweeps.push_back(*std::move(sweep));
  }
  auto report = quantbench::EffectiveCompression(sweeps, names);
  if (!report.ok()) return Fail(std::string(report.status().message()));
  auto curves = quantbench::SizeCurves(sweeps, names);
  if (!curves.ok()) return Fail(std::string(curves.status().message()));
  (*report)["size_curves"] = *curves;
  absl::Status written = quantbench::WriteFileAtomically(output, report->dump(2) + "\n");
  if (written.ok()) {
    written = quantbench::WriteFileAtomically(quantbench::MarkdownPathFor(output),
                                              quantbench::EffectiveCompressionMarkdown(*report) + "\n" +
                                                  quantbench::SizeCurvesMarkdown(*curves));
  }
  if (!written.ok()) return Fail(std::string(written.message()));
  std::printf("wrote %s and %s\n", output.c_str(), quantbench::MarkdownPathFor(output).c_str());
  return 0;
}
