// "ternary": threshold ternarization, levels {-a, 0, +a}, 2-bit codes.
//
//   q(w) = +a if |w| > Δ and w > 0;  -a if |w| > Δ and w < 0;  0 otherwise,
//   a = mean{ |w| : w kept }.
//
// method selects how the kept set (equivalently Δ) is chosen:
//   twn (default): Ternary Weight Networks (Li & Liu 2016), Δ = 0.7·mean|W|, kept = |w| > Δ.
//     (Not in shared/papers/; the standard TWN approximation of the optimal threshold.)
//   statistical: shared/papers/ternary_residual_expansion.md, section 2.1, equation
//     "Δ = δ·max|W|, α = mean{|W| : |W| ≥ Δ}", δ = `threshold_ratio` (default 0.05, the paper's
//     δ). Choice: the paper's code keeps w ≥ Δ on the positive side but w < -Δ on the negative
//     side (it calls this immaterial); we use |w| ≥ Δ on both sides so that q(-w) == -q(w).
//   mse: shared/papers/resiliency_ternary.md, section 2.2, "minimize the L2 quantization error
//     Σ(w - Q(w))² by 1-D search", specialized to ternary (M = 3 levels). The summary searches
//     over the step Δ with Q's own threshold Δ/2; we instead search exactly over the kept set,
//     which contains that family: for the k largest |w| kept, the best a is their mean and the
//     error is Σ w² − k·a² = Σ w² − S_k²/k (S_k = sum of the k largest |w|). Every k is tried
//     (|w| sorted once, sorted_magnitudes.h, plus a running sum: O(n) after the sort); k only
//     ranges over ends of tie groups (so the kept set is a threshold set, "|w| ≥ the k-th
//     largest"), and ties in the error keep the smallest k. Hence mse's error ≤ the error of
//     twn and statistical on the same tensor (both are kept-set + mean rules).
// granularity: per_tensor (default; both papers' choice) | per_channel (one a and Δ per output
//   row, row = shape[0]).
//
// When nothing is kept (e.g. an all-zero tensor) a = 0 and every output is 0. a is the mean in
// double rounded once to fp32, so re-quantizing a ternary tensor gives back the same a (the
// kept set is again exactly the nonzeros, for all three methods): idempotent.
// Codes: 0 → -a, 1 → 0, 2 → +a (codebook {-a, 0, +a}): kind = kTernary, scale = a per table.
// Only bits == 2 is accepted. Storage: the
// 2-bit codes plus one fp32 a per table (Δ is not needed to decode).
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "quantizers/per_table.h"
#include "quantizers/quantizer.h"
#include "quantizers/sorted_magnitudes.h"

namespace quantbench {
namespace {

enum class Method { kTwn, kStatistical, kMse };

struct Ternarization {
  double threshold;  // kept: |w| > threshold (strict) or |w| >= threshold (inclusive)
  bool inclusive;
  float scale;  // a
};

// Mean |w| over the kept set, in double, rounded once to fp32; 0 if nothing is kept.
float MeanKept(absl::Span<const float> part, double threshold, bool inclusive) {
  double sum = 0.0;
  int64_t count = 0;
  for (float v : part) {
    const double m = std::fabs(static_cast<double>(v));
    if (inclusive ? m >= threshold : m > threshold) {
      sum += m;
      ++count;
    }
  }
  return count == 0 ? 0.0f : static_cast<float>(sum / static_cast<double>(count));
}

Ternarization Choose(Method method, double threshold_ratio, absl::Span<const float> part) {
  switch (method) {
    case Method::kTwn: {
      double sum = 0.0;
      for (float v : part) sum += std::fabs(static_cast<double>(v));
      const double mean = part.empty() ? 0.0 : sum / static_cast<double>(part.size());
      const double threshold = 0.7 * mean;
      return {threshold, false, MeanKept(part, threshold, false)};
    }
    case Method::kStatistical: {
      double max_abs = 0.0;
      for (float v : part) max_abs = std::max(max_abs, std::fabs(static_cast<double>(v)));
      const double threshold = threshold_ratio * max_abs;
      if (max_abs == 0.0) return {0.0, false, 0.0f};  // nothing exceeds 0: all zeros
      return {threshold, true, MeanKept(part, threshold, true)};
    }
    case Method::kMse: {
      const SortedMagnitudes sorted(part);
      const absl::Span<const float> s = sorted.sorted();  // ascending
      const int64_t n = static_cast<int64_t>(s.size());
      double sum = 0.0;
      double best_gain = 0.0;  // S_k²/k; k = 0 keeps nothing (gain 0)
      int64_t best_k = 0;
      for (int64_t k = 1; k <= n; ++k) {
        const float m = s[n - k];
        sum += m;
        // Only at the end of a tie group: the next smaller value must differ.
        if (k < n && s[n - k - 1] == m) continue;
        const double gain = sum * sum / static_cast<double>(k);
        if (gain > best_gain) {
          best_gain = gain;
          best_k = k;
        }
      }
      if (best_k == 0) return {0.0, false, 0.0f};
      const double threshold = s[n - best_k];  // kept: |w| >= the best_k-th largest
      return {threshold, true, MeanKept(part, threshold, true)};
    }
  }
  return {0.0, false, 0.0f};
}

class TernaryQuantizer : public Quantizer {
 public:
  TernaryQuantizer(Method method, double threshold_ratio, bool per_channel)
      : method_(method), threshold_ratio_(threshold_ratio), per_channel_(per_channel) {}

