// bazel run //experiments:plot -- results/x.json [results/y.json ...] [--nomarkdown] [--png] [--gnuplot=PATH]
//
// Regenerates the figures of existing sweep result files (experiments/plots.h) beside each
// .json, and the Markdown beside it with its "Figures" list (unless --nomarkdown). The JSON is
// only read. One line on stderr and a non-zero exit on any error.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "datasets/paths.h"
#include "experiments/plots.h"
#include "experiments/result_files.h"

ABSL_FLAG(bool, markdown, true, "also rewrite the .md beside each .json (with its Figures list)");
ABSL_FLAG(std::string, gnuplot, "gnuplot", "gnuplot binary: a name looked up on $PATH, or a path");
ABSL_FLAG(bool, png, false, "also write a PNG beside every SVG");

namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "plot: error: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("bazel run //experiments:plot -- results/x.json [more.json ...]");
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() < 2) return Fail("name at least one result JSON, e.g. results/fashion_mnist_mlp.json");
  // bazel run changes the working directory: relative names are the user's.
  const char* user_dir = std::getenv("BUILD_WORKING_DIRECTORY");
  const std::string base = user_dir ? user_dir : ".";
  quantbench::PlotOptions options;
  options.gnuplot = absl::GetFlag(FLAGS_gnuplot);
  options.png = absl::GetFlag(FLAGS_png);
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string path = quantbench::JoinPath(base, args[i]);
    absl::StatusOr<nlohmann::json> read = quantbench::ReadSweepFile(path);
    if (!read.ok()) return Fail(std::string(read.status().message()));
    const nlohmann::json& sweep = *read;
    if (absl::GetFlag(FLAGS_markdown)) {
      absl::Status written = quantbench::WriteMarkdownAndFigures(sweep, path, options, stderr);
      if (!written.ok()) return Fail(std::string(written.message()));
      std::printf("wrote %s\n", quantbench::MarkdownPathFor(path).c_str());
    } else {
      absl::StatusOr<quantbench::PlotFiles> plots = quantbench::WriteSweepPlots(sweep, path, options);
      if (!plots.ok()) return Fail(std::string(plots.status().message()));
      if (plots->skipped) std::fprintf(stderr, "%s\n", plots->skipped_because.c_str());
      for (const std::string& file : plots->files) std::printf("wrote %s\n", file.c_str());
    }
  }
  return 0;
}
