// ImageNet-style evaluation sets from JPEG folders, decoded (jpeg_codec.h), preprocessed
// (image_preprocess.h) and returned as a streamed LabeledImages (labeled_images.h): batches
// of NCHW float32 through Examples(), example_shape {3, S, S}, one label per image.
//
// Dataset kinds:
//   LoadLabeledImageFolder   a flat folder of images + a ground-truth file naming them:
//                            Caffe val.txt, dataset.txt or labels.txt (formats below). This is
//                            both the ImageNet validation folder and the labelled-sample folder
//                            (imagenet_sample/labels.txt is val.txt's format).
//   LoadSynsetImageFolders   root/<wnid>/*.JPEG, class = line of <wnid> in synset_words.txt.
//   LoadUnlabeledImageFolder every JPEG of a folder, label -1 (for agreement-only evaluation:
//                            evaluate.h counts only labels >= 0 for top-1/top-5).
//
// Order: always sorted by file name (byte order; for synset folders by "<wnid>/<file>"), never
// by listing or directory order, so the same files give the same tensor. `limit` keeps the
// first `limit` images of that order.
//
// Ground-truth file formats (one image per line; blank lines skipped; CRLF accepted):
//   (a) Caffe val.txt / labels.txt:  <file> <label>         e.g. "ILSVRC2012_val_00000001.JPEG 65"
//   (b) dataset.txt:                 <path>, <label>        e.g. "./data/ILSVRC2012_val_00000347.JPEG, 472"
// A line with a comma is (b) (split at the last comma), otherwise (a) (split at the last run
// of whitespace, so file names may contain spaces). Labels are 0-based class indices in
// synset_words.txt order (Caffe / PyTorch / ONNX-Zoo order) and must be < num_classes. Only
// the file's base name is used: the folder is flat, "./data/" prefixes are ignored.
// Not supported: ILSVRC2012_validation_ground_truth.txt (one 1-based ILSVRC2012_ID per line,
// in file order). Its ids are not synset_words.txt indices; mapping them needs the devkit's
// meta.mat (ILSVRC2012_ID -> wnid), which quantbench does not have. Such a file is rejected
// with an error that says so; use Caffe's val.txt instead.
//
// Which images are used: those listed AND present in the folder. A listed image missing from
// the folder is an error naming the first missing file (in sorted order) unless
// skip_missing; folder images the file does not list are ignored (counted in
// ImageLoadInfo::unlisted). With the full 50,000-line val.txt and a subset folder, set
// skip_missing.
//
// Decoding runs on `threads` std::threads; each image is written to its own slot, so the
// result does not depend on the thread count or timing. On several bad files the error is
// the first bad file in sorted order.
//
// Memory: the set is never held as floats. Each image is stored as its 3 x S x S 8-bit
// samples after resize, crop and channel order (PreprocessImageBytes); the per-channel
// normalisation is applied when a batch is read (LabeledImages::Examples), giving the same
// floats as PreprocessImage. With a cache_dir the bytes are decoded chunk by chunk straight
// into the cache file (decode_chunk_images at a time, about 64 MiB by default) and batches are
// read from it with pread: the process holds one chunk while loading and one batch while
// evaluating, and the page cache keeps the file warm when RAM allows (1,300 images at 224 are
// 196 MB, 50,000 are 7.5 GB on disk). Without a cache_dir, or when the cache file cannot be
// written, the bytes live in memory (count x 3 x S x S bytes, a quarter of the floats).
//
// Disk cache: with a non-empty cache_dir, the 8-bit pixel tensor is cached in
// cache_dir/images-<hash>.qbimg (format in image_tensor_cache.h) keyed by the decoder
// version, PreprocessingKey (preset, S, R, interpolation, divisor, mean, std, channel order)
// and every image's absolute path, size and mtime (ns), in order. A valid file for the key is
// loaded instead of decoding; a missing, stale or corrupt one (CRC mismatch, truncated) is
// recomputed and rewritten atomically. The CRC is verified once, when the file is opened
// (a streaming pass), not per batch. Labels are never cached: the ground-truth file is
// re-read each time. Stale cache files for old keys are not deleted.
#ifndef QUANTBENCH_DATASETS_IMAGENET_DATASET_H_
#define QUANTBENCH_DATASETS_IMAGENET_DATASET_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "datasets/idx_dataset.h"
#include "datasets/image_preprocess.h"

