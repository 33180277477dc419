// The kReference backend of TrainableGraph: every layer through training/layer_reference.h
// on plain N, C, H, W float tensors, every value kept for the backward. Slow; the definition
// of correct. Internal to training/ (use TrainableGraph::Create).
#ifndef QUANTBENCH_TRAINING_TRAINABLE_GRAPH_REFERENCE_H_
#define QUANTBENCH_TRAINING_TRAINABLE_GRAPH_REFERENCE_H_

#include <memory>

#include "absl/status/statusor.h"
#include "networks/graph.h"
#include "training/trainable_graph.h"

namespace quantbench {

// `graph` must have passed CheckTrainableGraph.
std::unique_ptr<TrainableGraph> CreateReferenceTrainableGraph(const Graph& graph,
                                                              const TrainableGraphOptions& options);

}  // namespace quantbench

#endif  // QUANTBENCH_TRAINING_TRAINABLE_GRAPH_REFERENCE_H_
