// The original CIFAR-10 binary distribution (cifar-10-batches-bin/): data_batch_1.bin ..
// data_batch_5.bin (train, 10,000 images each) and test_batch.bin (test), each a sequence of
// 3,073-byte records: 1 label byte (0..9), then 3,072 pixel bytes, the 32 x 32 red plane,
// then green, then blue, rows top to bottom. That is already NCHW, so records are copied
// into an ImageSet (image_set.h) as they are. batches.meta.txt (one class name per line,
// blank lines ignored) gives the class names when present; otherwise CIFAR-10's own names.
//
// Errors name the file: NotFound when it cannot be opened; DataLoss for an empty file, a size
// that is not a whole number of records (truncated or not a CIFAR-10 batch), or a label byte
// above 9 (with the record index and its byte offset); InvalidArgument for an unknown split
// or a batches.meta.txt without exactly 10 names. No cache: reading the files is as fast as
// reading a cache would be.
#ifndef QUANTBENCH_DATASETS_CIFAR10_BINARY_H_
#define QUANTBENCH_DATASETS_CIFAR10_BINARY_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "datasets/image_set.h"

namespace quantbench {

inline constexpr int kCifar10Classes = 10;
inline constexpr int kCifar10Side = 32;
inline constexpr int kCifar10RecordBytes = 1 + 3 * kCifar10Side * kCifar10Side;  // 3,073

// airplane, automobile, bird, cat, deer, dog, frog, horse, ship, truck (label order).
const std::vector<std::string>& Cifar10ClassNames();

// The files of a split inside `dir`: "train" -> data_batch_1.bin .. data_batch_5.bin,
// "test" -> test_batch.bin. InvalidArgument for any other split.
absl::StatusOr<std::vector<std::string>> Cifar10BinaryFiles(const std::string& dir,
                                                            const std::string& split);

// Records of `paths`, in order, as one set with `class_names` (10 names).
absl::StatusOr<ImageSet> LoadCifar10BinaryFiles(const std::vector<std::string>& paths,
                                                std::vector<std::string> class_names);

// The records of one batch file's bytes (a multiple of 3,073: label byte + 32x32x3 pixels),
// with `class_names` (10 names); errors start with `name`. LoadCifar10BinaryFiles reads each
// file and appends its records the same way.
absl::StatusOr<ImageSet> ParseCifar10Batch(absl::Span<const uint8_t> bytes,
                                           absl::string_view name,
                                           std::vector<std::string> class_names);

// The split's files in `dir`, class names from dir/batches.meta.txt if it exists.
absl::StatusOr<ImageSet> LoadCifar10Binary(const std::string& dir, const std::string& split);

}  // namespace quantbench

#endif  // QUANTBENCH_DATASETS_CIFAR10_BINARY_H_
