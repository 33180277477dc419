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
#include "absl/strings/string_view.h"
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

// Decompresses gzip data (one or more members, as `cat a.gz b.gz` makes) in memory; anything
// not starting with the gzip magic is returned unchanged. `name` only labels errors.
// Errors: DataLoss (truncated or corrupt gzip, trailing bytes after the last member),
// ResourceExhausted (expands past 4 GiB: not an idx set this reader can hold).
absl::StatusOr<std::vector<uint8_t>> DecompressIfGzip(std::vector<uint8_t> bytes,
                                                      absl::string_view name);

// Reads a whole file and decompresses it if it is gzip (DecompressIfGzip).
// Errors: NotFound (missing file), DataLoss (truncated or corrupt gzip).
absl::StatusOr<std::vector<uint8_t>> ReadMaybeGzipFile(const std::string& path);

// Parses the bytes of one (uncompressed) idx file of unsigned bytes with the expected number of
// dimensions. Errors (DataLoss/InvalidArgument) start with `name` and say what was expected.
absl::StatusOr<IdxArray> ParseIdx(const std::vector<uint8_t>& bytes, int expected_dims,
                                  absl::string_view name);

// ReadMaybeGzipFile + ParseIdx, errors naming the file.
absl::StatusOr<IdxArray> ReadIdxFile(const std::string& path, int expected_dims);

// An images (3 dimensions) + labels (1 dimension) pair as a data set, keeping the first `limit`
// examples (0 = all). The names label errors (the counts must agree).
absl::StatusOr<LabeledImages> IdxDataset(const IdxArray& images, const IdxArray& labels,
                                         absl::string_view images_name,
                                         absl::string_view labels_name, int64_t limit,
                                         const PixelNormalization& normalization);

// Loads an images + labels file pair (ReadIdxFile + IdxDataset).
absl::StatusOr<LabeledImages> LoadIdxDataset(const std::string& images_path,
                                             const std::string& labels_path, int64_t limit,
                                             const PixelNormalization& normalization);

}  // namespace quantbench

#endif  // QUANTBENCH_DATASETS_IDX_DATASET_H_
