// One entry point for training sets stored either way, so a config names a folder and works
// with the staged CIFAR-10 JPEGs and with the original binary batches alike:
//   <dir>/data_batch_1.bin or <dir>/test_batch.bin present   -> CIFAR-10 binary (cifar10_binary.h)
//   <dir>/cifar-10-batches-bin/ present (the tarball's root)  -> CIFAR-10 binary in that folder
//   otherwise                                                 -> <dir>/<split>/<class>/*.jpg
//                                                                (class_folder_dataset.h)
#ifndef QUANTBENCH_DATASETS_IMAGE_SET_LOADER_H_
#define QUANTBENCH_DATASETS_IMAGE_SET_LOADER_H_

#include <string>

#include "absl/status/statusor.h"
#include "datasets/class_folder_dataset.h"
#include "datasets/image_set.h"

namespace quantbench {

struct ImageSetLoadInfo {
  std::string format;  // "cifar10-binary" or "class-folders"
  std::string dir;     // the folder actually read (the binary batches' folder, or <dir>/<split>)
  ClassFolderLoadInfo class_folders;  // cache facts, for class folders
  double seconds = 0;
};

// `split` is "train" or "test" for the binary format, any folder name for class folders.
// `options` apply to class folders (threads, cache, expected_classes); for the binary format
// expected_classes, when given, must equal the batches' class names.
absl::StatusOr<ImageSet> LoadImageSetSplit(const std::string& dir, const std::string& split,
                                           const ClassFolderOptions& options,
                                           ImageSetLoadInfo* info = nullptr);

}  // namespace quantbench

#endif  // QUANTBENCH_DATASETS_IMAGE_SET_LOADER_H_
