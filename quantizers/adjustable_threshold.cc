// "adjustable_threshold": the uniform weight quantizer with adjustable thresholds of FAT
// (Goncharenko et al., shared/papers/fat_trained_thresholds.md), sections 2.2-2.3, per output
// filter k (the paper's "vector mode", granularity: per_channel, default; row = shape[0]) or per
// tensor ("scalar mode", granularity: per_tensor, k = the whole tensor).
//
// thresholds: symmetric (default):
//   T_k = clip(α_k, 0.5, 1)·max|W_k|,  Δ_k = T_k/(2^(b−1) − 1),
//   q = Δ_k·clip(⌊w/Δ_k⌉, −(2^(b−1)−1), 2^(b−1)−1)          (2^b − 1 levels, zero exact)
// thresholds: asymmetric (2.3, the TFLite-style variant; weights are signed tensors):
//   [T_l, T_l + R] = [min W_k, max W_k],  two parameters per table (α_T, α_R), starting at (0, 1):
//   T_l,adj = T_l + clip(α_T, −0.2, 0.4)·R,  Δ_k = clip(α_R, 0.5, 1)·R/(2^b − 1),
//   z = ⌊T_l,adj/Δ_k⌉,  q = Δ_k·(clamp(⌊w/Δ_k⌉ − z, 0, 2^b − 1) + z)   (2^b levels)
// (quantizers/fat_thresholds.h holds both grids' straight-through gradients.)
// Choices where the summary is vague:
//   A1: the book prints S = (2^n − 1)/T for the signed case, which would saturate everything
//       above T/2; we take the summary's fix S = (2^(b−1) − 1)/T (2^b − 1 levels, b >= 2).
//   A2: the α clip range is the book's [0.5, 1.0] (not the code's [0.5, 1.3]); any finite α is
//       accepted and clipped, as the formula does with a trained α.
//   A9: ⌊·⌉ rounds half away from zero (levels.h's tie rule), not TF's half-to-even.
//   α is a parameter here (the trainer learns it, TrainableQuantizer): `alpha` = one number for
//   every filter (default 1.0, the paper's initial value), or a comma-separated list with one α
//   per output filter (per_channel, symmetric only); a list whose length is not the tensor's row
//   count is an error naming both, at quantization time (the factory does not know the shapes).
// Depthwise-separable rescaling (2.7) is a graph transform on the weights and the calibration
// maxima (networks/dws_rescaling.h), applied before any quantizer sees the weights.
//
// kind = kUniform (scale = Δ_k as fp32; zero_point_x2 = 2^b − 2 symmetric, −2z asymmetric).
// Storage: the codes plus one fp32 scale per table.
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "quantizers/fat_thresholds.h"
#include "quantizers/levels.h"
#include "quantizers/per_table.h"
#include "quantizers/quantizer.h"
#include "quantizers/trainable_quantizer.h"
#include "quantizers/uniform_grid.h"

namespace quantbench {
namespace {

class AdjustableThresholdQuantizer : public Quantizer, public TrainableQuantizer {
 public:
  AdjustableThresholdQuantizer(std::vector<double> alphas, bool per_channel, bool asymmetric)
      : alphas_(std::move(alphas)), per_channel_(per_channel), asymmetric_(asymmetric) {}

  absl::Status CheckBits(int bits) const override {
    if (bits < 2 || bits > 16) {
      return absl::InvalidArgumentError(
          absl::StrCat("bits = ", bits,
                       ": adjustable_threshold is symmetric with a zero level and needs 2 to "
                       "16 bits"));
    }
    return absl::OkStatus();
  }

  QuantizerTraits Traits() const override {
    QuantizerTraits traits;
    traits.sign_symmetric = !asymmetric_;
    // With every clipped α at 1 the threshold is max|w| (asymmetric: the ends min and max,
    // both levels up to rounding of z), so a second pass finds the same grid; a smaller α
    // clips again on every pass.
    const bool full_range = !asymmetric_ && std::all_of(alphas_.begin(), alphas_.end(),
                                                        [](double a) { return ClipFatAlpha(a) == 1.0; });
    traits.idempotent = full_range;
    traits.exact_on_constants = full_range;
    traits.error_nonincreasing_in_bits = !asymmetric_;
    // Asymmetric: z = ⌊T_l/Δ⌉ moves the grid by up to half a step, so the top level may lie
    // past max|w| by that much.
    traits.may_overshoot_half_step = asymmetric_;
    return traits;
  }

  int64_t MaxLevels(int bits) const override {
    return asymmetric_ ? (int64_t{1} << bits) : (int64_t{1} << bits) - 1;
  }

