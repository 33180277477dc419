#include "experiments/evaluate.h"

#include <algorithm>
#include <chrono>

#include "kernels/status_macros.h"

namespace quantbench {

absl::StatusOr<Evaluation> Evaluate(Network& network, const LabeledImages& data, int batch) {
  const int64_t example = data.example_size();
  const int classes = network.num_classes();
  std::vector<float> probabilities(static_cast<size_t>(batch) * classes);
  Evaluation result;
  result.predictions.resize(data.count);
  int64_t top1 = 0, top5 = 0;
  auto start = std::chrono::steady_clock::now();
  for (int64_t first = 0; first < data.count; first += batch) {
    const int n = static_cast<int>(std::min<int64_t>(batch, data.count - first));
    QB_RETURN_IF_ERROR(network.Forward(
        absl::MakeConstSpan(data.pixels.data() + first * example, n * example), n,
        absl::MakeSpan(probabilities.data(), static_cast<size_t>(n) * classes)));
    for (int i = 0; i < n; ++i) {
      const float* p = probabilities.data() + static_cast<size_t>(i) * classes;
      const int32_t label = data.labels[first + i];
      // Rank of the true class: how many classes score strictly higher (ties favour the label
      // only when the scores are exactly equal, which a trained net essentially never produces).
      int higher = 0;
      for (int c = 0; c < classes; ++c) higher += p[c] > p[label];
      top1 += higher == 0;
      top5 += higher < 5;
      result.predictions[first + i] = static_cast<int32_t>(std::max_element(p, p + classes) - p);
    }
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.top1 = data.count ? static_cast<double>(top1) / data.count : 0.0;
  result.top5 = data.count ? static_cast<double>(top5) / data.count : 0.0;
  return result;
}

double Agreement(const std::vector<int32_t>& predictions, const std::vector<int32_t>& reference) {
  if (predictions.empty() || predictions.size() != reference.size()) return 0.0;
  int64_t same = 0;
  for (size_t i = 0; i < predictions.size(); ++i) same += predictions[i] == reference[i];
  return static_cast<double>(same) / predictions.size();
}

}  // namespace quantbench
