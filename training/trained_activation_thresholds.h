// FAT's trained activation thresholds (shared/papers/fat_trained_thresholds.md, sections
// 2.3-2.4): an ActivationHook that fake-quantizes one per-tensor activation (A6: activations are
// always per tensor) with thresholds derived from its calibrated range [min, max] and trainable
// scale factors, and gives the straight-through gradients of both the input and the factors.
//
//   symmetric:  one α; T = clip(α, 0.5, 1)·T_max.  Unsigned tensors (calibrated min >= 0, i.e.
//               after ReLU / ReLU6): T_max = max, grid 0 .. 2^b − 1 steps of T/(2^b − 1).
//               Signed tensors: T_max = max(|min|, max), step T/(2^(b−1) − 1) (A1), zero point
//               2^(b−1): levels −2^(b−1) .. 2^(b−1) − 1 steps (the int8 code range; one level
//               more below −T than the book's ±(2^(b−1) − 1), so that the grid is an
//               ActivationQuantParams that inference applies unchanged).
//   asymmetric: (α_T, α_R), starting at (0, 1) = the min/max calibration; the grid of
//               quantizers/fat_thresholds.h with 2^b levels. Signed tensors shift in
//               [−0.2, 0.4] (the book). Unsigned tensors train the width only (the FAT code's
//               choice; the book allows a shift in [0, 0.4], but a left limit above 0 would
//               move the exact zeros of ReLU to a nonzero level). The zero point is clamped to
//               the codes (0 stays representable); where it is clamped z gets no gradient.
//
// The grid at any time is an ActivationQuantParams (Params()), applied with
// FakeQuantizeActivations: training and inference quantize identically.
#ifndef QUANTBENCH_TRAINING_TRAINED_ACTIVATION_THRESHOLDS_H_
#define QUANTBENCH_TRAINING_TRAINED_ACTIVATION_THRESHOLDS_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "quantizers/activation_quantizer.h"
#include "training/trainable_graph.h"

namespace quantbench {

enum class ThresholdMode { kSymmetric, kAsymmetric };

class TrainedActivationThresholds : public ActivationHook {
 public:
  // InvalidArgument for bits outside 2..16, a non-finite range or min > max.
  static absl::StatusOr<std::unique_ptr<TrainedActivationThresholds>> Create(float min, float max, int bits,
                                                                             ThresholdMode mode);

  absl::Status Forward(absl::Span<const float> x, absl::Span<float> y) override;
  absl::Status Backward(absl::Span<const float> dy, absl::Span<float> dx) override;
  absl::Span<float> TrainableParameters() override { return absl::MakeSpan(parameters_); }
  absl::Span<float> ParameterGradients() override { return absl::MakeSpan(gradients_); }

  // The grid for the current parameters.
  ActivationQuantParams Params() const;
  bool is_signed() const { return min_ < 0.0f; }

 private:
  TrainedActivationThresholds(float min, float max, int bits, ThresholdMode mode);

  float min_, max_;
  int bits_;
  ThresholdMode mode_;
  std::vector<float> parameters_;  // symmetric: {α}; asymmetric: {α_T, α_R}
  std::vector<float> gradients_;
  // Per value of the last Forward: the rounding offset ⌊v⌉ − v in code units, quantized to
  // int16 (enough for a gradient), or kBelow / kAbove where the clamp cut it.
  std::vector<int16_t> state_;
  ActivationQuantParams forward_params_;
  bool zero_point_clamped_ = false;
};

}  // namespace quantbench

#endif  // QUANTBENCH_TRAINING_TRAINED_ACTIVATION_THRESHOLDS_H_
