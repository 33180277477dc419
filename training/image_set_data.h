// TrainingData over an in-memory uint8 ImageSet (datasets/image_set.h), augmented and
// normalised per batch by datasets/augmentation.h (random crop and flip are functions of
// seed, epoch and example, so resumed runs replay the same epochs).
#ifndef QUANTBENCH_TRAINING_IMAGE_SET_DATA_H_
#define QUANTBENCH_TRAINING_IMAGE_SET_DATA_H_

#include <utility>

#include "datasets/augmentation.h"
#include "datasets/image_set.h"
#include "training/training_data.h"

namespace quantbench {

class ImageSetData : public TrainingData {
 public:
  // `set` is not owned and must outlive this object; `options` are checked by the first Batch
  // (ValidateAugmentation).
  ImageSetData(const ImageSet* set, AugmentationOptions options)
      : set_(set), options_(std::move(options)) {}

  int64_t size() const override { return set_->count; }
  int64_t example_size() const override { return set_->image_size(); }
  absl::Status Batch(absl::Span<const int64_t> indices, int epoch, absl::Span<float> x,
                     absl::Span<int32_t> labels) const override {
    return AugmentBatch(*set_, indices, epoch, options_, x, labels);
  }

 private:
  const ImageSet* set_;
  AugmentationOptions options_;
};

}  // namespace quantbench

#endif  // QUANTBENCH_TRAINING_IMAGE_SET_DATA_H_
