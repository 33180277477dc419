// Image classification sets stored as one folder per class, at their native size (no resize,
// no crop): <root>/<split>/<class>/*.jpg, e.g. ../shared/data/cifar10_jpeg/{train,test}/
// {airplane,...,truck}/NNNN.jpg. Returned as an ImageSet (image_set.h), 8-bit RGB, NCHW.
//
// Labels: the split's class folders sorted by name (byte order), label i = i-th folder, so
// the same folders always give the same labels (for CIFAR-10 alphabetical order is also its
// official label order). Hidden folders (".x") and files directly in the split folder are
// ignored. Images: *.jpg / *.jpeg (any case) of each class folder, sorted by name; images are
// ordered class by class.
//
// Every image must have the size of the first one (else InvalidArgument naming both files and
// sizes); greyscale JPEGs are replicated to R = G = B, CMYK is Unimplemented, a corrupt or
// truncated file is DataLoss naming it (jpeg_codec.h). A missing split folder is NotFound; a
// split without class folders, or a class folder without images, is InvalidArgument naming
// the folder. On several bad files the error is the first in the order above, whatever the
// thread count.
//
// Decoding runs on `threads` threads, each image into its own slot, so the pixels do not
// depend on the thread count. With a cache_dir the pixel tensor is stored in the image tensor
// cache (image_tensor_cache.h) as cache_dir/images-<hash>.qbimg, keyed by this reader's format,
// the decoder version and every file's absolute path, size and mtime in order (as the
// ImageNet reader keys its cache): a second load reads the file (CRC-checked) instead of
// decoding, and any change to the files decodes again. Labels and class names come from the
// folder names, which are part of the paths in the key. A cache that cannot be written is
// not an error: the set is returned and ClassFolderLoadInfo::cache_note says why.
#ifndef QUANTBENCH_DATASETS_CLASS_FOLDER_DATASET_H_
#define QUANTBENCH_DATASETS_CLASS_FOLDER_DATASET_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "datasets/image_set.h"

namespace quantbench {

struct ClassFolderOptions {
  int threads = 2;        // decoding threads (>= 1)
  std::string cache_dir;  // "" = no disk cache
  // When non-empty, the split's class folders must be exactly these names (in sorted order),
  // e.g. the train split's class_names when loading the test split, so that a missing or
  // extra class folder cannot silently shift the labels of the other split.
  std::vector<std::string> expected_classes;
  // Keep only the first `per_class_limit` images (in sorted order) of every class folder, a
  // balanced subset for quick runs and tests; 0 = all. The subset has its own cache entry.
  int64_t per_class_limit = 0;
};

// What a load did, for logs and tests.
struct ClassFolderLoadInfo {
  bool cache_hit = false;
  std::string cache_path;  // "" without cache_dir
  // "disabled", "hit", "miss (no cache file); written", "<why unusable>; recomputed; written",
  // or "...; cannot write: <error>".
  std::string cache_note;
  int64_t jpeg_warnings = 0;  // tolerated libjpeg warnings (pixels intact)
  double seconds = 0;         // wall time of the whole load
};

absl::StatusOr<ImageSet> LoadClassFolderSplit(const std::string& root, const std::string& split,
                                              const ClassFolderOptions& options,
                                              ClassFolderLoadInfo* info = nullptr);

}  // namespace quantbench

#endif  // QUANTBENCH_DATASETS_CLASS_FOLDER_DATASET_H_
