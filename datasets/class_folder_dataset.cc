#include "datasets/class_folder_dataset.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "datasets/image_files.h"
#include "datasets/image_tensor_cache.h"
#include "datasets/jpeg_codec.h"
#include "datasets/paths.h"
#include "kernels/status_macros.h"

namespace quantbench {
namespace {

// Part of the cache key: bump it when the stored tensor's meaning changes.
constexpr int kClassFolderFormat = 1;

struct SplitFiles {
  std::vector<std::string> classes;
  std::vector<std::string> paths;
  std::vector<int32_t> labels;
};

absl::StatusOr<SplitFiles> ListSplit(const std::string& root, const std::string& split,
                                     const std::vector<std::string>& expected_classes,
                                     int64_t per_class_limit) {
  const std::string dir = JoinPath(root, split);
  absl::StatusOr<std::vector<std::string>> directories = ListDirectory(dir, true);
  if (!directories.ok()) {
    return absl::NotFoundError(absl::StrCat(dir, ": split folder missing or unreadable (expected ",
                                            dir, "/<class>/*.jpg): ",
                                            directories.status().message()));
  }
  SplitFiles files;
  for (const std::string& name : *directories) {
    if (!absl::StartsWith(name, ".")) files.classes.push_back(name);
  }
  if (files.classes.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(dir, ": no class folders (expected ", dir, "/<class>/*.jpg)"));
  }
  if (!expected_classes.empty() && files.classes != expected_classes) {
    return absl::InvalidArgumentError(absl::StrCat(
        dir, ": class folders [", absl::StrJoin(files.classes, ", "),
        "] differ from the expected classes [", absl::StrJoin(expected_classes, ", "),
        "] (the labels of the two splits would not mean the same)"));
  }
  for (size_t label = 0; label < files.classes.size(); ++label) {
    const std::string class_dir = JoinPath(dir, files.classes[label]);
    QB_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDirectory(class_dir, false));
    int64_t found = 0;
    for (const std::string& name : names) {
      if (!IsJpegName(name)) continue;
      if (per_class_limit > 0 && found >= per_class_limit) break;
      files.paths.push_back(JoinPath(class_dir, name));
      files.labels.push_back(static_cast<int32_t>(label));
      ++found;
    }
    if (found == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(class_dir, ": empty class folder (no *.jpg / *.jpeg images)"));
    }
  }
  return files;
}

// HWC interleaved RGB -> three planes.
void ToPlanes(const RgbImage& image, uint8_t* chw) {
  const int64_t plane = int64_t{image.width} * image.height;
  const uint8_t* hwc = image.pixels.data();
  for (int64_t p = 0; p < plane; ++p) {
    chw[p] = hwc[3 * p];
    chw[plane + p] = hwc[3 * p + 1];
    chw[2 * plane + p] = hwc[3 * p + 2];
  }
}

// Decodes every path into `pixels` (already sized count x 3 x height x width), checking each
// image has the first image's size.
absl::Status DecodeAll(const std::vector<std::string>& paths, int height, int width, int threads,
                       std::vector<uint8_t>* pixels, int64_t* warnings) {
  const int64_t image_size = int64_t{3} * height * width;
  std::atomic<int64_t> warning_count{0};
  absl::Status status = ParallelForEachIndex(
      static_cast<int64_t>(paths.size()), threads, [&](int64_t i) -> absl::Status {
        QB_ASSIGN_OR_RETURN(RgbImage image, DecodeJpegFile(paths[i]));
        if (image.width != width || image.height != height) {
          return absl::InvalidArgumentError(absl::StrCat(
              paths[i], ": ", image.width, "x", image.height, " pixels, but ", paths[0], " is ",
              width, "x", height, " (every image of a class-folder set must have the same size)"));
        }
        warning_count += image.tolerated_warnings;
        ToPlanes(image, pixels->data() + i * image_size);
        return absl::OkStatus();
      });
  *warnings = warning_count;
  return status;
}

}  // namespace

absl::StatusOr<ImageSet> LoadClassFolderSplit(const std::string& root, const std::string& split,
                                              const ClassFolderOptions& options,
                                              ClassFolderLoadInfo* info) {
  const auto start = std::chrono::steady_clock::now();
  ClassFolderLoadInfo local_info;
  if (info == nullptr) info = &local_info;
  *info = ClassFolderLoadInfo{};
  info->cache_note = "disabled";
  if (options.per_class_limit < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("per_class_limit ", options.per_class_limit, " is negative"));
  }
  QB_ASSIGN_OR_RETURN(SplitFiles files, ListSplit(root, split, options.expected_classes,
                                                  options.per_class_limit));

  // The first image fixes the size (and with it the cache file's shape).
  QB_ASSIGN_OR_RETURN(RgbImage first, DecodeJpegFile(files.paths[0]));
  ImageSet set;
  set.count = static_cast<int64_t>(files.paths.size());
  set.channels = 3;
  set.height = first.height;
  set.width = first.width;
  set.labels = std::move(files.labels);
  set.num_classes = static_cast<int>(files.classes.size());
  set.class_names = std::move(files.classes);
  const std::vector<int64_t> shape = {set.count, set.channels, set.height, set.width};

  std::string key;
  std::string why_not_cached = "miss (no cache file)";
  if (!options.cache_dir.empty()) {
    key = absl::StrCat("quantbench class-folder image set, native size, uint8 NCHW, format ",
                       kClassFolderFormat, "\ndecoder: ", JpegLibraryVersion(), "\n");
    QB_RETURN_IF_ERROR(AppendFileIdentities(files.paths, &key));
    info->cache_path = ImageTensorCachePath(options.cache_dir, key);
    absl::StatusOr<std::vector<uint8_t>> cached = LoadImageTensor(info->cache_path, key, shape);
    if (cached.ok()) {
      set.pixels = *std::move(cached);
      info->cache_hit = true;
      info->cache_note = "hit";
    } else if (!absl::IsNotFound(cached.status())) {
      why_not_cached = absl::StrCat(cached.status().message(), "; recomputed");
    }
  }
  if (!info->cache_hit) {
    set.pixels.resize(static_cast<size_t>(set.count * set.image_size()));
    QB_RETURN_IF_ERROR(DecodeAll(files.paths, set.height, set.width, std::max(1, options.threads),
                                 &set.pixels, &info->jpeg_warnings));
    if (!options.cache_dir.empty()) {
      const absl::Status saved = SaveImageTensor(info->cache_path, key, shape, set.pixels);
      info->cache_note = absl::StrCat(
          why_not_cached,
          saved.ok() ? "; written" : absl::StrCat("; cannot write: ", saved.message()));
    }
  }
  info->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return set;
}

}  // namespace quantbench
