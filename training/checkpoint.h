// Training checkpoints: everything needed to continue a run where it stopped, written
// atomically (temporary file, fsync, rename) into the weight cache directory after every
// epoch and keyed by the hash of the whole training spec, like the trained-weight cache.
// A run that finds a checkpoint for its key resumes from it; a truncated or corrupted file
// (CRC mismatch, sizes that do not fit) is reported, discarded and never used.
#ifndef QUANTBENCH_TRAINING_CHECKPOINT_H_
#define QUANTBENCH_TRAINING_CHECKPOINT_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "networks/param_store.h"
#include "training/optimizer.h"

namespace quantbench {

struct TrainingCheckpoint {
  int epochs_done = 0;
  ParamStore params;            // latent weights and BatchNorm statistics
  OptimizerState optimizer;
  // Extra named float tensors that train besides the store (e.g. a quantizer's thresholds).
  std::map<std::string, std::vector<float>> extra_tensors;
  std::string rng_state;        // the trainer's generator, serialised (std::mt19937_64 <<)
  std::string history_json;     // per-epoch curves so far (the trainer's format)
};

// Atomic write; creates parent directories.
absl::Status SaveTrainingCheckpoint(const std::string& path, const std::string& key,
                                    const TrainingCheckpoint& checkpoint);

// NotFound: no file. DataLoss: corrupt (the caller deletes it and starts over).
// FailedPrecondition: a valid file for another key or format version.
absl::StatusOr<TrainingCheckpoint> LoadTrainingCheckpoint(const std::string& path,
                                                          const std::string& key);

// The same decoding and checks on a checkpoint file's bytes; errors do not name a file.
absl::StatusOr<TrainingCheckpoint> ParseTrainingCheckpoint(absl::string_view bytes,
                                                           const std::string& key);

}  // namespace quantbench

#endif  // QUANTBENCH_TRAINING_CHECKPOINT_H_
