// A quantizer variant's learned_rounding { ... } (AdaRound): the variant's quantizer gives the
// grid (per-row step and zero point), training/learned_rounding.h picks each weight's code
// (up or down) to reconstruct its layer's fp32 output, from the layer's input Gram matrix
// (training/layer_grams.h).
//
// Choices: the Grams come from the fp32 network (every layer's input as fp32 computes it,
// activation quantization off): the "symmetric" form, one pass for all layers, shared by every
// cell of the sweep (they do not depend on the bit width), so layers are independent and no
// quantized-input re-collection is needed. The loss is the output before the activation
// function (the quadratic form needs it linear).
#ifndef QUANTBENCH_EXPERIMENTS_LEARNED_ROUNDING_CELL_H_
#define QUANTBENCH_EXPERIMENTS_LEARNED_ROUNDING_CELL_H_

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "datasets/labeled_images.h"
#include "experiments/experiment.pb.h"
#include "networks/graph.h"
#include "networks/network.h"
#include "quantizers/activation_quantizer.h"
#include "quantizers/quantizer.h"
#include "training/layer_grams.h"
#include "training/learned_rounding.h"

namespace quantbench {

// The Grams of a sweep, collected on first use per image count and kept for the next cells.
class LayerGramCache {
 public:
  // All references must outlive the cache. `activations`: the sweep's activation quantization,
  // switched off during the collection and restored after it.
  LayerGramCache(Network& network, const Graph& graph, const LabeledImages& calibration, std::string calibration_name,
                 int batch, const std::map<std::string, ActivationQuantParams>& activations)
      : network_(network), graph_(graph), calibration_(calibration), calibration_name_(std::move(calibration_name)),
        batch_(batch), activations_(activations) {}

  struct Entry {
    std::map<std::string, LayerGram> grams;  // by layer name
    int64_t images = 0;
    double seconds = 0.0;
  };
  // images 0 = every calibration image.
  absl::StatusOr<const Entry*> Get(int64_t images, const std::function<void(const std::string&)>& log);
  const std::string& calibration_name() const { return calibration_name_; }

 private:
  Network& network_;
  const Graph& graph_;
  const LabeledImages& calibration_;
  std::string calibration_name_;
  int batch_;
  const std::map<std::string, ActivationQuantParams>& activations_;
  std::map<int64_t, Entry> entries_;
};

LearnedRoundingOptions LearnedRoundingOptionsFrom(const LearnedRounding& spec);

// Wraps a quantizer with a uniform grid: Quantize runs it, then replaces its codes (and values)
// by learned ones for tensors "<layer>.weight" whose layer has a Gram. Each layer's losses
// before / after go to layers() (JSON, in quantization order).
class LearnedRoundingQuantizer : public Quantizer {
 public:
  LearnedRoundingQuantizer(const Quantizer& base, const std::map<std::string, LayerGram>& grams,
                           LearnedRoundingOptions options)
      : base_(base), grams_(grams), options_(options) {}

  absl::Status CheckBits(int bits) const override { return base_.CheckBits(bits); }
  int64_t MaxLevels(int bits) const override { return base_.MaxLevels(bits); }
  // FailedPrecondition naming the tensor for a non-uniform grid or a tensor without a Gram.
  absl::StatusOr<QuantizedTensor> Quantize(const WeightView& weights, int bits) const override;

  nlohmann::json layers() const;
  double optimisation_seconds() const;

 private:
  const Quantizer& base_;
  const std::map<std::string, LayerGram>& grams_;
  LearnedRoundingOptions options_;
  mutable std::mutex mu_;
  mutable nlohmann::json layers_ = nlohmann::json::array();
  mutable double seconds_ = 0.0;
};

}  // namespace quantbench

#endif  // QUANTBENCH_EXPERIMENTS_LEARNED_ROUNDING_CELL_H_
