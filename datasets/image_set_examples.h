// An ImageSet (image_set.h) seen as the evaluation's LabeledImages (labeled_images.h): a
// streamed set whose examples are the normalised pixels, (x / 255 - mean[c]) / std[c] with no
// augmentation, computed batch by batch by AugmentBatch (augmentation.h). So a CIFAR-10 test
// split held as uint8 is evaluated by the same code that evaluates idx and ImageNet sets,
// without a float copy of the whole set, and with exactly the floats training sees at test
// time.
#ifndef QUANTBENCH_DATASETS_IMAGE_SET_EXAMPLES_H_
#define QUANTBENCH_DATASETS_IMAGE_SET_EXAMPLES_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "datasets/image_set.h"
#include "datasets/labeled_images.h"

namespace quantbench {

// example_shape {C, H, W}, labels and num_classes from `set`. The result shares `set`.
// InvalidArgument when the set breaks its invariants (ValidateImageSet) or mean / std do not
// fit its channels (ValidateAugmentation; empty = 0 / 1).
absl::StatusOr<LabeledImages> ImageSetAsLabeledImages(std::shared_ptr<const ImageSet> set,
                                                      std::vector<float> mean,
                                                      std::vector<float> std);

}  // namespace quantbench

#endif  // QUANTBENCH_DATASETS_IMAGE_SET_EXAMPLES_H_
