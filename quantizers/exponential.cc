// "exponential": the exponential discretization of Malsagov et al. as reconstructed in
// shared/papers/exponential_discretization.md, section 2.2 ("Exponential quantizer"):
//
//   per layer (per tensor), M = max|w|, 1 sign bit and K = 2^(b-1) magnitude codes
//   m_k = M·r^k, k = 0 .. K-1, 0 < r < 1;  q(w) = sign(w)·(nearest magnitude to |w|)
//
//   zero_level: true  (default, option A): m_{K-1} is replaced by an exact 0. Levels
//               {±M·r^k : k = 0 .. K-2} ∪ {0}: 2^b - 1 levels; needs b >= 2.
//   zero_level: false (option B): levels {±M·r^k : k = 0 .. K-1}: 2^b levels; b >= 1.
//
// Rounding: nearest level in the linear domain (the summary's first choice; not the log-domain
// variant), ties away from zero (levels.h).
//
// The base r. The paper leaves the rule for choosing r UNKNOWN; this is our stated choice:
//   base: <number in (0, 1)>  fixes r for every tensor.
//   base absent               r is chosen per layer (per tensor) to minimize that tensor's
//                             weight MSE (the summary's option 2), by this exact procedure:
//     1. Sort |w| once and keep prefix sums of |w| and |w|² (sorted_magnitudes.h); the MSE of
//        a candidate r is then exact and costs O(K log n): binary searches at the midpoints
//        between consecutive levels, and Σ(|w| - m)² = S2 - 2·m·S1 + m²·count per interval.
//     2. Grid: r = 0.010, 0.015, ..., 0.995 (step 0.005); keep the lowest MSE.
//     3. Refinement: every r = i/10000 within ±0.005 of the best grid point, clipped to
//        [0.01, 0.995]; keep the lowest MSE. Ties keep the first found (grid first, then the
//        smaller r).
//   So r is always a multiple of 1e-4 in [0.01, 0.995]. The lattice is what makes re-quantizing
//   a quantized tensor a no-op: the search finds the same r again exactly (its MSE is 0), where
//   a continuous refinement (golden section) lands somewhere slightly different each time and
//   moves the levels (tried: the Idempotent test then fails). The MSE is flat (quadratic) at
//   its minimum, so a 1e-4 resolution costs only a second-order, negligible amount of MSE.
//   When r cannot change the level set (M = 0, or a single nonzero magnitude: b = 1, or b = 2
//   with a zero level) there is no search and r = 0.5.
//
// Levels are M·r^k computed in double (repeated multiplication) and rounded once to fp32, so
// the top level is exactly ±M; a level that underflows fp32 becomes 0 and may repeat 0.
// Storage: the codes plus 2 fp32 per tensor (M and r), from which the table is rebuilt.
// kind = kCodebook: the levels follow no affine or ternary structure a kernel could exploit.
#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "quantizers/levels.h"
#include "quantizers/quantizer.h"
#include "quantizers/sorted_magnitudes.h"

namespace quantbench {
namespace {

// Candidate bases are i / kLattice.
constexpr int64_t kLattice = 10000;
constexpr int64_t kGridFirst = 100;  // 0.01
constexpr int64_t kGridLast = 9950;  // 0.995
constexpr int64_t kGridStep = 50;    // 0.005
constexpr double kUnusedBase = 0.5;

// Magnitude levels in ascending order: M·r^(K-1), ..., M·r, M (the first is 0 with a zero
// level).
std::vector<float> Magnitudes(float max_abs, double base, int num_magnitudes, bool zero_level) {
  std::vector<float> magnitudes(num_magnitudes);
  double m = max_abs;
  for (int k = 0; k < num_magnitudes; ++k) {
    magnitudes[num_magnitudes - 1 - k] = static_cast<float>(m);
    m *= base;
  }
  if (zero_level) magnitudes[0] = 0.0f;
  return magnitudes;
}

// The sorted signed table: the negated magnitudes, then the magnitudes (sharing the zero).
std::vector<float> SignedLevels(const std::vector<float>& magnitudes, bool zero_level) {
  std::vector<float> levels;
  const size_t first_negated = zero_level ? 1 : 0;
  for (size_t i = magnitudes.size(); i-- > first_negated;) levels.push_back(-magnitudes[i]);
  levels.insert(levels.end(), magnitudes.begin(), magnitudes.end());
  return levels;
}

// The MSE-minimizing base on the lattice; see the procedure at the top of the file.
double SearchBase(const SortedMagnitudes& sorted, int num_magnitudes, bool zero_level) {
  auto squared_error = [&](int64_t i) {
    return sorted.SquaredError(
        Magnitudes(sorted.max(), static_cast<double>(i) / kLattice, num_magnitudes, zero_level));
  };
  int64_t best = kGridFirst;
  double best_error = squared_error(best);
  auto consider = [&](int64_t i) {
    const double error = squared_error(i);
    if (error < best_error) {
      best = i;
      best_error = error;
    }
  };
  for (int64_t i = kGridFirst + kGridStep; i <= kGridLast; i += kGridStep) consider(i);
  const int64_t center = best;
  for (int64_t i = std::max(kGridFirst, center - kGridStep);
       i <= std::min(kGridLast, center + kGridStep); ++i) {
    if (i != center) consider(i);
  }
  return static_cast<double>(best) / kLattice;
}

class ExponentialQuantizer : public Quantizer {
 public:
  ExponentialQuantizer(std::optional<double> base, bool zero_level)
      : base_(base), zero_level_(zero_level) {}

