// Classification accuracy of a network on an in-memory labelled set.
#ifndef QUANTBENCH_EXPERIMENTS_EVALUATE_H_
#define QUANTBENCH_EXPERIMENTS_EVALUATE_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "experiments/idx_dataset.h"
#include "networks/network.h"

namespace quantbench {

struct Evaluation {
  double top1 = 0.0;  // fraction in [0, 1]
  double top5 = 0.0;
  std::vector<int32_t> predictions;  // top-1 class per example
  double seconds = 0.0;              // forward passes only
};

absl::StatusOr<Evaluation> Evaluate(Network& network, const LabeledImages& data, int batch);

// Fraction of examples whose top-1 prediction equals the reference's.
double Agreement(const std::vector<int32_t>& predictions, const std::vector<int32_t>& reference);

}  // namespace quantbench

#endif  // QUANTBENCH_EXPERIMENTS_EVALUATE_H_
