#include "datasets/idx_dataset.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "kernels/status_macros.h"

namespace quantbench {
namespace {

constexpr uint8_t kUnsignedByteType = 0x08;
constexpr uint8_t kGzipMagic0 = 0x1f;
constexpr uint8_t kGzipMagic1 = 0x8b;
// Far above any idx set (Fashion-MNIST's training images are 47 MB), far below what a gzip
// bomb would expand to before memory runs out.
constexpr uint64_t kMaxIdxFileBytes = uint64_t{4} << 30;

uint32_t ReadBigEndian32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

}  // namespace

absl::StatusOr<std::vector<uint8_t>> DecompressIfGzip(std::vector<uint8_t> bytes,
                                                      absl::string_view name) {
  if (bytes.size() < 2 || bytes[0] != kGzipMagic0 || bytes[1] != kGzipMagic1) return bytes;
  z_stream stream{};
  // 15 + 16: a gzip wrapper (not zlib or raw deflate), the largest window.
  if (inflateInit2(&stream, 15 + 16) != Z_OK) {
    return absl::ResourceExhaustedError(absl::StrCat(name, ": cannot start a gzip decoder"));
  }
  std::unique_ptr<z_stream, int (*)(z_streamp)> closer(&stream, inflateEnd);
  stream.next_in = bytes.data();
  size_t consumed = 0;  // input bytes handed to zlib so far (avail_in is only 32 bits)
  auto feed = [&] {
    const size_t chunk = std::min<size_t>(bytes.size() - consumed, 1u << 30);
    stream.next_in = bytes.data() + consumed;
    stream.avail_in = static_cast<uInt>(chunk);
    consumed += chunk;
  };
  feed();
  std::vector<uint8_t> out;
  std::vector<uint8_t> chunk(1 << 20);
  while (true) {
    stream.next_out = chunk.data();
    stream.avail_out = static_cast<uInt>(chunk.size());
    const int code = inflate(&stream, Z_NO_FLUSH);
    const size_t produced = chunk.size() - stream.avail_out;
    if (out.size() + produced > kMaxIdxFileBytes) {
      return absl::ResourceExhaustedError(absl::StrCat(name, ": decompresses to more than ",
                                                       kMaxIdxFileBytes >> 30,
                                                       " GiB, not an idx data set this reader can hold"));
    }
    out.insert(out.end(), chunk.begin(), chunk.begin() + produced);
    if (stream.avail_in == 0 && consumed < bytes.size()) feed();
    if (code == Z_STREAM_END) {
      const size_t left = stream.avail_in + (bytes.size() - consumed);
      if (left == 0) return out;
      // Another member follows (concatenated gzip files decompress to the concatenation).
      const uint8_t* next = stream.next_in;
      if (left >= 2 && next[0] == kGzipMagic0 && next[1] == kGzipMagic1 &&
          inflateReset(&stream) == Z_OK) {
        continue;
      }
      return absl::DataLossError(absl::StrCat(name, ": ", left, " trailing bytes after the gzip data"));
    }
    if (code == Z_OK) continue;
    if (code == Z_BUF_ERROR && stream.avail_in == 0) {
      return absl::DataLossError(absl::StrCat(name, ": truncated gzip (the stream ends early)"));
    }
    return absl::DataLossError(absl::StrCat(name, ": corrupt gzip (",
                                            stream.msg != nullptr ? stream.msg : zError(code), ")"));
  }
}

absl::StatusOr<std::vector<uint8_t>> ReadMaybeGzipFile(const std::string& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), std::fclose);
  if (file == nullptr) {
    const int error = errno;
    if (error == ENOENT) return absl::NotFoundError(absl::StrCat(path, ": no such file"));
    return absl::ErrnoToStatus(error, absl::StrCat(path, ": cannot open"));
  }
  std::vector<uint8_t> bytes;
  uint8_t buffer[1 << 16];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), file.get())) > 0) {
    if (bytes.size() + n > kMaxIdxFileBytes) {
      return absl::ResourceExhaustedError(absl::StrCat(path, ": larger than ", kMaxIdxFileBytes >> 30,
                                                       " GiB, not an idx data set this reader can hold"));
    }
    bytes.insert(bytes.end(), buffer, buffer + n);
  }
  if (std::ferror(file.get())) return absl::DataLossError(absl::StrCat(path, ": read error"));
  return DecompressIfGzip(std::move(bytes), path);
}

absl::StatusOr<IdxArray> ParseIdx(const std::vector<uint8_t>& bytes, int expected_dims,
                                  absl::string_view name) {
  if (bytes.size() < 4) {
    return absl::DataLossError(absl::StrCat(name, ": ", bytes.size(),
                                            " bytes is too short for an idx header"));
  }
  if (bytes[0] != 0 || bytes[1] != 0 || bytes[2] != kUnsignedByteType ||
      bytes[3] != expected_dims) {
    char magic[16];
    std::snprintf(magic, sizeof(magic), "0x%02x%02x%02x%02x", bytes[0], bytes[1], bytes[2],
                  bytes[3]);
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": bad idx magic ", magic, ", expected 0x000008",
                     expected_dims < 16 ? "0" : "", absl::Hex(expected_dims),
                     " (unsigned bytes, ", expected_dims, " dimensions)"));
  }
  size_t header = 4 + 4 * static_cast<size_t>(expected_dims);
  if (bytes.size() < header) {
    return absl::DataLossError(absl::StrCat(name, ": truncated idx header"));
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
    return absl::DataLossError(absl::StrCat(name, ": header promises ", expected,
                                            " data bytes but the file holds ", found,
                                            found < expected ? " (truncated)" : " (trailing data)"));
  }
  array.data.assign(bytes.begin() + header, bytes.end());
  return array;
}

absl::StatusOr<IdxArray> ReadIdxFile(const std::string& path, int expected_dims) {
  QB_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, ReadMaybeGzipFile(path));
  return ParseIdx(bytes, expected_dims, path);
}

absl::StatusOr<LabeledImages> IdxDataset(const IdxArray& images, const IdxArray& labels,
                                         absl::string_view images_name,
                                         absl::string_view labels_name, int64_t limit,
                                         const PixelNormalization& normalization) {
  if (images.dims.size() != 3 || labels.dims.size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(images_name, " / ", labels_name,
                                                   ": expected 3-dimensional images and "
                                                   "1-dimensional labels"));
  }
  if (images.dims[0] != labels.dims[0]) {
    return absl::InvalidArgumentError(absl::StrCat(images_name, " holds ", images.dims[0],
                                                   " images but ", labels_name, " holds ",
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

absl::StatusOr<LabeledImages> LoadIdxDataset(const std::string& images_path,
                                             const std::string& labels_path, int64_t limit,
                                             const PixelNormalization& normalization) {
  QB_ASSIGN_OR_RETURN(IdxArray images, ReadIdxFile(images_path, 3));
  QB_ASSIGN_OR_RETURN(IdxArray labels, ReadIdxFile(labels_path, 1));
  return IdxDataset(images, labels, images_path, labels_path, limit, normalization);
}

}  // namespace quantbench
