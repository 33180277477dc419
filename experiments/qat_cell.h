// One quantization-aware sweep cell (QuantizerSpec.qat): the fp32 network retrained with the
// cell's quantizer in the loop (latent fp32 weights, straight-through estimator), from the
// fp32 weights, with labels or by distillation from the frozen fp32 network. The cell then
// quantizes the trained latent weights as a post-training cell quantizes the fp32 ones.
#ifndef QUANTBENCH_EXPERIMENTS_QAT_CELL_H_
#define QUANTBENCH_EXPERIMENTS_QAT_CELL_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "datasets/labeled_images.h"
#include "experiments/experiment.pb.h"
#include "experiments/quantize_model.h"
#include "networks/graph.h"
#include "networks/param_store.h"
#include "quantizers/activation_quantizer.h"
#include "quantizers/quantizer.h"

namespace quantbench {

struct QatCellResult {
  ParamStore trained;  // latent weights after training (BatchNorm statistics included)
  // What to quantize `trained` with: the cell's quantizer, with its trained parameters bound
  // when they were learnt (TrainableQuantizer); not null.
  std::unique_ptr<Quantizer> quantizer;
  nlohmann::json record;  // recipe, STE, loss, curves, wall time, cache file, α statistics
  // Trained activation thresholds (qat.activation_thresholds SYMMETRIC / ASYMMETRIC): the
  // grids to evaluate the trained cell with, and those at the initial α (calibration only).
  // Empty otherwise (the sweep's calibrated grids apply).
  std::map<std::string, ActivationQuantParams> activations;
  std::map<std::string, ActivationQuantParams> initial_activations;
};

// `quantizer` must outlive the result. `graph` / `fp32`: the network as the sweep runs it
// (also the distillation teacher). `test`: for per-epoch test accuracy (may be null).
// `activations`: the sweep's calibrated activation quantization (site -> parameters), applied
// in training too (fake quantization with a straight-through estimator inside the range), or
// the starting point of trained thresholds, from `activation_ranges` (site -> calibrated min, max).
absl::StatusOr<QatCellResult> TrainQatCell(const Experiment& config, const QuantizerSpec& spec,
                                           const Quantizer& quantizer, int bits,
                                           const std::vector<LayerPlan>& plan, const Graph& graph,
                                           const ParamStore& fp32, const LabeledImages* test,
                                           const std::map<std::string, ActivationQuantParams>& activations,
                                           const std::map<std::string, std::pair<float, float>>& activation_ranges,
                                           int threads, const std::string& cache_dir,
                                           const std::function<void(const std::string&)>& log);

}  // namespace quantbench

#endif  // QUANTBENCH_EXPERIMENTS_QAT_CELL_H_
