#include "networks/activation_pass.h"

#include <algorithm>
#include <vector>

#include "kernels/status_macros.h"

namespace quantbench {

absl::Status ObserveActivationsOverImages(
    Network& network, const LabeledImages& data, int64_t images, int batch,
    const std::function<void(const std::string& site, absl::Span<const float> values)>& observe) {
  batch = std::max(1, batch);
  std::vector<float> scratch;
  for (int64_t start = 0; start < images; start += batch) {
    const int rows = static_cast<int>(std::min<int64_t>(batch, images - start));
    QB_ASSIGN_OR_RETURN(absl::Span<const float> input, data.Examples(start, rows, &scratch));
    QB_RETURN_IF_ERROR(network.ObserveActivations(input, rows, observe));
  }
  return absl::OkStatus();
}

}  // namespace quantbench