  absl::Status CheckBits(int bits) const override {
    if (bits < 1 || bits > 16) {
      return absl::InvalidArgumentError(absl::StrCat("bits = ", bits, ": expected 1 to 16"));
    }
    if (zero_level_ && bits < 2) {
      return absl::InvalidArgumentError(
          "zero_level needs at least 2 bits; use zero_level: false for 1 bit");
    }
    return absl::OkStatus();
  }

  QuantizerTraits Traits() const override {
    QuantizerTraits traits;
    traits.sign_symmetric = true;
    traits.error_nonincreasing_in_bits = true;
    return traits;
  }

  int64_t MaxLevels(int bits) const override {
    return (int64_t{1} << bits) - (zero_level_ ? 1 : 0);
  }

  absl::StatusOr<QuantizedTensor> Quantize(const WeightView& weights, int bits) const override {
    QB_RETURN_IF_ERROR(CheckQuantizerInput(weights, bits));
    QB_RETURN_IF_ERROR(CheckBits(bits));
    const int num_magnitudes = 1 << (bits - 1);
    const std::vector<float> levels =
        SignedLevels(Magnitudes(MaxAbs(weights.values), ChooseBase(weights, num_magnitudes),
                                num_magnitudes, zero_level_),
                     zero_level_);

    return EncodeWithSingleTable(levels, weights.values, bits, /*table_floats=*/2);
  }

 private:
  double ChooseBase(const WeightView& weights, int num_magnitudes) const {
    if (base_.has_value()) return *base_;
    const int nonzero_magnitudes = num_magnitudes - (zero_level_ ? 1 : 0);
    if (nonzero_magnitudes < 2) return kUnusedBase;
    // Scoped here so the sorted copy is freed before encoding.
    const SortedMagnitudes sorted(weights.values);
    if (sorted.max() == 0.0f) return kUnusedBase;
    return SearchBase(sorted, num_magnitudes, zero_level_);
  }

  std::optional<double> base_;
  bool zero_level_;
};

QUANTBENCH_REGISTER_QUANTIZER(
    "exponential",
    "sign + 2^(b-1) magnitudes max|w|·r^k per tensor; base: r in (0, 1), or absent to pick r per "
    "tensor by minimum weight MSE; zero_level: true (smallest magnitude is 0) | false",
    [](ParamMap& params) -> absl::StatusOr<std::unique_ptr<Quantizer>> {
      QB_ASSIGN_OR_RETURN(std::optional<double> base, params.GetOptionalDouble("base"));
      QB_ASSIGN_OR_RETURN(bool zero_level, params.GetBool("zero_level", true));
      if (base.has_value() && !(*base > 0.0 && *base < 1.0)) {
        return absl::InvalidArgumentError(absl::StrCat("parameter 'base' = \"",
                                                       params.values().at("base"),
                                                       "\": expected a number in (0, 1)"));
      }
      return std::unique_ptr<Quantizer>(new ExponentialQuantizer(base, zero_level));
    });

}  // namespace
}  // namespace quantbench
