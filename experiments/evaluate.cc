#include "experiments/evaluate.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "kernels/status_macros.h"

namespace quantbench {
namespace {

// The 0-based rank of class `c` when classes are ordered by score, ties broken by the lower
// class index (as argmax picks the first maximum). Ties are not rare: softmax probabilities
// underflow to exactly 0 when a net's logits spread widely, and counting ties in the label's
// favour would then score every such class as "top-5".
int Rank(const float* scores, int classes, int c) {
  int ahead = 0;
  for (int k = 0; k < classes; ++k) ahead += scores[k] > scores[c] || (scores[k] == scores[c] && k < c);
  return ahead;
}

}  // namespace

absl::StatusOr<Evaluation> Evaluate(Network& network, const LabeledImages& data, int batch,
                                    const std::vector<int32_t>* reference) {
  if (reference != nullptr && reference->size() != static_cast<size_t>(data.count)) {
    return absl::InternalError(absl::StrCat("reference has ", reference->size(), " predictions for ",
                                            data.count, " examples"));
  }
  const int classes = network.num_classes();
  std::vector<float> scores(static_cast<size_t>(batch) * classes);
  std::vector<float> scratch;  // one batch of a streamed set's inputs, reused
  Evaluation result;
  result.predictions.resize(data.count);
  int64_t top1 = 0, top5 = 0, agree1 = 0, agree5 = 0;
  auto start = std::chrono::steady_clock::now();
  for (int64_t first = 0; first < data.count; first += batch) {
    const int n = static_cast<int>(std::min<int64_t>(batch, data.count - first));
    QB_ASSIGN_OR_RETURN(absl::Span<const float> inputs, data.Examples(first, n, &scratch));
    QB_RETURN_IF_ERROR(network.Forward(inputs, n, absl::MakeSpan(scores.data(), static_cast<size_t>(n) * classes)));
    for (int i = 0; i < n; ++i) {
      const float* p = scores.data() + static_cast<size_t>(i) * classes;
      const int64_t index = first + i;
      result.predictions[index] = static_cast<int32_t>(std::max_element(p, p + classes) - p);
      const int32_t label = data.labels[index];
      if (label >= 0 && label < classes) {
        ++result.labeled;
        const int rank = Rank(p, classes, label);
        top1 += rank == 0;
        top5 += rank < 5;
      }
      if (reference != nullptr) {
        const int32_t ref = (*reference)[index];
        agree1 += result.predictions[index] == ref;
        agree5 += Rank(p, classes, ref) < 5;
      }
    }
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (result.labeled > 0) {
    result.top1 = static_cast<double>(top1) / result.labeled;
    result.top5 = static_cast<double>(top5) / result.labeled;
  }
  if (reference != nullptr && data.count > 0) {
    result.agreement_top1 = static_cast<double>(agree1) / data.count;
    result.agreement_top5 = static_cast<double>(agree5) / data.count;
  }
  return result;
}

}  // namespace quantbench
