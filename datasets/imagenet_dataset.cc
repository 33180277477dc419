#include "datasets/imagenet_dataset.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "datasets/image_files.h"
#include "datasets/image_tensor_cache.h"
#include "datasets/jpeg_codec.h"
#include "datasets/paths.h"
#include "kernels/status_macros.h"

namespace quantbench {
namespace {

// Decoding without an explicit chunk size writes about this many bytes per chunk: large
// enough that the two decode threads rarely wait at a chunk boundary, small next to RAM.
constexpr int64_t kDecodeChunkBytes = int64_t{64} << 20;

absl::Status LineError(const std::string& path, int line, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(path, ":", line, ": ", what));
}

// Reads `path` line by line, CR stripped.
absl::StatusOr<std::vector<std::string>> ReadLines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
  }
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read error"));
  return lines;
}

absl::StatusOr<std::string> CacheKey(const std::vector<std::string>& paths,
                                     const ImagePreprocessing& preprocessing) {
  // The format is part of the key, hence of the file name: builds that cache floats (format
  // 1) and bytes (format 2) sharing a cache directory keep separate files instead of
  // overwriting each other's.
  std::string key = absl::StrCat("quantbench image tensor format ", kImageTensorCacheVersion,
                                 "\ndecoder: ", JpegLibraryVersion(),
                                 "\n", PreprocessingKey(preprocessing), "\n");
  QB_RETURN_IF_ERROR(AppendFileIdentities(paths, &key));
  return key;
}

// Decodes and preprocesses paths [begin, end) into `bytes` (example_size 8-bit values each,
// image begin first) on `threads` threads. Returns the error of the first failing path in
// index order.
absl::Status DecodeRange(const std::vector<std::string>& paths, int64_t begin, int64_t end,
                         const ImagePreprocessing& preprocessing, int threads,
                         int64_t example_size, uint8_t* bytes, int64_t* warnings) {
  std::atomic<int64_t> warning_count{0};
  absl::Status status = ParallelForEachIndex(end - begin, threads, [&](int64_t i) {
    const std::string& path = paths[begin + i];
    QB_ASSIGN_OR_RETURN(RgbImage image, DecodeJpegFile(path));
    warning_count += image.tolerated_warnings;
    return Annotate(PreprocessImageBytes(image, preprocessing, bytes + i * example_size), path);
  });
  *warnings += warning_count;
  return status;
}

// Images per decoding chunk: options.decode_chunk_images, or about kDecodeChunkBytes worth.
int64_t ChunkImages(const ImageFolderOptions& options, int64_t example_size) {
  if (options.decode_chunk_images > 0) return options.decode_chunk_images;
  return std::max<int64_t>(1, kDecodeChunkBytes / example_size);
}

// A JPEG set's examples: preprocessed 8-bit CHW pixels in the cache file (or, without a
// usable cache, in memory), turned into floats by ChannelNormalizer as they are read.
class ImageByteSource : public ExampleSource {
 public:
  ImageByteSource(const ImagePreprocessing& preprocessing, int64_t example_size,
                  std::unique_ptr<ImageTensorFile> file, std::vector<uint8_t> bytes)
      : normalizer_(preprocessing),
        example_size_(example_size),
        file_(std::move(file)),
        bytes_(std::move(bytes)) {}

  absl::Status Read(int64_t first, int64_t n, float* out) const override {
    const int64_t plane = example_size_ / 3;
    if (file_ == nullptr) {
      normalizer_.Apply(bytes_.data() + first * example_size_, n, plane, out);
      return absl::OkStatus();
    }
    // Staged a few images at a time, so a large request does not need n images of bytes on
    // top of the n images of floats it returns.
    const int64_t stage_images = std::max<int64_t>(1, std::min(n, kReadStageBytes / example_size_));
    std::vector<uint8_t> stage(static_cast<size_t>(stage_images * example_size_));
    for (int64_t done = 0; done < n; done += stage_images) {
      const int64_t k = std::min(stage_images, n - done);
      absl::Status read = file_->Read(static_cast<uint64_t>((first + done) * example_size_),
                                      static_cast<size_t>(k * example_size_), stage.data());
      if (!read.ok()) return read;
      normalizer_.Apply(stage.data(), k, plane, out + done * example_size_);
    }
    return absl::OkStatus();
  }

