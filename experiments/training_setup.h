// From a validated config's training recipes (experiment.proto: TrainingSpec,
// QuantizationAwareTraining) to runs of training/trainer.h: the training data, the trainer's
// options, a cache key naming everything the result depends on, and the trained weights,
// cached in the weight cache (a second run with the same recipe loads them) with their
// per-epoch curves beside them.
#ifndef QUANTBENCH_EXPERIMENTS_TRAINING_SETUP_H_
#define QUANTBENCH_EXPERIMENTS_TRAINING_SETUP_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "datasets/image_set.h"
#include "datasets/labeled_images.h"
#include "experiments/experiment.pb.h"
#include "networks/graph.h"
#include "networks/param_store.h"
#include "training/trainer.h"
#include "training/training_data.h"

namespace quantbench {

// Bumped whenever the trainer's results change for the same recipe (cache keys include it).
inline constexpr int kGraphTrainerVersion = 1;

// 64-bit FNV-1a of a text: the names of cache files and sweep work directories.
uint64_t Fnv1a64(absl::string_view text);

// zlib CRC-32 of a buffer (any size; zlib itself takes 32-bit lengths), continuing `crc`:
// the content identities in cache keys.
uint32_t ContentCrc32Bytes(uint32_t crc, const void* data, size_t size);
template <typename Container>  // std::vector<T> or std::string
uint32_t ContentCrc32(uint32_t crc, const Container& values) {
  return ContentCrc32Bytes(crc, values.data(), values.size() * sizeof(values[0]));
}

// A training set and what keeps it alive.
struct TrainingSet {
  std::shared_ptr<const ImageSet> images;      // native-size image kinds
  std::shared_ptr<const LabeledImages> floats;  // idx and JPEG kinds
  std::unique_ptr<TrainingData> data;
  nlohmann::json info;     // for the result file
  std::string identity;    // content identity for cache keys (CRC-32 of pixels and labels)
};

// The training data of `spec` (augmented when it says so), normalised as `eval_dataset`'s
// preprocessing says. `input_shape` is the network's.
absl::StatusOr<TrainingSet> LoadTrainingSet(const TrainingSpec& spec, const DatasetSpec& eval_dataset,
                                            const std::vector<int64_t>& input_shape, int num_classes,
                                            uint64_t seed, int threads, const std::string& cache_dir);

// A test set for the trainer's per-epoch test accuracy, over an already loaded evaluation set.
std::unique_ptr<TrainingData> EvaluationAsTrainingData(const LabeledImages* data);

// The trainer's options for a recipe (no QAT, no checkpoints yet). `seed`: the experiment's,
// used when the recipe has none.
TrainerOptions TrainerOptionsFor(const TrainingSpec& spec, uint64_t seed);

// The recipe as the result file records it (every field, defaults filled).
nlohmann::json TrainingRecipeJson(const TrainingSpec& spec);

struct TrainedWeights {
  ParamStore params;
  nlohmann::json record;  // recipe, per-epoch curves, wall time, cache file, resumed epochs
  std::map<std::string, std::vector<float>> quantizer_parameters;  // trained (QAT)
};

// Trains `start` with `options` on `train` (test accuracy on `test` when not null), or loads
// the result of an identical earlier run from `cache_dir`/weights/<name>-<hash of key>.qbw.
// Checkpoints go beside it (resumed after an interruption). A corrupt cache file is reported
// and retrained.
absl::StatusOr<TrainedWeights> TrainOrLoad(const Graph& graph, ParamStore start, TrainerOptions options,
                                           const TrainingSet& train, const TrainingData* test,
                                           const Teacher* teacher, const std::string& key,
                                           const std::string& cache_dir, const std::string& name,
                                           const std::function<void(const std::string&)>& log);

}  // namespace quantbench

#endif  // QUANTBENCH_EXPERIMENTS_TRAINING_SETUP_H_
