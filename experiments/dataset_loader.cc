#include "experiments/dataset_loader.h"

#include <algorithm>
#include <new>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "datasets/cifar10_binary.h"
#include "datasets/class_folder_dataset.h"
#include "datasets/image_preprocess.h"
#include "datasets/image_set_examples.h"
#include "datasets/imagenet_dataset.h"
#include "datasets/paths.h"
#include "kernels/status_macros.h"

namespace quantbench {
namespace {

absl::StatusOr<LoadedDataset> LoadJpegFolder(const DatasetSpec& spec, const std::vector<int64_t>& input_shape,
                                             int num_classes, int threads, const std::string& cache_dir) {
  const Preprocessing& pre = spec.preprocessing();
  int size = pre.image_size();
  if (size == 0 && input_shape.size() == 3) size = static_cast<int>(input_shape[2]);
  if (input_shape.size() != 3 || input_shape[0] != 3 || input_shape[1] != size || input_shape[2] != size) {
    return absl::InvalidArgumentError(absl::StrCat("dataset.preprocessing.image_size ", size,
                                                   " does not fit the network's input ",
                                                   input_shape.size() == 3 ? absl::StrCat(input_shape[0], "x", input_shape[1], "x", input_shape[2]) : "shape"));
  }
  ImageFolderOptions options;
  auto preprocessing = ImagePreprocessingPreset(pre.preset().empty() ? "torch" : pre.preset(), size, pre.resize_shorter());
  if (!preprocessing.ok()) return Annotate(preprocessing.status(), "dataset.preprocessing");
  options.preprocessing = *preprocessing;
  if (!pre.interpolation().empty()) {
    auto interpolation = ParseInterpolation(pre.interpolation());
    if (!interpolation.ok()) return Annotate(interpolation.status(), "dataset.preprocessing.interpolation");
    options.preprocessing.interpolation = *interpolation;
  }
  options.limit = spec.limit();
  options.num_classes = num_classes;
  options.threads = std::max(1, threads);
  options.cache_dir = cache_dir.empty() ? "" : JoinPath(cache_dir, "images");
  // A ground-truth file may list more images than the folder holds (the full 50k val.txt
  // beside a subset): use the listed images present.
  options.skip_missing = true;

  ImageLoadInfo info;
  absl::StatusOr<LabeledImages> data;
  switch (spec.kind()) {
    case DatasetSpec::IMAGENET_VAL:
    case DatasetSpec::LABELED_IMAGES:
      data = LoadLabeledImageFolder(spec.dir(), JoinPath(spec.dir(), spec.labels()), options, &info);
      break;
    case DatasetSpec::SYNSET_FOLDERS:
      data = LoadSynsetImageFolders(spec.dir(), JoinPath(spec.dir(), spec.synsets()), options, &info);
      break;
    case DatasetSpec::UNLABELED_IMAGES:
      data = LoadUnlabeledImageFolder(spec.dir(), options, &info);
      break;
    default:
      return absl::InternalError("unexpected dataset kind");
  }
  if (!data.ok()) return Annotate(data.status(), "dataset");
  if (data->count == 0) {
    return absl::InvalidArgumentError(absl::StrCat("dataset: no images loaded from ", spec.dir()));
  }
  LoadedDataset loaded;
  loaded.data = *std::move(data);
  loaded.info = {{"kind", DatasetSpec::Kind_Name(spec.kind())},
                 {"dir", spec.dir()},
                 {"labels", spec.labels().empty() ? nlohmann::json(nullptr) : nlohmann::json(JoinPath(spec.dir(), spec.labels()))},
                 {"examples", loaded.data.count},
                 {"listed", info.listed},
                 {"missing_skipped", info.missing},
                 {"unlisted_ignored", info.unlisted},
                 {"preprocessing",
                  {{"preset", options.preprocessing.preset},
                   {"crop", options.preprocessing.crop_size},
                   {"resize_shorter", ResolvedResizeShorter(options.preprocessing)},
                   {"interpolation", InterpolationName(options.preprocessing.interpolation)},
                   {"key", PreprocessingKey(options.preprocessing)}}},
                 {"cache", info.cache_note},
                 {"pixels", info.in_memory ? "in memory (8-bit)" : "streamed from the cache file (8-bit)"},
                 {"load_seconds", info.seconds}};
  return loaded;
}

absl::StatusOr<LoadedDataset> LoadNativeDataset(const DatasetSpec& spec, const std::vector<int64_t>& input_shape,
                                               int threads, const std::string& cache_dir) {
  LoadedDataset loaded;
  QB_ASSIGN_OR_RETURN(ImageSet images, LoadNativeImages(spec, threads, cache_dir, &loaded.info));
  const std::vector<int64_t> shape = {images.channels, images.height, images.width};
  if (shape != input_shape) {
    return absl::InvalidArgumentError(absl::StrCat("dataset: images are ", images.channels, "x", images.height, "x",
                                                   images.width, " but network.input_shape is [",
                                                   absl::StrJoin(input_shape, ", "), "]"));
  }
  // Normalised batch by batch by the augmentation code with augmentation off: the floats
  // training sees at test time, without a float copy of the whole set.
  const AugmentationOptions normalization = NativeNormalization(spec.preprocessing());
  absl::StatusOr<LabeledImages> data = ImageSetAsLabeledImages(std::make_shared<const ImageSet>(std::move(images)),
                                                               normalization.mean, normalization.std);
  if (!data.ok()) return Annotate(data.status(), "dataset.preprocessing");
  loaded.data = *std::move(data);
  loaded.info["pixels"] = "8-bit in memory, normalised per batch";
  return loaded;
}

}  // namespace

AugmentationOptions NativeNormalization(const Preprocessing& pre) {
  AugmentationOptions options;
  options.mean.assign(pre.channel_mean().begin(), pre.channel_mean().end());
  options.std.assign(pre.channel_std().begin(), pre.channel_std().end());
  return options;
}

absl::StatusOr<ImageSet> LoadNativeImages(const DatasetSpec& spec, int threads, const std::string& cache_dir,
                                          nlohmann::json* info, const std::vector<std::string>& expected_classes) {
  absl::StatusOr<ImageSet> images;
  nlohmann::json out = {{"kind", DatasetSpec::Kind_Name(spec.kind())}, {"dir", spec.dir()}, {"split", spec.split()}};
  if (spec.kind() == DatasetSpec::CIFAR10_BINARY) {
    images = LoadCifar10Binary(spec.dir(), spec.split());
    out["cache"] = "none (binary batches are read directly)";
  } else {
    ClassFolderOptions options;
    options.threads = std::max(1, threads);
    options.cache_dir = cache_dir.empty() ? "" : JoinPath(cache_dir, "images");
    options.expected_classes = expected_classes;
    ClassFolderLoadInfo load;
    images = LoadClassFolderSplit(spec.dir(), spec.split(), options, &load);
    out["cache"] = load.cache_note;
    out["load_seconds"] = load.seconds;
    if (load.jpeg_warnings > 0) out["jpeg_warnings"] = load.jpeg_warnings;
  }
  if (!images.ok()) return Annotate(images.status(), "dataset");
  if (spec.limit() > 0 && spec.limit() < images->count) {
    // `limit` evenly spaced images (i * count / limit): folders load class by class, so the
    // first N would be one class; evenly spaced keeps the class balance of the split.
    const int64_t n = spec.limit(), count = images->count, size = images->image_size();
    for (int64_t i = 0; i < n; ++i) {
      const int64_t from = i * count / n;
      std::copy_n(images->pixels.begin() + from * size, size, images->pixels.begin() + i * size);
      images->labels[i] = images->labels[from];
    }
    images->count = n;
    images->pixels.resize(static_cast<size_t>(n) * size);
    images->labels.resize(n);
    out["subset"] = absl::StrCat(n, " evenly spaced of ", count);
  }
  if (!expected_classes.empty() && images->class_names != expected_classes) {
    return absl::InvalidArgumentError(absl::StrCat("dataset: the ", spec.split(), " split's classes (",
                                                   absl::StrJoin(images->class_names, ", "),
                                                   ") differ from the training classes"));
  }
  out["examples"] = images->count;
  out["classes"] = images->num_classes;
  out["class_names"] = images->class_names;
  out["image_shape"] = {images->channels, images->height, images->width};
  if (info != nullptr) *info = std::move(out);
  return images;
}

namespace {

// Labels beyond the network's outputs would be counted as misses in evaluation and index past
// the logits in training: the data and network.num_classes must agree before any work.
absl::Status CheckLabelsFit(const LabeledImages& data, int num_classes) {
  int32_t max_label = -1;
  int64_t where = -1;
  for (int64_t i = 0; i < static_cast<int64_t>(data.labels.size()); ++i) {
    if (data.labels[i] > max_label) {
      max_label = data.labels[i];
      where = i;
    }
  }
  if (max_label >= num_classes) {
    return absl::InvalidArgumentError(absl::StrCat("dataset: example ", where, " has label ", max_label,
                                                   " but network.num_classes is ", num_classes,
                                                   ": set num_classes to at least ", max_label + 1,
                                                   " or use data with labels in [0, ", num_classes, ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<LoadedDataset> LoadDatasetUnchecked(const DatasetSpec& spec, const std::vector<int64_t>& input_shape,
                                                   int num_classes, int threads, const std::string& cache_dir) {
  if (spec.kind() == DatasetSpec::CLASS_FOLDERS || spec.kind() == DatasetSpec::CIFAR10_BINARY) {
    (void)num_classes;
    return LoadNativeDataset(spec, input_shape, threads, cache_dir);
  }
  if (spec.kind() != DatasetSpec::IDX) return LoadJpegFolder(spec, input_shape, num_classes, threads, cache_dir);
  const Preprocessing& pre = spec.preprocessing();
  LoadedDataset loaded;
  QB_ASSIGN_OR_RETURN(loaded.data, LoadIdxDataset(JoinPath(spec.dir(), spec.images()), JoinPath(spec.dir(), spec.labels()),
                                                  spec.limit(), PixelNormalization{pre.scale(), pre.mean(), pre.std()}));
  int64_t size = 1;
  for (int64_t d : input_shape) size *= d;
  if (loaded.data.example_size() != size) {
    return absl::InvalidArgumentError(absl::StrCat("dataset examples have ", loaded.data.example_size(),
                                                   " values but the network takes ", size));
  }
  loaded.info = {{"kind", "IDX"},
                 {"images", JoinPath(spec.dir(), spec.images())},
                 {"labels", JoinPath(spec.dir(), spec.labels())},
                 {"examples", loaded.data.count},
                 {"classes", loaded.data.num_classes}};
  return loaded;
}

}  // namespace

absl::StatusOr<LoadedDataset> LoadDataset(const DatasetSpec& spec, const std::vector<int64_t>& input_shape,
                                          int num_classes, int threads, const std::string& cache_dir) {
  absl::StatusOr<LoadedDataset> loaded;
  try {
    loaded = LoadDatasetUnchecked(spec, input_shape, num_classes, threads, cache_dir);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(absl::StrCat("dataset: out of memory loading ", spec.dir(),
                                                     "; set dataset.limit to load fewer examples"));
  }
  if (!loaded.ok()) return loaded.status();
  QB_RETURN_IF_ERROR(CheckLabelsFit(loaded->data, num_classes));
  return loaded;
}

}  // namespace quantbench