 private:
  static constexpr int64_t kReadStageBytes = int64_t{4} << 20;
  const ChannelNormalizer normalizer_;
  const int64_t example_size_;
  const std::unique_ptr<ImageTensorFile> file_;  // null: the bytes are in bytes_
  const std::vector<uint8_t> bytes_;
};

// Decodes every path chunk by chunk straight into a new cache file at `path`, so neither
// the float tensor nor the whole byte tensor is ever in memory. Distinguishes the two ways
// it can fail: a bad image (returned) and a cache that cannot be written (*write_error set,
// OK returned with a null file, and the caller falls back to memory).
absl::StatusOr<std::unique_ptr<ImageTensorFile>> DecodeIntoCacheFile(
    const std::vector<std::string>& paths, const ImageFolderOptions& options,
    int64_t example_size, const std::string& path, const std::string& key,
    const std::vector<int64_t>& shape, int64_t* warnings, absl::Status* write_error) {
  absl::StatusOr<std::unique_ptr<ImageTensorWriter>> writer =
      ImageTensorWriter::Create(path, key, shape);
  if (!writer.ok()) {
    *write_error = writer.status();
    return nullptr;
  }
  const int64_t count = static_cast<int64_t>(paths.size());
  const int64_t chunk = std::min(count, ChunkImages(options, example_size));
  std::vector<uint8_t> bytes(static_cast<size_t>(chunk * example_size));
  for (int64_t begin = 0; begin < count; begin += chunk) {
    const int64_t end = std::min(count, begin + chunk);
    QB_RETURN_IF_ERROR(DecodeRange(paths, begin, end, options.preprocessing,
                                   std::max(1, options.threads), example_size, bytes.data(),
                                   warnings));
    absl::Status appended =
        (*writer)->Append(bytes.data(), static_cast<size_t>((end - begin) * example_size));
    if (!appended.ok()) {
      *write_error = appended;
      return nullptr;
    }
  }
  absl::StatusOr<std::unique_ptr<ImageTensorFile>> file = (*writer)->Commit();
  if (!file.ok()) {
    *write_error = file.status();
    return nullptr;
  }
  return file;
}

}  // namespace

absl::StatusOr<std::vector<ImageLabelEntry>> ReadImageLabelFile(const std::string& path,
                                                                int num_classes) {
  QB_ASSIGN_OR_RETURN(std::vector<std::string> lines, ReadLines(path));
  std::vector<ImageLabelEntry> entries;
  std::map<std::string, int> first_line;
  for (size_t index = 0; index < lines.size(); ++index) {
    const int line_number = static_cast<int>(index + 1);
    const absl::string_view line = absl::StripAsciiWhitespace(lines[index]);
    if (line.empty()) continue;
    absl::string_view name;
    absl::string_view label_text;
    const size_t comma = line.rfind(',');
    if (comma != absl::string_view::npos) {
      name = absl::StripAsciiWhitespace(line.substr(0, comma));
      label_text = absl::StripAsciiWhitespace(line.substr(comma + 1));
    } else {
      const size_t space = line.find_last_of(" \t");
      if (space == absl::string_view::npos) {
        int64_t number = 0;
        if (absl::SimpleAtoi(line, &number)) {
          return LineError(
              path, line_number,
              absl::StrCat("a bare number (\"", line, "\"): this looks like "
                           "ILSVRC2012_validation_ground_truth.txt (one 1-based ILSVRC2012_ID "
                           "per image, in file order), which is not supported: its ids are "
                           "not synset_words.txt class indices and mapping them needs the "
                           "devkit's meta.mat. Use Caffe's val.txt (\"<file> <0-based "
                           "label>\") instead"));
        }
        return LineError(path, line_number,
                         absl::StrCat("expected \"<file> <label>\" or \"<path>, <label>\", got \"",
                                      line, "\""));
      }
      name = absl::StripAsciiWhitespace(line.substr(0, space));
      label_text = line.substr(space + 1);
    }
    int32_t label = 0;
    if (!absl::SimpleAtoi(label_text, &label)) {
      return LineError(path, line_number,
                       absl::StrCat("label \"", label_text, "\" is not an integer (expected "
                                    "\"<file> <label>\" or \"<path>, <label>\")"));
    }
    if (label < 0 || label >= num_classes) {
      return LineError(path, line_number,
                       absl::StrCat("label ", label, " is outside 0..", num_classes - 1));
    }
    const size_t slash = name.rfind('/');
    const absl::string_view base = slash == absl::string_view::npos ? name : name.substr(slash + 1);
    if (base.empty()) {
      return LineError(path, line_number, absl::StrCat("no file name in \"", line, "\""));
    }
    auto [it, inserted] = first_line.emplace(std::string(base), line_number);
    if (!inserted) {
      return LineError(path, line_number, absl::StrCat(base, " is listed again (first at line ",
                                                       it->second, ")"));
    }
    entries.push_back({std::string(base), label, line_number});
  }
  return entries;
}

