// Training losses on logits, each returning the batch-mean loss and writing dL/dlogits
// (the input of TrainableGraph::Backward). batch x classes, row-major.
#ifndef QUANTBENCH_TRAINING_LOSSES_H_
#define QUANTBENCH_TRAINING_LOSSES_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace quantbench {

// Mean softmax cross-entropy with integer labels (log-sum-exp stabilised); *correct (if not
// null) counts argmax hits. InvalidArgument for a label outside [0, classes) or sizes that
// do not fit.
absl::StatusOr<double> SoftmaxCrossEntropy(absl::Span<const float> logits,
                                           absl::Span<const int32_t> labels, int batch,
                                           int classes, absl::Span<float> dlogits,
                                           int64_t* correct = nullptr);

// Teacher-student losses without labels (the teacher is frozen: no gradient flows to it).
enum class DistillationKind {
  kRmse,  // sqrt(mean over the batch and classes of (s - t)^2): the FAT book's loss
  kL1,    // mean |s - t|: the FAT code's variant
  kKl,    // T^2 * mean over the batch of KL(softmax(t / T) || softmax(s / T)) (Hinton)
};

absl::StatusOr<double> DistillationLoss(DistillationKind kind, absl::Span<const float> student,
                                        absl::Span<const float> teacher, int batch, int classes,
                                        float temperature, absl::Span<float> dstudent);

}  // namespace quantbench

#endif  // QUANTBENCH_TRAINING_LOSSES_H_
