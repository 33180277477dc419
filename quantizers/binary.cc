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
// levels are 0 and every output is 0. Codes: 0 → -a, 1 → +a. Only bits == 1 is accepted.
// Storage: the 1-bit codes plus one fp32 a per table.
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
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

  absl::StatusOr<QuantizedTensor> Quantize(const WeightView& weights, int bits) const override {
    QB_RETURN_IF_ERROR(CheckQuantizerInput(weights, bits));
    QB_RETURN_IF_ERROR(CheckBits(bits));
    const int64_t n = static_cast<int64_t>(weights.values.size());
    const int64_t tables = per_channel_ ? weights.rows() : 1;
    const int64_t table_size = tables == 0 ? 0 : n / tables;

    QuantizedTensor out;
    out.values.resize(n);
    out.codes.resize(n);
    out.num_tables = tables;
    out.levels_per_table = 2;
    for (int64_t t = 0; t < tables; ++t) {
      const int64_t offset = t * table_size;
      double sum = 0.0;
      for (int64_t i = 0; i < table_size; ++i) {
        sum += std::fabs(static_cast<double>(weights.values[offset + i]));
      }
      const float a =
          table_size == 0 ? 0.0f : static_cast<float>(sum / static_cast<double>(table_size));
      for (int64_t i = 0; i < table_size; ++i) {
        const bool negative = std::signbit(weights.values[offset + i]);
        out.codes[offset + i] = negative ? 0 : 1;
        out.values[offset + i] = negative ? -a : a;
      }
      out.codebook.push_back(-a);
      out.codebook.push_back(a);
    }
    out.storage_bits = StorageBits(n, bits, /*table_floats=*/tables);
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