namespace quantbench {

inline constexpr int kImageNetClasses = 1000;

struct ImageFolderOptions {
  ImagePreprocessing preprocessing;     // e.g. *ImagePreprocessingPreset("torch", 224)
  int64_t limit = 0;                    // keep the first `limit` images (sorted); 0 = all
  bool skip_missing = false;            // listed images absent from the folder: skip, or fail
  int num_classes = kImageNetClasses;   // labels must be < this; LabeledImages::num_classes
                                        // (synset folders use the synset_words.txt count)
  int threads = 2;                      // decoding threads (>= 1)
  std::string cache_dir;                // "" = no disk cache (pixels held in memory)
  int64_t decode_chunk_images = 0;      // images decoded per chunk before they are written to
                                        // the cache file; 0 = about 64 MiB of pixels
};

// What a load did, for logs and tests.
struct ImageLoadInfo {
  int64_t listed = 0;    // images the ground-truth file (or folder) names
  int64_t missing = 0;   // listed but not in the folder (skipped: only with skip_missing)
  int64_t unlisted = 0;  // image files in the folder the ground truth does not name (ignored)
  int64_t loaded = 0;    // images in the result
  int64_t jpeg_warnings = 0;  // tolerated libjpeg warnings (pixels intact), over all images
  bool cache_hit = false;     // pixels came from the disk cache
  bool in_memory = false;     // pixels are held in memory (no cache_dir, or it was unwritable)
                              // rather than read from the cache file per batch
  std::string cache_path;     // the cache file for this key ("" without cache_dir)
  // "disabled", "hit", "miss (no cache file); written", "<why it was unusable>; recomputed;
  // written", or "...; cannot write: <error>; held in memory" (the load itself still succeeds).
  std::string cache_note;
  double seconds = 0;  // wall time of the whole load
};

// One line of a ground-truth file.
struct ImageLabelEntry {
  std::string file;  // base name
  int32_t label = 0;
  int line = 0;  // 1-based line in the file
};

// Parses a ground-truth file in format (a) or (b) above, in file order. InvalidArgument
// "path:line: what was expected" for a malformed line, a label outside 0..num_classes-1, a
// file listed twice, or an ILSVRC2012_validation_ground_truth.txt-style bare number;
// NotFound if the file cannot be opened.
absl::StatusOr<std::vector<ImageLabelEntry>> ReadImageLabelFile(const std::string& path,
                                                                int num_classes);

// The wnids of a synset_words.txt ("<wnid> <names>" per line), in line order: entry i is
// class i. InvalidArgument "path:line: ..." for an empty line or a wnid listed twice.
absl::StatusOr<std::vector<std::string>> ReadSynsetWords(const std::string& path);

// Flat folder + ground-truth file (val.txt, dataset.txt, labels.txt).
absl::StatusOr<LabeledImages> LoadLabeledImageFolder(const std::string& image_dir,
                                                     const std::string& labels_path,
                                                     const ImageFolderOptions& options,
                                                     ImageLoadInfo* info = nullptr);

// root/<wnid>/<image>.{jpg,jpeg} (any case); the label is the line index of <wnid> in
// synset_words_path, and num_classes is its line count. Hidden directories (".x") and files
// directly under root are ignored; a directory that is not a listed wnid is an error.
absl::StatusOr<LabeledImages> LoadSynsetImageFolders(const std::string& root,
                                                     const std::string& synset_words_path,
                                                     const ImageFolderOptions& options,
                                                     ImageLoadInfo* info = nullptr);

// Every *.{jpg,jpeg} (any case) directly in image_dir, labels -1, num_classes from options.
absl::StatusOr<LabeledImages> LoadUnlabeledImageFolder(const std::string& image_dir,
                                                       const ImageFolderOptions& options,
                                                       ImageLoadInfo* info = nullptr);

// The common back end: decodes and preprocesses `paths` in the given order (through the disk
// cache), attaching `labels` (same length; -1 = unlabelled). Uses options.preprocessing,
// threads, cache_dir and num_classes; limit and skip_missing are the folder loaders' business.
// Errors name the file: NotFound, DataLoss (corrupt JPEG), Unimplemented (CMYK), ...
absl::StatusOr<LabeledImages> LoadImageFiles(const std::vector<std::string>& paths,
                                             const std::vector<int32_t>& labels,
                                             const ImageFolderOptions& options,
                                             ImageLoadInfo* info = nullptr);

}  // namespace quantbench

#endif  // QUANTBENCH_DATASETS_IMAGENET_DATASET_H_
