// Checks an ActivationQuantParams before a network installs it for a site, so that a bad
// value (a NaN scale, a zero point off the grid) is reported by SetActivationQuantization with
// the site's name instead of silently producing garbage activations at every Forward.
#ifndef QUANTBENCH_NETWORKS_ACTIVATION_QUANT_PARAMS_H_
#define QUANTBENCH_NETWORKS_ACTIVATION_QUANT_PARAMS_H_

#include <string>

#include "absl/status/status.h"
#include "quantizers/activation_quantizer.h"

namespace quantbench {

// OK if bits is in 1..16, scale is finite and >= 0 and zero_point lies on the grid
// [0, 2^bits - 1] (which is what keeps 0.0 exactly representable: blocked oneDNN layouts pad
// channels with zeros, and fake-quantizing a whole buffer must leave that padding zero).
// InvalidArgument naming `site` and the offending field otherwise.
absl::Status CheckActivationQuantParams(const std::string& site,
                                        const ActivationQuantParams& params);

// Same bits, scale and zero point.
bool SameActivationQuantParams(const ActivationQuantParams& a, const ActivationQuantParams& b);

}  // namespace quantbench

#endif  // QUANTBENCH_NETWORKS_ACTIVATION_QUANT_PARAMS_H_
