// Test-only: a plain scalar forward pass over a Graph (loops, double accumulation), the
// ground truth GraphNetwork is compared with. Follows PyTorch's semantics (pooling ceil_mode
// and count_include_pad included). Returns per example the output value (logits), or with
// softmax = true the class probabilities.
#ifndef QUANTBENCH_NETWORKS_GRAPH_REFERENCE_H_
#define QUANTBENCH_NETWORKS_GRAPH_REFERENCE_H_

#include <vector>

#include "absl/status/statusor.h"
#include "networks/graph.h"
#include "networks/param_store.h"

namespace quantbench {

absl::StatusOr<std::vector<float>> ReferenceForward(const Graph& graph, const ParamStore& params,
                                                    const std::vector<float>& input, int batch,
                                                    bool softmax);

}  // namespace quantbench

#endif  // QUANTBENCH_NETWORKS_GRAPH_REFERENCE_H_
