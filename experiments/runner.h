// The sweep: fp32 baseline first, then every (quantizer, bits) cell on a fresh copy of the
// fp32 weights, each evaluated on the whole test set.
#ifndef QUANTBENCH_EXPERIMENTS_RUNNER_H_
#define QUANTBENCH_EXPERIMENTS_RUNNER_H_

#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "experiments/config.h"
#include "experiments/experiment.pb.h"

namespace quantbench {

struct SweepOptions {
  std::string config_path;  // as resolved, recorded in the results
  RunDirectories dirs;
  std::string cache_dir;    // trained-weight cache
  std::string command;      // the command line that regenerates the results
  std::FILE* progress = stderr;
};

// Runs the validated experiment and returns the self-describing result document.
absl::StatusOr<nlohmann::json> RunSweep(const Experiment& config, const SweepOptions& options);

// Writes results/<name>.json and the Markdown beside it, each atomically.
absl::Status WriteSweepResults(const nlohmann::json& sweep, const std::string& json_path);

}  // namespace quantbench

#endif  // QUANTBENCH_EXPERIMENTS_RUNNER_H_
