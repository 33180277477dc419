// "adjustable_threshold": the symmetric uniform weight quantizer with adjustable thresholds of
// FAT (Goncharenko et al., shared/papers/fat_trained_thresholds.md), sections 2.2-2.3:
//
//   T_k = clip(α_k, 0.5, 1.0)·max|W_k|                       (2.3, "T_adj = clip(α,
//   0.5, 1.0)·T_max") S_k = (2^(b−1) − 1)/T_k;  q = clip(⌊S_k·w⌉, −(2^(b−1)−1), 2^(b−1)−1)/S_k
//   (2.2, symmetric)
//
// per output filter k (the paper's "vector mode", granularity: per_channel, default; row =
// shape[0]) or per tensor ("scalar mode", granularity: per_tensor, k = the whole tensor).
// Choices where the summary is vague:
//   A1: the book prints S = (2^n − 1)/T for the signed case, which would saturate everything
//       above T/2; we take the summary's fix S = (2^(b−1) − 1)/T (2^b − 1 levels, b >= 2).
//   A2: the α clip range is the book's [0.5, 1.0] (not the code's [0.5, 1.3]); any finite α is
//       accepted and clipped, as the formula does with a trained α.
//   A9: ⌊·⌉ rounds half away from zero (levels.h's tie rule), not TF's half-to-even.
//   α is a parameter here (the training issue learns it): `alpha` = one number for every filter
//   (default 1.0, the paper's initial value), or a comma-separated list with one α per output
//   filter (per_channel only); a list whose length is not the tensor's row count is an error
//   naming both, at quantization time (the factory does not know the shapes).
// dws_rescale (section 2.7, default false; granularity: per_tensor only, since per-filter
//   thresholds already equalize filters): for a depthwise tensor (shape [C, 1, kh, kw]), filter
//   k is scaled by s_k = T_a/t_k (t_k = max|W[k]|, T_a = mean over the filters of t_k; the book
//   only says "find appropriate scaling factors", this is the summary's choice A8), the scaled
//   tensor is quantized with one threshold, and each filter is divided by s_k again: the output
//   is what the network computes once 1/s_k is folded into the next 1×1 conv (exact through
//   ReLU; the book's ReLU6 locking of channels with activations ≥ 5.9, and the 6/x_k cap, need
//   activation statistics a weight quantizer does not see and are not applied). Since every
//   scaled filter has max T_a, the values equal per-filter quantization with the common α
//   (whatever T_a is); the table is then per filter (scale = step/s_k). Other tensors are
//   quantized per tensor as without the option. Filters with t_k = 0 keep s_k = 1.
//
// kind = kUniform (mid-tread: zero_point_x2 = 2^b − 2, scale = T_k/(2^(b−1)−1) as fp32).
// Storage: the codes plus one fp32 scale per table (the threshold is all a kernel needs).
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "quantizers/levels.h"
#include "quantizers/per_table.h"
#include "quantizers/quantizer.h"
#include "quantizers/trainable_quantizer.h"
#include "quantizers/uniform_grid.h"

namespace quantbench {
namespace {

double ClipAlpha(double alpha) { return std::clamp(alpha, 0.5, 1.0); }

bool IsDepthwise(const WeightView& weights) {
  return weights.shape.size() == 4 && weights.shape[1] == 1;
}

class AdjustableThresholdQuantizer : public Quantizer, public TrainableQuantizer {
 public:
  AdjustableThresholdQuantizer(std::vector<double> alphas, bool per_channel, bool dws_rescale)
      : alphas_(std::move(alphas)), per_channel_(per_channel), dws_rescale_(dws_rescale) {}

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
    traits.sign_symmetric = true;
    // With every clipped α at 1 the threshold is max|w|, a level, so a second pass finds the
    // same grid; a smaller α clips again on every pass.
    const bool full_range =
        std::all_of(alphas_.begin(), alphas_.end(), [](double a) { return ClipAlpha(a) == 1.0; });
    traits.idempotent = full_range;
    traits.exact_on_constants = full_range;
    traits.error_nonincreasing_in_bits = true;
    return traits;
  }

  int64_t MaxLevels(int bits) const override { return (int64_t{1} << bits) - 1; }

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
    return QuantizeWithAlphas(weights, bits, [&](int64_t table) {
      return alphas_.size() == 1 ? alphas_[0] : alphas_[table];
    });
  }

  // ---- Trainable α (section 2.4): one α per table, i.e. per filter in vector mode and one
  // per tensor in scalar mode (with dws_rescale the single α of the rescaled tensor).
  const TrainableQuantizer* AsTrainable() const override { return this; }

