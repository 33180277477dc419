// Activation fake quantization inside training: an ActivationHook (trainable_graph.h) that
// applies FakeQuantizeActivations (quantizers/activation_quantizer.h) with fixed, calibrated
// parameters in the forward pass, and a straight-through estimator in the backward pass that
// passes the gradient where the value lies inside the grid's range
// [-zero_point * scale, (2^bits - 1 - zero_point) * scale] and blocks it where the clamp cut it
// (the usual QAT rule for a clipped range).
#ifndef QUANTBENCH_TRAINING_ACTIVATION_FAKE_QUANT_H_
#define QUANTBENCH_TRAINING_ACTIVATION_FAKE_QUANT_H_

#include <vector>

#include "absl/status/status.h"
#include "quantizers/activation_quantizer.h"
#include "training/trainable_graph.h"

namespace quantbench {

class ActivationFakeQuantHook : public ActivationHook {
 public:
  explicit ActivationFakeQuantHook(const ActivationQuantParams& params) : params_(params) {}

  absl::Status Forward(absl::Span<const float> x, absl::Span<float> y) override;
  absl::Status Backward(absl::Span<const float> dy, absl::Span<float> dx) override;

 private:
  ActivationQuantParams params_;
  std::vector<uint8_t> inside_;  // per value of the last Forward: inside the grid's range
};

}  // namespace quantbench

#endif  // QUANTBENCH_TRAINING_ACTIVATION_FAKE_QUANT_H_
