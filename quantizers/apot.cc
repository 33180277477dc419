// "apot": additive powers-of-two (Li, Dong, Wang, "Additive Powers-of-Two Quantization", ICLR
// 2020). No shared/papers/ summary covers it; it is the non-uniform baseline issue #5 asks for.
// The paper's level set (its Eq. 5) for b = k·n unsigned bits is
//
//   Q(α, kn) = γ·{ Σ_{i=0}^{n−1} p_i },  p_i ∈ {0, 2^−i, 2^−(i+n), 2^−(i+2n), ..., 2^−(i+(2^k−2)n)}
//
// with γ chosen so that the largest level is α (the clipping value): n additive terms, each a
// power of two (or zero) from its own set, the sets interleaved so no exponent repeats. Every
// combination is then a sum of distinct powers of two, so the 2^b sums are all distinct.
//
// Weights are signed: like the paper's weight quantizer, 1 bit is the sign and B = b − 1 bits
// index the magnitude (levels ±m, m ∈ U, ±0 merged: 2^b − 1 levels). The paper uses base width
// k = 2; B = k·n has no integer solution with k = 2 when B is odd, so our rule for every B is
//   n = ⌈B/2⌉ terms; term i has k_i = 2 bits (choices {0, 2^−i, 2^−(i+n), 2^−(i+2n)}), except
//   that when B is odd the last term has k = 1 bit (choices {0, 2^−(n−1)}).
// which is the paper's set exactly when B is even (b = 3, 5, 7) and keeps the exponent sets
// disjoint otherwise. U = all sums, normalized by its maximum Σ_i 2^−i = 2 − 2^−(n−1). The
// exact sets, each term written as its exponent list (p_i ∈ {0} ∪ {2^−e : e in the list}):
//   b = 2: {0}                                      →   2 magnitudes: {0, 1} (ternary)
//   b = 3: {0, 1, 2}                                →   4: {0, 1/4, 1/2, 1} (power of two)
//   b = 4: {0, 2, 4} + {1}                          →   8 (2 terms)
//   b = 5: {0, 2, 4} + {1, 3, 5}                    →  16 (the paper's k = 2, n = 2)
//   b = 6: {0, 3, 6} + {1, 4, 7} + {2}              →  32 (3 terms)
//   b = 7: {0, 3, 6} + {1, 4, 7} + {2, 5, 8}        →  64 (the paper's k = 2, n = 3)
//   b = 8: {0, 4, 8} + {1, 5, 9} + {2, 6, 10} + {3} → 128 (4 terms)
// (for n = 1 the single term's exponents are 0, 1, 2: i + j·n with n = 1). b ranges 2..8 (the
// paper's widths; beyond 8 a uniform grid is the better baseline).
//
// α: clip_ratio·max|w| per tensor (clip_ratio in (0, 1], default 1: α = max|w|, the paper's α
// before training). Levels α·u/max(U), computed in double and rounded once to fp32 (the top level
// is exactly α). Rounding: nearest level in the linear domain, ties away from zero (levels.h);
// the paper rounds to the nearest level too (its projection Π). kind = kCodebook (the sums are
// not an affine grid). Storage: the codes plus one fp32 (α) per tensor: U is fixed by b.
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

// The exponent sets of the terms for `bits` total bits (see the table above).
std::vector<std::vector<int>> TermExponents(int bits) {
  const int magnitude_bits = bits - 1;
  const int terms = (magnitude_bits + 1) / 2;
  std::vector<std::vector<int>> exponents(terms);
  for (int i = 0; i < terms; ++i) {
    const bool short_term = magnitude_bits % 2 == 1 && i == terms - 1;
    const int nonzero_choices = short_term ? 1 : 3;  // 2^k − 1
    for (int j = 0; j < nonzero_choices; ++j) exponents[i].push_back(i + j * terms);
  }
  return exponents;
}

// U normalized to max 1, ascending (2^(bits−1) values, the first 0).
std::vector<double> UnitMagnitudes(int bits) {
  std::vector<double> sums = {0.0};
  double max_sum = 0.0;
  for (const std::vector<int>& term : TermExponents(bits)) {
    std::vector<double> next;
    for (double s : sums) {
      next.push_back(s);  // p_i = 0
      for (int e : term) next.push_back(s + std::ldexp(1.0, -e));
    }
    sums.swap(next);
    max_sum += std::ldexp(1.0, -term.front());
  }
  std::sort(sums.begin(), sums.end());
  for (double& s : sums) s /= max_sum;
  return sums;
}

class ApotQuantizer : public Quantizer {
 public:
  explicit ApotQuantizer(double clip_ratio) : clip_ratio_(clip_ratio) {}

  absl::Status CheckBits(int bits) const override {
    if (bits < 2 || bits > 8) {
      return absl::InvalidArgumentError(absl::StrCat(
          "bits = ", bits, ": apot supports 2 to 8 bits (a sign bit and 1 to 7 magnitude bits)"));
    }
    return absl::OkStatus();
  }

  QuantizerTraits Traits() const override {
    QuantizerTraits traits;
    traits.sign_symmetric = true;
    traits.idempotent = clip_ratio_ == 1.0;
    traits.exact_on_constants = clip_ratio_ == 1.0;
    traits.error_nonincreasing_in_bits = true;
    return traits;
  }

  int64_t MaxLevels(int bits) const override { return (int64_t{1} << bits) - 1; }

  absl::StatusOr<QuantizedTensor> Quantize(const WeightView& weights, int bits) const override {
    QB_RETURN_IF_ERROR(CheckQuantizerInput(weights, bits));
    QB_RETURN_IF_ERROR(CheckBits(bits));
    const double alpha = clip_ratio_ * MaxAbs(weights.values);
    const std::vector<double> unit = UnitMagnitudes(bits);
    std::vector<float> levels;
    levels.reserve(2 * unit.size() - 1);
    for (size_t i = unit.size(); i-- > 1;) levels.push_back(static_cast<float>(-alpha * unit[i]));
    for (double u : unit) levels.push_back(static_cast<float>(alpha * u));
    return EncodeWithSingleTable(std::move(levels), weights.values, bits, /*table_floats=*/1);
  }

 private:
  double clip_ratio_;
};

QUANTBENCH_REGISTER_QUANTIZER(
    "apot",
    "additive powers-of-two: sign + sums of ⌈(b-1)/2⌉ power-of-two terms (disjoint exponent sets), "
    "top level α = clip_ratio·max|w| (default 1); 2^b-1 levels, b = 2..8",
    [](ParamMap& params) -> absl::StatusOr<std::unique_ptr<Quantizer>> {
      QB_ASSIGN_OR_RETURN(double clip_ratio, params.GetDouble("clip_ratio", 1.0));
      if (!(clip_ratio > 0.0 && clip_ratio <= 1.0)) {
        return absl::InvalidArgumentError(absl::StrCat("parameter 'clip_ratio' = \"",
                                                       params.values().at("clip_ratio"),
                                                       "\": expected a number in (0, 1]"));
      }
      return std::unique_ptr<Quantizer>(new ApotQuantizer(clip_ratio));
    });

}  // namespace
}  // namespace quantbench
