#include "experiments/dataset_loader.h"

#include "absl/strings/str_cat.h"
#include "datasets/image_preprocess.h"
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

}  // namespace

absl::StatusOr<LoadedDataset> LoadDataset(const DatasetSpec& spec, const std::vector<int64_t>& input_shape,
                                          int num_classes, int threads, const std::string& cache_dir) {
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

}  // namespace quantbench
