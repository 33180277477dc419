#include "training/trainable_graph.h"

#include "kernels/status_macros.h"
#include "training/onednn_trainable_graph.h"
#include "training/trainable_graph_base.h"
#include "training/trainable_graph_reference.h"

namespace quantbench {

absl::StatusOr<std::unique_ptr<TrainableGraph>> TrainableGraph::Create(
    const Graph& graph, const TrainableGraphOptions& options) {
  QB_RETURN_IF_ERROR(CheckTrainableGraph(graph));
  if (!(options.batchnorm_momentum >= 0.0f && options.batchnorm_momentum <= 1.0f)) {
    return absl::InvalidArgumentError("TrainableGraph: batchnorm_momentum must be in [0, 1]");
  }
  switch (options.backend) {
    case TrainingBackend::kReference:
      return CreateReferenceTrainableGraph(graph, options);
    case TrainingBackend::kOneDnn:
      return CreateOneDnnTrainableGraph(graph, options);
  }
  return absl::InvalidArgumentError("TrainableGraph: unknown backend");
}

}  // namespace quantbench
