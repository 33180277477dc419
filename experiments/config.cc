#include "experiments/config.h"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <optional>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "datasets/paths.h"
#include "experiments/model_loader.h"
#include "kernels/status_macros.h"
#include "kernels/utf8.h"
#include "quantizers/activation_quantizer.h"
#include "quantizers/quantizer.h"

namespace quantbench {
namespace {

namespace pb = google::protobuf;

bool FileExists(const std::string& path) { return access(path.c_str(), R_OK) == 0; }

std::string CurrentDirectory() {
  char buffer[4096];
  return getcwd(buffer, sizeof(buffer)) != nullptr ? std::string(buffer) : std::string(".");
}

// Collects the first parse error as "file:line:col: message" (1-based, like compilers).
class FirstErrorCollector : public pb::io::ErrorCollector {
 public:
  explicit FirstErrorCollector(std::string file) : file_(std::move(file)) {}
  void AddError(int line, pb::io::ColumnNumber column, const std::string& message) override {
    if (error_.empty()) error_ = absl::StrCat(file_, ":", line + 1, ":", column + 1, ": ", message);
  }
  void AddWarning(int, pb::io::ColumnNumber, const std::string&) override {}
  const std::string& error() const { return error_; }

 private:
  std::string file_;
  std::string error_;
};

// Turns a field path such as {"quantizers", 1}, {"name", -1} into "file:line:col: quantizers[1].name"
// using the locations the parser recorded. A field absent from the file points at its
// nearest present parent (or the file itself).
class Locator {
 public:
  struct Step {
    std::string field;
    int index = -1;  // -1 for singular fields
  };

  Locator(std::string file, const pb::TextFormat::ParseInfoTree* tree)
      : file_(std::move(file)), tree_(tree) {}

  std::string At(const std::vector<Step>& path) const {
    const pb::Descriptor* descriptor = Experiment::descriptor();
    const pb::TextFormat::ParseInfoTree* tree = tree_;
    std::string where = file_;
    std::string field_path;
    for (size_t i = 0; i < path.size(); ++i) {
      const Step& step = path[i];
      field_path += (i ? "." : "") + step.field + (step.index >= 0 ? absl::StrCat("[", step.index, "]") : "");
      const pb::FieldDescriptor* field = descriptor ? descriptor->FindFieldByName(step.field) : nullptr;
      if (field == nullptr || tree == nullptr) {
        tree = nullptr;
        continue;
      }
      // Repeated fields want an index; list syntax (`bits: [2, 4]`) records only the
      // field's first occurrence, so fall back to it.
      int index = field->is_repeated() ? std::max(step.index, 0) : -1;
      pb::TextFormat::ParseLocation location = tree->GetLocation(field, index);
      if (location.line < 0 && field->is_repeated()) location = tree->GetLocation(field, 0);
      if (location.line >= 0) where = absl::StrCat(file_, ":", location.line + 1, ":", location.column + 1);
      if (field->type() == pb::FieldDescriptor::TYPE_MESSAGE) {
        tree = tree->GetTreeForNested(field, index);
        descriptor = field->message_type();
      } else {
        tree = nullptr;
      }
    }
    return absl::StrCat(where, ": ", field_path);
  }

