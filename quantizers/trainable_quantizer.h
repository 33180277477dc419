// The optional extension of the Quantizer plugin interface for quantizers whose own
// parameters are learnt by gradient descent during quantization-aware training: FAT's
// threshold scales α (one per tensor or per output filter), a learned step size, ...
//
// A quantizer opts in by returning itself from Quantizer::AsTrainable(). The trainer
// (training/trainer.h) then keeps the parameters beside the latent weights, quantizes with
// QuantizeWithParameters in every forward pass, and asks Backward for the gradients of both
// the weights and the parameters; the optimizer updates the parameters like any other tensor.
// A quantizer without the extension trains with its parameters frozen (plain STE).
#ifndef QUANTBENCH_QUANTIZERS_TRAINABLE_QUANTIZER_H_
#define QUANTBENCH_QUANTIZERS_TRAINABLE_QUANTIZER_H_

#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "quantizers/quantizer.h"

namespace quantbench {

class TrainableQuantizer {
 public:
  virtual ~TrainableQuantizer() = default;

  // The parameters' starting values for one tensor (e.g. the configured α, one per filter).
  virtual absl::StatusOr<std::vector<float>> InitialParameters(const WeightView& weights,
                                                               int bits) const = 0;

  // Quantize(weights, bits) with these parameter values instead of the configured ones.
  virtual absl::StatusOr<QuantizedTensor> QuantizeWithParameters(
      const WeightView& weights, int bits, absl::Span<const float> parameters) const = 0;

  // From dL/dq (q = QuantizeWithParameters(...).values): writes dL/dw into `dweights` (the
  // quantizer's own straight-through estimator, e.g. zero where w is clipped) and ADDS dL/dp
  // into `dparameters`.
  virtual absl::Status Backward(const WeightView& weights, int bits,
                                absl::Span<const float> parameters, absl::Span<const float> dq,
                                absl::Span<float> dweights, absl::Span<float> dparameters) const = 0;
};

}  // namespace quantbench

#endif  // QUANTBENCH_QUANTIZERS_TRAINABLE_QUANTIZER_H_
