// Test-only: a plain scalar forward pass over a Graph (loops, double accumulation), the
// ground truth GraphNetwork is compared with. Follows PyTorch's semantics (pooling ceil_mode
// and count_include_pad included). Returns per example the output value (logits), or with
// softmax = true the class probabilities.
#ifndef QUANTBENCH_NETWORKS_GRAPH_REFERENCE_H_
#define QUANTBENCH_NETWORKS_GRAPH_REFERENCE_H_

#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "networks/graph.h"
#include "networks/param_store.h"

namespace quantbench {

// Called for every example and every value (value id = layer index, 0 = the input) right after
// the value is computed and before any layer reads it, with that example's C x H x W values;
// it may change them (to model e.g. fake-quantized activations, or to record them).
using ReferenceValueHook =
    std::function<void(int value, int example, std::vector<double>* values)>;

absl::StatusOr<std::vector<float>> ReferenceForward(const Graph& graph, const ParamStore& params,
                                                    const std::vector<float>& input, int batch,
                                                    bool softmax,
                                                    const ReferenceValueHook& hook = nullptr);

}  // namespace quantbench

#endif  // QUANTBENCH_NETWORKS_GRAPH_REFERENCE_H_
