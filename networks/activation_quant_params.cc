#include "networks/activation_quant_params.h"

#include <cmath>
#include <cstdint>

#include "absl/strings/str_cat.h"

namespace quantbench {

absl::Status CheckActivationQuantParams(const std::string& site,
                                        const ActivationQuantParams& params) {
  if (params.bits < 1 || params.bits > 16) {
    return absl::InvalidArgumentError(absl::StrCat("activation quantization of site '", site,
                                                   "': bits = ", params.bits,
                                                   " is outside 1..16"));
  }
  if (!std::isfinite(params.scale) || params.scale < 0.0f) {
    return absl::InvalidArgumentError(absl::StrCat("activation quantization of site '", site,
                                                   "': scale = ", params.scale,
                                                   " must be finite and >= 0"));
  }
  const int32_t top = (int32_t{1} << params.bits) - 1;
  if (params.zero_point < 0 || params.zero_point > top) {
    return absl::InvalidArgumentError(absl::StrCat(
        "activation quantization of site '", site, "': zero_point = ", params.zero_point,
        " is off the ", params.bits, "-bit grid [0, ", top, "]"));
  }
  return absl::OkStatus();
}

bool SameActivationQuantParams(const ActivationQuantParams& a, const ActivationQuantParams& b) {
  return a.bits == b.bits && a.scale == b.scale && a.zero_point == b.zero_point;
}

}  // namespace quantbench
