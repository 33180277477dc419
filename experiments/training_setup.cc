#include "experiments/training_setup.h"

#include <google/protobuf/text_format.h>
#include <google/protobuf/util/json_util.h>
#include <zlib.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "datasets/augmentation.h"
#include "datasets/idx_dataset.h"
#include "datasets/paths.h"
#include "experiments/dataset_loader.h"
#include "kernels/atomic_file.h"
#include "kernels/status_macros.h"
#include "kernels/file_lock.h"
#include "networks/weight_cache.h"
#include "training/image_set_data.h"
#include "training/progress.h"
#include "training/labeled_images_data.h"

namespace quantbench {

uint64_t Fnv1a64(absl::string_view text) {
  uint64_t hash = 1469598103934665603ull;
  for (unsigned char c : text) hash = (hash ^ c) * 1099511628211ull;
  return hash;
}

namespace {

nlohmann::json HistoryJson(const std::vector<EpochRecord>& epochs) {
  nlohmann::json out = nlohmann::json::array();
  for (const EpochRecord& e : epochs) {
    nlohmann::json j = {{"epoch", e.epoch},
                        {"learning_rate", e.learning_rate},
                        {"train_loss", e.train_loss},
                        {"seconds", e.seconds},
                        {"images_per_second", e.images_per_second}};
    if (!std::isnan(e.train_top1)) j["train_top1"] = e.train_top1;
    if (!std::isnan(e.test_top1)) j["test_top1"] = e.test_top1;
    out.push_back(j);
  }
  return out;
}

}  // namespace

uint32_t ContentCrc32Bytes(uint32_t crc, const void* data, size_t size) {
  const auto* bytes = static_cast<const Bytef*>(data);
  while (size > 0) {  // zlib takes uInt lengths
    const uInt chunk = static_cast<uInt>(std::min<size_t>(size, 1u << 30));
    crc = static_cast<uint32_t>(crc32(crc, bytes, chunk));
    bytes += chunk;
    size -= chunk;
  }
  return crc;
}

absl::StatusOr<TrainingSet> LoadTrainingSet(const TrainingSpec& spec, const DatasetSpec& eval_dataset,
                                            const std::vector<int64_t>& input_shape, int num_classes,
                                            uint64_t seed, int threads, const std::string& cache_dir) {
  const DatasetSpec& data = spec.data();
  TrainingSet set;
  if (data.kind() == DatasetSpec::CLASS_FOLDERS || data.kind() == DatasetSpec::CIFAR10_BINARY) {
    QB_ASSIGN_OR_RETURN(ImageSet images, LoadNativeImages(data, threads, cache_dir, &set.info));
    const std::vector<int64_t> shape = {images.channels, images.height, images.width};
    if (shape != input_shape) {
      return absl::InvalidArgumentError(absl::StrCat("training data: images are ", images.channels, "x",
                                                     images.height, "x", images.width,
                                                     ", not the network's input shape"));
    }
    if (images.num_classes > num_classes) {
      return absl::InvalidArgumentError(absl::StrCat("training data: ", images.num_classes,
                                                     " classes, the network has ", num_classes));
    }
    AugmentationOptions options = NativeNormalization(eval_dataset.preprocessing());
    options.random_crop = spec.augmentation().random_crop_padding() > 0;
    options.crop_padding = spec.augmentation().random_crop_padding();
    options.horizontal_flip = spec.augmentation().horizontal_flip();
    options.seed = spec.seed() != 0 ? spec.seed() : seed;
    QB_RETURN_IF_ERROR(Annotate(ValidateAugmentation(options, images.channels), "training augmentation"));
    set.identity = absl::StrFormat("u8:%d:%08x:%08x", images.count, ContentCrc32(0, images.pixels), ContentCrc32(0, images.labels));
    set.info["augmentation"] = {{"random_crop_padding", options.random_crop ? options.crop_padding : 0},
                                {"horizontal_flip", options.horizontal_flip},
                                {"seed", options.seed},
                                {"rule", "crop offset and flip hashed from (seed, epoch, example)"}};
    set.info["normalization"] = {{"mean", options.mean}, {"std", options.std}};
    set.images = std::make_shared<const ImageSet>(std::move(images));
    set.data = std::make_unique<ImageSetData>(set.images.get(), options);
    return set;
  }
  // idx or JPEG folders: the evaluation loader's floats (same preprocessing), no augmentation.
  DatasetSpec with_preprocessing = data;
  *with_preprocessing.mutable_preprocessing() = eval_dataset.preprocessing();
  QB_ASSIGN_OR_RETURN(LoadedDataset loaded, LoadDataset(with_preprocessing, input_shape, num_classes, threads, cache_dir));
  set.info = loaded.info;
  if (loaded.data.source == nullptr) {
    set.identity = absl::StrFormat("f32:%d:%08x:%08x", loaded.data.count, ContentCrc32(0, loaded.data.pixels),
                                   ContentCrc32(0, loaded.data.labels));
  } else {
    // Streamed JPEG sets: the image cache key already names every file (path, size, mtime).
    set.identity = absl::StrCat("jpeg:", loaded.data.count, ":", set.info.value("dir", ""), ":",
                                set.info.dump());
  }
  set.floats = std::make_shared<const LabeledImages>(std::move(loaded.data));
  set.data = std::make_unique<LabeledImagesData>(set.floats.get());
  return set;
}

std::unique_ptr<TrainingData> EvaluationAsTrainingData(const LabeledImages* data) {
  return std::make_unique<LabeledImagesData>(data);
}

TrainerOptions TrainerOptionsFor(const TrainingSpec& spec, uint64_t seed) {
  TrainerOptions o;
  o.epochs = spec.epochs();
  o.batch_size = spec.batch_size();
  o.seed = spec.seed() != 0 ? spec.seed() : seed;
  const OptimizerOptions& opt = spec.optimizer();
  o.optimizer.kind = opt.kind() == OptimizerOptions::ADAM ? OptimizerSpec::kAdam : OptimizerSpec::kSgd;
  o.optimizer.momentum = opt.plain_sgd() ? 0.0f : spec.momentum();
  o.optimizer.nesterov = opt.nesterov();
  o.optimizer.beta1 = opt.beta1();
  o.optimizer.beta2 = opt.beta2();
  o.optimizer.eps = opt.eps();
  o.optimizer.weight_decay = spec.weight_decay();
  o.optimizer.decoupled_weight_decay = opt.decoupled_weight_decay();
  o.optimizer.clip_norm = opt.clip_norm();
  o.decay_biases_and_batchnorm = opt.decay_biases_and_batchnorm();
  const ScheduleOptions& schedule = spec.schedule();
  o.schedule.lr = spec.learning_rate();
  o.schedule.min_lr = schedule.min_lr();
  o.schedule.epochs = spec.epochs();
  o.schedule.warmup_epochs = schedule.warmup_epochs();
  switch (schedule.kind()) {
    case ScheduleOptions::COSINE: o.schedule.kind = LrScheduleSpec::kCosine; break;
    case ScheduleOptions::MULTISTEP: o.schedule.kind = LrScheduleSpec::kMultiStep; break;
    case ScheduleOptions::CONSTANT: o.schedule.kind = LrScheduleSpec::kConstant; break;
    case ScheduleOptions::COSINE_RESTARTS: o.schedule.kind = LrScheduleSpec::kCosineRestarts; break;
    default: o.schedule.kind = LrScheduleSpec::kCosine; break;
  }
  o.schedule.milestones.assign(schedule.milestones().begin(), schedule.milestones().end());
  o.schedule.gamma = schedule.gamma();
  o.schedule.period = schedule.restart_period();
  o.schedule.period_mult = schedule.restart_mult();
  o.test_every = spec.test_every();
  return o;
}

nlohmann::json TrainingRecipeJson(const TrainingSpec& spec) {
  std::string text;
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(spec, &text, options).ok()) return nullptr;
  nlohmann::json recipe = nlohmann::json::parse(text, nullptr, false);
  recipe["trainer_version"] = kGraphTrainerVersion;
  return recipe;
}

