// What both TrainableGraph backends share: argument checks, parameter lookup (store or
// override) per Forward, the activation-hook bookkeeping, the "Backward needs a kTrain
// Forward" rule and the zeroing of gradients the graph does not write. A backend implements
// RunForward / RunBackward on resolved parameters. Internal to training/.
#ifndef QUANTBENCH_TRAINING_TRAINABLE_GRAPH_BASE_H_
#define QUANTBENCH_TRAINING_TRAINABLE_GRAPH_BASE_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "networks/graph.h"
#include "networks/param_store.h"
#include "training/param_gradients.h"
#include "training/trainable_graph.h"

namespace quantbench {

// InvalidArgument (naming the layer) for graphs no backend can train: a misplaced Input,
// inputs out of order, or a layer whose declared shape disagrees with its inputs.
absl::Status CheckTrainableGraph(const Graph& graph);

class TrainableGraphBase : public TrainableGraph {
 public:
  absl::Status Forward(ParamStore* params, absl::Span<const float> input, int batch, Phase phase,
                       absl::Span<float> logits, const ParamOverrides& overrides) final;
  absl::Status Backward(absl::Span<const float> dlogits, ParamGradients* grads,
                        absl::Span<float> dinput) final;
  std::vector<std::string> ActivationSites() const final;
  absl::Status SetActivationHook(const std::string& site, ActivationHook* hook) final;
  const Graph& graph() const final { return graph_; }

 protected:
  // The tensors one layer reads in the current Forward. Values point into the store or an
  // override; the running statistics always into the store (kTrain updates them there).
  // Indices are positions in ParamStore::parameters() (-1: absent).
  struct LayerParams {
    const float* weight = nullptr;  // conv / dense weight, BatchNorm gamma
    const float* bias = nullptr;    // conv / dense bias, BatchNorm beta
    float* running_mean = nullptr;
    float* running_var = nullptr;
    int weight_index = -1;
    int bias_index = -1;
  };

  TrainableGraphBase(const Graph& graph, const TrainableGraphOptions& options);

  // Called with checked arguments; layer_params() is resolved.
  virtual absl::Status RunForward(absl::Span<const float> input, int batch, Phase phase,
                                  absl::Span<float> logits) = 0;
  // After a successful kTrain RunForward of `batch()` examples. grads is shaped like the
  // store; write the gradient of every LayerParams index. dinput may be empty.
  virtual absl::Status RunBackward(absl::Span<const float> dlogits, ParamGradients* grads,
                                   absl::Span<float> dinput) = 0;
  // The hooks changed (a backend that planned around them re-plans).
  virtual void HooksChanged() {}

  const LayerParams& layer_params(int layer) const { return layer_params_[layer]; }
  // The hook whose output replaces value `v` for the sites reading it (nullptr: none).
  ActivationHook* value_hook(int v) const { return value_hooks_[v]; }
  // True for the conv / dense layers (sites), which read the hooked version of their input.
  bool is_site(int layer) const { return is_site_[layer]; }
  // Input channels (dense: input features) of a layer's first input.
  int in_channels(int layer) const;
  const TensorShape& input_shape(int layer, int which = 0) const {
    return graph_.layers[graph_.layers[layer].inputs[which]].shape;
  }
  int batch() const { return batch_; }
  const TrainableGraphOptions& options() const { return options_; }
  // Consumers of each value, in execution order.
  const std::vector<std::vector<int>>& consumers() const { return consumers_; }

  Graph graph_;

 private:
  absl::Status ResolveParams(ParamStore* params, const ParamOverrides& overrides);

  TrainableGraphOptions options_;
  std::vector<LayerParams> layer_params_;
  std::vector<std::vector<int>> consumers_;
  std::vector<std::string> site_names_;  // execution order
  std::vector<int> site_layers_;
  std::vector<bool> is_site_;
  std::vector<ActivationHook*> site_hooks_;    // per site
  std::vector<ActivationHook*> value_hooks_;   // per value
  // State of the last Forward.
  bool backward_ready_ = false;
  int batch_ = 0;
  size_t store_size_ = 0;
  std::vector<int64_t> store_sizes_;      // element counts of the store's parameters
  std::vector<bool> written_by_graph_;   // per store index: a gradient the backend writes
};

}  // namespace quantbench

#endif  // QUANTBENCH_TRAINING_TRAINABLE_GRAPH_BASE_H_
