// Activation quantization, the building block for the 8-bit weight + activation rows of the
// trained-threshold paper (shared/papers/fat_trained_thresholds.md, section 2.1 step 2 and
// section 2.2): per-tensor uniform quantization whose range is calibrated on a few batches.
//
//   ActivationObserver observer;                   // one per activation tensor
//   for (batch : calibration) QB_RETURN_IF_ERROR(observer.Observe(batch_values));
//   QB_ASSIGN_OR_RETURN(auto params, observer.Compute(8, ActivationCalibration::kMinMax));
//   FakeQuantizeActivations(absl::MakeSpan(activations), params);   // at inference
//
// The grid is the affine one of uniform_grid.h (2^b codes, integer zero point, zero exact):
// post-ReLU tensors get z = 0 (the paper's unsigned case), signed ones a zero point inside.
// Calibrations (the range [lo, hi] the grid covers; the range always includes 0):
//   minmax      the exact min and max seen (the paper's code, section 2.1 step 2);
//   percentile  nearest-rank percentiles 100 − p and p of all values seen, read from the
//               histogram: hi is the upper edge of the bin holding rank ⌈p/100·n⌉, lo the lower
//               edge of the bin holding rank ⌈(100−p)/100·n⌉, both clamped to [min, max];
//   mse         [r·min, r·max] for the ratio r minimizing the squared error of the histogram
//               (every value taken at its bin centre), over the weight quantizers' lattice: r in
//               0.10, 0.15, ..., 1.00, then every 0.005 within ±0.05 of the best; ties keep the
//               larger r.
// The histogram has kBins bins over [−R, R], R a power of two ≥ max|x|; when a batch exceeds R,
// R doubles and bins merge pairwise (exactly: bin edges stay on the finer grid), so the result
// does not depend on how the data is split into batches except through R (bins ≤ max|x|/1024
// wide).
#ifndef QUANTBENCH_QUANTIZERS_ACTIVATION_QUANTIZER_H_
#define QUANTBENCH_QUANTIZERS_ACTIVATION_QUANTIZER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace quantbench {

enum class ActivationCalibration { kMinMax, kPercentile, kMse };

// "minmax" | "percentile" | "mse"; anything else is InvalidArgument listing them.
absl::StatusOr<ActivationCalibration> ParseActivationCalibration(const std::string& name);

// Uniform per-tensor quantization: code = clamp(round(x / scale) + zero_point, 0, 2^bits − 1),
// value = scale · (code − zero_point).
struct ActivationQuantParams {
  int bits = 8;
  float scale = 0.0f;  // 0 only when everything observed was 0: every value then maps to 0
  int32_t zero_point = 0;
};

class ActivationObserver {
 public:
  static constexpr int kBins = 2048;  // even, and kBins/2 even: doubling merges bins exactly

  // Adds one calibration batch. Errors: InvalidArgument on a NaN or infinity (naming the index).
  absl::Status Observe(absl::Span<const float> batch);

  int64_t count() const { return count_; }
  float min() const { return min_; }
  float max() const { return max_; }

  // The quantization for `bits` (1..16). `percentile` (in [50, 100]) is used by kPercentile.
  // Errors: FailedPrecondition before any value was observed; InvalidArgument on bad bits or
  // percentile.
  absl::StatusOr<ActivationQuantParams> Compute(int bits, ActivationCalibration calibration,
                                                double percentile = 99.99) const;

 private:
  double BinWidth() const { return 2.0 * range_ / kBins; }
  double BinLower(int b) const { return -range_ + b * BinWidth(); }
  // Doubles range_ until it holds `max_abs`, merging bins.
  void GrowRange(double max_abs);
  // Lower edge of the bin holding the value of 1-based rank `rank`.
  int BinOfRank(int64_t rank) const;
  double HistogramMse(const ActivationQuantParams& params) const;

  std::vector<int64_t> bins_ = std::vector<int64_t>(kBins, 0);
  double range_ = 0.0;  // R; 0 until a nonzero value is seen
  int64_t count_ = 0;
  float min_ = 0.0f;
  float max_ = 0.0f;
};

// Replaces every x by its fake-quantized value:
//   v = clamp(x · (1/scale), −zero_point, 2^bits − 1 − zero_point)   (fp32)
//   x ← round_half_away_from_zero(v) · scale
// (the clamp before rounding keeps |v| < 2^16, where rounding is exact). A branch-free loop
// the compiler vectorizes; FakeQuantizeActivationsRef is its scalar twin (std::round) and gives
// bit-identical results.
void FakeQuantizeActivations(absl::Span<float> x, const ActivationQuantParams& params);
void FakeQuantizeActivationsRef(absl::Span<float> x, const ActivationQuantParams& params);

}  // namespace quantbench

#endif  // QUANTBENCH_QUANTIZERS_ACTIVATION_QUANTIZER_H_