absl::StatusOr<TrainedWeights> TrainOrLoad(const Graph& graph, ParamStore start, TrainerOptions options,
                                           const TrainingSet& train, const TrainingData* test,
                                           const Teacher* teacher, const std::string& key,
                                           const std::string& cache_dir, const std::string& name,
                                           const std::function<void(const std::string&)>& log) {
  const std::string path = JoinPath(cache_dir, absl::StrFormat("weights/%s-%016x.qbw", name, Fnv1a64(key)));
  const std::string sidecar = path + ".json";
  // Concurrent sweep shards need the same net: the first trains under the lock, the others
  // wait here and then load what it cached (released by the kernel even on kill -9).
  QB_ASSIGN_OR_RETURN(FileLock training_lock, FileLock::Acquire(path + ".lock"));
  TrainedWeights result;
  absl::StatusOr<ParamStore> cached = LoadParamStore(path, key);
  if (cached.ok()) {
    std::ifstream in(sidecar);
    std::stringstream text;
    text << in.rdbuf();
    nlohmann::json record = nlohmann::json::parse(text.str(), nullptr, false);
    if (!record.is_discarded() && record.value("key", "") == key) {
      result.params = *std::move(cached);
      result.record = record;
      result.record.erase("key");
      result.record["from_cache"] = true;
      if (record.contains("quantizer_parameters")) {
        result.quantizer_parameters = record["quantizer_parameters"].get<std::map<std::string, std::vector<float>>>();
        result.record.erase("quantizer_parameters");
      }
      log(absl::StrCat("trained weights: loaded from cache ", path));
      return result;
    }
    log(absl::StrCat("trained weights: ", sidecar, " is missing or stale; retraining"));
  } else if (!absl::IsNotFound(cached.status())) {
    log(absl::StrCat("trained weights: ignoring unusable cache file (", cached.status().message(), "); retraining"));
  }

  options.checkpoint_path = path + ".checkpoint";
  options.checkpoint_key = key;
  // Per-epoch lines, and on a terminal a live bar within each epoch.
  TrainingProgress progress(options.epochs, stderr);
  options.log = progress.LogCallback();
  options.on_step = progress.StepCallback();
  result.params = std::move(start);
  log(absl::StrFormat("training %s on %d examples for %d epochs (batch %d)", name, train.data->size(),
                      options.epochs, options.batch_size));
  QB_ASSIGN_OR_RETURN(TrainingReport report, TrainGraph(graph, &result.params, options, *train.data, test, teacher));
  double total_seconds = 0.0;
  for (const EpochRecord& e : report.epochs) total_seconds += e.seconds;
  result.record = {{"epochs", HistoryJson(report.epochs)},
                   {"train_seconds", total_seconds},
                   {"resumed_after_epoch", report.resumed_after_epoch},
                   {"steps", report.steps},
                   {"training_data", train.info},
                   {"path", path},
                   {"from_cache", false}};
  if (!report.epochs.empty() && !std::isnan(report.epochs.back().test_top1)) {
    result.record["final_test_top1"] = report.epochs.back().test_top1;
  }
  result.quantizer_parameters = report.quantizer_parameters;
  nlohmann::json stored = result.record;
  stored["key"] = key;
  if (!result.quantizer_parameters.empty()) stored["quantizer_parameters"] = result.quantizer_parameters;
  // Weights first, then the record: a record without weights never looks like a hit.
  absl::Status saved = SaveParamStore(path, result.params, key);
  if (saved.ok()) saved = WriteFileAtomically(sidecar, stored.dump(1));
  if (saved.ok()) {
    // Only now is the training safe elsewhere: a kill before this line resumes from the
    // checkpoint of the last saved epoch.
    std::remove(options.checkpoint_path.c_str());
  } else {
    log(absl::StrCat("trained weights: could not cache (", saved.message(), "); keeping the checkpoint ",
                     options.checkpoint_path));
  }
  return result;
}

}  // namespace quantbench
