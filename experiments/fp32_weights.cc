#include "experiments/fp32_weights.h"

#include <zlib.h>

#include <chrono>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "datasets/idx_dataset.h"
#include "datasets/paths.h"
#include "kernels/status_macros.h"
#include "networks/mlp.h"
#include "networks/mlp_trainer.h"
#include "networks/weight_cache.h"

namespace quantbench {
namespace {

// Content identity of a data file: its CRC32 and size, so that the cache follows the data,
// not its path or timestamp.
absl::StatusOr<std::string> FileIdentity(const std::string& path) {
  QB_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, ReadMaybeGzipFile(path));
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32(crc, bytes.data(), static_cast<uInt>(bytes.size()));
  return absl::StrFormat("%08x:%d", crc, bytes.size());
}

SgdOptions ToSgdOptions(const Experiment& config) {
  const TrainingSpec& train = config.network().train();
  SgdOptions options;
  options.epochs = train.epochs();
  options.batch_size = train.batch_size();
  options.learning_rate = train.learning_rate();
  options.momentum = train.momentum();
  options.weight_decay = train.weight_decay();
  options.seed = config.seed();
  return options;
}

// Everything that determines the trained weights: the trainer's key (spec, options, seed)
// plus what it cannot know, the data's content, subset and preprocessing. It is stored in the
// cache file and compared in full on load; its hash names the file.
absl::StatusOr<std::string> TrainingKey(const Experiment& config) {
  const DatasetSpec& data = config.network().train().data();
  QB_ASSIGN_OR_RETURN(std::string images, FileIdentity(JoinPath(data.dir(), data.images())));
  QB_ASSIGN_OR_RETURN(std::string labels, FileIdentity(JoinPath(data.dir(), data.labels())));
  const Preprocessing& pre = config.dataset().preprocessing();
  std::string data_tag = absl::StrFormat("images=%s,labels=%s,limit=%d,scale=%.9g,mean=%.9g,std=%.9g", images,
                                         labels, data.limit(), pre.scale(), pre.mean(), pre.std());
  return MlpTrainingCacheKey(MlpSpecFor(config.network()), ToSgdOptions(config), config.seed(), data_tag);
}

uint64_t Fnv1a64(const std::string& text) {
  uint64_t hash = 1469598103934665603ull;
  for (unsigned char c : text) hash = (hash ^ c) * 1099511628211ull;
  return hash;
}

}  // namespace

MlpSpec MlpSpecFor(const NetworkSpec& network) {
  MlpSpec spec;
  spec.input_size = static_cast<int>(network.input_shape(0));
  spec.hidden.assign(network.mlp().hidden().begin(), network.mlp().hidden().end());
  spec.num_classes = network.num_classes();
  return spec;
}

std::string DefaultCacheDirectory() {
  if (const char* dir = std::getenv("QUANTBENCH_CACHE_DIR"); dir && *dir) return dir;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return JoinPath(xdg, "quantbench");
  if (const char* home = std::getenv("HOME"); home && *home) return JoinPath(home, ".cache/quantbench");
  return "/tmp/quantbench-cache";
}

absl::StatusOr<Fp32Weights> ObtainFp32Weights(const Experiment& config, const std::string& cache_dir,
                                              const std::function<void(const std::string&)>& log) {
  const NetworkSpec& network = config.network();
  Fp32Weights result;
  if (!network.has_train()) {
    result.source = "file";
    result.path = network.weights_file();
    auto params = LoadParamStore(result.path, /*expected_key=*/"");
    if (!params.ok()) return Annotate(params.status(), "network.weights_file");
    result.params = *std::move(params);
    QB_RETURN_IF_ERROR(Annotate(CheckMlpParams(MlpSpecFor(network), result.params),
                                absl::StrCat("network.weights_file ", result.path)));
    return result;
  }

  result.source = "trained";
  QB_ASSIGN_OR_RETURN(result.cache_key, TrainingKey(config));
  result.path = JoinPath(cache_dir, absl::StrFormat("weights/%s-%016x.qbw", network.architecture(),
                                                    Fnv1a64(result.cache_key)));
  auto cached = LoadParamStore(result.path, result.cache_key);
  if (cached.ok()) {
    result.params = *std::move(cached);
    result.from_cache = true;
    log(absl::StrCat("fp32 weights: loaded from cache ", result.path));
    return result;
  }
  if (!absl::IsNotFound(cached.status())) {
    log(absl::StrCat("fp32 weights: ignoring unusable cache file (", cached.status().message(),
                     "); retraining"));
  }

  const TrainingSpec& train = network.train();
  const Preprocessing& pre = config.dataset().preprocessing();
  QB_ASSIGN_OR_RETURN(
      LabeledImages data,
      LoadIdxDataset(JoinPath(train.data().dir(), train.data().images()),
                     JoinPath(train.data().dir(), train.data().labels()), train.data().limit(),
                     PixelNormalization{pre.scale(), pre.mean(), pre.std()}));
  MlpSpec spec = MlpSpecFor(network);
  result.params = InitMlpParams(spec, config.seed());
  SgdOptions options = ToSgdOptions(config);
  log(absl::StrFormat("fp32 weights: training %s on %d examples for %d epochs", network.architecture(),
                      data.count, options.epochs));
  auto start = std::chrono::steady_clock::now();
  QB_RETURN_IF_ERROR(TrainMlp(spec, options, data.pixels.data(), data.labels.data(), data.count,
                              &result.params, [&](int epoch, double loss, double accuracy) {
                                log(absl::StrFormat("  epoch %d/%d: loss %.4f, train top-1 %.2f%%", epoch + 1,
                                                    options.epochs, loss, 100.0 * accuracy));
                              }));
  result.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  absl::Status saved = SaveParamStore(result.path, result.params, result.cache_key);
  if (!saved.ok()) log(absl::StrCat("fp32 weights: could not cache (", saved.message(), ")"));
  return result;
}

}  // namespace quantbench
