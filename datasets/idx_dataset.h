// Reader for MNIST-format idx files (MNIST, Fashion-MNIST), gzip-compressed or raw.
//
// idx layout: 2 zero bytes, a type byte (0x08 = unsigned byte), the number of dimensions,
// then each dimension as a big-endian uint32, then the data. Images are 0x00000803
// (count, rows, cols), labels 0x00000801 (count).
#ifndef QUANTBENCH_DATASETS_IDX_DATASET_H_
#define QUANTBENCH_DATASETS_IDX_DATASET_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "datasets/labeled_images.h"  // LabeledImages: idx sets are held in memory

namespace quantbench {

// Per-pixel normalisation: x' = (x * scale - mean) / std.
struct PixelNormalization {
  float scale = 1.0f / 255.0f;
  float mean = 0.0f;
  float std = 1.0f;
};

// An idx file's decoded header and raw bytes.
struct IdxArray {
  std::vector<uint32_t> dims;
  std::vector<uint8_t> data;
};

// Reads a whole file, decompressing it if it is gzip (zlib reads raw files unchanged).
// Errors: NotFound (missing file), DataLoss (truncated or corrupt gzip).
absl::StatusOr<std::vector<uint8_t>> ReadMaybeGzipFile(const std::string& path);

// Parses one idx file of unsigned bytes with the expected number of dimensions.
// Errors (DataLoss/InvalidArgument) name the file and say what was expected.
absl::StatusOr<IdxArray> ReadIdxFile(const std::string& path, int expected_dims);

// Loads an images + labels pair, keeping the first `limit` examples (0 = all).
absl::StatusOr<LabeledImages> LoadIdxDataset(const std::string& images_path,
                                             const std::string& labels_path, int64_t limit,
                                             const PixelNormalization& normalization);

}  // namespace quantbench

#endif  // QUANTBENCH_DATASETS_IDX_DATASET_H_