 private:
  std::string file_;
  const pb::TextFormat::ParseInfoTree* tree_;
};

absl::Status Invalid(const Locator& locator, const std::vector<Locator::Step>& path,
                     const std::string& message) {
  return absl::InvalidArgumentError(absl::StrCat(locator.At(path), ": ", message));
}

// Every string of a config reaches the result JSON (the config is recorded whole), which
// cannot hold invalid UTF-8: it is rejected here, with the field and the byte, rather than
// when the result is written after the whole sweep.
absl::Status CheckUtf8Fields(const pb::Message& message, std::vector<Locator::Step>* path, const Locator& locator) {
  const pb::Reflection* reflection = message.GetReflection();
  std::vector<const pb::FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  for (const pb::FieldDescriptor* field : fields) {
    const int count = field->is_repeated() ? reflection->FieldSize(message, field) : 1;
    for (int i = 0; i < count; ++i) {
      path->push_back({field->name(), field->is_repeated() ? i : -1});
      if (field->type() == pb::FieldDescriptor::TYPE_STRING) {
        std::string scratch;
        const std::string& text = field->is_repeated() ? reflection->GetRepeatedStringReference(message, field, i, &scratch)
                                                       : reflection->GetStringReference(message, field, &scratch);
        if (std::optional<size_t> bad = FirstInvalidUtf8Byte(text)) {
          return Invalid(locator, *path,
                         absl::StrFormat("invalid UTF-8 at byte %d of the value (0x%02x): config text must be UTF-8",
                                         *bad, static_cast<unsigned char>(text[*bad])));
        }
      } else if (field->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
        QB_RETURN_IF_ERROR(CheckUtf8Fields(field->is_repeated() ? reflection->GetRepeatedMessage(message, field, i)
                                                                : reflection->GetMessage(message, field),
                                           path, locator));
      }
      path->pop_back();
    }
  }
  return absl::OkStatus();
}

void FillDatasetDefaults(DatasetSpec* data, bool training, const RunDirectories& dirs) {
  if (data->kind() == DatasetSpec::KIND_UNSPECIFIED) data->set_kind(DatasetSpec::IDX);
  if (data->dir().empty()) data->set_dir(kFashionMnistDir);
  data->set_dir(JoinPath(dirs.workspace, data->dir()));
  const char* prefix = training ? "train" : "t10k";
  if (data->images().empty()) data->set_images(absl::StrCat(prefix, "-images-idx3-ubyte.gz"));
  if (data->labels().empty()) data->set_labels(absl::StrCat(prefix, "-labels-idx1-ubyte.gz"));
  Preprocessing* pre = data->mutable_preprocessing();
  if (pre->scale() == 0.0f) pre->set_scale(1.0f / 255.0f);
  if (pre->std() == 0.0f) pre->set_std(1.0f);
}

absl::Status CheckDatasetFiles(const DatasetSpec& data, const Locator& locator,
                               const std::vector<Locator::Step>& path) {
  for (const auto& [field, name] : {std::pair<const char*, std::string>{"images", data.images()},
                                    {"labels", data.labels()}}) {
    std::string file = JoinPath(data.dir(), name);
    if (!FileExists(file)) {
      std::string hint = data.dir() == kFashionMnistDir
                             ? "install Debian's dataset-fashion-mnist (tools/setup.sh does)"
                             : "check dataset.dir and the file name";
      std::vector<Locator::Step> field_path = path;
      field_path.push_back({field});
      return Invalid(locator, field_path, absl::StrCat("dataset file ", file, " not found: ", hint));
    }
  }
  if (data.limit() < 0) {
    std::vector<Locator::Step> field_path = path;
    field_path.push_back({"limit"});
    return Invalid(locator, field_path, "must be >= 0 (0 = all examples)");
  }
  return absl::OkStatus();
}

absl::Status ValidateImageDataset(DatasetSpec* data, const Locator& locator, const RunDirectories& dirs) {
  if (data->dir().empty()) {
    return Invalid(locator, {{"dataset"}, {"dir"}}, "missing: the image folder (or pass --data=/path, or set $QUANTBENCH_DATA)");
  }
  data->set_dir(JoinPath(dirs.workspace, data->dir()));
  const bool needs_labels =
      data->kind() == DatasetSpec::IMAGENET_VAL || data->kind() == DatasetSpec::LABELED_IMAGES;
  if (needs_labels && data->labels().empty()) {
    return Invalid(locator, {{"dataset"}, {"labels"}},
                   "missing: the ground-truth file (val.txt / dataset.txt / labels.txt), relative to dataset.dir or absolute");
  }
  if (data->kind() == DatasetSpec::SYNSET_FOLDERS && data->synsets().empty()) {
    return Invalid(locator, {{"dataset"}, {"synsets"}}, "missing: synset_words.txt (\"<wnid> <names>\" per line)");
  }
  Preprocessing* pre = data->mutable_preprocessing();
  if (pre->preset().empty()) pre->set_preset("torch");
  static const std::set<std::string> kPresets = {"torch", "keras-caffe", "keras-tf"};
  if (kPresets.count(pre->preset()) == 0) {
    return Invalid(locator, {{"dataset"}, {"preprocessing"}, {"preset"}},
                   absl::StrCat("unknown preset '", pre->preset(), "'; available: ", absl::StrJoin(kPresets, ", ")));
  }
  if (pre->image_size() < 0) return Invalid(locator, {{"dataset"}, {"preprocessing"}, {"image_size"}}, "must be >= 0");
  if (pre->resize_shorter() < 0 || (pre->resize_shorter() > 0 && pre->image_size() > 0 && pre->resize_shorter() < pre->image_size())) {
    return Invalid(locator, {{"dataset"}, {"preprocessing"}, {"resize_shorter"}}, "expected 0 (= image_size / 0.875) or >= image_size");
  }
  if (!pre->interpolation().empty() && pre->interpolation() != "pil_bilinear" && pre->interpolation() != "bilinear") {
    return Invalid(locator, {{"dataset"}, {"preprocessing"}, {"interpolation"}}, "expected pil_bilinear or bilinear");
  }
  if (data->limit() < 0) return Invalid(locator, {{"dataset"}, {"limit"}}, "must be >= 0 (0 = all images)");
  return absl::OkStatus();
}

absl::Status CheckImageDatasetFiles(const DatasetSpec& data, const Locator& locator) {
  struct stat st;
  if (stat(data.dir().c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Invalid(locator, {{"dataset"}, {"dir"}},
                   absl::StrCat("image folder ", data.dir(), " not found: pass --data=/path/to/images (or set $QUANTBENCH_DATA)"));
  }
  for (const auto& [field, name] : {std::pair<const char*, std::string>{"labels", data.labels()}, {"synsets", data.synsets()}}) {
    if (name.empty()) continue;
    std::string file = JoinPath(data.dir(), name);
    if (!FileExists(file)) return Invalid(locator, {{"dataset"}, {field}}, absl::StrCat("file ", file, " not found"));
  }
  return absl::OkStatus();
}

// Fills the defaults of a training recipe and checks every field; `at` is the path of the
// quantizers[q].learned_rounding: defaults filled (so the result records the values used),
// ranges checked with the field named.
absl::Status ValidateLearnedRounding(QuantizerSpec* spec, const Locator& locator, int q) {
  LearnedRounding* lr = spec->mutable_learned_rounding();
  auto at = [q](const char* field) -> std::vector<Locator::Step> {
    return {{"quantizers", q}, {"learned_rounding"}, {field}};
  };
  if (spec->has_qat()) {
    return Invalid(locator, {{"quantizers", q}, {"learned_rounding"}}, "not together with qat in one variant");
  }
  if (lr->images() < 0) return Invalid(locator, at("images"), "must be >= 0 (0 = every calibration image)");
  if (lr->iterations() < 0) return Invalid(locator, at("iterations"), "must be >= 0 (0 = 1000)");
  if (lr->iterations() == 0) lr->set_iterations(1000);
  if (lr->learning_rate() == 0) lr->set_learning_rate(0.01f);
  if (lr->regularization() == 0) lr->set_regularization(100.0f);
  if (lr->beta_start() == 0) lr->set_beta_start(20.0f);
  if (lr->beta_end() == 0) lr->set_beta_end(2.0f);
  if (lr->warmup() == 0) lr->set_warmup(0.2f);
  if (!(lr->learning_rate() > 0)) return Invalid(locator, at("learning_rate"), "must be positive");
  if (!(lr->regularization() > 0)) return Invalid(locator, at("regularization"), "must be positive");
  if (!(lr->beta_end() >= 1)) return Invalid(locator, at("beta_end"), "must be >= 1");
  if (!(lr->beta_start() >= lr->beta_end())) return Invalid(locator, at("beta_start"), "must be >= beta_end");
  if (!(lr->warmup() > 0 && lr->warmup() < 1)) return Invalid(locator, at("warmup"), "must be in (0, 1)");
  return absl::OkStatus();
}

// TrainingSpec (network.train or quantizers[i].qat.train).
absl::Status ValidateTrainingRecipe(TrainingSpec* train, const Locator& locator,
                                    const std::vector<Locator::Step>& at, bool mlp) {
  auto field = [&](std::initializer_list<Locator::Step> rest) {
    std::vector<Locator::Step> path = at;
    path.insert(path.end(), rest.begin(), rest.end());
    return path;
  };
  if (train->epochs() == 0) train->set_epochs(15);
  if (train->batch_size() == 0) train->set_batch_size(mlp ? 100 : 128);
  if (train->learning_rate() == 0.0f) train->set_learning_rate(mlp ? 0.05f : 0.1f);
  OptimizerOptions* opt = train->mutable_optimizer();
  if (train->momentum() == 0.0f && !opt->plain_sgd()) train->set_momentum(0.9f);
  if (train->epochs() < 0) return Invalid(locator, field({{"epochs"}}), "must be positive");
  if (train->batch_size() < 0) return Invalid(locator, field({{"batch_size"}}), "must be positive");
  if (!(train->learning_rate() > 0.0f)) return Invalid(locator, field({{"learning_rate"}}), "must be positive");
  if (train->momentum() < 0.0f || train->momentum() >= 1.0f) {
    return Invalid(locator, field({{"momentum"}}), "expected 0 <= momentum < 1");
  }
  if (!(train->weight_decay() >= 0.0f)) return Invalid(locator, field({{"weight_decay"}}), "must be >= 0");
  if (train->test_every() < 0) return Invalid(locator, field({{"test_every"}}), "must be >= 0 (0 = after the last epoch)");
  if (train->data().has_preprocessing()) {
    return Invalid(locator, field({{"data"}, {"preprocessing"}}),
                   "set preprocessing once, in dataset.preprocessing: training uses the same");
  }
  // Optimizer.
  if (opt->kind() == OptimizerOptions::ADAM) {
    if (opt->beta1() == 0.0f) opt->set_beta1(0.9f);
    if (opt->beta2() == 0.0f) opt->set_beta2(0.999f);
    if (opt->eps() == 0.0f) opt->set_eps(1e-8f);
    if (opt->beta1() < 0.0f || opt->beta1() >= 1.0f) return Invalid(locator, field({{"optimizer"}, {"beta1"}}), "expected 0 <= beta1 < 1");
    if (opt->beta2() < 0.0f || opt->beta2() >= 1.0f) return Invalid(locator, field({{"optimizer"}, {"beta2"}}), "expected 0 <= beta2 < 1");
    if (!(opt->eps() > 0.0f)) return Invalid(locator, field({{"optimizer"}, {"eps"}}), "must be positive");
    if (opt->nesterov() || opt->plain_sgd()) {
      return Invalid(locator, field({{"optimizer"}, {"kind"}}), "nesterov and plain_sgd are SGD options; ADAM takes beta1, beta2, eps");
    }
  } else {
    if (opt->decoupled_weight_decay()) {
      return Invalid(locator, field({{"optimizer"}, {"decoupled_weight_decay"}}), "is an ADAM option (AdamW)");
    }
    if (opt->plain_sgd() && (opt->nesterov() || train->momentum() != 0.0f)) {
      return Invalid(locator, field({{"optimizer"}, {"plain_sgd"}}), "plain SGD has no momentum: drop momentum / nesterov");
    }
  }
  if (!(opt->clip_norm() >= 0.0f)) return Invalid(locator, field({{"optimizer"}, {"clip_norm"}}), "must be >= 0 (0 = off)");
  // Schedule.
  ScheduleOptions* schedule = train->mutable_schedule();
  if (schedule->gamma() == 0.0f) schedule->set_gamma(0.1f);
  if (schedule->restart_period() == 0.0f) schedule->set_restart_period(1.0f);
  if (schedule->restart_mult() == 0.0f) schedule->set_restart_mult(1.0f);
  if (!(schedule->min_lr() >= 0.0f) || schedule->min_lr() > train->learning_rate()) {
    return Invalid(locator, field({{"schedule"}, {"min_lr"}}), "expected 0 <= min_lr <= learning_rate");
  }
  if (!(schedule->warmup_epochs() >= 0.0f) || schedule->warmup_epochs() >= train->epochs()) {
    return Invalid(locator, field({{"schedule"}, {"warmup_epochs"}}), "expected 0 <= warmup_epochs < epochs");
  }
  if (schedule->kind() == ScheduleOptions::MULTISTEP) {
    if (schedule->milestones().empty()) return Invalid(locator, field({{"schedule"}, {"milestones"}}), "missing: the epochs where the rate drops");
    for (int i = 0; i < schedule->milestones_size(); ++i) {
      const int m = schedule->milestones(i);
      if (m <= 0 || m >= train->epochs() || (i > 0 && m <= schedule->milestones(i - 1))) {
        return Invalid(locator, field({{"schedule"}, {"milestones", i}}),
                       absl::StrCat(m, ": milestones must increase strictly within 1..epochs-1 (", train->epochs() - 1, ")"));
      }
    }
    if (!(schedule->gamma() > 0.0f) || schedule->gamma() > 1.0f) {
      return Invalid(locator, field({{"schedule"}, {"gamma"}}), "expected 0 < gamma <= 1");
    }
  } else if (!schedule->milestones().empty()) {
    return Invalid(locator, field({{"schedule"}, {"milestones"}}), "only a MULTISTEP schedule has milestones");
  }
  if (schedule->kind() == ScheduleOptions::COSINE_RESTARTS) {
    if (!(schedule->restart_period() > 0.0f)) return Invalid(locator, field({{"schedule"}, {"restart_period"}}), "must be positive (epochs)");
    if (!(schedule->restart_mult() >= 1.0f)) return Invalid(locator, field({{"schedule"}, {"restart_mult"}}), "must be >= 1");
  }
  // Augmentation (image data only; checked against the data kind by the caller).
  const Augmentation& aug = train->augmentation();
  if (aug.random_crop_padding() < 0 || aug.random_crop_padding() > 64) {
    return Invalid(locator, field({{"augmentation"}, {"random_crop_padding"}}), "expected 0..64 pixels");
  }
  return absl::OkStatus();
}

bool IsNativeImageKind(DatasetSpec::Kind kind) {
  return kind == DatasetSpec::CLASS_FOLDERS || kind == DatasetSpec::CIFAR10_BINARY;
}

// CLASS_FOLDERS / CIFAR10_BINARY: images at their native size, per-channel normalisation.
// `at` is the DatasetSpec's path; `split` the default split.
absl::Status ValidateNativeImageDataset(DatasetSpec* data, const Locator& locator,
                                        const std::vector<Locator::Step>& at, const RunDirectories& dirs,
                                        const char* split) {
  auto field = [&](std::initializer_list<Locator::Step> rest) {
    std::vector<Locator::Step> path = at;
    path.insert(path.end(), rest.begin(), rest.end());
    return path;
  };
  if (data->dir().empty()) {
    return Invalid(locator, field({{"dir"}}), "missing: the data folder (or pass --data=/path, or set $QUANTBENCH_DATA)");
  }
  data->set_dir(JoinPath(dirs.workspace, data->dir()));
  if (data->split().empty()) data->set_split(split);
  if (data->split() != "train" && data->split() != "test") {
    return Invalid(locator, field({{"split"}}), absl::StrCat("'", data->split(), "': expected train or test"));
  }
  if (data->limit() < 0) return Invalid(locator, field({{"limit"}}), "must be >= 0 (0 = all images)");
  return absl::OkStatus();
}

// Per-channel normalisation of the native image kinds: preset "cifar10" (the default) or
// explicit channel_mean / channel_std.
absl::Status ValidateChannelNormalization(Preprocessing* pre, const Locator& locator) {
  if (pre->preset().empty() && pre->channel_mean().empty() && pre->channel_std().empty()) pre->set_preset("cifar10");
  if (pre->preset() == "cifar10") {
    if (!pre->channel_mean().empty() || !pre->channel_std().empty()) {
      return Invalid(locator, {{"dataset"}, {"preprocessing"}, {"preset"}},
                     "preset cifar10 sets channel_mean and channel_std: give one or the other");
    }
    // The CIFAR-10 training set's per-channel mean and standard deviation (of x / 255), as
    // the usual PyTorch recipes use them.
    for (float m : {0.4914f, 0.4822f, 0.4465f}) pre->add_channel_mean(m);
    for (float s : {0.2470f, 0.2435f, 0.2616f}) pre->add_channel_std(s);
  } else if (!pre->preset().empty()) {
    return Invalid(locator, {{"dataset"}, {"preprocessing"}, {"preset"}},
                   absl::StrCat("unknown preset '", pre->preset(), "' for native-size images; available: cifar10, or give channel_mean and channel_std"));
  }
  if (pre->channel_mean_size() != pre->channel_std_size() || pre->channel_mean().empty()) {
    return Invalid(locator, {{"dataset"}, {"preprocessing"}, {"channel_std"}},
                   "expected one channel_mean and one channel_std per image channel");
  }
  for (int i = 0; i < pre->channel_std_size(); ++i) {
    if (!(pre->channel_std(i) > 0.0f) || !std::isfinite(pre->channel_mean(i))) {
      return Invalid(locator, {{"dataset"}, {"preprocessing"}, {"channel_std", i}}, "expected finite mean and std > 0");
    }
  }
  if (pre->image_size() != 0 || pre->resize_shorter() != 0 || !pre->interpolation().empty()) {
    return Invalid(locator, {{"dataset"}, {"preprocessing"}, {"image_size"}},
                   "native-size images are never resized or cropped: leave image_size, resize_shorter, interpolation out");
  }
  return absl::OkStatus();
}

// The training data of a recipe: by default the evaluation data's training split (idx: the
// train files of the same folder; native image kinds: split "train" of the same folder).
absl::Status ValidateTrainingData(TrainingSpec* train, const DatasetSpec& dataset, const Locator& locator,
                                  const std::vector<Locator::Step>& at, const RunDirectories& dirs, bool mlp) {
  std::vector<Locator::Step> data_at = at;
  data_at.push_back({"data"});
  DatasetSpec* data = train->mutable_data();
  if (data->kind() == DatasetSpec::KIND_UNSPECIFIED && IsNativeImageKind(dataset.kind())) {
    data->set_kind(dataset.kind());
    if (data->dir().empty()) data->set_dir(dataset.dir());
    if (data->split().empty()) data->set_split("train");
  }
  if (data->kind() == DatasetSpec::KIND_UNSPECIFIED || data->kind() == DatasetSpec::IDX) {
    if (!mlp) {
      return Invalid(locator, data_at, "image networks train on CLASS_FOLDERS, CIFAR10_BINARY or JPEG folders, not idx files");
    }
    FillDatasetDefaults(data, /*training=*/true, dirs);
  } else if (IsNativeImageKind(data->kind())) {
    QB_RETURN_IF_ERROR(ValidateNativeImageDataset(data, locator, data_at, dirs, "train"));
    if (!IsNativeImageKind(dataset.kind())) {
      return Invalid(locator, data_at, "native-size training images need a native-size evaluation set (CLASS_FOLDERS or CIFAR10_BINARY)");
    }
  } else {
    if (data->dir().empty()) return Invalid(locator, data_at, "missing: dir, the training image folder");
    data->set_dir(JoinPath(dirs.workspace, data->dir()));
  }
  const Augmentation& aug = train->augmentation();
  if ((aug.random_crop_padding() > 0 || aug.horizontal_flip()) && !IsNativeImageKind(data->kind())) {
    std::vector<Locator::Step> aug_at = at;
    aug_at.push_back({"augmentation"});
    return Invalid(locator, aug_at, "augmentation applies to CLASS_FOLDERS and CIFAR10_BINARY images only");
  }
  return absl::OkStatus();
}

absl::Status CheckNativeImageFiles(const DatasetSpec& data, const Locator& locator,
                                   const std::vector<Locator::Step>& at) {
  std::vector<Locator::Step> dir_at = at;
  dir_at.push_back({"dir"});
  struct stat st;
  if (stat(data.dir().c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Invalid(locator, dir_at, absl::StrCat("folder ", data.dir(), " not found: pass --data=/path (or set $QUANTBENCH_DATA)"));
  }
  const std::string need = data.kind() == DatasetSpec::CIFAR10_BINARY
                               ? JoinPath(data.dir(), data.split() == "train" ? "data_batch_1.bin" : "test_batch.bin")
                               : JoinPath(data.dir(), data.split());
  if (access(need.c_str(), R_OK) != 0) {
    return Invalid(locator, dir_at, absl::StrCat(need, " not found (", data.kind() == DatasetSpec::CIFAR10_BINARY
                                                                          ? "the CIFAR-10 binary batches"
                                                                          : "one sub-folder per class under it",
                                                 ")"));
  }
  return absl::OkStatus();
}

absl::Status CheckTrainingDataFiles(const DatasetSpec& data, const Locator& locator,
                                    const std::vector<Locator::Step>& at) {
  if (IsNativeImageKind(data.kind())) return CheckNativeImageFiles(data, locator, at);
  if (data.kind() == DatasetSpec::IDX) return CheckDatasetFiles(data, locator, at);
  struct stat st;
  if (stat(data.dir().c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    std::vector<Locator::Step> dir_at = at;
    dir_at.push_back({"dir"});
    return Invalid(locator, dir_at, absl::StrCat("image folder ", data.dir(), " not found"));
  }
  return absl::OkStatus();
}

absl::Status Validate(Experiment& config, const Locator& locator, const RunDirectories& dirs,
                      const ConfigOverrides& overrides) {
  std::vector<Locator::Step> utf8_path;
  QB_RETURN_IF_ERROR(CheckUtf8Fields(config, &utf8_path, locator));
  for (const auto& [flag, value] : {std::pair<const char*, const std::string*>{"--weights", &overrides.weights},
                                    {"--data", &overrides.data}}) {
    if (std::optional<size_t> bad = FirstInvalidUtf8Byte(*value)) {
      return absl::InvalidArgumentError(absl::StrCat(flag, " (or its environment variable): invalid UTF-8 at byte ", *bad,
                                                     " of the path: rename it or use a UTF-8 path"));
    }
  }
  if (config.name().empty()) return Invalid(locator, {{"name"}}, "missing: every experiment needs a name");
  for (char c : config.name()) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') {
      return Invalid(locator, {{"name"}},
                     absl::StrCat("'", config.name(), "': use letters, digits, '_', '-', '.' (it names result files)"));
    }
  }

  // Network.
  NetworkSpec* network = config.mutable_network();
  const std::vector<std::string> known = AvailableArchitectures();
  if (std::find(known.begin(), known.end(), network->architecture()) == known.end()) {
    return Invalid(locator, {{"network"}, {"architecture"}},
                   absl::StrCat("unknown architecture '", network->architecture(),
                                "'; available: ", absl::StrJoin(known, ", ")));
  }
  const bool mlp = network->architecture() == "mlp";
  if (mlp && network->input_shape().empty()) network->add_input_shape(784);
  if (network->num_classes() == 0) network->set_num_classes(mlp ? 10 : 1000);
  if (network->eval_batch() == 0) network->set_eval_batch(mlp ? 500 : 25);
  if (network->eval_batch() < 0) return Invalid(locator, {{"network"}, {"eval_batch"}}, "must be positive");
  if (!mlp && !network->input_shape().empty() &&
      (network->input_shape_size() != 3 || network->input_shape(0) != 3 || network->input_shape(1) != network->input_shape(2) ||
       network->input_shape(1) <= 0)) {
    return Invalid(locator, {{"network"}, {"input_shape"}}, "expected [3, S, S] (or leave it out for the architecture's default)");
  }
  if (mlp) {
    if (network->input_shape_size() != 1 || network->input_shape(0) <= 0) {
      return Invalid(locator, {{"network"}, {"input_shape"}}, "the mlp takes a flat input: one positive dimension, e.g. [784]");
    }
    if (network->mlp().hidden().empty()) {
      return Invalid(locator, {{"network"}, {"mlp"}, {"hidden"}}, "missing: list the hidden layer widths, e.g. [256, 256]");
    }
    for (int i = 0; i < network->mlp().hidden_size(); ++i) {
      if (network->mlp().hidden(i) <= 0) {
        return Invalid(locator, {{"network"}, {"mlp"}, {"hidden", i}}, "widths must be positive");
      }
    }
  }
  if (network->weights_case() == NetworkSpec::WEIGHTS_NOT_SET) {
    return Invalid(locator, {{"network"}},
                   "missing weights: give train { ... }, onnx { path: ... }, weights_file: ... or random_init { seed: ... }");
  }
  if (!overrides.weights.empty()) {
    if (network->has_onnx()) {
      network->mutable_onnx()->set_path(overrides.weights);
    } else if (network->weights_case() == NetworkSpec::kWeightsFile) {
      network->set_weights_file(overrides.weights);
    } else {
      return Invalid(locator, {{"network"}},
                     "--weights (or $QUANTBENCH_WEIGHTS) replaces an onnx path or weights_file, but this config's "
                     "weights are trained or randomly initialised");
    }
  }
  if (network->has_onnx()) {
    if (network->onnx().path().empty()) return Invalid(locator, {{"network"}, {"onnx"}, {"path"}}, "missing: the .onnx file");
    network->mutable_onnx()->set_path(JoinPath(dirs.workspace, network->onnx().path()));
  }
  if (network->has_train()) {
    QB_RETURN_IF_ERROR(ValidateTrainingRecipe(network->mutable_train(), locator, {{"network"}, {"train"}}, mlp));
  }
  DatasetSpec* dataset = config.mutable_dataset();
  if (!overrides.data.empty()) dataset->set_dir(overrides.data);
  const bool native_images = IsNativeImageKind(dataset->kind());
  if (network->weights_case() == NetworkSpec::kWeightsFile) {
    network->set_weights_file(JoinPath(dirs.workspace, network->weights_file()));
  }
  if (dataset->kind() == DatasetSpec::KIND_UNSPECIFIED || dataset->kind() == DatasetSpec::IDX) {
    if (!mlp) {
      return Invalid(locator, {{"dataset"}, {"kind"}},
                     "image networks read images: IMAGENET_VAL, SYNSET_FOLDERS, LABELED_IMAGES, UNLABELED_IMAGES, "
                     "CLASS_FOLDERS or CIFAR10_BINARY");
    }
    FillDatasetDefaults(dataset, /*training=*/false, dirs);
  } else if (native_images) {
    QB_RETURN_IF_ERROR(ValidateNativeImageDataset(dataset, locator, {{"dataset"}}, dirs, "test"));
    QB_RETURN_IF_ERROR(ValidateChannelNormalization(dataset->mutable_preprocessing(), locator));
  } else {
    QB_RETURN_IF_ERROR(ValidateImageDataset(dataset, locator, dirs));
  }
  if (network->has_train()) {
    QB_RETURN_IF_ERROR(ValidateTrainingData(network->mutable_train(), *dataset, locator,
                                            {{"network"}, {"train"}}, dirs, mlp));
  }

  // Quantizers and bits.
  if (config.quantizers().empty()) {
    return Invalid(locator, {{"quantizers"}},
                   absl::StrCat("missing: list at least one quantizer; registered: ",
                                absl::StrJoin(QuantizerRegistry::Global().Names(), ", ")));
  }
  for (int i = 0; i < config.bits_size(); ++i) {
    if (config.bits(i) < 1 || config.bits(i) > 16) {
      return Invalid(locator, {{"bits", i}}, absl::StrCat(config.bits(i), " is outside 1..16"));
    }
  }
  std::set<std::string> labels;
  for (int q = 0; q < config.quantizers_size(); ++q) {
    QuantizerSpec* spec = config.mutable_quantizers(q);
    std::map<std::string, std::string> params(spec->params().begin(), spec->params().end());
    auto quantizer = QuantizerRegistry::Global().Create(spec->name(), params);
    if (!quantizer.ok()) {
      return Invalid(locator, {{"quantizers", q}, {"name"}}, std::string(quantizer.status().message()));
    }
    // The quantizer's own bits replace the experiment's; errors point at whichever list
    // the offending width came from.
    const bool own_bits = !spec->bits().empty();
    if (!own_bits && config.bits().empty()) {
      return Invalid(locator, {{"bits"}},
                     absl::StrCat("missing: list the bit widths to sweep, e.g. bits: [2, 3, 4] (or give quantizers[", q,
                                  "] '", spec->name(), "' its own bits)"));
    }
    const std::vector<int> widths = BitsFor(config, *spec);
    for (int i = 0; i < static_cast<int>(widths.size()); ++i) {
      std::vector<Locator::Step> where = own_bits ? std::vector<Locator::Step>{{"quantizers", q}, {"bits", i}}
                                             : std::vector<Locator::Step>{{"bits", i}};
      if (widths[i] < 1 || widths[i] > 16) {
        return Invalid(locator, where, absl::StrCat(widths[i], " is outside 1..16"));
      }
      absl::Status bits_ok = (*quantizer)->CheckBits(widths[i]);
      if (!bits_ok.ok()) {
        return Invalid(locator, where,
                       absl::StrCat("quantizer '", spec->name(), "' (quantizers[", q, "]): ", bits_ok.message()));
      }
    }
    for (int i = 0; i < config.layers().overrides_size(); ++i) {
      const int fixed = config.layers().overrides(i).bits();
      if (fixed < 1 || fixed > 16) continue;  // checked below
      absl::Status bits_ok = (*quantizer)->CheckBits(fixed);
      if (!bits_ok.ok()) {
        return Invalid(locator, {{"layers"}, {"overrides", i}, {"bits"}},
                       absl::StrCat("quantizer '", spec->name(), "' (quantizers[", q, "]): ", bits_ok.message()));
      }
    }
    if (spec->has_qat()) {
      const std::vector<Locator::Step> at = {{"quantizers", q}, {"qat"}, {"train"}};
      QuantizationAwareTraining* qat = spec->mutable_qat();
      if (qat->train().epochs() == 0) qat->mutable_train()->set_epochs(1);
      QB_RETURN_IF_ERROR(ValidateTrainingRecipe(qat->mutable_train(), locator, at, mlp));
      QB_RETURN_IF_ERROR(ValidateTrainingData(qat->mutable_train(), *dataset, locator, at, dirs, mlp));
      if (qat->temperature() == 0.0f) qat->set_temperature(1.0f);
      if (!(qat->temperature() > 0.0f)) {
        return Invalid(locator, {{"quantizers", q}, {"qat"}, {"temperature"}}, "must be positive");
      }
      if (!network->has_train() && qat->train().data().kind() == DatasetSpec::KIND_UNSPECIFIED) {
        return Invalid(locator, {{"quantizers", q}, {"qat"}, {"train"}, {"data"}}, "missing: the training images");
      }
    }
    if (spec->has_learned_rounding()) {
      QB_RETURN_IF_ERROR(ValidateLearnedRounding(spec, locator, q));
    }
    if (spec->label().empty()) {
      std::string label = spec->name();
      for (const auto& [key, value] : params) absl::StrAppend(&label, " ", key, "=", value);
      spec->set_label(label);
    }
    if (!labels.insert(spec->label()).second) {
      return Invalid(locator, {{"quantizers", q}, {"label"}},
                     absl::StrCat("duplicate label '", spec->label(), "': give each variant its own label"));
    }
  }

  // Layers.
  for (int i = 0; i < config.layers().overrides_size(); ++i) {
    const LayerOverride& o = config.layers().overrides(i);
    static const std::set<std::string> kTypes = {"conv", "depthwise_conv", "dense"};
    if (o.layer().empty() == o.type().empty()) {
      return Invalid(locator, {{"layers"}, {"overrides", i}},
                     "expected exactly one of layer (a layer name) or type (conv, depthwise_conv, dense)");
    }
    if (!o.type().empty() && kTypes.count(o.type()) == 0) {
      return Invalid(locator, {{"layers"}, {"overrides", i}, {"type"}},
                     absl::StrCat("unknown layer type '", o.type(), "'; expected one of: ", absl::StrJoin(kTypes, ", ")));
    }
    if (o.bits() < 0 || o.bits() > 16) return Invalid(locator, {{"layers"}, {"overrides", i}, {"bits"}}, "expected 0 (follow the sweep) or 1..16");
  }

  if (config.network().random_init().calibrate_batchnorm_images() < 0) {
    return Invalid(locator, {{"network"}, {"random_init"}, {"calibrate_batchnorm_images"}}, "must be >= 0 (0 = off)");
  }
  if (config.network().random_init().calibrate_batchnorm_images() > 0 &&
      config.network().batchnorm() != NetworkSpec::KEEP) {
    return Invalid(locator, {{"network"}, {"batchnorm"}},
                   "random_init.calibrate_batchnorm_images needs batchnorm: KEEP (folded BatchNorm has no statistics left)");
  }
  const ActivationQuantization& act = config.activations();
  if (act.bits() != 0 && (act.bits() < 2 || act.bits() > 16)) {
    return Invalid(locator, {{"activations"}, {"bits"}}, "expected 0 (off) or 2..16");
  }
  if (act.calibration_images() < 0) {
    return Invalid(locator, {{"activations"}, {"calibration_images"}}, "must be >= 0 (0 = 256 images)");
  }
  if (!act.calibration().empty()) {
    auto calibration = ParseActivationCalibration(act.calibration());
    if (!calibration.ok()) {
      return Invalid(locator, {{"activations"}, {"calibration"}}, std::string(calibration.status().message()));
    }
  }
  if (act.percentile() != 0 && (act.percentile() < 50 || act.percentile() > 100)) {
    return Invalid(locator, {{"activations"}, {"percentile"}}, "expected a percentile in [50, 100] (default 99.99)");
  }

  if (config.dws_rescaling().calibration_images() < 0) {
    return Invalid(locator, {{"dws_rescaling"}, {"calibration_images"}}, "must be >= 0 (0 = 100 images)");
  }
  if (config.dws_rescaling().lock_threshold() < 0) {
    return Invalid(locator, {{"dws_rescaling"}, {"lock_threshold"}}, "must be >= 0 (0 = 5.9)");
  }
  if (config.has_calibration_data()) {
    DatasetSpec* calibration = config.mutable_calibration_data();
    if (calibration->kind() != DatasetSpec::UNLABELED_IMAGES && calibration->kind() != DatasetSpec::LABELED_IMAGES &&
        calibration->kind() != DatasetSpec::IMAGENET_VAL && calibration->kind() != DatasetSpec::SYNSET_FOLDERS) {
      return Invalid(locator, {{"calibration_data"}, {"kind"}}, "expected a JPEG folder kind (e.g. UNLABELED_IMAGES)");
    }
    if (calibration->dir().empty()) return Invalid(locator, {{"calibration_data"}, {"dir"}}, "missing: the image folder");
    if (calibration->has_preprocessing()) {
      return Invalid(locator, {{"calibration_data"}, {"preprocessing"}}, "leave it unset: calibration uses dataset.preprocessing");
    }
    calibration->set_dir(JoinPath(dirs.workspace, calibration->dir()));
  }
  for (int q = 0; q < config.quantizers_size(); ++q) {
    const QuantizerSpec& spec = config.quantizers(q);
    if (spec.has_qat() && spec.qat().activation_thresholds() != QuantizationAwareTraining::FIXED && act.bits() == 0) {
      return Invalid(locator, {{"quantizers", q}, {"qat"}, {"activation_thresholds"}},
                     "trained activation thresholds need activation quantization (activations { bits: ... })");
    }
  }

  static const std::set<std::string> kMetrics = {"top5", "weight_error", "levels", "model_size", "per_layer"};
  for (int i = 0; i < config.metrics_size(); ++i) {
    if (kMetrics.count(config.metrics(i)) == 0) {
      return Invalid(locator, {{"metrics", i}},
                     absl::StrCat("unknown metric '", config.metrics(i), "'; available: ", absl::StrJoin(kMetrics, ", ")));
    }
  }
  if (config.threads() < 0) return Invalid(locator, {{"threads"}}, "must be >= 0 (0 = all cores)");
  if (config.output().empty()) config.set_output(absl::StrCat("results/", config.name(), ".json"));
  config.set_output(JoinPath(dirs.workspace, config.output()));

  // Files last: every field error above is reported even on a machine without the data.
  if (network->weights_case() == NetworkSpec::kWeightsFile && !FileExists(network->weights_file())) {
    return Invalid(locator, {{"network"}, {"weights_file"}},
                   absl::StrCat("weights file ", network->weights_file(), " not found"));
  }
  if (network->has_onnx() && !FileExists(network->onnx().path())) {
    return Invalid(locator, {{"network"}, {"onnx"}, {"path"}},
                   absl::StrCat("ONNX file ", network->onnx().path(), " not found: pass --weights=/path/model.onnx ",
                                "(or set $QUANTBENCH_WEIGHTS); networks/README.md says how to export one"));
  }
  if (native_images) {
    QB_RETURN_IF_ERROR(CheckNativeImageFiles(*dataset, locator, {{"dataset"}}));
  } else if (dataset->kind() != DatasetSpec::IDX) {
    QB_RETURN_IF_ERROR(CheckImageDatasetFiles(*dataset, locator));
  } else {
    QB_RETURN_IF_ERROR(CheckDatasetFiles(config.dataset(), locator, {{"dataset"}}));
  }
  if (network->has_train()) {
    QB_RETURN_IF_ERROR(CheckTrainingDataFiles(network->train().data(), locator, {{"network"}, {"train"}, {"data"}}));
  }
  if (config.has_calibration_data()) {
    QB_RETURN_IF_ERROR(CheckTrainingDataFiles(config.calibration_data(), locator, {{"calibration_data"}}));
  }
  for (int q = 0; q < config.quantizers_size(); ++q) {
    if (!config.quantizers(q).has_qat()) continue;
    QB_RETURN_IF_ERROR(CheckTrainingDataFiles(config.quantizers(q).qat().train().data(), locator,
                                              {{"quantizers", q}, {"qat"}, {"train"}, {"data"}}));
  }
  return absl::OkStatus();
}

}  // namespace

RunDirectories RunDirectories::FromEnvironment() {
  RunDirectories dirs;
  const char* workspace = std::getenv("BUILD_WORKSPACE_DIRECTORY");
  const char* working = std::getenv("BUILD_WORKING_DIRECTORY");
  dirs.workspace = workspace && *workspace ? workspace : CurrentDirectory();
  dirs.working = working && *working ? working : CurrentDirectory();
  return dirs;
}

absl::StatusOr<std::string> ResolveConfigPath(const std::string& argument, const RunDirectories& dirs) {
  if (argument.empty()) return absl::InvalidArgumentError("--config is empty: name a .pbtxt file");
  std::vector<std::string> tried;
  if (argument[0] == '/') {
    tried.push_back(argument);
  } else {
    tried.push_back(JoinPath(dirs.working, argument));
    if (argument.find('/') == std::string::npos) tried.push_back(JoinPath(dirs.workspace, "configs/" + argument));
  }
  for (const std::string& path : tried) {
    if (FileExists(path)) return path;
  }
  return absl::NotFoundError(absl::StrCat("config '", argument, "' not found; tried: ", absl::StrJoin(tried, ", ")));
}

absl::StatusOr<Experiment> ParseExperiment(const std::string& text, const std::string& display_name,
                                           const RunDirectories& dirs, const ConfigOverrides& overrides) {
  Experiment config;
  pb::TextFormat::Parser parser;
  FirstErrorCollector errors(display_name);
  pb::TextFormat::ParseInfoTree tree;
  parser.RecordErrorsTo(&errors);
  parser.WriteLocationsTo(&tree);
  if (!parser.ParseFromString(text, &config)) {
    return absl::InvalidArgumentError(errors.error().empty() ? display_name + ": cannot parse" : errors.error());
  }
  QB_RETURN_IF_ERROR(Validate(config, Locator(display_name, &tree), dirs, overrides));
  return config;
}

absl::StatusOr<Experiment> LoadExperiment(const std::string& config_path, const RunDirectories& dirs,
                                          const ConfigOverrides& overrides) {
  std::ifstream in(config_path);
  if (!in) return absl::NotFoundError(absl::StrCat(config_path, ": cannot read the config"));
  std::stringstream text;
  text << in.rdbuf();
  return ParseExperiment(text.str(), config_path, dirs, overrides);
}

}  // namespace quantbench