absl::StatusOr<std::vector<std::string>> ReadSynsetWords(const std::string& path) {
  QB_ASSIGN_OR_RETURN(std::vector<std::string> lines, ReadLines(path));
  std::vector<std::string> wnids;
  std::map<std::string, int> first_line;
  for (size_t index = 0; index < lines.size(); ++index) {
    const int line_number = static_cast<int>(index + 1);
    const absl::string_view line = absl::StripAsciiWhitespace(lines[index]);
    if (line.empty()) {
      return LineError(path, line_number,
                       "empty line (class indices are line numbers, so every line must start "
                       "with a wnid)");
    }
    const size_t space = line.find_first_of(" \t");
    const std::string wnid(line.substr(0, space));
    auto [it, inserted] = first_line.emplace(wnid, line_number);
    if (!inserted) {
      return LineError(path, line_number,
                       absl::StrCat(wnid, " is listed again (first at line ", it->second, ")"));
    }
    wnids.push_back(wnid);
  }
  if (wnids.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": no synsets"));
  return wnids;
}

absl::StatusOr<LabeledImages> LoadImageFiles(const std::vector<std::string>& paths,
                                             const std::vector<int32_t>& labels,
                                             const ImageFolderOptions& options,
                                             ImageLoadInfo* info) {
  const auto start = std::chrono::steady_clock::now();
  ImageLoadInfo local_info;
  if (info == nullptr) info = &local_info;
  if (paths.size() != labels.size()) {
    return absl::InvalidArgumentError(absl::StrCat("LoadImageFiles: ", paths.size(), " paths but ",
                                                   labels.size(), " labels"));
  }
  if (options.num_classes < 1) {
    return absl::InvalidArgumentError(absl::StrCat("num_classes ", options.num_classes,
                                                   " must be positive"));
  }
  QB_RETURN_IF_ERROR(ValidatePreprocessing(options.preprocessing));
  const int64_t s = options.preprocessing.crop_size;
  LabeledImages set;
  set.count = static_cast<int64_t>(paths.size());
  set.example_shape = {3, s, s};
  set.labels = labels;
  set.num_classes = options.num_classes;
  const int64_t example_size = set.example_size();
  const std::vector<int64_t> shape = {set.count, 3, s, s};

  std::string key;
  std::string why_not_cached = "miss (no cache file)";
  info->jpeg_warnings = 0;
  info->cache_hit = false;
  info->cache_path.clear();
  info->cache_note = "disabled";
  info->in_memory = false;
  std::unique_ptr<ImageTensorFile> file;
  if (!options.cache_dir.empty()) {
    QB_ASSIGN_OR_RETURN(key, CacheKey(paths, options.preprocessing));
    info->cache_path = ImageTensorCachePath(options.cache_dir, key);
    absl::StatusOr<std::unique_ptr<ImageTensorFile>> cached =
        ImageTensorFile::Open(info->cache_path, key, shape);
    if (cached.ok()) {
      file = *std::move(cached);
      info->cache_hit = true;
      info->cache_note = "hit";
    } else if (!absl::IsNotFound(cached.status())) {
      why_not_cached = std::string(cached.status().message());
    }
    if (file == nullptr) {
      absl::Status write_error;
      QB_ASSIGN_OR_RETURN(file, DecodeIntoCacheFile(paths, options, example_size,
                                                    info->cache_path, key, shape,
                                                    &info->jpeg_warnings, &write_error));
      info->cache_note = why_not_cached == "miss (no cache file)"
                             ? why_not_cached
                             : absl::StrCat(why_not_cached, "; recomputed");
      absl::StrAppend(&info->cache_note,
                      write_error.ok()
                          ? "; written"
                          : absl::StrCat("; cannot write: ", write_error.message(),
                                         "; held in memory"));
    }
  }
  std::vector<uint8_t> bytes;
  if (file == nullptr) {
    // No cache (or it cannot be written): the 8-bit tensor lives in memory. A failed cache
    // write decodes from the start again, since the chunks already written are gone.
    info->jpeg_warnings = 0;
    info->in_memory = true;
    bytes.resize(static_cast<size_t>(set.count * example_size));
    QB_RETURN_IF_ERROR(DecodeRange(paths, 0, set.count, options.preprocessing,
                                   std::max(1, options.threads), example_size, bytes.data(),
                                   &info->jpeg_warnings));
  }
  set.source = std::make_shared<ImageByteSource>(options.preprocessing, example_size,
                                                 std::move(file), std::move(bytes));
  info->loaded = set.count;
  info->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return set;
}

