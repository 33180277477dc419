// One pass of a network over the first images of a set, in batches, calling `observe` with
// the input of every activation site (Network::ObserveActivations): what activation
// calibration, depthwise-separable rescaling and the learned-rounding Grams each collect
// before they change anything.
#ifndef QUANTBENCH_NETWORKS_ACTIVATION_PASS_H_
#define QUANTBENCH_NETWORKS_ACTIVATION_PASS_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "datasets/labeled_images.h"
#include "networks/network.h"

namespace quantbench {

// Examples [0, images) of `data` through `network`, `batch` at a time (at least 1): a set
// that streams (JPEG) decodes one batch at a time. `observe` is called per batch as
// ObserveActivations calls it; errors of the set or the network pass through.
absl::Status ObserveActivationsOverImages(
    Network& network, const LabeledImages& data, int64_t images, int batch,
    const std::function<void(const std::string& site, absl::Span<const float> values)>& observe);

}  // namespace quantbench

#endif  // QUANTBENCH_NETWORKS_ACTIVATION_PASS_H_
