// "linear": uniform quantization, the linear quantizer of the exponential-discretization paper
// summary (shared/papers/exponential_discretization.md, section 2.2, "Linear (uniform)
// quantizer", options A and B) extended with the standard baselines the issue asks for
// (asymmetric grids, clipping). mid_tread is also the level grid of resiliency_ternary.md
// section 2.2, Q(w) = sign(w)·Δ·min(⌊|w|/Δ + 0.5⌋, (L-1)/2) with L = 2^b - 1 (ternary at 2 bits),
// but with Δ from the clipping rule below rather than that summary's L2-optimal Δ.
//
//   symmetric: true (default). C = the clipping value of the table (clip below; minmax: max|w|).
//     mode: mid_tread (default, option B): levels Δ·j, j = -(2^(b-1)-1) .. 2^(b-1)-1,
//           Δ = C/(2^(b-1)-1): 2^b - 1 levels including an exact zero; needs b >= 2.
//     mode: mid_rise (option A): levels C·(2k/(2^b-1) - 1), k = 0 .. 2^b-1: 2^b levels spanning
//           exactly [-C, C], no zero level (its zero point is half-integer); 1 bit gives {-C, C}.
//   symmetric: false: the affine min/max grid of integer kernels, 2^b levels s·(k - z),
//     k = 0 .. 2^b-1, integer z, covering [min(lo, 0), max(hi, 0)] (uniform_grid.h AffineGrid:
//     zero is a level, one end is exact, the other inside the grid). b >= 1. `mode` does not
//     apply (the zero point is always an integer).
//   clip: minmax (default) | percentile (`percentile`, default 99.99: of |w| when symmetric, of
//     w at p and 100 - p when not) | mse (the clipping ratio in [0.10, 1.00], lattice 0.005,
//     minimizing the weight MSE); exact definitions and search grid in weight_clipping.h.
//   granularity: per_tensor (default; the paper's per-layer choice) | per_channel (one table per
//     output row, row = shape[0]).
//
// Rounding is to the nearest level with ties away from zero (levels.h); levels are computed in
// double and rounded once to fp32, so with minmax the end levels are exactly ±max|w| (and a
// symmetric table is exactly symmetric). kind = kUniform: level k = scale·(k - zero_point_x2/2)
// (scale = the fp32 step; mid_tread has zero_point_x2 = 2^b - 2, mid_rise 2^b - 1, odd).
// Storage: the codes plus one fp32 scale per table, plus one zero point per table when
// asymmetric (counted as a 32-bit word), because a kernel needs only those to decode.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "quantizers/per_table.h"
#include "quantizers/quantizer.h"
#include "quantizers/uniform_grid.h"
#include "quantizers/weight_clipping.h"

namespace quantbench {
namespace {

class LinearQuantizer : public Quantizer {
 public:
  LinearQuantizer(GridShape shape, ClipSpec clip, bool per_channel)
      : shape_(shape), clip_(clip), per_channel_(per_channel) {}

  absl::Status CheckBits(int bits) const override {
    if (bits < 1 || bits > 16) {
      return absl::InvalidArgumentError(absl::StrCat("bits = ", bits, ": expected 1 to 16"));
    }
    if (shape_ == GridShape::kMidTread && bits < 2) {
      return absl::InvalidArgumentError(
          "mid_tread needs at least 2 bits; use mode: mid_rise or symmetric: false for 1 bit");
    }
    return absl::OkStatus();
  }

  QuantizerTraits Traits() const override {
    QuantizerTraits traits;
    const bool symmetric = shape_ != GridShape::kAffine;
    traits.sign_symmetric = symmetric;
    // Clipping shrinks the range again on every pass, and an affine grid's inner end need not
    // be a level, so only symmetric min/max grids reproduce themselves.
    traits.idempotent = symmetric && clip_.method == ClipMethod::kMinMax;
    traits.error_nonincreasing_in_bits = true;
    traits.exact_on_constants = true;
    traits.may_overshoot_half_step = !symmetric;
    return traits;
  }

  int64_t MaxLevels(int bits) const override {
    return shape_ == GridShape::kMidTread ? (int64_t{1} << bits) - 1 : int64_t{1} << bits;
  }

  absl::StatusOr<QuantizedTensor> Quantize(const WeightView& weights, int bits) const override {
    QB_RETURN_IF_ERROR(CheckQuantizerInput(weights, bits));
    QB_RETURN_IF_ERROR(CheckBits(bits));
    QuantizedTensor out =
        EncodePerTable(weights, per_channel_, [&](const TableSlice& slice, QuantizedTensor& q) {
          EncodeUniformTable(ChooseClippedGrid(shape_, bits, clip_, slice.input), slice, q);
        });
    out.kind = CodeKind::kUniform;
    out.levels_per_table = MaxLevels(bits);
    const int64_t words_per_table = shape_ == GridShape::kAffine ? 2 : 1;
    out.storage_bits = StorageBits(static_cast<int64_t>(weights.values.size()), bits,
                                   /*table_floats=*/words_per_table * out.num_tables);
    return out;
  }

 private:
  GridShape shape_;
  ClipSpec clip_;
  bool per_channel_;
};

QUANTBENCH_REGISTER_QUANTIZER(
    "linear",
    "uniform levels; symmetric: true (mode: mid_tread, 2^b-1 levels with zero | mid_rise, 2^b "
    "levels) | false (affine min/max grid, integer zero point, 2^b levels); clip: minmax | "
    "percentile (percentile, default 99.99) | mse; granularity: per_tensor | per_channel",
    [](ParamMap& params) -> absl::StatusOr<std::unique_ptr<Quantizer>> {
      QB_ASSIGN_OR_RETURN(bool symmetric, params.GetBool("symmetric", true));
      QB_ASSIGN_OR_RETURN(std::string mode,
                          params.GetEnum("mode", "mid_tread", {"mid_tread", "mid_rise"}));
      QB_ASSIGN_OR_RETURN(std::string clip,
                          params.GetEnum("clip", "minmax", {"minmax", "percentile", "mse"}));
      QB_ASSIGN_OR_RETURN(double percentile, params.GetDouble("percentile", 99.99));
      QB_ASSIGN_OR_RETURN(std::string granularity, params.GetEnum("granularity", "per_tensor",
                                                                  {"per_tensor", "per_channel"}));
      if (!symmetric && params.values().count("mode") > 0) {
        return absl::InvalidArgumentError(
            "parameter 'mode' applies to symmetric: true only (an asymmetric grid always has an "
            "integer zero point)");
      }
      if (params.values().count("percentile") > 0) {
        if (clip != "percentile") {
          return absl::InvalidArgumentError(
              "parameter 'percentile' applies to clip: percentile only");
        }
        if (!(percentile >= 50.0 && percentile <= 100.0)) {
          return absl::InvalidArgumentError(
              absl::StrCat("parameter 'percentile' = \"", params.values().at("percentile"),
                           "\": expected a number in [50, 100] (e.g. 99.99)"));
        }
      }
      const GridShape shape = !symmetric            ? GridShape::kAffine
                              : mode == "mid_tread" ? GridShape::kMidTread
                                                    : GridShape::kMidRise;
      ClipSpec spec;
      spec.method = clip == "minmax"       ? ClipMethod::kMinMax
                    : clip == "percentile" ? ClipMethod::kPercentile
                                           : ClipMethod::kMse;
      spec.percentile = percentile;
      return std::unique_ptr<Quantizer>(
          new LinearQuantizer(shape, spec, granularity == "per_channel"));
    });

}  // namespace
}  // namespace quantbench
