#include "training/activation_fake_quant.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace quantbench {

absl::Status ActivationFakeQuantHook::Forward(absl::Span<const float> x, absl::Span<float> y) {
  if (x.size() != y.size()) return absl::InvalidArgumentError("ActivationFakeQuantHook: sizes differ");
  std::copy(x.begin(), x.end(), y.begin());
  FakeQuantizeActivations(y, params_);
  // The range the grid represents; a value outside it was clamped.
  const double lo = -static_cast<double>(params_.zero_point) * params_.scale;
  const double hi = (std::ldexp(1.0, params_.bits) - 1 - params_.zero_point) * params_.scale;
  inside_.resize(x.size());
  for (size_t i = 0; i < x.size(); ++i) inside_[i] = x[i] >= lo && x[i] <= hi;
  return absl::OkStatus();
}

absl::Status ActivationFakeQuantHook::Backward(absl::Span<const float> dy, absl::Span<float> dx) {
  if (dy.size() != inside_.size() || dx.size() != dy.size()) {
    return absl::InvalidArgumentError(absl::StrCat("ActivationFakeQuantHook: gradient of ", dy.size(),
                                                   " values for a forward of ", inside_.size()));
  }
  for (size_t i = 0; i < dy.size(); ++i) dx[i] = inside_[i] ? dy[i] : 0.0f;
  return absl::OkStatus();
}

}  // namespace quantbench
