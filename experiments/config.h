// Loading and validating experiment configs (experiments/experiment.proto, text format).
//
// Validation happens before any work starts and every error is one actionable line:
//   configs/x.pbtxt:14:3: quantizers[1].name: unknown quantizer 'foo'; registered: ...
#ifndef QUANTBENCH_EXPERIMENTS_CONFIG_H_
#define QUANTBENCH_EXPERIMENTS_CONFIG_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "experiments/experiment.pb.h"

namespace quantbench {

// Where the sweep runs: the workspace (for configs/ and results/) and the user's directory
// (for relative paths on the command line). `bazel run` provides both in the environment.
struct RunDirectories {
  std::string workspace;  // BUILD_WORKSPACE_DIRECTORY, else the current directory
  std::string working;    // BUILD_WORKING_DIRECTORY, else the current directory
  static RunDirectories FromEnvironment();
};

// Paths the command line (or the environment) puts in place of the config's, so one config
// serves every user's files. Applied before validation: errors name the overriding path.
struct ConfigOverrides {
  std::string weights;  // --weights / $QUANTBENCH_WEIGHTS: network.onnx.path or weights_file
  std::string data;     // --data / $QUANTBENCH_DATA: dataset.dir
};

// Resolves --config: an absolute path; a path relative to the user's working directory;
// or a bare file name looked up in <workspace>/configs/. NotFound lists every path tried.
absl::StatusOr<std::string> ResolveConfigPath(const std::string& argument, const RunDirectories& dirs);

// Parses, fills defaults and validates. Relative paths inside the config (dataset dirs,
// output) are resolved against the workspace. `config_path` names errors.
absl::StatusOr<Experiment> LoadExperiment(const std::string& config_path, const RunDirectories& dirs,
                                          const ConfigOverrides& overrides = {});

// The same from text, for tests (errors say `display_name`).
absl::StatusOr<Experiment> ParseExperiment(const std::string& text, const std::string& display_name,
                                           const RunDirectories& dirs, const ConfigOverrides& overrides = {});

// The bit widths a quantizer sweeps: its own `bits` when given, else the experiment's.
inline std::vector<int> BitsFor(const Experiment& config, const QuantizerSpec& quantizer) {
  const auto& widths = quantizer.bits().empty() ? config.bits() : quantizer.bits();
  return std::vector<int>(widths.begin(), widths.end());
}

// Number of (quantizer, bits) cells a sweep runs.
inline int CellCount(const Experiment& config) {
  int cells = 0;
  for (const QuantizerSpec& q : config.quantizers()) cells += static_cast<int>(BitsFor(config, q).size());
  return cells;
}

// Default Fashion-MNIST location (Debian package dataset-fashion-mnist).
inline constexpr char kFashionMnistDir[] = "/usr/share/datasets/fashion-mnist";

}  // namespace quantbench

#endif  // QUANTBENCH_EXPERIMENTS_CONFIG_H_
