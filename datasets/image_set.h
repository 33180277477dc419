// An in-memory set of 8-bit images for training: every image decoded once and kept as uint8
// (CIFAR-10 train is 50,000 x 3 x 32 x 32 = 150 MB; as floats it would be 600 MB), turned
// into normalised, augmented float batches only when a batch is needed (augmentation.h).
//
// Readers: class_folder_dataset.h (<root>/<split>/<class>/*.jpg, cached in the image tensor
// cache) and cifar10_binary.h (the original data_batch_*.bin / test_batch.bin).
#ifndef QUANTBENCH_DATASETS_IMAGE_SET_H_
#define QUANTBENCH_DATASETS_IMAGE_SET_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace quantbench {

struct ImageSet {
  int64_t count = 0;
  int channels = 0;
  int height = 0;
  int width = 0;
  // count x channels x height x width samples, image-major, then channel planes (NCHW).
  std::vector<uint8_t> pixels;
  std::vector<int32_t> labels;  // count, each in [0, num_classes)
  int num_classes = 0;
  std::vector<std::string> class_names;  // num_classes entries (label i is class_names[i])

  int64_t image_size() const { return int64_t{channels} * height * width; }
  const uint8_t* image(int64_t i) const { return pixels.data() + i * image_size(); }
};

// The invariants above: positive sizes, pixels and labels of the right length, labels in
// range, one name per class. InvalidArgument saying which one fails.
absl::Status ValidateImageSet(const ImageSet& set);

// Images per class (num_classes entries), e.g. to check a split is balanced.
std::vector<int64_t> ClassCounts(const ImageSet& set);

}  // namespace quantbench

#endif  // QUANTBENCH_DATASETS_IMAGE_SET_H_
