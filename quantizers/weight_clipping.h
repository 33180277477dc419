// Choosing the range of a uniform weight grid: the whole range (min/max), a percentile, or the
// clipping ratio that minimizes the weight MSE. Used by "linear" per table.
//
//   minmax      symmetric: clip = max|w|; affine: [min w, max w].
//   percentile  nearest-rank percentile p (the value at sorted index ⌈p/100·n⌉ − 1): symmetric:
//               clip = percentile p of |w|; affine: [percentile 100 − p of w, percentile p of w].
//               p in [50, 100]; 100 is minmax.
//   mse         clip = ratio·max|w| (affine: ratio·[min w, max w]) for the ratio minimizing
//               Σ(w − q(w))² over this lattice (units of 0.005): a coarse pass over
//               0.10, 0.15, ..., 1.00, then every 0.005 within ±0.05 of the coarse best, clipped
//               to [0.10, 1.00]. Each pass goes from the larger ratio down and only a strictly
//               smaller error wins, so ties keep the larger ratio (less clipping; a constant or
//               exactly representable tensor keeps ratio 1 and stays exact). Each candidate costs
//               O(levels · log n) on |w| sorted once (sorted_magnitudes.h): a symmetric grid
//               rounds |w| to its non-negative half; an affine grid has an exact zero, so the
//               positive and the negative weights round within their own half of the grid.
#ifndef QUANTBENCH_QUANTIZERS_WEIGHT_CLIPPING_H_
#define QUANTBENCH_QUANTIZERS_WEIGHT_CLIPPING_H_

#include "absl/functional/function_ref.h"
#include "absl/types/span.h"
#include "quantizers/uniform_grid.h"

namespace quantbench {

enum class GridShape { kMidTread, kMidRise, kAffine };
enum class ClipMethod { kMinMax, kPercentile, kMse };

struct ClipSpec {
  ClipMethod method = ClipMethod::kMinMax;
  double percentile = 100.0;  // kPercentile only
};

// The grid of `shape` at `bits` for `values` (finite) clipped as `clip` says.
UniformGrid ChooseClippedGrid(GridShape shape, int bits, const ClipSpec& clip,
                              absl::Span<const float> values);

// The clipping ratio in [0.10, 1.00] minimizing `error(ratio)` over the lattice described above
// (coarse 0.05 pass, then 0.005 around the best; ties keep the larger ratio). Also used by the
// activation observer's mse calibration.
double SearchClippingRatio(absl::FunctionRef<double(double ratio)> error);

// Nearest-rank percentile p in [0, 100] of `values` (of |values| when `magnitudes`); 0 when
// empty. O(n) (a copy and std::nth_element).
double NearestRankPercentile(absl::Span<const float> values, double p, bool magnitudes);

}  // namespace quantbench

#endif  // QUANTBENCH_QUANTIZERS_WEIGHT_CLIPPING_H_
