#include "datasets/idx_dataset.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"
#include "kernels/status_macros.h"

namespace quantbench {
namespace {

constexpr uint8_t kUnsignedByteType = 0x08;
// Far above any idx set (Fashion-MNIST's training images are 47 MB), far below what a gzip
// bomb would expand to before memory runs out.
constexpr uint64_t kMaxIdxFileBytes = uint64_t{4} << 30;

uint32_t ReadBigEndian32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

}  // namespace

absl::StatusOr<std::vector<uint8_t>> ReadMaybeGzipFile(const std::string& path) {
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot open (", std::strerror(errno), ")"));
  }
  std::unique_ptr<gzFile_s, int (*)(gzFile)> closer(file, gzclose);
  std::vector<uint8_t> bytes;
  std::vector<uint8_t> chunk(1 << 20);
  while (true) {
    int n = gzread(file, chunk.data(), static_cast<unsigned>(chunk.size()));
    if (n < 0) {
      int code = 0;
      const char* message = gzerror(file, &code);
      return absl::DataLossError(absl::StrCat(path, ": corrupt compressed data (", message, ")"));
    }
    if (n == 0) break;
    if (bytes.size() + n > kMaxIdxFileBytes) {
      return absl::ResourceExhaustedError(absl::StrCat(path, ": decompresses to more than ", kMaxIdxFileBytes >> 30,
                                                       " GiB, not an idx data set this reader can hold"));
    }
    bytes.insert(bytes.end(), chunk.begin(), chunk.begin() + n);
  }
  // A gzip stream cut short reads as a clean end of data; zlib flags it only here.
  int code = Z_OK;
  const char* message = gzerror(file, &code);
  if (code != Z_OK && code != Z_STREAM_END) {
    return absl::DataLossError(absl::StrCat(path, ": truncated or corrupt gzip (", message, ")"));
  }
  return bytes;
}

absl::StatusOr<IdxArray> ReadIdxFile(const std::string& path, int expected_dims) {
  QB_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, ReadMaybeGzipFile(path));
  if (bytes.size() < 4) {
    return absl::DataLossError(absl::StrCat(path, ": ", bytes.size(),
                                            " bytes is too short for an idx header"));
  }
  if (bytes[0] != 0 || bytes[1] != 0 || bytes[2] != kUnsignedByteType ||
      bytes[3] != expected_dims) {
    char magic[16];
    std::snprintf(magic, sizeof(magic), "0x%02x%02x%02x%02x", bytes[0], bytes[1], bytes[2],
                  bytes[3]);
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": bad idx magic ", magic, ", expected 0x000008",
                     expected_dims < 16 ? "0" : "", absl::Hex(expected_dims),
                     " (unsigned bytes, ", expected_dims, " dimensions)"));
  }
  size_t header = 4 + 4 * static_cast<size_t>(expected_dims);
  if (bytes.size() < header) {
    return absl::DataLossError(absl::StrCat(path, ": truncated idx header"));
  }
  IdxArray array;
  // The product of three 32-bit dimensions can wrap a 64-bit count (2^31 * 2^31 * 4 = 0):
  // once it exceeds what the file holds it is a mismatch, so it saturates there.
  uint64_t found = bytes.size() - header;
  uint64_t expected = 1;
  for (int d = 0; d < expected_dims; ++d) {
    array.dims.push_back(ReadBigEndian32(bytes.data() + 4 + 4 * d));
    const uint64_t dim = array.dims.back();
    expected = dim != 0 && expected > (found + 1) / dim ? found + 1 : expected * dim;
  }
  if (found != expected) {
    return absl::DataLossError(absl::StrCat(path, ": header promises ", expected,
                                            " data bytes but the file holds ", found,
                                            found < expected ? " (truncated)" : " (trailing data)"));
  }
  array.data.assign(bytes.begin() + header, bytes.end());
  return array;
}

absl::StatusOr<LabeledImages> LoadIdxDataset(const std::string& images_path,
                                             const std::string& labels_path, int64_t limit,
                                             const PixelNormalization& normalization) {
  QB_ASSIGN_OR_RETURN(IdxArray images, ReadIdxFile(images_path, 3));
  QB_ASSIGN_OR_RETURN(IdxArray labels, ReadIdxFile(labels_path, 1));
  if (images.dims[0] != labels.dims[0]) {
    return absl::InvalidArgumentError(absl::StrCat(images_path, " holds ", images.dims[0],
                                                   " images but ", labels_path, " holds ",
                                                   labels.dims[0], " labels"));
  }
  if (normalization.std == 0.0f) {
    return absl::InvalidArgumentError("preprocessing.std must not be 0");
  }
  LabeledImages set;
  set.count = images.dims[0];
  if (limit > 0) set.count = std::min<int64_t>(set.count, limit);
  set.example_shape = {int64_t{images.dims[1]} * images.dims[2]};
  const int64_t size = set.example_size();
  set.pixels.resize(set.count * size);
  const float inv_std = 1.0f / normalization.std;
  for (int64_t i = 0; i < set.count * size; ++i) {
    set.pixels[i] = (images.data[i] * normalization.scale - normalization.mean) * inv_std;
  }
  set.labels.assign(labels.data.begin(), labels.data.begin() + set.count);
  int max_label = 0;
  for (int32_t label : set.labels) max_label = std::max(max_label, label);
  set.num_classes = max_label + 1;
  return set;
}

}  // namespace quantbench
