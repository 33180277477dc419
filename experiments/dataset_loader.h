// Loads the evaluation set an experiment names, whatever its kind (idx files or JPEG
// folders), as one LabeledImages shared by every sweep cell: idx sets in memory, JPEG sets
// streamed from the image cache file (imagenet_dataset.h), decoded once for the whole sweep.
#ifndef QUANTBENCH_EXPERIMENTS_DATASET_LOADER_H_
#define QUANTBENCH_EXPERIMENTS_DATASET_LOADER_H_

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "datasets/idx_dataset.h"
#include "experiments/experiment.pb.h"

namespace quantbench {

struct LoadedDataset {
  LabeledImages data;
  nlohmann::json info;  // paths, counts, preprocessing, cache use: for the result file
};

// `input_shape` is the network's ({784} or {3, S, S}); images are cropped to its S unless the
// config sets preprocessing.image_size. Decoded images are cached under `cache_dir`/images.
absl::StatusOr<LoadedDataset> LoadDataset(const DatasetSpec& spec, const std::vector<int64_t>& input_shape,
                                          int num_classes, int threads, const std::string& cache_dir);

}  // namespace quantbench

#endif  // QUANTBENCH_EXPERIMENTS_DATASET_LOADER_H_
