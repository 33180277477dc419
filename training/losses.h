// Training losses on logits, each returning the batch-mean loss and writing dL/dlogits
// (the input of TrainableGraph::Backward). batch x classes, row-major.
#ifndef QUANTBENCH_TRAINING_LOSSES_H_
#define QUANTBENCH_TRAINING_LOSSES_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace quantbench {

// Mean softmax cross-entropy with integer labels (log-sum-exp stabilised); *correct (if not
// null) counts argmax hits (the first maximum wins, as argmax; a row with a NaN never counts).
// An empty `dlogits` skips the gradient (evaluation). InvalidArgument for a label outside
// [0, classes) or sizes that do not fit.
absl::StatusOr<double> SoftmaxCrossEntropy(absl::Span<const float> logits,
                                           absl::Span<const int32_t> labels, int batch,
                                           int classes, absl::Span<float> dlogits,
                                           int64_t* correct = nullptr);

// Teacher-student losses without labels (the teacher is frozen: no gradient flows to it).
// s = student logits, t = teacher logits, B = batch, C = classes.
enum class DistillationKind {
  // The FAT book's loss: L = sqrt( sum_i (t_i - s_i)^2 / N ), i over all N = B * C logits of
  // the batch (the paper summary's N; the usual reading of RMSE): one root of the mean square
  // over the whole batch, not a mean of per-image roots. Its gradient (s - t) / (N * L) is taken as 0 where L = 0.
  kRmse,
  // The FAT code's smoothed L1: L = (1 / B) * sum_b sum_c sqrt((s_bc - t_bc)^2 + 1e-5),
  // summed over classes and averaged over the batch, as in the code (so it is C times a
  // per-logit mean, and sqrt(1e-5) * C at s = t, not 0).
  kL1,
  // Hinton's: L = T^2 * (1 / B) * sum_b KL(softmax(t_b / T) || softmax(s_b / T)).
  kKl,
};

// `temperature` is used by kKl only (T above, > 0); the others ignore it. An empty `dstudent`
// skips the gradient. InvalidArgument for sizes that do not fit or a bad temperature.
absl::StatusOr<double> DistillationLoss(DistillationKind kind, absl::Span<const float> student,
                                        absl::Span<const float> teacher, int batch, int classes,
                                        float temperature, absl::Span<float> dstudent);

}  // namespace quantbench

#endif  // QUANTBENCH_TRAINING_LOSSES_H_
