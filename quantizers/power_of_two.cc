// "power_of_two": sign + exact powers of two + an exact zero (scale-free, shift-only levels).
//
// This is the exponential discretization of shared/papers/exponential_discretization.md,
// section 2.2 ("Exponential quantizer", m_k = M·r^k with a zero level, option A) at base
// r = 1/2, with one change: the top magnitude is not M = max|w| itself but the power of two
// nearest to M, so that every level is an exact power of two (a multiply becomes a shift and no
// fp32 scale multiplies the result). The rule for that top exponent is INQ's (Zhou et al. 2017,
// "n1 = floor(log2(4·s/3))", s = max|w|), i.e. the nearest power of two in the linear domain:
//
//   e = ilogb(M)  (2^e ≤ M < 2^(e+1));  n1 = e + 1 if M ≥ 1.5·2^e, else e   (exact, no log2)
//   levels: {0} ∪ {±2^(n1-k) : k = 0 .. 2^(b-1) - 2}          (2^b - 1 levels; b ≥ 2)
//
// e.g. b = 2: {-2^n1, 0, +2^n1}; b = 3: {±2^n1, ±2^(n1-1), ±2^(n1-2), 0}.
//
// Choices: per tensor (one n1 per tensor, the paper's per-layer granularity); rounding to the
// nearest level in the linear domain, ties away from zero (levels.h); M = 0 gives all levels 0.
// A level below the smallest fp32 denormal underflows to 0 (repeating the zero level, allowed
// by levels.h). Because the top level is clamped to a power of two, max|w| is generally NOT
// representable: a constant tensor c maps to the nearest level, exact only when |c| is a power
// of two. Re-quantizing is a no-op: the max of the output is 2^n1, whose nearest power is
// itself. Storage: the codes plus one fp32 per tensor (2^n1; an int8 exponent would suffice,
// we count fp32 to stay on the safe side). kind = kCodebook: powers of two are not an affine grid
// (a shift kernel would be its own format).
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

// The sorted table for max |w| = `max_abs`.
std::vector<float> PowerOfTwoLevels(float max_abs, int bits) {
  const int num_magnitudes = (1 << (bits - 1)) - 1;  // nonzero magnitudes
  std::vector<float> magnitudes(num_magnitudes, 0.0f);  // ascending
  if (max_abs > 0.0f) {
    const int e = std::ilogb(max_abs);
    // Clamped at 2^127: the next power of two is not a finite fp32.
    const int top = std::min(127, max_abs >= std::ldexp(1.5f, e) ? e + 1 : e);
    for (int k = 0; k < num_magnitudes; ++k) {
      // ldexp is exact when representable and rounds (to 0 below the denormals) otherwise.
      const int exponent = top - k;
      magnitudes[num_magnitudes - 1 - k] = exponent < -160 ? 0.0f : std::ldexp(1.0f, exponent);
    }
  }
  std::vector<float> levels;
  levels.reserve(2 * num_magnitudes + 1);
  for (int i = num_magnitudes; i-- > 0;) {
    levels.push_back(magnitudes[i] == 0.0f ? 0.0f : -magnitudes[i]);
  }
  levels.push_back(0.0f);
  levels.insert(levels.end(), magnitudes.begin(), magnitudes.end());
  return levels;
}

class PowerOfTwoQuantizer : public Quantizer {
 public:
  absl::Status CheckBits(int bits) const override {
    if (bits < 2 || bits > 16) {
      return absl::InvalidArgumentError(absl::StrCat(
          "bits = ", bits, ": power_of_two needs 2 to 16 bits (sign, zero and 2^(b-1)-1 powers)"));
    }
    return absl::OkStatus();
  }

  QuantizerTraits Traits() const override {
    QuantizerTraits traits;
    traits.sign_symmetric = true;
    traits.error_nonincreasing_in_bits = true;
    // The top level is the power of two nearest max|w|: up to 4/3·max|w| (max|w| = 1.5·2^e
    // rounds up to 2^(e+1)), and max|w| itself is generally not a level.
    traits.range_factor = 4.0 / 3.0;
    traits.exact_on_constants = false;
    return traits;
  }

  int64_t MaxLevels(int bits) const override { return (int64_t{1} << bits) - 1; }

  absl::StatusOr<QuantizedTensor> Quantize(const WeightView& weights, int bits) const override {
    QB_RETURN_IF_ERROR(CheckQuantizerInput(weights, bits));
    QB_RETURN_IF_ERROR(CheckBits(bits));
    const std::vector<float> levels = PowerOfTwoLevels(MaxAbs(weights.values), bits);
    return EncodeWithSingleTable(levels, weights.values, bits, /*table_floats=*/1);
  }
};

QUANTBENCH_REGISTER_QUANTIZER(
    "power_of_two",
    "sign + exact powers of two 2^(n1-k), k = 0..2^(b-1)-2, + zero; 2^n1 = power of two nearest "
    "max|w| (per tensor); no parameters",
    [](ParamMap&) -> absl::StatusOr<std::unique_ptr<Quantizer>> {
      return std::unique_ptr<Quantizer>(new PowerOfTwoQuantizer());
    });

}  // namespace
}  // namespace quantbench
