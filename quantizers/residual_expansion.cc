// "residual_expansion": ternary residual expansion of shared/papers/ternary_residual_expansion.md
// (He, Gong, Fan, WACV 2019), section 2.3, built from the statistical ternarization of
// section 2.1:
//
//   Tern(X; δ):  Δ = δ·max|W|,  α = mean{ |X_i| : |X_i| ≥ Δ },  t_i = sign(X_i)·1[|X_i| ≥ Δ]
//   q(W) = Σ_{p=0}^{t_ex-1} α_p·t_p,  δ = (0.05, 0.10, 0.15, 0.20)[p]
//
// expansion selects X_p, the tensor plane p ternarizes:
//   residual (default): X_0 = W, X_{p+1} = X_p − α_p·t_p, i.e. every plane quantizes the
//     residual the previous planes left, as issue #5 specifies ("each quantizing the residual of
//     the previous, summed"). Each plane can only lower the error (on its kept set
//     Σ(|x| − α)² = Σx² − k·α² with α their mean), so q improves with t_ex.
//   shared: X_p = W for every plane, as in the official code the summary was reconstructed from
//     (the summary stresses "this is *not* a recursive residual of the residual"): the paper
//     trains W with these branches summed. Applied post-training to a float W it overshoots
//     (large weights get Σα_p ≈ t_ex·mean|W|), so it is here for fidelity to the code.
// The summary's choice of max: Δ_p = δ_p·max|W| of the ORIGINAL tensor W for every plane (the
// code's "Tern(W; δ_k)" with δ_k·max|W|), not of the residual; this is what makes the planes'
// thresholds grow as the summary's list does while residuals shrink.
//
// Bits: each plane stores a 2-bit code, so the sweep's `bits` is the storage width 2·t_ex.
//   t_ex absent (default): t_ex = bits/2, bits in {2, 4, 6, 8} (t_ex = 1..4) — a bit sweep
//     sweeps t_ex;
//   t_ex = 1..4 given: bits must equal 2·t_ex (anything else is an error naming 2·t_ex).
// Per tensor only (both the code and the summary use one α per tensor and plane).
//
// Result: kind = kTernaryPlanes, ternary_planes = t_ex, plane_scale = α_p; code =
// Σ_p (t_p + 1)·3^p; the table has all 3^t_ex codes, entry(code) = Σ_p α_p·t_p summed in double
// in plane order and rounded once to fp32 (values use the same sum, so they equal their entry).
// levels_per_table = 3^t_ex ≤ 2^bits; distinct values ≤ 3^t_ex (residual) or 2·t_ex + 1
// (shared: the kept sets are nested). Storage (true cost): 2·t_ex bits per weight plus t_ex
// fp32 scales. Boundaries: kept is |x| ≥ Δ on both signs (the code's w < −Δ on the negative
// side is called immaterial there; ours keeps q(−W) = −q(W) exact), and never for x = 0 (so an
// all-zero W, where Δ = 0, gives α = 0 and q = 0). α is the mean in double rounded once to
// fp32; the residual is kept in fp32.
#include <cmath>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "quantizers/levels.h"
#include "quantizers/quantizer.h"

namespace quantbench {
namespace {

constexpr double kThresholdRatios[] = {0.05, 0.10, 0.15, 0.20};
constexpr int kMaxPlanes = 4;

class ResidualExpansionQuantizer : public Quantizer {
 public:
  ResidualExpansionQuantizer(std::optional<int> t_ex, bool residual)
      : t_ex_(t_ex), residual_(residual) {}

  absl::Status CheckBits(int bits) const override {
    if (t_ex_.has_value()) {
      if (bits != 2 * *t_ex_) {
        return absl::InvalidArgumentError(
            absl::StrCat("bits = ", bits, ": residual_expansion stores t_ex = ", *t_ex_,
                         " ternary planes at 2 bits each; use bits: [", 2 * *t_ex_, "]"));
      }
      return absl::OkStatus();
    }
    if (bits < 2 || bits > 2 * kMaxPlanes || bits % 2 != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("bits = ", bits,
                       ": residual_expansion uses bits = 2·t_ex, t_ex = 1..4 ternary planes; "
                       "use bits in {2, 4, 6, 8}"));
    }
    return absl::OkStatus();
  }

  QuantizerTraits Traits() const override {
    QuantizerTraits traits;
    traits.sign_symmetric = true;
    // The next pass sees a different max|W| and different means: the planes move.
    traits.idempotent = false;
    traits.error_nonincreasing_in_bits = residual_;
    traits.exact_on_constants = residual_;
    // residual: |q| = |W − final residual| ≤ 2·max|W| (no plane enlarges max|residual|);
    // shared: each α_p ≤ max|W|.
    traits.range_factor = residual_ ? 2.0 : kMaxPlanes;
    return traits;
  }

