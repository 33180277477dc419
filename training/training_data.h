// What the trainer reads: a fixed set of examples that hands out minibatches by index,
// augmented per epoch when the data set augments (datasets/augmentation.h), normalised.
#ifndef QUANTBENCH_TRAINING_TRAINING_DATA_H_
#define QUANTBENCH_TRAINING_TRAINING_DATA_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace quantbench {

class TrainingData {
 public:
  virtual ~TrainingData() = default;
  virtual int64_t size() const = 0;
  // Floats per example (product of the network's input shape).
  virtual int64_t example_size() const = 0;
  // Writes examples `indices` (indices.size() x example_size floats) and their labels (-1 for
  // unlabelled examples). `epoch` selects the augmentation (ignored by sets that do not
  // augment); the same (indices, epoch) always gives the same floats.
  virtual absl::Status Batch(absl::Span<const int64_t> indices, int epoch, absl::Span<float> x,
                             absl::Span<int32_t> labels) const = 0;
};

}  // namespace quantbench

#endif  // QUANTBENCH_TRAINING_TRAINING_DATA_H_
