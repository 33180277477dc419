#include "datasets/image_preprocess.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace quantbench {
namespace {

// Pillow's Resample.c: 8-bit samples, weights in 22-bit fixed point (32 - 8 - 2).
constexpr int kPrecisionBits = 32 - 8 - 2;

double TriangleFilter(double x) {  // Pillow's bilinear_filter, support 1
  if (x < 0.0) x = -x;
  if (x < 1.0) return 1.0 - x;
  return 0.0;
}

uint8_t Clip8(int32_t v) {  // Pillow's clip8
  if (v >= (1 << kPrecisionBits << 8)) return 255;
  if (v <= 0) return 0;
  return static_cast<uint8_t>(v >> kPrecisionBits);
}

// Filter taps for outputs [out_begin, out_end) of an axis resized from in_size to out_size,
// as Pillow's precompute_coeffs + normalize_coeffs_8bpc compute them (same double arithmetic,
// same order, so the same fixed-point weights).
struct AxisTaps {
  int ksize = 0;
  std::vector<int> first;         // first input index per output
  std::vector<int> count;         // number of taps per output
  std::vector<int32_t> weights;   // ksize per output
};

AxisTaps ComputeAxisTaps(int in_size, int out_size, int out_begin, int out_end,
                         Interpolation interpolation) {
  const double scale = static_cast<double>(in_size) / out_size;
  double filterscale = scale;
  if (filterscale < 1.0 || interpolation == Interpolation::kBilinear) filterscale = 1.0;
  const double support = 1.0 * filterscale;
  AxisTaps taps;
  taps.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  const int n = out_end - out_begin;
  taps.first.resize(n);
  taps.count.resize(n);
  taps.weights.assign(static_cast<size_t>(n) * taps.ksize, 0);
  std::vector<double> k(taps.ksize);
  const double ss = 1.0 / filterscale;
  for (int i = 0; i < n; ++i) {
    const int xx = out_begin + i;
    const double center = (xx + 0.5) * scale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      const double w = TriangleFilter((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    int32_t* fixed = &taps.weights[static_cast<size_t>(i) * taps.ksize];
    for (int x = 0; x < xmax; ++x) {
      double w = k[x];
      if (ww != 0.0) w /= ww;
      fixed[x] = w < 0 ? static_cast<int32_t>(-0.5 + w * (1 << kPrecisionBits))
                       : static_cast<int32_t>(0.5 + w * (1 << kPrecisionBits));
    }
    taps.first[i] = xmin;
    taps.count[i] = xmax;
  }
  return taps;
}

// The window [left, left + width) x [top, top + height) of `image` resized to
// out_width x out_height: Pillow's two passes, horizontal first over only the input rows the
// vertical pass reads, each pass rounding to 8 bits.
RgbImage ResampleWindow(const RgbImage& image, int out_width, int out_height, int left, int top,
                        int width, int height, Interpolation interpolation) {
  const AxisTaps htaps = ComputeAxisTaps(image.width, out_width, left, left + width, interpolation);
  const AxisTaps vtaps = ComputeAxisTaps(image.height, out_height, top, top + height, interpolation);
  int row_first = image.height;
  int row_last = 0;
  for (int j = 0; j < height; ++j) {
    row_first = std::min(row_first, vtaps.first[j]);
    row_last = std::max(row_last, vtaps.first[j] + vtaps.count[j]);
  }
  const int rows = std::max(0, row_last - row_first);

  // Horizontal pass: rows [row_first, row_last) of the input, `width` output columns.
  std::vector<uint8_t> temp(static_cast<size_t>(rows) * width * 3);
  for (int y = 0; y < rows; ++y) {
    const uint8_t* in = image.pixels.data() + static_cast<size_t>(row_first + y) * image.width * 3;
    uint8_t* out = temp.data() + static_cast<size_t>(y) * width * 3;
    for (int i = 0; i < width; ++i) {
      const int32_t* k = &htaps.weights[static_cast<size_t>(i) * htaps.ksize];
      const uint8_t* p = in + static_cast<size_t>(htaps.first[i]) * 3;
      int32_t s0 = 1 << (kPrecisionBits - 1), s1 = s0, s2 = s0;
      for (int x = 0; x < htaps.count[i]; ++x) {
        s0 += p[3 * x] * k[x];
        s1 += p[3 * x + 1] * k[x];
        s2 += p[3 * x + 2] * k[x];
      }
      out[3 * i] = Clip8(s0);
      out[3 * i + 1] = Clip8(s1);
      out[3 * i + 2] = Clip8(s2);
    }
  }

  // Vertical pass.
  RgbImage result;
  result.width = width;
  result.height = height;
  result.pixels.resize(static_cast<size_t>(width) * height * 3);
  const size_t stride = static_cast<size_t>(width) * 3;
  for (int j = 0; j < height; ++j) {
    const int32_t* k = &vtaps.weights[static_cast<size_t>(j) * vtaps.ksize];
    const uint8_t* in = temp.data() + static_cast<size_t>(vtaps.first[j] - row_first) * stride;
    uint8_t* out = result.pixels.data() + j * stride;
    for (size_t c = 0; c < stride; ++c) {
      int32_t s = 1 << (kPrecisionBits - 1);
      for (int y = 0; y < vtaps.count[j]; ++y) s += in[y * stride + c] * k[y];
      out[c] = Clip8(s);
    }
  }
  return result;
}

absl::Status CheckImage(const RgbImage& image) {
  if (image.width < 1 || image.height < 1 ||
      image.pixels.size() != static_cast<size_t>(image.width) * image.height * 3) {
    return absl::InvalidArgumentError(absl::StrCat("not a valid RGB image: ", image.width, "x",
                                                   image.height, " with ", image.pixels.size(),
                                                   " bytes"));
  }
  return absl::OkStatus();
}

}  // namespace

const char* InterpolationName(Interpolation interpolation) {
  switch (interpolation) {
    case Interpolation::kPilBilinear:
      return "pil_bilinear";
    case Interpolation::kBilinear:
      return "bilinear";
  }
  return "unknown";
}

absl::StatusOr<Interpolation> ParseInterpolation(const std::string& name) {
  if (name == "pil_bilinear") return Interpolation::kPilBilinear;
  if (name == "bilinear") return Interpolation::kBilinear;
  return absl::InvalidArgumentError(absl::StrCat("unknown interpolation \"", name,
                                                 "\"; expected pil_bilinear or bilinear"));
}

std::vector<std::string> ImagePreprocessingPresetNames() {
  return {"torch", "keras-caffe", "keras-tf"};
}

absl::StatusOr<ImagePreprocessing> ImagePreprocessingPreset(const std::string& name,
                                                            int crop_size,
                                                            int resize_shorter) {
  ImagePreprocessing p;
  p.preset = name;
  p.crop_size = crop_size;
  p.resize_shorter = resize_shorter;
  p.interpolation = Interpolation::kPilBilinear;
  if (name == "torch") {
    p.bgr = false;
    p.divisor = 255.0f;
    p.mean = {0.485f, 0.456f, 0.406f};
    p.std = {0.229f, 0.224f, 0.225f};
  } else if (name == "keras-caffe") {
    p.bgr = true;
    p.divisor = 1.0f;
    p.mean = {103.939f, 116.779f, 123.68f};  // B, G, R
    p.std = {1.0f, 1.0f, 1.0f};
  } else if (name == "keras-tf") {
    p.bgr = false;
    p.divisor = 127.5f;
    p.mean = {1.0f, 1.0f, 1.0f};
    p.std = {1.0f, 1.0f, 1.0f};
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown preprocessing preset \"", name, "\"; expected one of ",
                     absl::StrJoin(ImagePreprocessingPresetNames(), ", ")));
  }
  absl::Status valid = ValidatePreprocessing(p);
  if (!valid.ok()) return valid;
  return p;
}

