// Classification quality of a network on an image set (in memory or streamed batch by
// batch): accuracy against labels where labels exist, and agreement with a reference model's
// predictions (the fp32 net), which needs no labels: how a user without ImageNet labels still
// measures quantization damage.
#ifndef QUANTBENCH_EXPERIMENTS_EVALUATE_H_
#define QUANTBENCH_EXPERIMENTS_EVALUATE_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "datasets/idx_dataset.h"
#include "networks/network.h"

namespace quantbench {

struct Evaluation {
  // Against labels, over the labelled examples only (label >= 0); `labeled` = 0 means the set
  // has no labels and top1/top5 are meaningless.
  int64_t labeled = 0;
  double top1 = 0.0;  // fraction in [0, 1]
  double top5 = 0.0;
  // Against the reference predictions, when given: the fraction whose top-1 equals the
  // reference top-1, and whose top-5 contains the reference top-1.
  double agreement_top1 = 0.0;
  double agreement_top5 = 0.0;
  std::vector<int32_t> predictions;  // top-1 class per example
  double seconds = 0.0;              // forward passes only
};

// `reference`: top-1 predictions of the model to compare with (nullptr: no agreement).
// Streamed sets are read one batch at a time; `seconds` then includes reading and
// normalising each batch (about 1 % of MobileNet-v2's forward time at 224).
absl::StatusOr<Evaluation> Evaluate(Network& network, const LabeledImages& data, int batch,
                                    const std::vector<int32_t>* reference = nullptr);

}  // namespace quantbench

#endif  // QUANTBENCH_EXPERIMENTS_EVALUATE_H_
