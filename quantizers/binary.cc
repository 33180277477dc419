// "binary": sign binarization with a mean-magnitude scale, levels {-a, +a}, 1-bit codes:
//
//   q(w) = a·sign(w),  a = mean|W|
//
// This is the L2-optimal scale for a fixed sign pattern (XNOR-Net, Rastegari et al. 2016,
// equation "α* = ||W||_1 / n"); it is the 1-bit (M = 2) member of the family whose scale
// resiliency_ternary.md section 2.2 fits by "Δ = Σ|w_i|·|q_i| / Σ q_i²" with every |q_i| = 1,
// which gives exactly a = mean|w|. No shared/papers/ summary defines a binary quantizer itself.
//
// Choices: granularity per_tensor (default, one a per tensor) | per_channel (one a per output
// row, row = shape[0]). sign(0): +0 → +a and -0 → -a (the sign bit decides, as in levels.h),
// which keeps q(-w) == -q(w) exactly. a is the mean in double rounded once to fp32, so
// re-quantizing gives back the same a (idempotent). An all-zero tensor (or row) has a = 0: both
// levels are 0 and every output is 0. Codes: 0 → -a, 1 → +a, i.e. the 1-bit uniform grid
// kind = kUniform with scale 2a and zero_point_x2 = 1 (entry c = 2a·(c − 1/2)), which 2a
// represents exactly (doubling a float). Only bits == 1 is accepted.
// Storage: the 1-bit codes plus one fp32 a per table.
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "quantizers/per_table.h"
#include "quantizers/quantizer.h"

namespace quantbench {
namespace {

class BinaryQuantizer : public Quantizer {
 public:
  explicit BinaryQuantizer(bool per_channel) : per_channel_(per_channel) {}

  absl::Status CheckBits(int bits) const override {
    if (bits != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("bits = ", bits, ": binary stores 1-bit codes; use bits: [1]"));
    }
    return absl::OkStatus();
  }

  QuantizerTraits Traits() const override {
    QuantizerTraits traits;
    traits.sign_symmetric = true;
    return traits;
  }

  int64_t MaxLevels(int) const override { return 2; }

  absl::StatusOr<QuantizedTensor> Quantize(const WeightView& weights, int bits) const override {
    QB_RETURN_IF_ERROR(CheckQuantizerInput(weights, bits));
    QB_RETURN_IF_ERROR(CheckBits(bits));
    QuantizedTensor out =
        EncodePerTable(weights, per_channel_, [](const TableSlice& slice, QuantizedTensor& q) {
          const int64_t size = static_cast<int64_t>(slice.input.size());
          double sum = 0.0;
          for (float v : slice.input) sum += std::fabs(static_cast<double>(v));
          const float a = size == 0 ? 0.0f : static_cast<float>(sum / static_cast<double>(size));
          for (int64_t i = 0; i < size; ++i) {
            const bool negative = std::signbit(slice.input[i]);
            slice.codes[i] = negative ? 0 : 1;
            slice.values[i] = negative ? -a : a;
          }
          q.codebook.push_back(-a);
          q.codebook.push_back(a);
          // Uniform 1-bit: entry c = 2a·(c - 1/2).
          q.scale.push_back(2.0f * a);
          q.zero_point_x2.push_back(1);
        });
    out.kind = CodeKind::kUniform;
    out.levels_per_table = 2;
    out.storage_bits = StorageBits(static_cast<int64_t>(weights.values.size()), bits,
                                   /*table_floats=*/out.num_tables);
    return out;
  }

 private:
  bool per_channel_;
};

QUANTBENCH_REGISTER_QUANTIZER(
    "binary", "levels {-a, +a} (1 bit), a = mean|w|; granularity: per_tensor | per_channel",
    [](ParamMap& params) -> absl::StatusOr<std::unique_ptr<Quantizer>> {
      QB_ASSIGN_OR_RETURN(std::string granularity, params.GetEnum("granularity", "per_tensor",
                                                                  {"per_tensor", "per_channel"}));
      return std::unique_ptr<Quantizer>(new BinaryQuantizer(granularity == "per_channel"));
    });

}  // namespace
}  // namespace quantbench
