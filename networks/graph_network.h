// GraphNetwork: oneDNN inference for a Graph (networks/graph.h) over a ParamStore.
//
// Create plans the whole network once for batches of exactly max_batch examples:
//   * a Conv, the BatchNorm that directly follows it (when the conv's output feeds nothing
//     else), a following ReLU / ReLU6, a residual Add and a ReLU / ReLU6 after the Add run as
//     ONE oneDNN convolution: the BatchNorm is folded into the runtime weights and bias in
//     SyncParams (w' = w * gamma / sqrt(var + eps), b' = (b - mean) * gamma / sqrt(var + eps)
//     + beta), the activations are eltwise post-ops (ReLU6 = eltwise_clip [0, 6]) and the Add is
//     a sum post-op: the other operand is written into the conv's destination first - in place,
//     when its buffer is dead afterwards and has the conv's layout - and the conv accumulates
//     onto it;
//   * Dense + ReLU is one inner product with a post-op; Flatten feeding Dense layers is free
//     (the inner product reads the C x H x W source with [out, C, H, W] weights);
//   * everything else is one primitive each (pooling, concat, binary add, eltwise, batch
//     normalization), then a softmax;
//   * activations use format_tag::any (oneDNN's blocked layouts); a reorder is inserted only
//     where a consumer wants another layout than its producer made. Activation buffers are
//     shared between values whose lifetimes do not overlap.
// Forward never rebuilds primitives and never reads the store; SyncParams reorders the
// weights (and folds BatchNorm) into oneDNN's layout once.
//
// Packed mode (UsePackedWeights): a second plan in which the listed conv and dense layers run
// on packed low-bit weights (networks/packed_conv.h: im2col over plain NHWC activations +
// PackedGemm, bias / kept BatchNorm / residual / ReLU(6) in the GEMM epilogue, one GEMM per
// group) and everything else stays oneDNN, with reorders where layouts meet. Depthwise convs
// are packed for storage but run fp32 on the store's (identical, quantized) values. The
// packed plan is kept: switching back and forth (UseSimulatedWeights / UsePackedWeights with
// the same layers) only swaps the active plan and repacks the weights.
//
// Not thread-safe: one Forward at a time per network. Threads: networks/threads.h.
#ifndef QUANTBENCH_NETWORKS_GRAPH_NETWORK_H_
#define QUANTBENCH_NETWORKS_GRAPH_NETWORK_H_

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "networks/graph.h"
#include "networks/network.h"
#include "networks/param_store.h"

namespace quantbench {

class GraphNetwork : public Network {
 public:
  // `params` is not owned and must outlive the network. InvalidArgument on max_batch < 1 or
  // parameters that do not match the graph (CheckGraphParams); Unimplemented for a layer
  // configuration oneDNN can not express (average pooling that counts padding with a
  // ceil_mode extension beyond non-zero padding); InternalError on oneDNN errors.
  // Calls SyncParams.
  static absl::StatusOr<std::unique_ptr<GraphNetwork>> Create(const Graph& graph,
                                                              ParamStore* params, int max_batch);
  ~GraphNetwork() override;

  // Re-reads every used parameter from the store (CheckGraphParams first: on error nothing
  // is updated).
  absl::Status SyncParams() override;

  // input: batch x C x H x W floats (NCHW); probabilities: batch x num_classes. Any batch >= 0:
  // chunks of max_batch, a short chunk is zero-padded.
  absl::Status Forward(absl::Span<const float> input, int batch,
                       absl::Span<float> probabilities) override;

  // Packed execution (networks/network.h). Errors: InvalidArgument for a parameter that is not
  // a conv / dense weight of this graph (parameters of unused layers are accepted and
  // ignored), listed twice or inconsistent with its QuantizedTensor; Unimplemented for a
  // codebook no packed format holds (networks/pack_quantized.h). On error nothing changes.
  absl::Status UsePackedWeights(const std::vector<PackedParam>& params,
                                GemmActivations activations) override;
  void UseSimulatedWeights() override;
  int64_t packed_weight_bytes() const override;

  std::vector<int64_t> input_shape() const override { return graph_.input_shape(); }
  int num_classes() const override { return graph_.num_classes; }

  const Graph& graph() const { return graph_; }
  int max_batch() const { return max_batch_; }

  // One line per step Forward executes in the active mode: what it computes (layers fused
  // into it) and oneDNN's implementation name, or the packed format for a packed layer.
  // For tests and curiosity.
  std::vector<std::string> DescribePlan() const;
  // Bytes of activation buffers of the active plan (after sharing).
  int64_t activation_bytes() const;

 private:
  struct Plan;
  GraphNetwork(const Graph& graph, ParamStore* params, int max_batch);
  absl::Status BuildPlan(const std::set<std::string>& packed_layers, Plan* plan) const;
  absl::Status SyncPlan(Plan* plan);
  absl::Status ForwardChunk(const float* input, int rows, float* probabilities);

  Graph graph_;
  ParamStore* params_;
  int max_batch_;
  std::unique_ptr<Plan> simulated_plan_;
  std::unique_ptr<Plan> packed_plan_;  // null until the first UsePackedWeights
  Plan* active_ = nullptr;
};

}  // namespace quantbench

#endif  // QUANTBENCH_NETWORKS_GRAPH_NETWORK_H_