  absl::StatusOr<std::vector<float>> InitialParameters(const WeightView& weights,
                                                       int bits) const override {
    QB_ASSIGN_OR_RETURN(QuantizedTensor configured, Quantize(weights, bits));
    const int64_t count = TrainableCount(weights);
    std::vector<float> alphas(count);
    for (int64_t k = 0; k < count; ++k) {
      alphas[k] = static_cast<float>(alphas_.size() == 1 ? alphas_[0] : alphas_[k]);
    }
    return alphas;
  }

  absl::StatusOr<QuantizedTensor> QuantizeWithParameters(
      const WeightView& weights, int bits, absl::Span<const float> parameters) const override {
    QB_RETURN_IF_ERROR(CheckQuantizerInput(weights, bits));
    QB_RETURN_IF_ERROR(CheckBits(bits));
    QB_RETURN_IF_ERROR(CheckParameterCount(weights, parameters));
    return QuantizeWithAlphas(weights, bits, [&](int64_t table) {
      return static_cast<double>(parameters[parameters.size() == 1 ? 0 : table]);
    });
  }

  // q = clip(⌊S·w⌉, −n, n)/S, S = n/T, T = clip(α, 0.5, 1)·T_max, with ⌊·⌉' = 1 (STE):
  //   inside (|⌊S·w⌉| <= n):  dq/dw = 1,  dq/dS = (S·w − ⌊S·w⌉)/S²
  //   clipped (q = ±n/S):     dq/dw = 0,  dq/dS = ∓n/S²
  //   dS/dT = −S/T;  dT/dα = T_max inside [0.5, 1], else 0 (the clip passes no gradient).
  // With dws_rescale filter k sees S_k = s_k·S and T_max = T_a (see Quantize).
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
    const double n = static_cast<double>((int64_t{1} << (bits - 1)) - 1);
    const int64_t rows = weights.rows();
    const int64_t size = weights.row_size();
    const bool rescale = dws_rescale_ && IsDepthwise(weights);
    std::vector<double> row_max(rows);
    double mean_max = 0.0;
    for (int64_t k = 0; k < rows; ++k) {
      row_max[k] = MaxAbs(absl::Span<const float>(weights.values.data() + k * size, size));
      mean_max += row_max[k] / static_cast<double>(rows);
    }
    const double tensor_max = MaxAbs(weights.values);
    for (int64_t k = 0; k < rows; ++k) {
      const int64_t p = parameters.size() == 1 ? 0 : k;
      const double alpha = parameters[p];
      // The threshold and scale this row is quantized with.
      double t_max = per_channel_ ? row_max[k] : tensor_max;
      double row_scale = 1.0;  // s_k of dws_rescale
      if (rescale) {
        t_max = mean_max;
        if (row_max[k] > 0.0 && mean_max > 0.0) row_scale = mean_max / row_max[k];
      }
      const double t = ClipAlpha(alpha) * t_max;
      const bool alpha_inside = alpha >= 0.5 && alpha <= 1.0;
      double dalpha = 0.0;
      for (int64_t i = k * size; i < (k + 1) * size; ++i) {
        if (t <= 0.0) {
          dweights[i] = 0.0f;  // an all-zero row: every level is 0
          continue;
        }
        const double s = row_scale * n / t;
        const double x = s * weights.values[i];
        const double r = std::round(x);  // half away from zero, as EncodeNearest breaks ties
        double dq_ds;
        if (std::fabs(r) <= n) {
          dweights[i] = dq[i];
          dq_ds = (x - r) / (s * s);
        } else {
          dweights[i] = 0.0f;
          dq_ds = -(r > 0 ? n : -n) / (s * s);
        }
        if (alpha_inside) dalpha += dq[i] * dq_ds * (-s / t) * t_max;
      }
      dparameters[p] += static_cast<float>(dalpha);
    }
    return absl::OkStatus();
  }

 private:
  // Parameters per tensor: one α per output filter (vector mode) or one for the tensor.
  int64_t TrainableCount(const WeightView& weights) const {
    return per_channel_ ? weights.rows() : 1;
  }

  absl::Status CheckParameterCount(const WeightView& weights,
                                   absl::Span<const float> parameters) const {
    if (static_cast<int64_t>(parameters.size()) != TrainableCount(weights)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "adjustable_threshold: ", parameters.size(), " trained α for tensor '", weights.name,
          "', expected ", TrainableCount(weights)));
    }
    for (float a : parameters) {
      if (!std::isfinite(a)) {
        return absl::InvalidArgumentError("adjustable_threshold: non-finite α for tensor '" +
                                          weights.name + "'");
      }
    }
    return absl::OkStatus();
  }

  template <typename AlphaOf>
  QuantizedTensor QuantizeWithAlphas(const WeightView& weights, int bits, AlphaOf alpha_of) const {
    const bool rescale = dws_rescale_ && IsDepthwise(weights);
    QuantizedTensor out;
    if (rescale) {
      out = QuantizeRescaledDepthwise(weights, bits, alpha_of(0));
    } else {
      out = EncodePerTable(weights, per_channel_, [&](const TableSlice& slice, QuantizedTensor& q) {
        EncodeUniformTable(MidTreadGrid(bits, ClipAlpha(alpha_of(slice.index)) * MaxAbs(slice.input)),
                           slice, q);
      });
    }
    out.kind = CodeKind::kUniform;
    out.levels_per_table = MaxLevels(bits);
    out.storage_bits = StorageBits(static_cast<int64_t>(weights.values.size()), bits,
                                   /*table_floats=*/out.num_tables);
    return out;
  }

  // Section 2.7 on one depthwise tensor (see the top comment): Q(s_k·W_k)/s_k with one
  // threshold over the scaled tensor.
  QuantizedTensor QuantizeRescaledDepthwise(const WeightView& weights, int bits, double alpha) const {
    const int64_t rows = weights.rows();
    const int64_t size = weights.row_size();
    std::vector<double> t(rows);
    double mean_t = 0.0;
    for (int64_t k = 0; k < rows; ++k) {
      t[k] = MaxAbs(absl::Span<const float>(weights.values.data() + k * size, size));
      mean_t += t[k] / static_cast<double>(rows);
    }
    std::vector<double> s(rows, 1.0);
    for (int64_t k = 0; k < rows; ++k) {
      if (t[k] > 0.0 && mean_t > 0.0) s[k] = mean_t / t[k];
    }
    // Every rescaled filter has max s_k·t_k = T_a, so the per-tensor threshold is α·T_a and
    // filter k, divided back by s_k, sees the grid of step α·T_a/(s_k·(2^(b-1)-1)).
    const double threshold = ClipAlpha(alpha) * mean_t;
    return EncodePerTable(weights, /*per_channel=*/true,
                          [&](const TableSlice& slice, QuantizedTensor& q) {
                            UniformGrid grid = MidTreadGrid(bits, threshold);
                            grid.step /= s[slice.index];
                            EncodeUniformTable(grid, slice, q);
                          });
  }

  std::vector<double> alphas_;
  bool per_channel_;
  bool dws_rescale_;
};

