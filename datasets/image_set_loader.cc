#include "datasets/image_set_loader.h"

#include <chrono>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "datasets/cifar10_binary.h"
#include "datasets/paths.h"
#include "kernels/status_macros.h"

namespace quantbench {
namespace {

bool Exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec);
}

bool HoldsCifarBatches(const std::string& dir) {
  return Exists(JoinPath(dir, "data_batch_1.bin")) || Exists(JoinPath(dir, "test_batch.bin"));
}

}  // namespace

absl::StatusOr<ImageSet> LoadImageSetSplit(const std::string& dir, const std::string& split,
                                           const ClassFolderOptions& options,
                                           ImageSetLoadInfo* info) {
  const auto start = std::chrono::steady_clock::now();
  ImageSetLoadInfo local_info;
  if (info == nullptr) info = &local_info;
  *info = ImageSetLoadInfo{};
  std::string binary_dir;
  if (HoldsCifarBatches(dir)) {
    binary_dir = dir;
  } else if (HoldsCifarBatches(JoinPath(dir, "cifar-10-batches-bin"))) {
    binary_dir = JoinPath(dir, "cifar-10-batches-bin");
  }
  ImageSet set;
  if (!binary_dir.empty()) {
    info->format = "cifar10-binary";
    info->dir = binary_dir;
    QB_ASSIGN_OR_RETURN(set, LoadCifar10Binary(binary_dir, split));
    if (!options.expected_classes.empty() && set.class_names != options.expected_classes) {
      return absl::InvalidArgumentError(absl::StrCat(
          binary_dir, ": class names [", absl::StrJoin(set.class_names, ", "),
          "] differ from the expected classes [", absl::StrJoin(options.expected_classes, ", "),
          "]"));
    }
  } else {
    info->format = "class-folders";
    info->dir = JoinPath(dir, split);
    QB_ASSIGN_OR_RETURN(set, LoadClassFolderSplit(dir, split, options, &info->class_folders));
  }
  info->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return set;
}

}  // namespace quantbench