  absl::StatusOr<QuantizedTensor> Quantize(const WeightView& weights, int bits) const override {
    QB_RETURN_IF_ERROR(CheckQuantizerInput(weights, bits));
    QB_RETURN_IF_ERROR(CheckBits(bits));
    if (alphas_.size() > 1 && static_cast<int64_t>(alphas_.size()) != weights.rows()) {
      return absl::InvalidArgumentError(absl::StrCat("adjustable_threshold: 'alpha' lists ",
                                                     alphas_.size(), " values but tensor '",
                                                     weights.name, "' has ", weights.rows(),
                                                     " output filters (shape[0]); give one α per "
                                                     "filter or a single α"));
    }
    QB_ASSIGN_OR_RETURN(std::vector<float> parameters, InitialParameters(weights, bits));
    return QuantizeWithParameters(weights, bits, parameters);
  }

  // ---- Trainable α (section 2.4): per table (per filter in vector mode, one per tensor in
  // scalar mode) one α (symmetric) or the pair (α_T, α_R) (asymmetric).
  const TrainableQuantizer* AsTrainable() const override { return this; }

  absl::StatusOr<std::vector<float>> InitialParameters(const WeightView& weights,
                                                       int bits) const override {
    QB_RETURN_IF_ERROR(CheckQuantizerInput(weights, bits));
    const int64_t tables = Tables(weights);
    std::vector<float> parameters;
    for (int64_t k = 0; k < tables; ++k) {
      if (asymmetric_) {
        parameters.push_back(0.0f);  // α_T: no shift
        parameters.push_back(1.0f);  // α_R: the calibrated width
      } else {
        parameters.push_back(static_cast<float>(alphas_.size() == 1 ? alphas_[0] : alphas_[k]));
      }
    }
    return parameters;
  }

  absl::StatusOr<QuantizedTensor> QuantizeWithParameters(
      const WeightView& weights, int bits, absl::Span<const float> parameters) const override {
    QB_RETURN_IF_ERROR(CheckQuantizerInput(weights, bits));
    QB_RETURN_IF_ERROR(CheckBits(bits));
    QB_RETURN_IF_ERROR(CheckParameterCount(weights, parameters));
    QuantizedTensor out =
        EncodePerTable(weights, per_channel_, [&](const TableSlice& slice, QuantizedTensor& q) {
          EncodeUniformTable(GridOf(slice.input, bits, parameters, slice.index), slice, q);
        });
    out.kind = CodeKind::kUniform;
    out.levels_per_table = MaxLevels(bits);
    out.storage_bits = StorageBits(static_cast<int64_t>(weights.values.size()), bits,
                                   /*table_floats=*/out.num_tables);
    return out;
  }

  // dq/dw = 1 inside the grid, 0 where clamped; dq/dα through Δ (and z) with identity STE for
  // every rounding (fat_thresholds.h); the α clips pass no gradient outside their interval.
  absl::Status Backward(const WeightView& weights, int bits, absl::Span<const float> parameters,
                        absl::Span<const float> dq, absl::Span<float> dweights,
                        absl::Span<float> dparameters) const override {
    QB_RETURN_IF_ERROR(CheckQuantizerInput(weights, bits));
    QB_RETURN_IF_ERROR(CheckParameterCount(weights, parameters));
    if (dq.size() != weights.values.size() || dweights.size() != weights.values.size() ||
        dparameters.size() != parameters.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "adjustable_threshold: gradient sizes do not fit tensor '", weights.name, "'"));
    }
    const int64_t tables = Tables(weights);
    const int64_t size = static_cast<int64_t>(weights.values.size()) / tables;
    const double qmax = asymmetric_ ? std::ldexp(1.0, bits) - 1 : 2 * (std::ldexp(1.0, bits - 1) - 1);
    for (int64_t k = 0; k < tables; ++k) {
      absl::Span<const float> row(weights.values.data() + k * size, size);
      const UniformGrid grid = GridOf(row, bits, parameters, k);
      const double z = -0.5 * grid.zero_point_x2;
      double d_first = 0.0, d_second = 0.0;
      AsymmetricGrid asym;
      double t_max = 0.0;
      if (asymmetric_) {
        asym = AsymmetricOf(row, qmax, parameters, k);
      } else {
        t_max = MaxAbs(row);
      }
      for (int64_t i = k * size; i < (k + 1) * size; ++i) {
        if (grid.step <= 0.0) {
          dweights[i] = 0.0f;  // an all-zero (or constant, asymmetric) row: no grid to move
          continue;
        }
        const AffinePartials p = AffineFakeQuantize(weights.values[i], grid.step, z, qmax);
        dweights[i] = static_cast<float>(dq[i] * p.d_x);
        if (asymmetric_) {
          AccumulateAsymmetricGradient(asym, p, dq[i], qmax, &d_first, &d_second);
        } else if (InsideClip(parameters[k], kFatAlphaMin, kFatAlphaMax)) {
          // Δ = clip(α)·T_max/n: dΔ/dα = T_max/n = 2·T_max/qmax.
          d_first += dq[i] * p.d_step * 2.0 * t_max / qmax;
        }
      }
      if (asymmetric_) {
        dparameters[2 * k] += static_cast<float>(d_first);
        dparameters[2 * k + 1] += static_cast<float>(d_second);
      } else {
        dparameters[k] += static_cast<float>(d_first);
      }
    }
    return absl::OkStatus();
  }

