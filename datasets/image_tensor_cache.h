// On-disk cache of a preprocessed image set's 8-bit pixels (resized, cropped, channel order
// applied; not yet normalised), so a second sweep over the same images skips JPEG decoding
// and resizing, and a sweep never holds the whole set in memory.
//
// The caller builds a key naming everything the tensor depends on (see
// imagenet_dataset.h: the decoder version, PreprocessingKey, and every file's path, size and
// mtime); the file name is a hash of the key and the full key is stored inside and compared,
// so a hash collision is a miss, never a wrong tensor.
//
// File format (version 2), all integers little-endian:
//   "QBIMGTEN"                 8 bytes magic
//   u32 version                = 2 (version 1 held float32 values; it is read as stale)
//   u32 key length, key bytes
//   u32 rank, rank x i64 dims  (e.g. count, 3, S, S)
//   product(dims) x u8
//   u32 CRC-32 (zlib crc32) of every byte before it
//
// Size: 1 byte per value, e.g. 1,300 images x 3 x 224 x 224 = 196 MB; 50,000 = 7.5 GB.
//
// Memory: neither side holds the tensor. ImageTensorWriter appends chunks as they are
// produced; ImageTensorFile verifies the CRC once when it is opened, streaming the file through
// a fixed 8 MiB buffer, and afterwards reads ranges on demand with pread(), so the process holds
// only what the caller asks for and the kernel's page cache keeps a warm file in RAM when
// there is room for it. (Read-only mmap was the alternative; its resident pages count
// towards the process' RSS and stay mapped for the whole sweep, while pread copies one batch
// per call: a few MB, cheap next to the forward pass that consumes it.)
#ifndef QUANTBENCH_DATASETS_IMAGE_TENSOR_CACHE_H_
#define QUANTBENCH_DATASETS_IMAGE_TENSOR_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace quantbench {

inline constexpr uint32_t kImageTensorCacheVersion = 2;

// `cache_dir`/images-<16 hex digits of a 64-bit FNV-1a hash of key>.qbimg
std::string ImageTensorCachePath(const std::string& cache_dir, const std::string& key);

// A complete, CRC-verified cache file, held open for reading. Safe to read from several
// threads at once. The descriptor refers to the file as it was verified: a later atomic
// replacement of `path` (another writer's rename) does not change what this object reads.
class ImageTensorFile {
 public:
  // Opens a file written by ImageTensorWriter, which must carry exactly `key` and `shape`,
  // and verifies its CRC (one sequential pass, bounded memory).
  //   NotFound            no such file (a cold cache);
  //   DataLoss            truncated or corrupted: bad magic, a size that does not fit the
  //                       file, CRC mismatch;
  //   FailedPrecondition  a valid file for another key, shape or format version.
  static absl::StatusOr<std::unique_ptr<ImageTensorFile>> Open(const std::string& path,
                                                               const std::string& key,
                                                               const std::vector<int64_t>& shape);
  ~ImageTensorFile();
  ImageTensorFile(const ImageTensorFile&) = delete;
  ImageTensorFile& operator=(const ImageTensorFile&) = delete;

  const std::string& path() const { return path_; }
  const std::vector<int64_t>& shape() const { return shape_; }
  uint64_t elements() const { return elements_; }

  // Copies values [offset, offset + n) to `out`. OutOfRange past the end; DataLoss if the
  // file has shrunk since it was verified.
  absl::Status Read(uint64_t offset, size_t n, uint8_t* out) const;

 private:
  friend class ImageTensorWriter;
  ImageTensorFile(int fd, std::string path, std::vector<int64_t> shape, uint64_t elements,
                  uint64_t data_offset);

  int fd_;
  std::string path_;
  std::vector<int64_t> shape_;
  uint64_t elements_;
  uint64_t data_offset_;  // where the values start in the file
};

// Writes a cache file chunk by chunk: a uniquely named temporary file beside `path`, the CRC
// computed as the values go by, then fsync and rename over `path` in Commit(), so readers
// see the old file or the new one, never a partial one. Destroying an uncommitted writer
// removes the temporary file.
class ImageTensorWriter {
 public:
  // Creates missing parent directories and the temporary file, and writes the header.
  static absl::StatusOr<std::unique_ptr<ImageTensorWriter>> Create(
      const std::string& path, const std::string& key, const std::vector<int64_t>& shape);
  ~ImageTensorWriter();
  ImageTensorWriter(const ImageTensorWriter&) = delete;
  ImageTensorWriter& operator=(const ImageTensorWriter&) = delete;

  // Appends the next `n` values. InvalidArgument past product(shape).
  absl::Status Append(const uint8_t* values, size_t n);

  // Requires exactly product(shape) values appended. Writes the CRC, fsyncs, renames the
  // temporary file to `path` and returns it open for reading (its CRC was computed while
  // writing, so it is not read back). The writer is spent afterwards, whatever the outcome.
  absl::StatusOr<std::unique_ptr<ImageTensorFile>> Commit();

 private:
  ImageTensorWriter(int fd, std::string path, std::string temp_path, std::vector<int64_t> shape,
                    uint64_t elements, uint64_t data_offset, uint32_t crc);

  int fd_;
  std::string path_;
  std::string temp_path_;
  std::vector<int64_t> shape_;
  uint64_t elements_;
  uint64_t data_offset_;
  uint64_t appended_ = 0;
  uint32_t crc_;
};

// Whole-tensor conveniences over the two classes above (tests, small sets).
absl::Status SaveImageTensor(const std::string& path, const std::string& key,
                             const std::vector<int64_t>& shape,
                             const std::vector<uint8_t>& values);
absl::StatusOr<std::vector<uint8_t>> LoadImageTensor(const std::string& path,
                                                     const std::string& key,
                                                     const std::vector<int64_t>& shape);

}  // namespace quantbench

#endif  // QUANTBENCH_DATASETS_IMAGE_TENSOR_CACHE_H_