absl::Status ValidatePreprocessing(const ImagePreprocessing& p) {
  if (p.crop_size < 1 || p.crop_size > 16384) {
    return absl::InvalidArgumentError(
        absl::StrCat("crop size ", p.crop_size, " is outside 1..16384"));
  }
  if (p.resize_shorter != 0 && (p.resize_shorter < p.crop_size || p.resize_shorter > 65500)) {
    return absl::InvalidArgumentError(
        absl::StrCat("resize_shorter ", p.resize_shorter, " must be 0 (= crop / 0.875) or in ",
                     p.crop_size, "..65500 (at least the crop size ", p.crop_size, ")"));
  }
  if (!std::isfinite(p.divisor) || p.divisor == 0.0f) {
    return absl::InvalidArgumentError(absl::StrCat("divisor ", p.divisor,
                                                   " must be finite and non-zero"));
  }
  for (int c = 0; c < 3; ++c) {
    if (!std::isfinite(p.std[c]) || p.std[c] == 0.0f || !std::isfinite(p.mean[c])) {
      return absl::InvalidArgumentError(absl::StrCat("channel ", c, ": mean ", p.mean[c],
                                                     " / std ", p.std[c],
                                                     " must be finite with std non-zero"));
    }
  }
  return absl::OkStatus();
}

int ResolvedResizeShorter(const ImagePreprocessing& p) {
  if (p.resize_shorter > 0) return p.resize_shorter;
  return static_cast<int>(std::lround(p.crop_size / 0.875));
}

std::string PreprocessingKey(const ImagePreprocessing& p) {
  return absl::StrFormat(
      "preset=%s S=%d R=%d interpolation=%s bgr=%d divisor=%a mean=%a,%a,%a std=%a,%a,%a",
      p.preset, p.crop_size, ResolvedResizeShorter(p), InterpolationName(p.interpolation),
      p.bgr ? 1 : 0, p.divisor, p.mean[0], p.mean[1], p.mean[2], p.std[0], p.std[1], p.std[2]);
}

