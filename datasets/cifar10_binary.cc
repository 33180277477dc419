#include "datasets/cifar10_binary.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <system_error>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "datasets/paths.h"
#include "kernels/status_macros.h"

namespace quantbench {
namespace {

constexpr int kImageBytes = kCifar10RecordBytes - 1;

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

// Reads the whole file.
absl::StatusOr<std::vector<uint8_t>> ReadFile(const std::string& path) {
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
  if (file == nullptr) return absl::ErrnoToStatus(errno, absl::StrCat(path, ": cannot open"));
  std::vector<uint8_t> bytes;
  uint8_t buffer[1 << 16];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), file.get())) > 0) {
    bytes.insert(bytes.end(), buffer, buffer + n);
  }
  if (std::ferror(file.get())) return absl::DataLossError(absl::StrCat(path, ": read error"));
  return bytes;
}

// Class names, one per non-blank line (the real file ends with blank lines).
absl::StatusOr<std::vector<std::string>> ReadMetaFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::vector<std::string> names;
  std::string line;
  while (std::getline(in, line)) {
    const std::string name(absl::StripAsciiWhitespace(line));
    if (!name.empty()) names.push_back(name);
  }
  if (names.size() != kCifar10Classes) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", names.size(),
                                                   " class names, expected ", kCifar10Classes));
  }
  return names;
}

}  // namespace

const std::vector<std::string>& Cifar10ClassNames() {
  static const auto* names = new std::vector<std::string>{
      "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};
  return *names;
}

absl::StatusOr<std::vector<std::string>> Cifar10BinaryFiles(const std::string& dir,
                                                            const std::string& split) {
  if (split == "train") {
    std::vector<std::string> paths;
    for (int i = 1; i <= 5; ++i) paths.push_back(JoinPath(dir, absl::StrCat("data_batch_", i, ".bin")));
    return paths;
  }
  if (split == "test") return std::vector<std::string>{JoinPath(dir, "test_batch.bin")};
  return absl::InvalidArgumentError(
      absl::StrCat("CIFAR-10 split \"", split, "\": expected \"train\" or \"test\""));
}

namespace {

absl::StatusOr<ImageSet> EmptyCifar10Set(std::vector<std::string> class_names) {
  if (class_names.size() != kCifar10Classes) {
    return absl::InvalidArgumentError(absl::StrCat(class_names.size(), " class names, expected ",
                                                   kCifar10Classes));
  }
  ImageSet set;
  set.channels = 3;
  set.height = kCifar10Side;
  set.width = kCifar10Side;
  set.num_classes = kCifar10Classes;
  set.class_names = std::move(class_names);
  return set;
}

// Appends the records of one batch file's bytes to `set`; errors start with `name`.
absl::Status AppendCifar10Records(absl::Span<const uint8_t> bytes, absl::string_view name,
                                  ImageSet* set) {
  if (bytes.empty()) return absl::DataLossError(absl::StrCat(name, ": empty file"));
  if (bytes.size() % kCifar10RecordBytes != 0) {
    return absl::DataLossError(absl::StrCat(
        name, ": ", bytes.size(), " bytes is not a whole number of ", kCifar10RecordBytes,
        "-byte records (1 label byte + 3,072 pixel bytes); truncated, or not a CIFAR-10 "
        "binary batch"));
  }
  const int64_t records = static_cast<int64_t>(bytes.size() / kCifar10RecordBytes);
  const size_t old_pixels = set->pixels.size();
  set->pixels.resize(old_pixels + static_cast<size_t>(records) * kImageBytes);
  set->labels.reserve(set->labels.size() + static_cast<size_t>(records));
  for (int64_t r = 0; r < records; ++r) {
    const uint8_t* record = bytes.data() + r * kCifar10RecordBytes;
    if (record[0] >= kCifar10Classes) {
      return absl::DataLossError(absl::StrCat(name, ": record ", r, " (byte offset ",
                                              r * kCifar10RecordBytes, "): label ",
                                              int{record[0]}, " is outside 0..",
                                              kCifar10Classes - 1));
    }
    set->labels.push_back(record[0]);
    std::memcpy(set->pixels.data() + old_pixels + r * kImageBytes, record + 1, kImageBytes);
  }
  set->count += records;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ImageSet> ParseCifar10Batch(absl::Span<const uint8_t> bytes,
                                           absl::string_view name,
                                           std::vector<std::string> class_names) {
  QB_ASSIGN_OR_RETURN(ImageSet set, EmptyCifar10Set(std::move(class_names)));
  QB_RETURN_IF_ERROR(AppendCifar10Records(bytes, name, &set));
  return set;
}

absl::StatusOr<ImageSet> LoadCifar10BinaryFiles(const std::vector<std::string>& paths,
                                                std::vector<std::string> class_names) {
  QB_ASSIGN_OR_RETURN(ImageSet set, EmptyCifar10Set(std::move(class_names)));
  for (const std::string& path : paths) {
    QB_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, ReadFile(path));
    QB_RETURN_IF_ERROR(AppendCifar10Records(bytes, path, &set));
  }
  if (set.count == 0) return absl::InvalidArgumentError("CIFAR-10: no batch files given");
  return set;
}

absl::StatusOr<ImageSet> LoadCifar10Binary(const std::string& dir, const std::string& split) {
  QB_ASSIGN_OR_RETURN(std::vector<std::string> paths, Cifar10BinaryFiles(dir, split));
  std::vector<std::string> names = Cifar10ClassNames();
  const std::string meta = JoinPath(dir, "batches.meta.txt");
  std::error_code ec;
  if (std::filesystem::exists(meta, ec)) {
    QB_ASSIGN_OR_RETURN(names, ReadMetaFile(meta));
  }
  return LoadCifar10BinaryFiles(paths, std::move(names));
}

}  // namespace quantbench
