// On-disk cache of a preprocessed image tensor (the pixels of a LabeledImages), so a second
// sweep over the same images skips JPEG decoding and resizing.
//
// The caller builds a key naming everything the tensor depends on (see
// imagenet_dataset.h: the decoder version, PreprocessingKey, and every file's path, size and
// mtime); the file name is a hash of the key and the full key is stored inside and compared,
// so a hash collision is a miss, never a wrong tensor.
//
// File format (version 1), all integers little-endian, floats IEEE-754 binary32:
//   "QBIMGTEN"                 8 bytes magic
//   u32 version                = 1
//   u32 key length, key bytes
//   u32 rank, rank x i64 dims  (e.g. count, 3, S, S)
//   product(dims) x f32
//   u32 CRC-32 (zlib crc32) of every byte before it
//
// Size: 4 bytes per float, e.g. 1,300 images x 3 x 224 x 224 = 783 MB. Reading needs that
// much memory once (the tensor itself); no second copy is made.
#ifndef QUANTBENCH_EXPERIMENTS_IMAGE_TENSOR_CACHE_H_
#define QUANTBENCH_EXPERIMENTS_IMAGE_TENSOR_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace quantbench {

inline constexpr uint32_t kImageTensorCacheVersion = 1;

// `cache_dir`/images-<16 hex digits of a 64-bit FNV-1a hash of key>.qbimg
std::string ImageTensorCachePath(const std::string& cache_dir, const std::string& key);

// Writes the tensor atomically: a temporary file beside `path`, fsync'ed, then renamed over
// it; readers see the old file or the new one, never a partial one. Creates missing parent
// directories. `values` must hold product(shape) floats.
absl::Status SaveImageTensor(const std::string& path, const std::string& key,
                             const std::vector<int64_t>& shape, const std::vector<float>& values);

// A zero-filled vector of `count` floats. On Linux, a large buffer is marked for transparent
// huge pages (madvise MADV_HUGEPAGE) before it is first touched: filling a fresh 783 MB
// tensor is dominated by page faults, and on the 2-core VM this was measured at 2.8 s with
// 4 KiB pages and 1.3 s with huge pages. Same result as std::vector<float>(count) otherwise.
std::vector<float> AllocateFloats(size_t count);

// Reads a tensor written by SaveImageTensor, which must carry exactly `key` and `shape`.
//   NotFound            no such file (a cold cache);
//   DataLoss            truncated or corrupted: bad magic, a size that does not fit the file
//                       (checked before allocating), CRC mismatch;
//   FailedPrecondition  a valid file for another key, shape or format version.
absl::StatusOr<std::vector<float>> LoadImageTensor(const std::string& path,
                                                   const std::string& key,
                                                   const std::vector<int64_t>& shape);

}  // namespace quantbench

#endif  // QUANTBENCH_EXPERIMENTS_IMAGE_TENSOR_CACHE_H_
