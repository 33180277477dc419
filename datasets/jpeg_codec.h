// JPEG decoding (and encoding, for tests and tools) with libjpeg-turbo.
//
// Decoding uses libjpeg's defaults, the same ones PIL uses: the accurate integer IDCT
// (JDCT_ISLOW) and "fancy" (triangle-filter) chroma upsampling, with libjpeg's own YCbCr->RGB
// conversion. So for the same file the RGB bytes equal what PIL's Image.open(f).convert("RGB")
// returns on a machine whose PIL links the same libjpeg.
//
// libjpeg reports errors by calling error_exit(), which by default prints and calls exit().
// Here a custom error manager longjmp()s back to the decoder instead, so a bad file is an
// absl::Status naming the file and never ends the process; nothing is printed to stderr.
#ifndef QUANTBENCH_DATASETS_JPEG_CODEC_H_
#define QUANTBENCH_DATASETS_JPEG_CODEC_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace quantbench {

// An 8-bit RGB image: rows top to bottom, pixels interleaved R, G, B (HWC).
struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;  // height * width * 3
  // libjpeg warnings that leave the pixels intact and were therefore tolerated, e.g.
  // "Corrupt JPEG data: N extraneous bytes before marker" or a bad ICC marker.
  int tolerated_warnings = 0;
};

// Decodes refuse images with more pixels than this (16384 x 16384) rather than allocate.
inline constexpr int64_t kMaxJpegPixels = int64_t{1} << 28;

// Decodes a baseline or progressive JPEG held in memory. YCbCr and RGB JPEGs are converted by
// libjpeg; greyscale JPEGs are replicated into R = G = B. `name` (usually the path) starts
// every error message. Errors:
//   DataLoss           not a JPEG, corrupt or truncated: any libjpeg error, and the libjpeg
//                      warnings that mean pixel data is missing or wrong (premature end of
//                      file, premature end of a data segment, bad Huffman/arithmetic code,
//                      lost restart-marker sync, bad progression / SOS parameters). libjpeg
//                      itself would fill the missing part with grey and carry on. A file
//                      cut anywhere, even just its final EOI marker, is truncated (PIL agrees).
//                      Nothing is printed.
//   Unimplemented      a CMYK or YCCK (Adobe) JPEG: no colour management here, convert it.
//   ResourceExhausted  more than kMaxJpegPixels pixels.
absl::StatusOr<RgbImage> DecodeJpeg(const uint8_t* data, size_t size, const std::string& name);

// Reads `path` and decodes it as above. Also NotFound / PermissionDenied (and other
// errno-derived codes) when the file cannot be read.
absl::StatusOr<RgbImage> DecodeJpegFile(const std::string& path);

// Encodes interleaved 8-bit pixels (rows top to bottom) as a baseline JPEG. `components` is 1
// (greyscale), 3 (RGB, stored as YCbCr) or 4 (CMYK, stored with an Adobe marker). Chroma is
// stored at full resolution (4:4:4) unless `subsample_chroma`, which gives libjpeg's default
// 4:2:0. `quality` is 1..100 (libjpeg's scale, baseline-compatible tables).
absl::StatusOr<std::vector<uint8_t>> EncodeJpeg(const uint8_t* pixels, int width, int height,
                                                int components, int quality,
                                                bool subsample_chroma = false);

// "libjpeg-turbo 2.1.5 (libjpeg API 62)": the decoder's identity, part of cache keys because
// another libjpeg may decode the same file to slightly different pixels.
std::string JpegLibraryVersion();

}  // namespace quantbench

#endif  // QUANTBENCH_DATASETS_JPEG_CODEC_H_
