// Training-time augmentation and normalisation of an ImageSet (image_set.h) into a float batch
// N x C x H x W, the CIFAR recipe of torchvision
//   RandomCrop(H, padding=p) -> RandomHorizontalFlip(0.5) -> ToTensor -> Normalize(mean, std):
//   1. random crop: the image is zero-padded by p on every side ((H+2p) x (W+2p), pad value 0
//      before normalisation) and the H x W window at (top, left), top and left uniform in
//      0..2p, is kept; without the crop the window is the image itself (top = left = p);
//   2. horizontal flip of the window with probability 1/2: out[y][x] = window[y][W-1-x];
//   3. x' = (x / 255 - mean[c]) / std[c] in float32 (the expression torchvision evaluates,
//      so a zero pad pixel becomes -mean[c] / std[c]).
// With both random steps off this is plain normalisation: the same function serves test time.
//
// Determinism: the crop offsets and the flip of an example are a counter-based hash
// (SplitMix64 finalisers) of (seed, epoch, example index in the set) and nothing else, so
// they do not depend on the batch an example lands in, its position there, the batch size,
// the thread count or what was drawn before; a resumed training replays the same epochs.
// (The hash is written out, not a std distribution, so every standard library gives the same
// draws.)
//
// AugmentBatch is the row-wise version (a 256-entry float table per channel, contiguous row
// copies); AugmentBatchRef evaluates steps 1-3 per output value and is the definition the
// tests hold AugmentBatch to, bit for bit.
#ifndef QUANTBENCH_DATASETS_AUGMENTATION_H_
#define QUANTBENCH_DATASETS_AUGMENTATION_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "datasets/image_set.h"

namespace quantbench {

struct AugmentationOptions {
  bool random_crop = false;
  int crop_padding = 4;  // p, zero pixels on every side before the crop (>= 0)
  bool horizontal_flip = false;
  uint64_t seed = 0;
  // Per channel, applied to x / 255. Empty mean = 0, empty std = 1 (no normalisation).
  std::vector<float> mean;
  std::vector<float> std;
};

// CIFAR-10's per-channel train mean and std (RGB, of x / 255) as commonly used with
// torchvision; callers may also measure their own with ChannelMeanStd.
AugmentationOptions CifarTrainAugmentation(uint64_t seed);

// What the hash draws for one example: the window's offset in the padded image (0..2p; p, p
// when random_crop is off) and whether it is mirrored.
struct ExampleAugmentation {
  int top = 0;
  int left = 0;
  bool flip = false;
};
ExampleAugmentation AugmentationFor(const AugmentationOptions& options, int epoch,
                                    int64_t example);

// mean / std sizes (0 or `channels`), std finite and non-zero, mean finite, padding >= 0.
absl::Status ValidateAugmentation(const AugmentationOptions& options, int channels);

// Writes examples `indices` of `set` as indices.size() x C x H x W floats to `x` and their
// labels to `labels`. InvalidArgument for bad options, an index outside [0, count), or output
// spans of the wrong size.
absl::Status AugmentBatch(const ImageSet& set, absl::Span<const int64_t> indices, int epoch,
                          const AugmentationOptions& options, absl::Span<float> x,
                          absl::Span<int32_t> labels);
absl::Status AugmentBatchRef(const ImageSet& set, absl::Span<const int64_t> indices, int epoch,
                             const AugmentationOptions& options, absl::Span<float> x,
                             absl::Span<int32_t> labels);

// Per-channel mean and (population) standard deviation of x / 255 over the whole set, in
// double precision: what a Normalize should use for this data.
void ChannelMeanStd(const ImageSet& set, std::vector<double>* mean, std::vector<double>* std);

}  // namespace quantbench

#endif  // QUANTBENCH_DATASETS_AUGMENTATION_H_
