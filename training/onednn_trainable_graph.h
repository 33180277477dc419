// The kOneDnn backend of TrainableGraph (see training/trainable_graph.h for the contract and
// training/README.md for the plan it builds). Internal to training/ (use
// TrainableGraph::Create).
#ifndef QUANTBENCH_TRAINING_ONEDNN_TRAINABLE_GRAPH_H_
#define QUANTBENCH_TRAINING_ONEDNN_TRAINABLE_GRAPH_H_

#include <memory>

#include "absl/status/statusor.h"
#include "networks/graph.h"
#include "training/trainable_graph.h"

namespace quantbench {

// `graph` must have passed CheckTrainableGraph. Unimplemented for layer configurations
// oneDNN can not express (average pooling counting padding with a ceil_mode extension).
absl::StatusOr<std::unique_ptr<TrainableGraph>> CreateOneDnnTrainableGraph(
    const Graph& graph, const TrainableGraphOptions& options);

}  // namespace quantbench

#endif  // QUANTBENCH_TRAINING_ONEDNN_TRAINABLE_GRAPH_H_
