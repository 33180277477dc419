// Applies one quantizer to every selected weight tensor of a model and measures the damage
// to the weights (per layer and overall) and the storage the result needs.
#ifndef QUANTBENCH_EXPERIMENTS_QUANTIZE_MODEL_H_
#define QUANTBENCH_EXPERIMENTS_QUANTIZE_MODEL_H_

#include <map>
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
  std::string type;   // "conv", "depthwise_conv" or "dense"
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
  // Quantized weights that are exactly 0: the sparsity a ternary (or any zero-level) layer
  // offers for skipped multiply-adds (the TTN paper's computation-reduction claim).
  int64_t zeros = 0;
  double Sparsity() const { return weights ? static_cast<double>(zeros) / weights : 0.0; }
};

struct ModelReport {
  std::vector<LayerReport> layers;
  double mse = 0.0;      // over all quantized weights
  double sqnr_db = 0.0;  // 10 log10(sum w^2 / sum (w - q)^2) over all quantized weights
  int64_t max_levels_used = 0;
  int64_t model_bytes = 0;  // quantized tensors at their storage cost, everything else fp32
  int64_t fp32_bytes = 0;
  // Quantized weights and their storage (codes plus scales / tables): their ratio is the
  // effective bits per weight, which is what a 4-bit quantizer with per-row fp32 tables
  // really costs.
  int64_t quantized_weights = 0;
  int64_t quantized_storage_bits = 0;
  int64_t quantized_zeros = 0;  // exact zeros among the quantized weights
  double Sparsity() const {
    return quantized_weights ? static_cast<double>(quantized_zeros) / quantized_weights : 0.0;
  }
  double EffectiveBitsPerWeight() const {
    return quantized_weights ? static_cast<double>(quantized_storage_bits) / quantized_weights : 0.0;
  }
  double seconds = 0.0;
};

// Quantizes the planned tensors of `original` into `quantized` (same structure; tensors not
// in the plan are copied unchanged). With `kept`, every quantizer output (codes and tables, for
// packed execution) is also returned by parameter name.
absl::StatusOr<ModelReport> QuantizeModel(const Quantizer& quantizer, const ParamStore& original,
                                          const std::vector<LayerPlan>& plan, ParamStore* quantized,
                                          std::map<std::string, QuantizedTensor>* kept = nullptr);

// The most distinct codes any one table (the whole tensor, or one row when per-channel) uses:
// the level count the bit width bounds. InternalError for codes outside the table.
absl::StatusOr<int64_t> MaxLevelsUsed(const QuantizedTensor& tensor, const std::string& name);

// SQNR in dB; +inf for an exact reconstruction is reported as 999 (JSON has no infinity).
double SqnrDb(double signal_energy, double noise_energy);

}  // namespace quantbench

#endif  // QUANTBENCH_EXPERIMENTS_QUANTIZE_MODEL_H_