 private:
  int64_t Tables(const WeightView& weights) const { return per_channel_ ? weights.rows() : 1; }
  int64_t PerTable() const { return asymmetric_ ? 2 : 1; }

  AsymmetricGrid AsymmetricOf(absl::Span<const float> row, double qmax, absl::Span<const float> parameters,
                              int64_t table) const {
    const auto [lo, hi] = std::minmax_element(row.begin(), row.end());
    // The range includes 0 so that zero stays a level (z inside the codes) before any shift.
    return MakeAsymmetricGrid(std::min(0.0, double{*lo}), std::max(0.0, double{*hi}), parameters[2 * table],
                              parameters[2 * table + 1], kFatShiftMin, kFatShiftMax, qmax);
  }

  UniformGrid GridOf(absl::Span<const float> row, int bits, absl::Span<const float> parameters,
                     int64_t table) const {
    if (!asymmetric_) return MidTreadGrid(bits, ClipFatAlpha(parameters[table]) * MaxAbs(row));
    const double qmax = std::ldexp(1.0, bits) - 1;
    const AsymmetricGrid g = AsymmetricOf(row, qmax, parameters, table);
    UniformGrid grid;
    grid.step = g.step;
    grid.zero_point_x2 = static_cast<int32_t>(-2 * g.z);
    grid.count = static_cast<int64_t>(qmax) + 1;
    return grid;
  }

  absl::Status CheckParameterCount(const WeightView& weights,
                                   absl::Span<const float> parameters) const {
    if (static_cast<int64_t>(parameters.size()) != Tables(weights) * PerTable()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "adjustable_threshold: ", parameters.size(), " trained parameters for tensor '", weights.name,
          "', expected ", Tables(weights) * PerTable()));
    }
    for (float a : parameters) {
      if (!std::isfinite(a)) {
        return absl::InvalidArgumentError("adjustable_threshold: non-finite α for tensor '" +
                                          weights.name + "'");
      }
    }
    return absl::OkStatus();
  }

  std::vector<double> alphas_;
  bool per_channel_;
  bool asymmetric_;
};

QUANTBENCH_REGISTER_QUANTIZER(
    "adjustable_threshold",
    "FAT: uniform grid up to trainable thresholds per output filter; thresholds: symmetric "
    "(2^b-1 levels up to T = clip(alpha, 0.5, 1)·max|w|; alpha: one value (default 1.0) or a "
    "comma-separated list, one per filter) | asymmetric (2^b levels over [min, max] shifted by "
    "clip(alpha_T, -0.2, 0.4)·R and scaled by clip(alpha_R, 0.5, 1), trained from (0, 1)); "
    "granularity: per_channel | per_tensor",
    [](ParamMap& params) -> absl::StatusOr<std::unique_ptr<Quantizer>> {
      QB_ASSIGN_OR_RETURN(std::vector<double> alphas, params.GetDoubleList("alpha", {1.0}));
      QB_ASSIGN_OR_RETURN(std::string granularity, params.GetEnum("granularity", "per_channel",
                                                                  {"per_channel", "per_tensor"}));
      QB_ASSIGN_OR_RETURN(std::string thresholds,
                          params.GetEnum("thresholds", "symmetric", {"symmetric", "asymmetric"}));
      const bool per_channel = granularity == "per_channel";
      const bool asymmetric = thresholds == "asymmetric";
      if (!per_channel && alphas.size() != 1) {
        return absl::InvalidArgumentError(absl::StrCat("parameter 'alpha' = \"",
                                                       params.values().at("alpha"),
                                                       "\": granularity: per_tensor "
                                                       "takes a single α (",
                                                       alphas.size(), " given)"));
      }
      if (asymmetric && params.values().count("alpha") != 0) {
        return absl::InvalidArgumentError(
            "parameter 'alpha' applies to thresholds: symmetric (asymmetric thresholds start at "
            "alpha_T = 0, alpha_R = 1 and are trained)");
      }
      return std::unique_ptr<Quantizer>(
          new AdjustableThresholdQuantizer(std::move(alphas), per_channel, asymmetric));
    });

}  // namespace
}  // namespace quantbench
