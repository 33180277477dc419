// Loads the evaluation set an experiment names, whatever its kind (idx files or JPEG
// folders), as one LabeledImages shared by every sweep cell: idx sets in memory, JPEG sets
// streamed from the image cache file (imagenet_dataset.h), decoded once for the whole sweep.
#ifndef QUANTBENCH_EXPERIMENTS_DATASET_LOADER_H_
#define QUANTBENCH_EXPERIMENTS_DATASET_LOADER_H_

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "datasets/augmentation.h"
#include "datasets/idx_dataset.h"
#include "datasets/image_set.h"
#include "experiments/experiment.pb.h"

namespace quantbench {

struct LoadedDataset {
  LabeledImages data;
  nlohmann::json info;  // paths, counts, preprocessing, cache use: for the result file
};

// CLASS_FOLDERS / CIFAR10_BINARY: the split as 8-bit images at their native size (class
// folders decoded once, then read from the image cache under `cache_dir`/images). `info`
// receives paths, counts and cache use. `expected_classes` (if non-empty) must be the
// split's class list (so test labels mean what train labels mean).
absl::StatusOr<ImageSet> LoadNativeImages(const DatasetSpec& spec, int threads, const std::string& cache_dir,
                                          nlohmann::json* info,
                                          const std::vector<std::string>& expected_classes = {});

// The per-channel normalisation of a validated config's native-size images, no augmentation.
AugmentationOptions NativeNormalization(const Preprocessing& pre);

// `input_shape` is the network's ({784} or {3, S, S}); images are cropped to its S unless the
// config sets preprocessing.image_size. Decoded images are cached under `cache_dir`/images.
absl::StatusOr<LoadedDataset> LoadDataset(const DatasetSpec& spec, const std::vector<int64_t>& input_shape,
                                          int num_classes, int threads, const std::string& cache_dir);

}  // namespace quantbench

#endif  // QUANTBENCH_EXPERIMENTS_DATASET_LOADER_H_
