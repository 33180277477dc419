// On-disk cache of trained weights: one ParamStore per file, tagged with a key that names
// everything the weights depend on (experiments/training_setup.h builds the keys of trained
// weights from the whole training recipe).
//
// File format (version 1), all integers little-endian:
//   "QBWEIGHT"                         8 bytes magic
//   u32 version                        = 1
//   str key                            (str = u32 byte length + bytes)
//   u32 tensor count
//   per tensor:
//     str name, str layer, str layer_type
//     u8  kind                         0 = weight, 1 = bias
//     u32 rank, then rank x i64 dims
//     product(dims) x f32 values       IEEE-754 binary32 bit patterns
//   u32 CRC-32 (zlib crc32) of every byte before it
#ifndef QUANTBENCH_NETWORKS_WEIGHT_CACHE_H_
#define QUANTBENCH_NETWORKS_WEIGHT_CACHE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "networks/param_store.h"

namespace quantbench {

inline constexpr uint32_t kWeightCacheVersion = 1;

// Writes `params` to `path` atomically: a temporary file in the same directory, flushed and
// fsync'ed, then renamed over `path`, so readers never see a partial file. Creates missing
// parent directories. Errors carry the errno-derived code and name the path.
absl::Status SaveParamStore(const std::string& path, const ParamStore& params,
                            const std::string& key);

// Reads a file written by SaveParamStore. An empty `expected_key` accepts any key (a weights
// file the user names); a non-empty one must match exactly (a cache lookup).
//   NotFound            the file does not exist;
//   DataLoss            truncated or corrupted: bad magic, CRC mismatch, a size that does not
//                       fit the file, trailing bytes, an invalid tensor. Sizes are checked
//                       against the file length before any allocation, so garbage never
//                       triggers a huge allocation or a crash;
//   FailedPrecondition  a valid file, but written with another key or format version
//                       (stale cache: retrain and overwrite).
absl::StatusOr<ParamStore> LoadParamStore(const std::string& path,
                                          const std::string& expected_key);

// The same checks on the bytes of such a file (LoadParamStore reads the file, then this);
// errors do not name a file.
absl::StatusOr<ParamStore> ParseParamStore(const std::string& bytes,
                                           const std::string& expected_key);

}  // namespace quantbench

#endif  // QUANTBENCH_NETWORKS_WEIGHT_CACHE_H_
