// Where a sweep's fp32 weights come from: trained here (and cached), or a weights file.
#ifndef QUANTBENCH_EXPERIMENTS_FP32_WEIGHTS_H_
#define QUANTBENCH_EXPERIMENTS_FP32_WEIGHTS_H_

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "experiments/experiment.pb.h"
#include "networks/mlp.h"
#include "networks/param_store.h"

namespace quantbench {

struct Fp32Weights {
  ParamStore params;
  std::string source;      // "trained" or "file"
  std::string path;        // cache file or weights file
  bool from_cache = false;  // trained earlier, loaded from the cache
  double train_seconds = 0.0;
  std::string cache_key;
};

// The feed-forward net a validated config describes.
MlpSpec MlpSpecFor(const NetworkSpec& network);

// ~/.cache/quantbench (or $QUANTBENCH_CACHE_DIR, or $XDG_CACHE_HOME/quantbench).
std::string DefaultCacheDirectory();

// Trains the network described by `config` (or loads it from the cache when an identical
// spec was trained before), or reads the weights file. A corrupt cache file is reported on
// `log` and retrained, never used.
absl::StatusOr<Fp32Weights> ObtainFp32Weights(const Experiment& config, const std::string& cache_dir,
                                              const std::function<void(const std::string&)>& log);

}  // namespace quantbench

#endif  // QUANTBENCH_EXPERIMENTS_FP32_WEIGHTS_H_
