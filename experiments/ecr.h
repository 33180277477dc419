// Effective compression ratio (ECR) of the resiliency paper (../shared/papers/
// resiliency_ternary.md, section 2.2): a quantized network with P_q parameters at b bits is
// compared with the float network size P_f that reaches the SAME accuracy, read off the float
// accuracy-vs-size curve, and ECR = 32 * P_f / (b * P_q). Unlike the plain ratio 32 / b it
// charges a quantized net for needing more parameters to reach an accuracy.
//
// The float curve comes from several sweeps of the same task at different network sizes (the
// fp32 baseline of each sweep is one point). The paper's definition is marked [GUESS] in the
// summary; the choices made here where it is vague:
//   * the curve is made monotone (running maximum over size: a larger float net can be
//     trained to do at least as well as a smaller one) and interpolated linearly in
//     (log P, accuracy); P_f is the smallest size reaching the accuracy;
//   * a cell less accurate than the smallest float net, or more accurate than the largest, has
//     no P_f on the curve: ECR is then reported as an upper / lower bound (P_f clamped to the
//     curve's end) and says so;
//   * two denominators: nominal b * P_q (the paper's: code bits times quantized weights plus 32
//     bits for every weight left in fp32) and storage (the bytes the cell really needs,
//     scales, tables and biases included).
#ifndef QUANTBENCH_EXPERIMENTS_ECR_H_
#define QUANTBENCH_EXPERIMENTS_ECR_H_

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace quantbench {

struct FloatPoint {
  double parameters = 0;
  double accuracy = 0;  // top-1 fraction
};

// The float size reaching `accuracy` on the monotone curve; `bound` is "exact", "upper" (the
// accuracy is below the smallest float net: P_f would be smaller) or "lower" (above the
// largest: P_f would be larger). InvalidArgument for an empty curve.
struct FloatSize {
  double parameters = 0;
  std::string bound;
};
absl::StatusOr<FloatSize> FloatSizeForAccuracy(std::vector<FloatPoint> curve, double accuracy);

// One ECR report over sweeps of different sizes of one task: their fp32 baselines make the
// curve, every quantized cell of every sweep gets ECR values. Errors name the offending file
// (`names` parallel to `sweeps`) and the missing field; sweeps without labels are rejected.
absl::StatusOr<nlohmann::json> EffectiveCompression(const std::vector<nlohmann::json>& sweeps,
                                                    const std::vector<std::string>& names);

// Markdown: the float curve, then one table per sweep (rows quantizer, columns bits, ECR).
std::string EffectiveCompressionMarkdown(const nlohmann::json& report);

}  // namespace quantbench

#endif  // QUANTBENCH_EXPERIMENTS_ECR_H_
