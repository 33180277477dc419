#include "training/trained_activation_thresholds.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "quantizers/fat_thresholds.h"

namespace quantbench {
namespace {

constexpr int16_t kBelow = std::numeric_limits<int16_t>::min();
constexpr int16_t kAbove = std::numeric_limits<int16_t>::max();
constexpr double kOffsetUnits = 32766.0;  // offsets in [−0.5, 0.5] -> [−16383, 16383]

double Top(int bits) { return std::ldexp(1.0, bits) - 1; }

}  // namespace

absl::StatusOr<std::unique_ptr<TrainedActivationThresholds>> TrainedActivationThresholds::Create(
    float min, float max, int bits, ThresholdMode mode) {
  if (bits < 2 || bits > 16) return absl::InvalidArgumentError(absl::StrCat("trained activation thresholds: bits = ", bits, ", expected 2..16"));
  if (!std::isfinite(min) || !std::isfinite(max) || min > max) {
    return absl::InvalidArgumentError(absl::StrCat("trained activation thresholds: calibrated range [", min, ", ", max,
                                                   "] is not a finite interval"));
  }
  return std::unique_ptr<TrainedActivationThresholds>(new TrainedActivationThresholds(min, max, bits, mode));
}

TrainedActivationThresholds::TrainedActivationThresholds(float min, float max, int bits, ThresholdMode mode)
    : min_(std::min(min, 0.0f)), max_(std::max(max, 0.0f)), bits_(bits), mode_(mode) {
  parameters_ = mode == ThresholdMode::kSymmetric ? std::vector<float>{1.0f} : std::vector<float>{0.0f, 1.0f};
  gradients_.assign(parameters_.size(), 0.0f);
}

ActivationQuantParams TrainedActivationThresholds::Params() const {
  ActivationQuantParams p;
  p.bits = bits_;
  const double top = Top(bits_);
  if (mode_ == ThresholdMode::kSymmetric) {
    if (is_signed()) {
      const double t = ClipFatAlpha(parameters_[0]) * std::max(-double{min_}, double{max_});
      p.scale = static_cast<float>(t / (std::ldexp(1.0, bits_ - 1) - 1));
      p.zero_point = 1 << (bits_ - 1);
    } else {
      p.scale = static_cast<float>(ClipFatAlpha(parameters_[0]) * max_ / top);
      p.zero_point = 0;
    }
    return p;
  }
  const double shift_max = is_signed() ? kFatShiftMax : 0.0;
  const double shift_min = is_signed() ? kFatShiftMin : 0.0;
  const AsymmetricGrid g = MakeAsymmetricGrid(min_, max_, parameters_[0], parameters_[1], shift_min, shift_max, top);
  p.scale = static_cast<float>(g.step);
  p.zero_point = static_cast<int32_t>(std::clamp(-g.z, 0.0, top));
  return p;
}

absl::Status TrainedActivationThresholds::Forward(absl::Span<const float> x, absl::Span<float> y) {
  if (x.size() != y.size()) return absl::InvalidArgumentError("TrainedActivationThresholds: sizes differ");
  forward_params_ = Params();
  std::copy(x.begin(), x.end(), y.begin());
  FakeQuantizeActivations(y, forward_params_);
  // The same code-space arithmetic as FakeQuantizeActivations, for the gradient.
  const float inverse = forward_params_.scale == 0.0f ? 0.0f : 1.0f / forward_params_.scale;
  const float lo = static_cast<float>(-forward_params_.zero_point);
  const float hi = static_cast<float>(Top(bits_) - forward_params_.zero_point);
  state_.resize(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const float v = x[i] * inverse;
    if (v < lo) {
      state_[i] = kBelow;
    } else if (v > hi) {
      state_[i] = kAbove;
    } else {
      state_[i] = static_cast<int16_t>(std::lround((std::round(v) - v) * kOffsetUnits));
    }
  }
  if (mode_ == ThresholdMode::kAsymmetric) {
    const double shift = is_signed() ? kFatShiftMax : 0.0;
    const AsymmetricGrid g = MakeAsymmetricGrid(min_, max_, parameters_[0], parameters_[1],
                                                is_signed() ? kFatShiftMin : 0.0, shift, Top(bits_));
    zero_point_clamped_ = -g.z < 0.0 || -g.z > Top(bits_);
  }
  return absl::OkStatus();
}

// Partials of q = Δ·(clamp(⌊x/Δ⌉ − z, 0, top) + z) (fat_thresholds.h) with z = −zero_point:
// inside dq/dx = 1, dq/dΔ = ⌊v⌉ − v; below dq/dΔ = z, dq/dz = Δ; above dq/dΔ = top + z, dq/dz = Δ.
absl::Status TrainedActivationThresholds::Backward(absl::Span<const float> dy, absl::Span<float> dx) {
  if (dy.size() != state_.size() || dx.size() != dy.size()) {
    return absl::InvalidArgumentError(absl::StrCat("TrainedActivationThresholds: gradient of ", dy.size(),
                                                   " values for a forward of ", state_.size()));
  }
  const double top = Top(bits_);
  const double step = forward_params_.scale;
  const double z = -static_cast<double>(forward_params_.zero_point);
  double sum_step = 0.0, sum_z = 0.0;  // Σ dy·dq/dΔ, Σ dy·dq/dz
  for (size_t i = 0; i < dy.size(); ++i) {
    const int16_t s = state_[i];
    if (s == kBelow) {
      dx[i] = 0.0f;
      sum_step += dy[i] * z;
      sum_z += dy[i] * step;
    } else if (s == kAbove) {
      dx[i] = 0.0f;
      sum_step += dy[i] * (top + z);
      sum_z += dy[i] * step;
    } else {
      dx[i] = dy[i];
      sum_step += dy[i] * (s / kOffsetUnits);
    }
  }
  if (step <= 0.0) return absl::OkStatus();
  if (mode_ == ThresholdMode::kSymmetric) {
    if (!InsideClip(parameters_[0], kFatAlphaMin, kFatAlphaMax)) return absl::OkStatus();
    // Δ = clip(α)·T_max/n, z fixed: dL/dα = Σ dy·dq/dΔ · T_max/n.
    const double t_max = is_signed() ? std::max(-double{min_}, double{max_}) : double{max_};
    const double n = is_signed() ? std::ldexp(1.0, bits_ - 1) - 1 : top;
    gradients_[0] += static_cast<float>(sum_step * t_max / n);
    return absl::OkStatus();
  }
  const AsymmetricGrid g = MakeAsymmetricGrid(min_, max_, parameters_[0], parameters_[1],
                                              is_signed() ? kFatShiftMin : 0.0, is_signed() ? kFatShiftMax : 0.0, top);
  // The per-value partials summed: the chain rule of AccumulateAsymmetricGradient is linear in them.
  AffinePartials total;
  total.d_step = sum_step;
  total.d_z = zero_point_clamped_ ? 0.0 : sum_z;
  double d_shift = 0.0, d_width = 0.0;
  AccumulateAsymmetricGradient(g, total, 1.0, top, &d_shift, &d_width);
  gradients_[0] += static_cast<float>(d_shift);
  gradients_[1] += static_cast<float>(d_width);
  return absl::OkStatus();
}

}  // namespace quantbench
