#include "datasets/augmentation.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "kernels/status_macros.h"

namespace quantbench {
namespace {

// SplitMix64's finaliser: a bijection on 64 bits whose outputs for consecutive inputs are
// statistically independent, which is all a counter-based generator needs.
uint64_t Mix(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Uniform in [0, n) from the high 32 bits of a draw (bias below n / 2^32).
int Below(uint64_t draw, int n) {
  return static_cast<int>(((draw >> 32) * static_cast<uint64_t>(n)) >> 32);
}

float ChannelMean(const AugmentationOptions& o, int c) { return o.mean.empty() ? 0.0f : o.mean[c]; }
float ChannelStd(const AugmentationOptions& o, int c) { return o.std.empty() ? 1.0f : o.std[c]; }

// The one float expression both versions evaluate (torchvision: ToTensor's x / 255, then
// Normalize's (x - mean) / std).
float Normalize(uint8_t v, float mean, float std) {
  return (static_cast<float>(v) / 255.0f - mean) / std;
}

absl::Status CheckBatch(const ImageSet& set, absl::Span<const int64_t> indices,
                        const AugmentationOptions& options, absl::Span<float> x,
                        absl::Span<int32_t> labels) {
  QB_RETURN_IF_ERROR(ValidateAugmentation(options, set.channels));
  if (set.height < 1 || set.width < 1 ||
      static_cast<int64_t>(set.pixels.size()) != set.count * set.image_size() ||
      static_cast<int64_t>(set.labels.size()) != set.count) {
    return absl::InvalidArgumentError(absl::StrCat("AugmentBatch: inconsistent image set (",
                                                   set.count, " images of ", set.channels, "x",
                                                   set.height, "x", set.width, ", ",
                                                   set.pixels.size(), " bytes, ",
                                                   set.labels.size(), " labels)"));
  }
  const int64_t n = static_cast<int64_t>(indices.size());
  if (static_cast<int64_t>(x.size()) != n * set.image_size() ||
      static_cast<int64_t>(labels.size()) != n) {
    return absl::InvalidArgumentError(absl::StrCat(
        "AugmentBatch: ", n, " examples need ", n * set.image_size(), " floats and ", n,
        " labels, got ", x.size(), " and ", labels.size()));
  }
  for (int64_t i = 0; i < n; ++i) {
    if (indices[i] < 0 || indices[i] >= set.count) {
      return absl::InvalidArgumentError(absl::StrCat("AugmentBatch: example index ", indices[i],
                                                     " is outside 0..", set.count - 1));
    }
  }
  return absl::OkStatus();
}

}  // namespace

AugmentationOptions CifarTrainAugmentation(uint64_t seed) {
  AugmentationOptions options;
  options.random_crop = true;
  options.crop_padding = 4;
  options.horizontal_flip = true;
  options.seed = seed;
  options.mean = {0.4914f, 0.4822f, 0.4465f};
  options.std = {0.2470f, 0.2435f, 0.2616f};
  return options;
}

ExampleAugmentation AugmentationFor(const AugmentationOptions& options, int epoch,
                                    int64_t example) {
  const uint64_t key = Mix(Mix(Mix(options.seed) ^ static_cast<uint64_t>(epoch)) ^
                           static_cast<uint64_t>(example));
  ExampleAugmentation a;
  const int p = std::max(0, options.crop_padding);
  a.top = p;
  a.left = p;
  if (options.random_crop) {
    a.top = Below(Mix(key ^ 1), 2 * p + 1);
    a.left = Below(Mix(key ^ 2), 2 * p + 1);
  }
  if (options.horizontal_flip) a.flip = (Mix(key ^ 3) >> 63) != 0;
  return a;
}

absl::Status ValidateAugmentation(const AugmentationOptions& options, int channels) {
  if (options.crop_padding < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("augmentation: crop_padding ", options.crop_padding, " is negative"));
  }
  for (const auto* values : {&options.mean, &options.std}) {
    if (!values->empty() && static_cast<int>(values->size()) != channels) {
      return absl::InvalidArgumentError(absl::StrCat(
          "augmentation: ", values == &options.mean ? "mean" : "std", " has ", values->size(),
          " values for ", channels, " channels"));
    }
  }
  for (float m : options.mean) {
    if (!std::isfinite(m)) return absl::InvalidArgumentError("augmentation: mean is not finite");
  }
  for (float s : options.std) {
    if (!std::isfinite(s) || s == 0.0f) {
      return absl::InvalidArgumentError(
          absl::StrCat("augmentation: std ", s, " must be finite and non-zero"));
    }
  }
  return absl::OkStatus();
}

absl::Status AugmentBatchRef(const ImageSet& set, absl::Span<const int64_t> indices, int epoch,
                             const AugmentationOptions& options, absl::Span<float> x,
                             absl::Span<int32_t> labels) {
  QB_RETURN_IF_ERROR(CheckBatch(set, indices, options, x, labels));
  const int C = set.channels, H = set.height, W = set.width;
  const int p = options.crop_padding;
  float* out = x.data();
  for (size_t i = 0; i < indices.size(); ++i) {
    const ExampleAugmentation a = AugmentationFor(options, epoch, indices[i]);
    const uint8_t* image = set.image(indices[i]);
    for (int c = 0; c < C; ++c) {
      for (int y = 0; y < H; ++y) {
        for (int x_out = 0; x_out < W; ++x_out) {
          const int x_window = a.flip ? W - 1 - x_out : x_out;
          const int sy = y + a.top - p;  // row in the unpadded image
          const int sx = x_window + a.left - p;
          const bool inside = sy >= 0 && sy < H && sx >= 0 && sx < W;
          const uint8_t v = inside ? image[(int64_t{c} * H + sy) * W + sx] : 0;
          *out++ = Normalize(v, ChannelMean(options, c), ChannelStd(options, c));
        }
      }
    }
    labels[i] = set.labels[indices[i]];
  }
  return absl::OkStatus();
}

absl::Status AugmentBatch(const ImageSet& set, absl::Span<const int64_t> indices, int epoch,
                          const AugmentationOptions& options, absl::Span<float> x,
                          absl::Span<int32_t> labels) {
  QB_RETURN_IF_ERROR(CheckBatch(set, indices, options, x, labels));
  const int C = set.channels, H = set.height, W = set.width;
  const int p = options.crop_padding;
  // Normalised value of every 8-bit sample, per channel: one table lookup per output value.
  std::vector<float> table(static_cast<size_t>(C) * 256);
  for (int c = 0; c < C; ++c) {
    for (int v = 0; v < 256; ++v) {
      table[c * 256 + v] =
          Normalize(static_cast<uint8_t>(v), ChannelMean(options, c), ChannelStd(options, c));
    }
  }
  const int64_t plane = int64_t{H} * W;
  for (size_t i = 0; i < indices.size(); ++i) {
    const ExampleAugmentation a = AugmentationFor(options, epoch, indices[i]);
    const uint8_t* image = set.image(indices[i]);
    float* example = x.data() + i * set.image_size();
    // The window's columns that fall inside the image: [x_begin, x_end), source column
    // x + shift; the rest is padding.
    const int shift = a.left - p;
    const int x_begin = std::clamp(-shift, 0, W);
    const int x_end = std::clamp(W - shift, x_begin, W);
    for (int c = 0; c < C; ++c) {
      const float* lut = table.data() + c * 256;
      const float pad = lut[0];
      for (int y = 0; y < H; ++y) {
        float* row = example + c * plane + int64_t{y} * W;
        const int sy = y + a.top - p;
        if (sy < 0 || sy >= H) {
          std::fill(row, row + W, pad);
          continue;
        }
        const uint8_t* src = image + c * plane + int64_t{sy} * W;
        std::fill(row, row + x_begin, pad);
        for (int xo = x_begin; xo < x_end; ++xo) row[xo] = lut[src[xo + shift]];
        std::fill(row + x_end, row + W, pad);
        if (a.flip) std::reverse(row, row + W);
      }
    }
    labels[i] = set.labels[indices[i]];
  }
  return absl::OkStatus();
}

void ChannelMeanStd(const ImageSet& set, std::vector<double>* mean, std::vector<double>* std) {
  mean->assign(static_cast<size_t>(set.channels), 0.0);
  std->assign(static_cast<size_t>(set.channels), 0.0);
  const int64_t plane = int64_t{set.height} * set.width;
  if (set.count == 0 || plane == 0) return;
  for (int c = 0; c < set.channels; ++c) {
    // Exact integer sums (at most 2^8 * 2^8 * count * plane fits easily in 64 bits).
    uint64_t sum = 0, sum_sq = 0;
    for (int64_t i = 0; i < set.count; ++i) {
      const uint8_t* p = set.image(i) + c * plane;
      for (int64_t k = 0; k < plane; ++k) {
        sum += p[k];
        sum_sq += uint64_t{p[k]} * p[k];
      }
    }
    const double n = static_cast<double>(set.count) * static_cast<double>(plane);
    const double m = static_cast<double>(sum) / n;
    (*mean)[c] = m / 255.0;
    (*std)[c] = std::sqrt(std::max(0.0, static_cast<double>(sum_sq) / n - m * m)) / 255.0;
  }
}

}  // namespace quantbench