absl::StatusOr<LabeledImages> LoadLabeledImageFolder(const std::string& image_dir,
                                                     const std::string& labels_path,
                                                     const ImageFolderOptions& options,
                                                     ImageLoadInfo* info) {
  const auto start = std::chrono::steady_clock::now();
  ImageLoadInfo local_info;
  if (info == nullptr) info = &local_info;
  QB_ASSIGN_OR_RETURN(std::vector<ImageLabelEntry> entries,
                      ReadImageLabelFile(labels_path, options.num_classes));
  QB_ASSIGN_OR_RETURN(std::vector<std::string> files, ListDirectory(image_dir, false));
  const std::set<std::string> present(files.begin(), files.end());
  std::sort(entries.begin(), entries.end(),
            [](const ImageLabelEntry& a, const ImageLabelEntry& b) { return a.file < b.file; });

  std::vector<std::string> paths;
  std::vector<int32_t> labels;
  std::set<std::string> listed;
  const ImageLabelEntry* first_missing = nullptr;
  int64_t missing = 0;
  for (const ImageLabelEntry& entry : entries) {
    listed.insert(entry.file);
    if (present.count(entry.file) == 0) {
      if (first_missing == nullptr) first_missing = &entry;
      ++missing;
      continue;
    }
    if (options.limit > 0 && static_cast<int64_t>(paths.size()) >= options.limit) continue;
    paths.push_back(JoinPath(image_dir, entry.file));
    labels.push_back(entry.label);
  }
  info->listed = static_cast<int64_t>(entries.size());
  info->missing = missing;
  info->unlisted = 0;
  for (const std::string& file : files) {
    if (IsJpegName(file) && listed.count(file) == 0) ++info->unlisted;
  }
  if (first_missing != nullptr && !options.skip_missing) {
    return absl::NotFoundError(absl::StrCat(
        JoinPath(image_dir, first_missing->file), ": listed at ", labels_path, ":",
        first_missing->line, " but not in ", image_dir, " (", missing, " of ", entries.size(),
        " listed images are missing; skip_missing ignores them)"));
  }
  if (paths.empty()) {
    return absl::NotFoundError(absl::StrCat("none of the ", entries.size(), " images listed in ",
                                            labels_path, " is in ", image_dir));
  }
  QB_ASSIGN_OR_RETURN(LabeledImages set, LoadImageFiles(paths, labels, options, info));
  info->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return set;
}

