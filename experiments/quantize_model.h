// Applies one quantizer to every selected weight tensor of a model and measures the damage
// to the weights (per layer and overall) and the storage the result needs.
#ifndef QUANTBENCH_EXPERIMENTS_QUANTIZE_MODEL_H_
#define QUANTBENCH_EXPERIMENTS_QUANTIZE_MODEL_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "experiments/experiment.pb.h"
#include "networks/param_store.h"
#include "quantizers/quantizer.h"

namespace quantbench {

// Which weight tensors a cell quantizes, and at what width (biases always stay fp32).
struct LayerPlan {
  std::string param;  // parameter name in the store
  std::string layer;
  int bits = 0;       // 0 = kept in fp32
};

// Resolves the config's layer selection for a sweep cell at `sweep_bits`. An override naming
// a layer the network does not have is an error that lists the layers.
absl::StatusOr<std::vector<LayerPlan>> PlanLayers(const ParamStore& params, const LayerSelection& selection,
                                                  int sweep_bits);

struct LayerReport {
  std::string layer;
  int bits = 0;
  int64_t weights = 0;
  double mse = 0.0;
  double sqnr_db = 0.0;
  int64_t levels_used = 0;  // most distinct levels one table (tensor or row) uses
  int64_t storage_bits = 0;
};

struct ModelReport {
  std::vector<LayerReport> layers;
  double mse = 0.0;      // over all quantized weights
  double sqnr_db = 0.0;  // 10 log10(sum w^2 / sum (w - q)^2) over all quantized weights
  int64_t max_levels_used = 0;
  int64_t model_bytes = 0;  // quantized tensors at their storage cost, everything else fp32
  int64_t fp32_bytes = 0;
  double seconds = 0.0;
};

// Quantizes the planned tensors of `original` into `quantized` (same structure; tensors not
// in the plan are copied unchanged).
absl::StatusOr<ModelReport> QuantizeModel(const Quantizer& quantizer, const ParamStore& original,
                                          const std::vector<LayerPlan>& plan, ParamStore* quantized);

// The most distinct codes any one table (the whole tensor, or one row when per-channel) uses:
// the level count the bit width bounds. InternalError for codes outside the table.
absl::StatusOr<int64_t> MaxLevelsUsed(const QuantizedTensor& tensor, const std::string& name);

// SQNR in dB; +inf for an exact reconstruction is reported as 999 (JSON has no infinity).
double SqnrDb(double signal_energy, double noise_energy);

}  // namespace quantbench

#endif  // QUANTBENCH_EXPERIMENTS_QUANTIZE_MODEL_H_
