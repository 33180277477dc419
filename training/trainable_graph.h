// TrainableGraph: forward in training or evaluation mode and the backward pass of a Graph
// (networks/graph.h), for training on CPU.
//
// Two backends compute the same thing:
//   * kOneDnn: oneDNN forward_training / backward_data / backward_weights primitives, created
//     once per batch size (cached), keeping only what the backward needs from the forward;
//   * kReference: plain scalar loops in PyTorch semantics (training/layer_reference.h), the
//     definition of correct that the oneDNN backend and the finite-difference tests check.
//
// The graph reads its parameters from the ParamStore passed to every Forward (the optimizer
// changes them between steps). `overrides` replaces the values of chosen parameters for this
// forward only - quantization-aware training passes the quantized weights there while the
// store keeps the latent fp32 ones - and Backward's gradients are then with respect to the
// values the forward used (the caller applies its straight-through estimator).
//
// BatchNorm: kTrain normalizes with the batch's statistics (biased variance) and updates the
// store's running_mean / running_var as PyTorch does (momentum 0.1 by default, running
// variance from the unbiased batch variance); kEval uses the running statistics.
//
// Activation hooks: a site is a conv or dense layer (by layer name, as in
// Network::ActivationSites); its hook sees the value the layer reads (plain N, C, H, W or
// N, F) and replaces it in the forward, and maps the gradient back in the backward - the
// place for activation fake quantization with a straight-through estimator. When one value
// feeds several sites, all of them read the hooked value of the first site in execution order.
//
// Not thread-safe; oneDNN threads as in networks/threads.h.
#ifndef QUANTBENCH_TRAINING_TRAINABLE_GRAPH_H_
#define QUANTBENCH_TRAINING_TRAINABLE_GRAPH_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "networks/graph.h"
#include "networks/param_store.h"
#include "training/param_gradients.h"

namespace quantbench {

enum class TrainingBackend { kOneDnn, kReference };
enum class Phase { kTrain, kEval };

// A differentiable function applied to one activation tensor.
class ActivationHook {
 public:
  virtual ~ActivationHook() = default;
  // y = f(x), same size. The hook may keep what its Backward needs.
  virtual absl::Status Forward(absl::Span<const float> x, absl::Span<float> y) = 0;
  // dx = dL/dx from dy = dL/dy for the last Forward; a hook with trainable parameters
  // accumulates their gradients itself.
  virtual absl::Status Backward(absl::Span<const float> dy, absl::Span<float> dx) = 0;
  // Parameters the trainer optimizes (e.g. FAT's activation thresholds), and their gradients,
  // which Backward accumulates and the trainer zeroes before every step. Default: none.
  virtual absl::Span<float> TrainableParameters() { return {}; }
  virtual absl::Span<float> ParameterGradients() { return {}; }
};

struct TrainableGraphOptions {
  TrainingBackend backend = TrainingBackend::kOneDnn;
  float batchnorm_momentum = 0.1f;  // running = (1 - m) * running + m * batch
};

// Parameter index (in ParamStore::parameters()) -> values used instead for one forward.
using ParamOverrides = std::map<int, const std::vector<float>*>;

class TrainableGraph {
 public:
  // InvalidArgument for graphs it can not train (named layer); Unimplemented for layer
  // configurations oneDNN can not express in training.
  static absl::StatusOr<std::unique_ptr<TrainableGraph>> Create(const Graph& graph,
                                                                const TrainableGraphOptions& options);
  virtual ~TrainableGraph() = default;

  // input: batch x product(graph.input_shape()) floats (N, C, H, W); logits: batch x
  // num_classes (no softmax). `params` must match the graph (CheckGraphParams); kTrain
  // updates its BatchNorm running statistics.
  virtual absl::Status Forward(ParamStore* params, absl::Span<const float> input, int batch,
                               Phase phase, absl::Span<float> logits,
                               const ParamOverrides& overrides = {}) = 0;

  // After a kTrain Forward: dL/dparam for every trainable parameter, written (not
  // accumulated) into `grads` (shaped by ParamGradients::ZerosLike(params)); dL/dinput into
  // `dinput` when it is non-empty. FailedPrecondition without a preceding kTrain Forward.
  virtual absl::Status Backward(absl::Span<const float> dlogits, ParamGradients* grads,
                                absl::Span<float> dinput = {}) = 0;

  // Conv and dense layer names in execution order.
  virtual std::vector<std::string> ActivationSites() const = 0;
  // Installs (or with nullptr removes) the hook of one site; not owned. InvalidArgument for an
  // unknown site.
  virtual absl::Status SetActivationHook(const std::string& site, ActivationHook* hook) = 0;

  virtual const Graph& graph() const = 0;
};

}  // namespace quantbench

#endif  // QUANTBENCH_TRAINING_TRAINABLE_GRAPH_H_