  absl::Status CheckBits(int bits) const override {
    if (bits != 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("bits = ", bits, ": ternary stores 2-bit codes; use bits: [2]"));
    }
    return absl::OkStatus();
  }

  QuantizerTraits Traits() const override {
    QuantizerTraits traits;
    traits.sign_symmetric = true;
    return traits;
  }

  int64_t MaxLevels(int) const override { return 3; }

  absl::StatusOr<QuantizedTensor> Quantize(const WeightView& weights, int bits) const override {
    QB_RETURN_IF_ERROR(CheckQuantizerInput(weights, bits));
    QB_RETURN_IF_ERROR(CheckBits(bits));
    QuantizedTensor out =
        EncodePerTable(weights, per_channel_, [&](const TableSlice& slice, QuantizedTensor& q) {
          const Ternarization tern = Choose(method_, threshold_ratio_, slice.input);
          const float a = tern.scale;
          for (size_t i = 0; i < slice.input.size(); ++i) {
            const float v = slice.input[i];
            const double m = std::fabs(static_cast<double>(v));
            const bool kept =
                a != 0.0f && (tern.inclusive ? m >= tern.threshold : m > tern.threshold);
            const int32_t code = kept ? (v > 0 ? 2 : 0) : 1;
            slice.codes[i] = code;
            slice.values[i] = code == 2 ? a : (code == 0 ? -a : 0.0f);
          }
          q.codebook.insert(q.codebook.end(), {-a, 0.0f, a});
          q.scale.push_back(a);
        });
    out.kind = CodeKind::kTernary;
    out.levels_per_table = 3;
    out.storage_bits = StorageBits(static_cast<int64_t>(weights.values.size()), bits,
                                   /*table_floats=*/out.num_tables);
    return out;
  }

 private:
  Method method_;
  double threshold_ratio_;
  bool per_channel_;
};

QUANTBENCH_REGISTER_QUANTIZER(
    "ternary",
    "levels {-a, 0, +a} (2 bits); method: twn (Δ = 0.7·mean|w|) | statistical (Δ = "
    "threshold_ratio·max|w|) | mse (exact L2-optimal kept set); a = mean of kept |w|; "
    "granularity: per_tensor | per_channel",
    [](ParamMap& params) -> absl::StatusOr<std::unique_ptr<Quantizer>> {
      QB_ASSIGN_OR_RETURN(std::string method,
                          params.GetEnum("method", "twn", {"twn", "statistical", "mse"}));
      QB_ASSIGN_OR_RETURN(double ratio, params.GetDouble("threshold_ratio", 0.05));
      QB_ASSIGN_OR_RETURN(std::string granularity, params.GetEnum("granularity", "per_tensor",
                                                                  {"per_tensor", "per_channel"}));
      if (!(ratio > 0.0 && ratio < 1.0)) {
        return absl::InvalidArgumentError(absl::StrCat("parameter 'threshold_ratio' = \"",
                                                       params.values().at("threshold_ratio"),
                                                       "\": expected a number in (0, 1)"));
      }
      if (method != "statistical" && params.values().count("threshold_ratio") > 0) {
        return absl::InvalidArgumentError(
            "parameter 'threshold_ratio' applies to method: statistical only");
      }
      const Method m = method == "twn"           ? Method::kTwn
                       : method == "statistical" ? Method::kStatistical
                                                 : Method::kMse;
      return std::unique_ptr<Quantizer>(
          new TernaryQuantizer(m, ratio, granularity == "per_channel"));
    });

}  // namespace
}  // namespace quantbench
