// "linear": the uniform symmetric quantizer of the exponential-discretization paper summary
// (shared/papers/exponential_discretization.md, section 2.2, "Linear (uniform) quantizer",
// options A and B). mid_tread is also the level grid of resiliency_ternary.md section 2.2,
// Q(w) = sign(w)·Δ·min(⌊|w|/Δ + 0.5⌋, (L-1)/2) with L = 2^b - 1 (ternary at 2 bits), but with
// Δ = max|w|/(2^(b-1)-1) rather than that summary's L2-optimal Δ. M = max|w| over the tensor
// (granularity: per_tensor, the paper's choice) or over each output row (granularity:
// per_channel, row = shape[0]).
//
//   mode: mid_tread (default, option B): levels Δ·j, j = -(2^(b-1)-1) .. 2^(b-1)-1,
//         Δ = M/(2^(b-1)-1): 2^b - 1 levels including an exact zero; needs b >= 2.
//   mode: mid_rise (option A): levels M·(2k/(2^b-1) - 1), k = 0 .. 2^b-1: 2^b levels spanning
//         exactly [-M, M], no zero level; 1 bit gives {-M, +M}.
//
// Choices: M is max|w| (no clipping search); rounding is to the nearest level with ties away
// from zero (levels.h); the end levels are exactly ±M in fp32. Storage: the codes plus ONE fp32
// scale per table, because every level is scale · (integer determined by the code), so a
// kernel needs the scale only, not the whole table. M == 0 gives scale 0: every level is 0.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "quantizers/levels.h"
#include "quantizers/quantizer.h"

namespace quantbench {
namespace {

enum class Mode { kMidTread, kMidRise };

// The sorted level table for max |w| = `max_abs`. Each level is an odd or even integer times a
// scale, computed in double and rounded once to fp32: negation is exact, so the table is
// exactly symmetric, and the end levels round to exactly ±max_abs.
std::vector<float> UniformLevels(Mode mode, int bits, float max_abs) {
  std::vector<float> levels;
  if (mode == Mode::kMidTread) {
    const int64_t half = (int64_t{1} << (bits - 1)) - 1;  // levels -half .. half
    const double step = static_cast<double>(max_abs) / static_cast<double>(half);
    for (int64_t j = -half; j <= half; ++j) levels.push_back(static_cast<float>(j * step));
  } else {
    // M·(2k/(L-1) - 1) = (2k - (L-1)) · M/(L-1): odd multiples of half a step.
    const int64_t span = (int64_t{1} << bits) - 1;  // L - 1
    const double unit = static_cast<double>(max_abs) / static_cast<double>(span);
    for (int64_t k = 0; k <= span; ++k) levels.push_back(static_cast<float>((2 * k - span) * unit));
  }
  return levels;
}

class LinearQuantizer : public Quantizer {
 public:
  LinearQuantizer(Mode mode, bool per_channel) : mode_(mode), per_channel_(per_channel) {}

  absl::Status CheckBits(int bits) const override {
    if (bits < 1 || bits > 16) {
      return absl::InvalidArgumentError(absl::StrCat("bits = ", bits, ": expected 1 to 16"));
    }
    if (mode_ == Mode::kMidTread && bits < 2) {
      return absl::InvalidArgumentError(
          "mid_tread needs at least 2 bits; use mode: mid_rise for 1 bit");
    }
    return absl::OkStatus();
  }

  absl::StatusOr<QuantizedTensor> Quantize(const WeightView& weights, int bits) const override {
    QB_RETURN_IF_ERROR(CheckQuantizerInput(weights, bits));
    QB_RETURN_IF_ERROR(CheckBits(bits));
    const int64_t n = static_cast<int64_t>(weights.values.size());
    const int64_t tables = per_channel_ ? weights.rows() : 1;
    const int64_t table_size = n / tables;

    QuantizedTensor out;
    out.values.resize(n);
    out.codes.resize(n);
    out.num_tables = tables;
    for (int64_t t = 0; t < tables; ++t) {
      const int64_t offset = t * table_size;
      absl::Span<const float> part(weights.values.data() + offset, table_size);
      const std::vector<float> levels = UniformLevels(mode_, bits, MaxAbs(part));
      EncodeNearest(levels, part, absl::MakeSpan(out.codes.data() + offset, table_size),
                    absl::MakeSpan(out.values.data() + offset, table_size));
      out.levels_per_table = static_cast<int64_t>(levels.size());
      out.codebook.insert(out.codebook.end(), levels.begin(), levels.end());
    }
    out.storage_bits = StorageBits(n, bits, /*table_floats=*/tables);
    return out;
  }

 private:
  Mode mode_;
  bool per_channel_;
};

QUANTBENCH_REGISTER_QUANTIZER(
    "linear",
    "uniform symmetric levels up to max|w|; mode: mid_tread (2^b-1 levels with zero) | mid_rise "
    "(2^b levels); granularity: per_tensor | per_channel",
    [](ParamMap& params) -> absl::StatusOr<std::unique_ptr<Quantizer>> {
      QB_ASSIGN_OR_RETURN(std::string mode,
                          params.GetEnum("mode", "mid_tread", {"mid_tread", "mid_rise"}));
      QB_ASSIGN_OR_RETURN(std::string granularity, params.GetEnum("granularity", "per_tensor",
                                                                  {"per_tensor", "per_channel"}));
      return std::unique_ptr<Quantizer>(new LinearQuantizer(
          mode == "mid_tread" ? Mode::kMidTread : Mode::kMidRise, granularity == "per_channel"));
    });

}  // namespace
}  // namespace quantbench
