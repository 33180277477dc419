// "kmeans": a per-tensor codebook of K = 2^b levels fitted by 1-D k-means (Lloyd) on the signed
// weights, the weight-sharing codebook of Deep Compression (Han et al. 2016). No
// shared/papers/ summary defines it; it is the unconstrained-level baseline: the L2 objective
// Σ(w - Q(w))² of resiliency_ternary.md section 2.2 minimized over all K-level tables instead
// of over the step of a uniform grid.
//
// Procedure (all choices ours):
//   1. Sort the signed weights once (std::sort) and keep prefix sums Σw in double.
//   2. If the tensor has ≤ K distinct values, the codebook is exactly those values (sorted)
//      and the output equals the input: this makes re-quantizing a quantized tensor a no-op
//      (idempotence) and a constant or all-zero tensor exact. levels_per_table is then the
//      number of distinct values (≤ 2^b).
//   3. Otherwise, two deterministic inits, each run through step 4, keeping the one with the
//      lower squared error (ties: quantiles):
//      a. quantiles: centroid j = sorted[⌊(2j+1)·n / 2K⌋], j = 0..K-1, moved up to the next
//         larger distinct value when it would repeat its predecessor (while one exists);
//      b. the uniform mid-rise grid of "linear", M·(2j/(K-1) - 1), M = max|w|.
//      Why both: quantiles leave the tails nearly empty, and at b ≥ 5 on Gaussian weights 30
//      Lloyd steps from them end above the uniform grid's error (measured: b = 6, 3.97e-6 vs
//      3.94e-6 for linear mid_rise). Lloyd never increases the error, so (b) guarantees the
//      result is never worse than linear mid_rise at the same bits; (a) wins at low bits.
//   4. Lloyd iterations (`iterations`, default 30): boundaries are the midpoints between
//      consecutive centroids; in 1-D each cluster is a contiguous range of the sorted weights,
//      found by binary search, and its new centroid is its mean from the prefix sums: O(K log n)
//      per iteration. An empty cluster keeps its previous centroid. Stops early when no centroid
//      changes (in fp32). At b ≥ 5 the default 30 iterations do not reach convergence (the
//      error keeps falling up to a few hundred): raise `iterations` for a tighter fit.
//   5. Encode every weight to its nearest centroid, ties away from zero (levels.h).
// Per tensor only (no per_channel option). k-means is not sign-symmetric in general
// (q(-w) ≠ -q(w): the quantile init and the fp32 means are not mirror images).
// Storage: the b-bit codes plus K fp32 table entries (levels_per_table of them).
// kind = kCodebook: the levels follow no affine or ternary structure a kernel could exploit.
// Memory on n weights: the sorted copy (4n bytes) and the prefix sums (8n bytes), freed before
// encoding. Time: one sort, 2 × iterations × O(K log n), two O(n) error passes, the encode.
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "quantizers/levels.h"
#include "quantizers/quantizer.h"

