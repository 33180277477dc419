// Builds the network an experiment names (a registered architecture: the mlp, CIFAR and
// ImageNet nets) and gives it its fp32 weights: trained here (training/trainer.h, cached),
// an ONNX file, a .qbw file, or a seeded random initialisation, with BatchNorm kept or folded
// as the config says.
#ifndef QUANTBENCH_EXPERIMENTS_MODEL_LOADER_H_
#define QUANTBENCH_EXPERIMENTS_MODEL_LOADER_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "experiments/experiment.pb.h"
#include "datasets/labeled_images.h"
#include "networks/graph.h"
#include "networks/network.h"
#include "networks/param_store.h"

namespace quantbench {

struct LoadedModel {
  ParamStore fp32;                     // pristine weights: every cell starts from a copy
  std::unique_ptr<ParamStore> working;  // what `network` reads; cells rewrite it, then sync
  std::unique_ptr<Network> network;
  nlohmann::json weights;  // where the weights came from, for the result file
  // Graph architectures: the graph `network` runs (BatchNorm folded when the config folds),
  // matching `fp32`'s layout, e.g. for exporting it (networks/onnx_export.h). Empty for the mlp.
  std::optional<Graph> graph;
};

// The architectures a config may name: every registered builder (mlp included).
std::vector<std::string> AvailableArchitectures();

// The config's network as a Graph (the mlp's hidden widths and flat input become its builder
// variants).
absl::StatusOr<Graph> BuildConfiguredGraph(const NetworkSpec& spec);

// `test` (optional): the evaluation set, for the per-epoch test accuracy of networks trained
// here; `threads`: the sweep's (part of the trained-weight cache key).
absl::StatusOr<LoadedModel> LoadModel(const Experiment& config, const std::string& cache_dir,
                                      const std::function<void(const std::string&)>& log,
                                      const LabeledImages* test = nullptr, int threads = 1);

}  // namespace quantbench

#endif  // QUANTBENCH_EXPERIMENTS_MODEL_LOADER_H_