absl::StatusOr<LabeledImages> LoadSynsetImageFolders(const std::string& root,
                                                     const std::string& synset_words_path,
                                                     const ImageFolderOptions& options,
                                                     ImageLoadInfo* info) {
  const auto start = std::chrono::steady_clock::now();
  ImageLoadInfo local_info;
  if (info == nullptr) info = &local_info;
  QB_ASSIGN_OR_RETURN(std::vector<std::string> wnids, ReadSynsetWords(synset_words_path));
  std::map<std::string, int32_t> class_of;
  for (size_t i = 0; i < wnids.size(); ++i) class_of[wnids[i]] = static_cast<int32_t>(i);
  QB_ASSIGN_OR_RETURN(std::vector<std::string> directories, ListDirectory(root, true));

  std::vector<std::string> paths;
  std::vector<int32_t> labels;
  int64_t found = 0;
  for (const std::string& directory : directories) {
    if (absl::StartsWith(directory, ".")) continue;
    auto it = class_of.find(directory);
    if (it == class_of.end()) {
      return absl::InvalidArgumentError(absl::StrCat(JoinPath(root, directory),
                                                     ": directory is not a wnid listed in ",
                                                     synset_words_path));
    }
    const std::string dir = JoinPath(root, directory);
    QB_ASSIGN_OR_RETURN(std::vector<std::string> files, ListDirectory(dir, false));
    for (const std::string& file : files) {
      if (!IsJpegName(file)) continue;
      ++found;
      if (options.limit > 0 && static_cast<int64_t>(paths.size()) >= options.limit) continue;
      paths.push_back(JoinPath(dir, file));
      labels.push_back(it->second);
    }
  }
  QB_ASSIGN_OR_RETURN(std::vector<std::string> top_files, ListDirectory(root, false));
  info->listed = found;
  info->missing = 0;
  info->unlisted = 0;
  for (const std::string& file : top_files) info->unlisted += IsJpegName(file) ? 1 : 0;
  if (paths.empty()) {
    return absl::NotFoundError(absl::StrCat(root, ": no <wnid>/*.JPEG images"));
  }
  ImageFolderOptions synset_options = options;
  synset_options.num_classes = static_cast<int>(wnids.size());
  QB_ASSIGN_OR_RETURN(LabeledImages set, LoadImageFiles(paths, labels, synset_options, info));
  info->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return set;
}

absl::StatusOr<LabeledImages> LoadUnlabeledImageFolder(const std::string& image_dir,
                                                       const ImageFolderOptions& options,
                                                       ImageLoadInfo* info) {
  const auto start = std::chrono::steady_clock::now();
  ImageLoadInfo local_info;
  if (info == nullptr) info = &local_info;
  QB_ASSIGN_OR_RETURN(std::vector<std::string> files, ListDirectory(image_dir, false));
  std::vector<std::string> paths;
  int64_t found = 0;
  for (const std::string& file : files) {
    if (!IsJpegName(file)) continue;
    ++found;
    if (options.limit > 0 && static_cast<int64_t>(paths.size()) >= options.limit) continue;
    paths.push_back(JoinPath(image_dir, file));
  }
  info->listed = found;
  info->missing = 0;
  info->unlisted = 0;
  if (paths.empty()) return absl::NotFoundError(absl::StrCat(image_dir, ": no *.jpg/*.jpeg images"));
  QB_ASSIGN_OR_RETURN(LabeledImages set,
                      LoadImageFiles(paths, std::vector<int32_t>(paths.size(), -1), options, info));
  info->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return set;
}

}  // namespace quantbench