absl::StatusOr<ResizeCropGeometry> ComputeResizeCrop(int width, int height, int resize_shorter,
                                                     int crop_size) {
  if (width < 1 || height < 1 || resize_shorter < 1 || crop_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat("bad geometry: image ", width, "x", height,
                                                   ", resize ", resize_shorter, ", crop ",
                                                   crop_size));
  }
  if (resize_shorter < crop_size) {
    return absl::InvalidArgumentError(absl::StrCat("resize_shorter ", resize_shorter,
                                                   " is smaller than the crop ", crop_size));
  }
  // torchvision _compute_resized_output_size: new_long = int(R * long / short).
  const int64_t shorter = std::min(width, height);
  const int64_t longer = std::max(width, height);
  const double scaled = static_cast<double>(int64_t{resize_shorter} * longer) / shorter;
  if (scaled > 1e6) {
    return absl::InvalidArgumentError(absl::StrCat("image ", width, "x", height, " resized to ",
                                                   resize_shorter, " would be ", scaled,
                                                   " pixels long"));
  }
  const int new_long = static_cast<int>(scaled);
  ResizeCropGeometry g;
  if (width <= height) {
    g.resized_width = resize_shorter;
    g.resized_height = new_long;
  } else {
    g.resized_width = new_long;
    g.resized_height = resize_shorter;
  }
  // torchvision center_crop: int(round((H - S) / 2.0)), round half to even; nearbyint rounds
  // in the default to-nearest-even mode.
  g.crop_top = static_cast<int>(std::nearbyint((g.resized_height - crop_size) / 2.0));
  g.crop_left = static_cast<int>(std::nearbyint((g.resized_width - crop_size) / 2.0));
  return g;
}

absl::StatusOr<RgbImage> ResizeImage(const RgbImage& image, int out_width, int out_height,
                                     Interpolation interpolation) {
  absl::Status ok = CheckImage(image);
  if (!ok.ok()) return ok;
  if (out_width < 1 || out_height < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot resize to ", out_width, "x", out_height));
  }
  return ResampleWindow(image, out_width, out_height, 0, 0, out_width, out_height, interpolation);
}

absl::StatusOr<RgbImage> ResizeAndCenterCrop(const RgbImage& image, int resize_shorter,
                                             int crop_size, Interpolation interpolation) {
  absl::Status ok = CheckImage(image);
  if (!ok.ok()) return ok;
  absl::StatusOr<ResizeCropGeometry> g =
      ComputeResizeCrop(image.width, image.height, resize_shorter, crop_size);
  if (!g.ok()) return g.status();
  return ResampleWindow(image, g->resized_width, g->resized_height, g->crop_left, g->crop_top,
                        crop_size, crop_size, interpolation);
}

absl::Status PreprocessImage(const RgbImage& image, const ImagePreprocessing& p, float* out) {
  absl::Status valid = ValidatePreprocessing(p);
  if (!valid.ok()) return valid;
  absl::StatusOr<RgbImage> crop =
      ResizeAndCenterCrop(image, ResolvedResizeShorter(p), p.crop_size, p.interpolation);
  if (!crop.ok()) return crop.status();
  // The float map of each 8-bit value, computed exactly as (v / divisor - mean) / std.
  float table[3][256];
  for (int c = 0; c < 3; ++c) {
    for (int v = 0; v < 256; ++v) {
      table[c][v] = (static_cast<float>(v) / p.divisor - p.mean[c]) / p.std[c];
    }
  }
  const size_t plane = static_cast<size_t>(p.crop_size) * p.crop_size;
  const uint8_t* pixels = crop->pixels.data();
  for (int c = 0; c < 3; ++c) {
    const int source = p.bgr ? 2 - c : c;
    float* dst = out + c * plane;
    for (size_t i = 0; i < plane; ++i) dst[i] = table[c][pixels[3 * i + source]];
  }
  return absl::OkStatus();
}

absl::Status PreprocessImageBytes(const RgbImage& image, const ImagePreprocessing& p,
                                  uint8_t* out) {
  absl::Status valid = ValidatePreprocessing(p);
  if (!valid.ok()) return valid;
  absl::StatusOr<RgbImage> crop =
      ResizeAndCenterCrop(image, ResolvedResizeShorter(p), p.crop_size, p.interpolation);
  if (!crop.ok()) return crop.status();
  const size_t plane = static_cast<size_t>(p.crop_size) * p.crop_size;
  const uint8_t* pixels = crop->pixels.data();
  for (int c = 0; c < 3; ++c) {
    const int source = p.bgr ? 2 - c : c;
    uint8_t* dst = out + c * plane;
    for (size_t i = 0; i < plane; ++i) dst[i] = pixels[3 * i + source];
  }
  return absl::OkStatus();
}

ChannelNormalizer::ChannelNormalizer(const ImagePreprocessing& p) {
  for (int c = 0; c < 3; ++c) {
    for (int v = 0; v < 256; ++v) {
      table_[c][v] = (static_cast<float>(v) / p.divisor - p.mean[c]) / p.std[c];
    }
  }
}

void ChannelNormalizer::Apply(const uint8_t* chw, int64_t images, int64_t plane,
                              float* out) const {
  for (int64_t n = 0; n < images; ++n) {
    for (int c = 0; c < 3; ++c) {
      const float* table = table_[c];
      for (int64_t i = 0; i < plane; ++i) out[i] = table[chw[i]];
      chw += plane;
      out += plane;
    }
  }
}

}  // namespace quantbench
