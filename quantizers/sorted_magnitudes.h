// SortedMagnitudes: |w| of one tensor, sorted once, so that the squared error of rounding every
// |w| to a candidate set of magnitude levels costs O(levels · log n) instead of O(n). This is
// what makes a per-tensor search over level sets (e.g. the exponential base) exact and cheap.
//
// Rounding to the nearest level puts each |w| in the interval between the midpoints around its
// level, and the sorted order makes each interval a contiguous run [i, j). With prefix sums
// S1 = Σ|w| and S2 = Σ|w|², a run's error is closed-form: Σ(|w| - m)² = S2 - 2·m·S1 + m²·count.
#ifndef QUANTBENCH_QUANTIZERS_SORTED_MAGNITUDES_H_
#define QUANTBENCH_QUANTIZERS_SORTED_MAGNITUDES_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"

namespace quantbench {

class SortedMagnitudes {
 public:
  // Sorts |v| (an O(n) radix sort: the bit patterns of non-negative floats order like their
  // values). `values` must be finite.
  explicit SortedMagnitudes(absl::Span<const float> values);

  int64_t size() const { return static_cast<int64_t>(sorted_.size()); }
  // max |v|; 0 when empty.
  float max() const { return sorted_.empty() ? 0.0f : sorted_.back(); }
  // |v| in ascending order.
  absl::Span<const float> sorted() const { return sorted_; }

  // Σ_i (|v_i| - nearest level)² over all values. `levels` is sorted ascending, non-negative
  // and non-empty. A |v| exactly halfway between two levels counts toward the larger one (the
  // tie rule of levels.h); both choices give the same error.
  double SquaredError(absl::Span<const float> levels) const;

 private:
  // Prefix sums are kept only every kBlock elements (16 bytes per block, not per weight):
  // a tensor of 10^8 weights would otherwise need 1.6 GB of prefix sums.
  static constexpr int64_t kBlock = 64;

  // First index i >= from with sorted_[i] >= t (size() if none).
  int64_t FirstAtLeast(double t, int64_t from) const;
  // Σ sorted_[0..end) and Σ sorted_[0..end)².
  void PrefixSums(int64_t end, double* sum, double* sum_sq) const;

  std::vector<float> sorted_;
  std::vector<double> block_sum_;     // block_sum_[b] = Σ sorted_[0 .. b·kBlock)
  std::vector<double> block_sum_sq_;  // same for the squares
};

}  // namespace quantbench

#endif  // QUANTBENCH_QUANTIZERS_SORTED_MAGNITUDES_H_
