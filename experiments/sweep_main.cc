// bazel run //experiments:sweep -- --config=fashion_mnist_mlp.pbtxt [--threads=N] [--output=PATH]
//
// Runs one experiment config end to end and writes results/<name>.json and .md. Any error is
// one line on stderr naming the file and field at fault, and a non-zero exit; results are
// written only when the whole sweep succeeded.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "experiments/config.h"
#include "experiments/cache_directory.h"
#include "experiments/result_files.h"
#include "experiments/runner.h"

namespace {

constexpr char kUsage[] =
    "usage: bazel run //experiments:sweep -- --config=FILE [--weights=PATH] [--data=DIR] [--threads=N]\n"
    "                                         [--output=PATH] [--cache_dir=DIR]\n"
    "  --config     experiment config (.pbtxt): a bare name is looked up in configs/,\n"
    "               a relative path in the directory you ran bazel from\n"
    "  --weights    weights file replacing the config's onnx path or weights_file\n"
    "               (default: $QUANTBENCH_WEIGHTS when set)\n"
    "  --data       dataset folder replacing the config's dataset.dir (default: $QUANTBENCH_DATA)\n"
    "  --threads    threads for oneDNN and our loops (default: the config's, else all cores)\n"
    "  --output     result JSON path (default: the config's, else results/<name>.json)\n"
    "  --cache_dir  trained-weight cache (default: $QUANTBENCH_CACHE_DIR or ~/.cache/quantbench)\n";

int Fail(const std::string& message) {
  std::fprintf(stderr, "sweep: error: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_arg, output, cache_dir = quantbench::DefaultCacheDirectory();
  quantbench::ConfigOverrides overrides;
  if (const char* env = std::getenv("QUANTBENCH_WEIGHTS"); env && *env) overrides.weights = env;
  if (const char* env = std::getenv("QUANTBENCH_DATA"); env && *env) overrides.data = env;
  int threads = -1;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value_of = [&](const char* flag) -> const char* {
      std::string prefix = absl::StrCat(flag, "=");
      return absl::StartsWith(arg, prefix) ? argv[i] + prefix.size() : nullptr;
    };
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (const char* v = value_of("--config")) {
      config_arg = v;
    } else if (const char* v = value_of("--weights")) {
      overrides.weights = v;
    } else if (const char* v = value_of("--data")) {
      overrides.data = v;
    } else if (const char* v = value_of("--output")) {
      output = v;
    } else if (const char* v = value_of("--cache_dir")) {
      cache_dir = v;
    } else if (const char* v = value_of("--threads")) {
      if (!absl::SimpleAtoi(v, &threads) || threads < 0) {
        return Fail(absl::StrCat("--threads=", v, ": expected a non-negative integer (0 = all cores)"));
      }
    } else {
      std::fputs(kUsage, stderr);
      return Fail(absl::StrCat("unknown argument '", arg, "'"));
    }
  }
  if (config_arg.empty()) {
    std::fputs(kUsage, stderr);
    return Fail("--config is required");
  }

  quantbench::RunDirectories dirs = quantbench::RunDirectories::FromEnvironment();
  auto path = quantbench::ResolveConfigPath(config_arg, dirs);
  if (!path.ok()) return Fail(std::string(path.status().message()));
  // Relative override paths are the user's: resolve them where `bazel run` was started.
  for (std::string* p : {&overrides.weights, &overrides.data}) {
    if (!p->empty() && (*p)[0] != '/') *p = absl::StrCat(dirs.working, "/", *p);
  }
  auto config = quantbench::LoadExperiment(*path, dirs, overrides);
  if (!config.ok()) return Fail(std::string(config.status().message()));
  if (threads >= 0) config->set_threads(threads);
  if (!output.empty()) {
    config->set_output(output[0] == '/' ? output : absl::StrCat(dirs.working, "/", output));
  }

  quantbench::SweepOptions options;
  options.config_path = *path;
  options.dirs = dirs;
  options.cache_dir = cache_dir;
  options.command = absl::StrCat("bazel run //experiments:sweep -- --config=", config_arg);
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (absl::StartsWith(arg, "--weights=") || absl::StartsWith(arg, "--data=")) absl::StrAppend(&options.command, " ", arg);
  }
  auto sweep = quantbench::RunSweep(*config, options);
  if (!sweep.ok()) return Fail(std::string(sweep.status().message()));
  absl::Status written = quantbench::WriteSweepResults(*sweep, config->output());
  if (!written.ok()) return Fail(std::string(written.message()));
  std::fputs(quantbench::SweepMarkdown(*sweep).c_str(), stdout);
  std::fprintf(stderr, "wrote %s and %s\n", config->output().c_str(),
               quantbench::MarkdownPathFor(config->output()).c_str());
  return 0;
}
