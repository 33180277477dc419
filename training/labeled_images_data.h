// TrainingData over a LabeledImages set (datasets/labeled_images.h): the normalised floats
// the evaluation reads (idx sets in memory, JPEG sets streamed from the image cache), without
// augmentation. Used for Fashion-MNIST and for ImageNet calibration / distillation images.
#ifndef QUANTBENCH_TRAINING_LABELED_IMAGES_DATA_H_
#define QUANTBENCH_TRAINING_LABELED_IMAGES_DATA_H_

#include <cstring>

#include "datasets/labeled_images.h"
#include "kernels/status_macros.h"
#include "training/training_data.h"

namespace quantbench {

class LabeledImagesData : public TrainingData {
 public:
  // `images` is not owned and must outlive this object.
  explicit LabeledImagesData(const LabeledImages* images) : images_(images) {}

  int64_t size() const override { return images_->count; }
  int64_t example_size() const override { return images_->example_size(); }
  absl::Status Batch(absl::Span<const int64_t> indices, int epoch, absl::Span<float> x,
                     absl::Span<int32_t> labels) const override {
    (void)epoch;
    const int64_t size = example_size();
    if (x.size() != indices.size() * size || labels.size() != indices.size()) {
      return absl::InvalidArgumentError("LabeledImagesData::Batch: output sizes do not fit");
    }
    std::vector<float> scratch;
    for (size_t i = 0; i < indices.size(); ++i) {
      QB_ASSIGN_OR_RETURN(absl::Span<const float> example, images_->Examples(indices[i], 1, &scratch));
      std::memcpy(x.data() + i * size, example.data(), sizeof(float) * size);
      labels[i] = images_->labels.empty() ? -1 : images_->labels[indices[i]];
    }
    return absl::OkStatus();
  }

 private:
  const LabeledImages* images_;
};

}  // namespace quantbench

#endif  // QUANTBENCH_TRAINING_LABELED_IMAGES_DATA_H_