  int64_t MaxLevels(int bits) const override {
    const int planes = bits / 2;
    if (!residual_) return 2 * planes + 1;
    int64_t levels = 1;
    for (int p = 0; p < planes; ++p) levels *= 3;
    return levels;
  }

  absl::StatusOr<QuantizedTensor> Quantize(const WeightView& weights, int bits) const override {
    QB_RETURN_IF_ERROR(CheckQuantizerInput(weights, bits));
    QB_RETURN_IF_ERROR(CheckBits(bits));
    const int planes = bits / 2;
    const int64_t n = static_cast<int64_t>(weights.values.size());
    const double max_abs = MaxAbs(weights.values);
    const float* w = weights.values.data();

    QuantizedTensor out;
    out.codes.assign(n, 0);
    out.values.resize(n);
    std::vector<float> residual;
    if (residual_) residual.assign(weights.values.begin(), weights.values.end());
    std::vector<double> scales;
    int32_t place = 1;  // 3^p
    for (int p = 0; p < planes; ++p, place *= 3) {
      const float* x = residual_ ? residual.data() : w;
      const double threshold = kThresholdRatios[p] * max_abs;
      auto kept = [threshold](float v) {
        const double m = std::fabs(static_cast<double>(v));
        return m > 0.0 && m >= threshold;
      };
      double sum = 0.0;
      int64_t count = 0;
      for (int64_t i = 0; i < n; ++i) {
        if (kept(x[i])) {
          sum += std::fabs(static_cast<double>(x[i]));
          ++count;
        }
      }
      const float alpha = count == 0 ? 0.0f : static_cast<float>(sum / static_cast<double>(count));
      scales.push_back(alpha);
      for (int64_t i = 0; i < n; ++i) {
        // t in {-1, 0, 1}; with α = 0 nothing is kept (the plane is all zero).
        const int t = alpha == 0.0f || !kept(x[i]) ? 0 : (x[i] > 0.0f ? 1 : -1);
        out.codes[i] += (t + 1) * place;
        if (residual_) residual[i] -= alpha * static_cast<float>(t);
      }
    }
    const int64_t levels = MaxCodes(planes);
    out.codebook.resize(levels);
    for (int64_t code = 0; code < levels; ++code) out.codebook[code] = Decode(code, scales);
    for (int64_t i = 0; i < n; ++i) out.values[i] = out.codebook[out.codes[i]];

    out.num_tables = 1;
    out.levels_per_table = levels;
    out.kind = CodeKind::kTernaryPlanes;
    out.ternary_planes = planes;
    out.plane_scale.assign(scales.begin(), scales.end());
    out.storage_bits = StorageBits(n, 2 * planes, /*table_floats=*/planes);
    return out;
  }

 private:
  static int64_t MaxCodes(int planes) {
    int64_t codes = 1;
    for (int p = 0; p < planes; ++p) codes *= 3;
    return codes;
  }

  // Σ_p α_p·t_p for the base-3 digits t_p + 1 of `code`, in double, rounded once.
  static float Decode(int64_t code, const std::vector<double>& scales) {
    double value = 0.0;
    for (double alpha : scales) {
      value += alpha * static_cast<double>(code % 3 - 1);
      code /= 3;
    }
    return static_cast<float>(value);
  }

  std::optional<int> t_ex_;
  bool residual_;
};

QUANTBENCH_REGISTER_QUANTIZER(
    "residual_expansion",
    "sum of t_ex statistical ternary planes (thresholds 0.05, 0.10, 0.15, 0.20 × max|W|, scale = "
    "mean of kept |x|); bits = 2·t_ex; t_ex: 1..4 (absent: bits/2); expansion: residual (each "
    "plane quantizes the previous residual) | shared (every plane ternarizes W, as the paper's "
    "code)",
    [](ParamMap& params) -> absl::StatusOr<std::unique_ptr<Quantizer>> {
      QB_ASSIGN_OR_RETURN(int t_ex_value, params.GetInt("t_ex", 0));
      QB_ASSIGN_OR_RETURN(std::string expansion,
                          params.GetEnum("expansion", "residual", {"residual", "shared"}));
      std::optional<int> t_ex;
      if (params.values().count("t_ex") > 0) {
        if (t_ex_value < 1 || t_ex_value > kMaxPlanes) {
          return absl::InvalidArgumentError(absl::StrCat("parameter 't_ex' = \"",
                                                         params.values().at("t_ex"),
                                                         "\": expected an integer 1 to 4"));
        }
        t_ex = t_ex_value;
      }
      return std::unique_ptr<Quantizer>(
          new ResidualExpansionQuantizer(t_ex, expansion == "residual"));
    });

}  // namespace
}  // namespace quantbench
