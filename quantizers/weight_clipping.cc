#include "quantizers/weight_clipping.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <vector>

#include "quantizers/levels.h"
#include "quantizers/sorted_magnitudes.h"

namespace quantbench {
namespace {

// Ratios are i · kRatioUnit.
constexpr double kRatioUnit = 0.005;
constexpr int kRatioFirst = 20;    // 0.10
constexpr int kRatioLast = 200;    // 1.00
constexpr int kCoarseStride = 10;  // 0.05

UniformGrid GridFor(GridShape shape, int bits, double lo, double hi) {
  switch (shape) {
    case GridShape::kMidTread:
      return MidTreadGrid(bits, hi);
    case GridShape::kMidRise:
      return MidRiseGrid(bits, hi);
    case GridShape::kAffine:
      return AffineGrid(bits, lo, hi);
  }
  return UniformGrid{};
}

// The non-negative levels of `levels` (ascending), or the magnitudes of the non-positive ones.
std::vector<float> HalfLevels(const std::vector<float>& levels, bool positive) {
  std::vector<float> half;
  if (positive) {
    for (float l : levels) {
      if (l >= 0.0f) half.push_back(l);
    }
  } else {
    for (auto it = levels.rbegin(); it != levels.rend(); ++it) {
      if (*it <= 0.0f) half.push_back(-*it);
    }
  }
  if (half.empty()) half.push_back(0.0f);
  return half;
}

UniformGrid MseSearch(GridShape shape, int bits, absl::Span<const float> values) {
  double min_v = 0.0;
  double max_v = 0.0;
  for (float v : values) {
    min_v = std::min(min_v, static_cast<double>(v));
    max_v = std::max(max_v, static_cast<double>(v));
  }
  const double max_abs = std::max(-min_v, max_v);
  const bool affine = shape == GridShape::kAffine;
  // Symmetric: all |w| together. Affine: positive and negative weights apart (zeros are exact).
  std::optional<SortedMagnitudes> all;
  std::optional<SortedMagnitudes> positive;
  std::optional<SortedMagnitudes> negative;
  if (affine) {
    std::vector<float> pos;
    std::vector<float> neg;
    for (float v : values) {
      if (v > 0.0f) pos.push_back(v);
      if (v < 0.0f) neg.push_back(v);
    }
    positive.emplace(pos);
    negative.emplace(neg);
  } else {
    all.emplace(values);
  }
  auto grid_at = [&](double ratio) {
    return GridFor(shape, bits, ratio * min_v, ratio * (affine ? max_v : max_abs));
  };
  auto error_at = [&](double ratio) {
    const std::vector<float> levels = GridLevels(grid_at(ratio));
    if (!affine) return all->SquaredError(HalfLevels(levels, true));
    return positive->SquaredError(HalfLevels(levels, true)) +
           negative->SquaredError(HalfLevels(levels, false));
  };
  if (max_abs == 0.0) return grid_at(1.0);
  return grid_at(SearchClippingRatio(error_at));
}

}  // namespace

double SearchClippingRatio(absl::FunctionRef<double(double ratio)> error) {
  int best = kRatioLast;
  double best_error = error(best * kRatioUnit);
  auto consider = [&](int i) {
    const double e = error(i * kRatioUnit);
    if (e < best_error) {
      best = i;
      best_error = e;
    }
  };
  for (int i = kRatioLast - kCoarseStride; i >= kRatioFirst; i -= kCoarseStride) consider(i);
  const int center = best;
  for (int i = std::min(kRatioLast, center + kCoarseStride);
       i >= std::max(kRatioFirst, center - kCoarseStride); --i) {
    if (i != center) consider(i);
  }
  return best * kRatioUnit;
}

double NearestRankPercentile(absl::Span<const float> values, double p, bool magnitudes) {
  if (values.empty()) return 0.0;
  std::vector<float> copy(values.begin(), values.end());
  if (magnitudes) {
    for (float& v : copy) v = std::fabs(v);
  }
  const int64_t n = static_cast<int64_t>(copy.size());
  const int64_t rank = static_cast<int64_t>(std::ceil(p / 100.0 * static_cast<double>(n))) - 1;
  const int64_t index = std::clamp<int64_t>(rank, 0, n - 1);
  std::nth_element(copy.begin(), copy.begin() + index, copy.end());
  return copy[index];
}

UniformGrid ChooseClippedGrid(GridShape shape, int bits, const ClipSpec& clip,
                              absl::Span<const float> values) {
  const bool affine = shape == GridShape::kAffine;
  switch (clip.method) {
    case ClipMethod::kMinMax: {
      if (!affine) return GridFor(shape, bits, 0.0, MaxAbs(values));
      float lo = 0.0f;
      float hi = 0.0f;
      for (float v : values) {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
      return GridFor(shape, bits, lo, hi);
    }
    case ClipMethod::kPercentile:
      if (!affine) {
        return GridFor(shape, bits, 0.0, NearestRankPercentile(values, clip.percentile, true));
      }
      return GridFor(shape, bits, NearestRankPercentile(values, 100.0 - clip.percentile, false),
                     NearestRankPercentile(values, clip.percentile, false));
    case ClipMethod::kMse:
      return MseSearch(shape, bits, values);
  }
  return UniformGrid{};
}

}  // namespace quantbench
