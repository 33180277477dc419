// Accuracy vs network size over sweeps of one task at several sizes (the resiliency paper's
// figures, ../shared/papers/resiliency_ternary.md section 5): per sweep its fp32 top-1 and,
// for every quantizer and width, the mean ± standard deviation over repeated runs and the gap
// to fp32.
//
// Repeats are variants whose labels differ only by a trailing ", seed N" (e.g. three QAT cells
// retrained with shuffle seeds 1, 2, 3): they form one group, whose name is the label without
// that suffix. The standard deviation is the sample one (n − 1 in the denominator); a group of
// one run reports std 0 and n = 1. The gap is fp32 top-1 minus the group's mean (points; > 0 =
// the quantized net is worse).
#ifndef QUANTBENCH_EXPERIMENTS_SIZE_CURVES_H_
#define QUANTBENCH_EXPERIMENTS_SIZE_CURVES_H_

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace quantbench {

// "uniform, retrained, seed 2" -> "uniform, retrained"; labels without the suffix unchanged.
std::string RepeatGroup(const std::string& label);

// {"rows": [{"sweep", "parameters", "fp32_top1", "group", "bits", "n", "mean_top1",
// "std_top1", "gap_to_fp32", "runs": [top1...]}...]}, sweeps in input order, groups in label
// order of first appearance. Errors name the file (`names` parallel to `sweeps`) and the
// missing field; unlabelled sweeps (no top-1) are rejected.
absl::StatusOr<nlohmann::json> SizeCurves(const std::vector<nlohmann::json>& sweeps,
                                          const std::vector<std::string>& names);

// Markdown: one table per group (rows = sweeps with their parameter count and fp32 top-1,
// columns = bits, cells "mean ± std (gap)" in %).
std::string SizeCurvesMarkdown(const nlohmann::json& curves);

}  // namespace quantbench

#endif  // QUANTBENCH_EXPERIMENTS_SIZE_CURVES_H_