namespace quantbench {
namespace {

// Lloyd iterations from `centroids` (see step 4 above).
std::vector<float> Lloyd(const std::vector<float>& sorted, const std::vector<double>& prefix,
                         std::vector<float> centroids, int iterations) {
  const int64_t n = static_cast<int64_t>(sorted.size());
  const int64_t k = static_cast<int64_t>(centroids.size());
  for (int iter = 0; iter < iterations; ++iter) {
    bool changed = false;
    std::vector<float> updated = centroids;
    int64_t begin = 0;
    for (int64_t j = 0; j < k; ++j) {
      int64_t end = n;
      if (j + 1 < k) {
        const double mid = 0.5 * (static_cast<double>(centroids[j]) + centroids[j + 1]);
        end = std::lower_bound(sorted.begin() + begin, sorted.end(), mid,
                               [](float v, double t) { return static_cast<double>(v) < t; }) -
              sorted.begin();
      }
      if (end > begin) {
        updated[j] = static_cast<float>((prefix[end] - prefix[begin]) /
                                        static_cast<double>(end - begin));
      }
      if (updated[j] != centroids[j]) changed = true;
      begin = end;
    }
    centroids.swap(updated);
    if (!changed) break;
  }
  // Lloyd keeps 1-D centroids ordered; sort anyway so the table is ascending by construction.
  std::sort(centroids.begin(), centroids.end());
  return centroids;
}

// Σ (w - nearest centroid)² over the sorted weights, one merge-like pass: O(n + K).
double SquaredError(const std::vector<float>& sorted, const std::vector<float>& centroids) {
  double error = 0.0;
  size_t j = 0;
  for (float v : sorted) {
    while (j + 1 < centroids.size() &&
           static_cast<double>(v) >= 0.5 * (static_cast<double>(centroids[j]) + centroids[j + 1])) {
      ++j;
    }
    const double d = static_cast<double>(v) - centroids[j];
    error += d * d;
  }
  return error;
}

std::vector<float> FitCodebook(absl::Span<const float> values, int bits, int iterations) {
  std::vector<float> sorted(values.begin(), values.end());
  std::sort(sorted.begin(), sorted.end());
  const int64_t n = static_cast<int64_t>(sorted.size());
  const int64_t k = int64_t{1} << bits;

  // Few distinct values: they are the codebook.
  std::vector<float> distinct;
  for (int64_t i = 0; i < n && static_cast<int64_t>(distinct.size()) <= k; ++i) {
    if (distinct.empty() || sorted[i] != distinct.back()) distinct.push_back(sorted[i]);
  }
  if (static_cast<int64_t>(distinct.size()) <= k) {
    if (distinct.empty()) distinct.push_back(0.0f);
    return distinct;
  }

  std::vector<double> prefix(n + 1, 0.0);  // prefix[i] = Σ sorted[0..i)
  for (int64_t i = 0; i < n; ++i) prefix[i + 1] = prefix[i] + sorted[i];

  // Init A: quantiles.
  std::vector<float> quantiles(k);
  for (int64_t j = 0; j < k; ++j) {
    float c = sorted[std::min(n - 1, (2 * j + 1) * n / (2 * k))];
    if (j > 0 && c <= quantiles[j - 1]) {
      auto next = std::upper_bound(sorted.begin(), sorted.end(), quantiles[j - 1]);
      c = next == sorted.end() ? quantiles[j - 1] : *next;
    }
    quantiles[j] = c;
  }
  // Init B: the uniform mid-rise grid of "linear" (M·(2j/(K-1) - 1), M = max|w|).
  const double max_abs = std::max(std::fabs(static_cast<double>(sorted.front())),
                                  std::fabs(static_cast<double>(sorted.back())));
  std::vector<float> grid(k);
  for (int64_t j = 0; j < k; ++j) {
    grid[j] = static_cast<float>(static_cast<double>(2 * j - (k - 1)) * max_abs /
                                 static_cast<double>(k - 1));
  }

  std::vector<float> from_quantiles = Lloyd(sorted, prefix, std::move(quantiles), iterations);
  std::vector<float> from_grid = Lloyd(sorted, prefix, std::move(grid), iterations);
  return SquaredError(sorted, from_grid) < SquaredError(sorted, from_quantiles) ? from_grid
                                                                                : from_quantiles;
}

class KMeansQuantizer : public Quantizer {
 public:
  explicit KMeansQuantizer(int iterations) : iterations_(iterations) {}

  absl::Status CheckBits(int bits) const override {
    if (bits < 1 || bits > 16) {
      return absl::InvalidArgumentError(absl::StrCat("bits = ", bits, ": expected 1 to 16"));
    }
    return absl::OkStatus();
  }

  QuantizerTraits Traits() const override {
    QuantizerTraits traits;
    traits.sign_symmetric = false;  // the quantile init and fp32 means are not mirror images
    traits.error_nonincreasing_in_bits = true;
    return traits;
  }

  absl::StatusOr<QuantizedTensor> Quantize(const WeightView& weights, int bits) const override {
    QB_RETURN_IF_ERROR(CheckQuantizerInput(weights, bits));
    QB_RETURN_IF_ERROR(CheckBits(bits));
    const std::vector<float> levels = FitCodebook(weights.values, bits, iterations_);
    const int64_t table_floats = static_cast<int64_t>(levels.size());  // the codebook itself
    return EncodeWithSingleTable(levels, weights.values, bits, table_floats);
  }

 private:
  int iterations_;
};

QUANTBENCH_REGISTER_QUANTIZER(
    "kmeans",
    "per-tensor codebook of 2^b levels by 1-D k-means (quantile init, Lloyd); iterations: max "
    "Lloyd iterations (default 30)",
    [](ParamMap& params) -> absl::StatusOr<std::unique_ptr<Quantizer>> {
      QB_ASSIGN_OR_RETURN(int iterations, params.GetInt("iterations", 30));
      if (iterations < 0) {
        return absl::InvalidArgumentError(absl::StrCat("parameter 'iterations' = \"",
                                                       params.values().at("iterations"),
                                                       "\": expected an integer >= 0"));
      }
      return std::unique_ptr<Quantizer>(new KMeansQuantizer(iterations));
    });

}  // namespace
}  // namespace quantbench
