#include "quantizers/activation_quantizer.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "quantizers/uniform_grid.h"
#include "quantizers/weight_clipping.h"

namespace quantbench {
namespace {

ActivationQuantParams ParamsFor(int bits, double lo, double hi) {
  const UniformGrid grid = AffineGrid(bits, lo, hi);
  ActivationQuantParams params;
  params.bits = bits;
  params.scale = static_cast<float>(grid.step);
  params.zero_point = grid.zero_point_x2 / 2;
  return params;
}

}  // namespace

absl::StatusOr<ActivationCalibration> ParseActivationCalibration(const std::string& name) {
  if (name == "minmax") return ActivationCalibration::kMinMax;
  if (name == "percentile") return ActivationCalibration::kPercentile;
  if (name == "mse") return ActivationCalibration::kMse;
  return absl::InvalidArgumentError(absl::StrCat("activation calibration \"", name,
                                                 "\": expected one of minmax, percentile, mse"));
}

absl::Status ActivationObserver::Observe(absl::Span<const float> batch) {
  float lo = min_;
  float hi = max_;
  for (size_t i = 0; i < batch.size(); ++i) {
    if (!std::isfinite(batch[i])) {
      return absl::InvalidArgumentError(absl::StrCat("activation element ", i, " of the batch is ",
                                                     batch[i], ": activations must be finite"));
    }
    lo = std::min(lo, batch[i]);
    hi = std::max(hi, batch[i]);
  }
  min_ = lo;
  max_ = hi;
  GrowRange(std::max(-static_cast<double>(lo), static_cast<double>(hi)));
  if (range_ == 0.0) {
    // Only zeros so far: they belong to the bin starting at 0, whatever R becomes.
    bins_[kBins / 2] += static_cast<int64_t>(batch.size());
  } else {
    const double inverse_width = 1.0 / BinWidth();
    for (float v : batch) {
      const int b = static_cast<int>((static_cast<double>(v) + range_) * inverse_width);
      ++bins_[std::clamp(b, 0, kBins - 1)];
    }
  }
  count_ += static_cast<int64_t>(batch.size());
  return absl::OkStatus();
}

void ActivationObserver::GrowRange(double max_abs) {
  if (max_abs == 0.0) return;
  if (range_ == 0.0) {
    // The first nonzero value: the smallest power of two holding it. Earlier zeros already sit
    // in bin kBins/2, which starts at 0 for any R.
    range_ = std::ldexp(1.0, std::ilogb(max_abs) + 1);
    return;
  }
  while (max_abs >= range_) {
    // Old bin i covers [−2R + (kBins/2 + i)·w, ...) on the doubled range: new bin
    // kBins/4 + i/2.
    std::vector<int64_t> merged(kBins, 0);
    for (int i = 0; i < kBins; ++i) merged[kBins / 4 + i / 2] += bins_[i];
    bins_.swap(merged);
    range_ *= 2.0;
  }
}

int ActivationObserver::BinOfRank(int64_t rank) const {
  int64_t seen = 0;
  for (int b = 0; b < kBins; ++b) {
    seen += bins_[b];
    if (seen >= rank) return b;
  }
  return kBins - 1;
}

double ActivationObserver::HistogramMse(const ActivationQuantParams& params) const {
  std::vector<float> centres;
  std::vector<float> fake;
  double error = 0.0;
  for (int b = 0; b < kBins; ++b) {
    if (bins_[b] == 0) continue;
    float centre = static_cast<float>(BinLower(b) + 0.5 * BinWidth());
    float q = centre;
    FakeQuantizeActivationsRef(absl::MakeSpan(&q, 1), params);
    const double d = static_cast<double>(centre) - q;
    error += static_cast<double>(bins_[b]) * d * d;
  }
  return error;
}

absl::StatusOr<ActivationQuantParams> ActivationObserver::Compute(int bits,
                                                                  ActivationCalibration calibration,
                                                                  double percentile) const {
  if (bits < 1 || bits > 16) {
    return absl::InvalidArgumentError(
        absl::StrCat("activation bits = ", bits, ": expected 1 to 16"));
  }
  if (count_ == 0) {
    return absl::FailedPreconditionError(
        "no calibration batch observed: call Observe() on at least one batch first");
  }
  switch (calibration) {
    case ActivationCalibration::kMinMax:
      return ParamsFor(bits, min_, max_);
    case ActivationCalibration::kPercentile: {
      if (!(percentile >= 50.0 && percentile <= 100.0)) {
        return absl::InvalidArgumentError(
            absl::StrCat("activation percentile = ", percentile, ": expected 50 to 100"));
      }
      if (range_ == 0.0) return ParamsFor(bits, 0.0, 0.0);
      const double n = static_cast<double>(count_);
      const int64_t hi_rank =
          std::max<int64_t>(1, static_cast<int64_t>(std::ceil(percentile / 100.0 * n)));
      const int64_t lo_rank =
          std::max<int64_t>(1, static_cast<int64_t>(std::ceil((100.0 - percentile) / 100.0 * n)));
      const double hi = std::min<double>(max_, BinLower(BinOfRank(hi_rank)) + BinWidth());
      const double lo = std::max<double>(min_, BinLower(BinOfRank(lo_rank)));
      return ParamsFor(bits, lo, hi);
    }
    case ActivationCalibration::kMse: {
      if (range_ == 0.0) return ParamsFor(bits, 0.0, 0.0);
      auto params_at = [&](double r) { return ParamsFor(bits, r * min_, r * max_); };
      const double ratio =
          SearchClippingRatio([&](double r) { return HistogramMse(params_at(r)); });
      return params_at(ratio);
    }
  }
  return absl::InternalError("unknown activation calibration");
}

void FakeQuantizeActivations(absl::Span<float> x, const ActivationQuantParams& params) {
  const float inverse = params.scale == 0.0f ? 0.0f : 1.0f / params.scale;
  const float lo = static_cast<float>(-params.zero_point);
  const float hi = static_cast<float>(((int32_t{1} << params.bits) - 1) - params.zero_point);
  const float scale = params.scale;
  float* data = x.data();  // raw pointer: hardened Span checks every operator[]
  const size_t n = x.size();
  for (size_t i = 0; i < n; ++i) {
    // Value ternaries, not std::min/max: those return references, and a select between two
    // addresses blocks the vectorizer.
    float v = data[i] * inverse;
    v = v < lo ? lo : v;
    v = v > hi ? hi : v;
    // Round half away from zero without a branch, on the magnitude: truncate, add one where the
    // (exact) fraction reaches 0.5, put the sign back. trunc(v + 0.5) would misround
    // 0.49999997; copysign keeps −0 where std::round does.
    const float magnitude = std::fabs(v);
    float t = std::trunc(magnitude);
    t += static_cast<float>(magnitude - t >= 0.5f);
    t = std::copysign(t, v);
    data[i] = t * scale;
  }
}

void FakeQuantizeActivationsRef(absl::Span<float> x, const ActivationQuantParams& params) {
  const float inverse = params.scale == 0.0f ? 0.0f : 1.0f / params.scale;
  const float lo = static_cast<float>(-params.zero_point);
  const float hi = static_cast<float>(((int32_t{1} << params.bits) - 1) - params.zero_point);
  for (float& value : x) {
    const float v = std::clamp(value * inverse, lo, hi);
    value = std::round(v) * params.scale;
  }
}

}  // namespace quantbench
