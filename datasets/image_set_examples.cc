#include "datasets/image_set_examples.h"

#include <numeric>
#include <utility>

#include "datasets/augmentation.h"
#include "kernels/status_macros.h"

namespace quantbench {
namespace {

class NormalizedImageSource : public ExampleSource {
 public:
  NormalizedImageSource(std::shared_ptr<const ImageSet> set, AugmentationOptions normalization)
      : set_(std::move(set)), normalization_(std::move(normalization)) {}

  absl::Status Read(int64_t first, int64_t n, float* out) const override {
    std::vector<int64_t> indices(static_cast<size_t>(n));
    std::iota(indices.begin(), indices.end(), first);
    std::vector<int32_t> labels(static_cast<size_t>(n));
    return AugmentBatch(*set_, indices, /*epoch=*/0, normalization_,
                        absl::MakeSpan(out, static_cast<size_t>(n * set_->image_size())),
                        absl::MakeSpan(labels));
  }

 private:
  const std::shared_ptr<const ImageSet> set_;
  const AugmentationOptions normalization_;  // random crop and flip off
};

}  // namespace

absl::StatusOr<LabeledImages> ImageSetAsLabeledImages(std::shared_ptr<const ImageSet> set,
                                                      std::vector<float> mean,
                                                      std::vector<float> std) {
  if (set == nullptr) return absl::InvalidArgumentError("ImageSetAsLabeledImages: no set");
  QB_RETURN_IF_ERROR(ValidateImageSet(*set));
  AugmentationOptions normalization;
  normalization.mean = std::move(mean);
  normalization.std = std::move(std);
  QB_RETURN_IF_ERROR(ValidateAugmentation(normalization, set->channels));
  LabeledImages images;
  images.count = set->count;
  images.example_shape = {set->channels, set->height, set->width};
  images.labels = set->labels;
  images.num_classes = set->num_classes;
  images.source = std::make_shared<NormalizedImageSource>(set, std::move(normalization));
  return images;
}

}  // namespace quantbench