QUANTBENCH_REGISTER_QUANTIZER(
    "adjustable_threshold",
    "FAT: symmetric uniform, 2^b-1 levels up to T = clip(alpha, 0.5, 1)·max|w| per output filter; "
    "alpha: one value (default 1.0) or a comma-separated list, one per filter; granularity: "
    "per_channel | per_tensor; dws_rescale: true | false (depthwise filter equalization, "
    "per_tensor)",
    [](ParamMap& params) -> absl::StatusOr<std::unique_ptr<Quantizer>> {
      QB_ASSIGN_OR_RETURN(std::vector<double> alphas, params.GetDoubleList("alpha", {1.0}));
      QB_ASSIGN_OR_RETURN(std::string granularity, params.GetEnum("granularity", "per_channel",
                                                                  {"per_channel", "per_tensor"}));
      QB_ASSIGN_OR_RETURN(bool dws_rescale, params.GetBool("dws_rescale", false));
      const bool per_channel = granularity == "per_channel";
      if (!per_channel && alphas.size() != 1) {
        return absl::InvalidArgumentError(absl::StrCat("parameter 'alpha' = \"",
                                                       params.values().at("alpha"),
                                                       "\": granularity: per_tensor "
                                                       "takes a single α (",
                                                       alphas.size(), " given)"));
      }
      if (dws_rescale && per_channel) {
        return absl::InvalidArgumentError(
            "parameter 'dws_rescale' applies to granularity: per_tensor (per-filter thresholds "
            "already equalize depthwise filters)");
      }
      return std::unique_ptr<Quantizer>(
          new AdjustableThresholdQuantizer(std::move(alphas), per_channel, dws_rescale));
    });

}  // namespace
}  // namespace quantbench
