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
// Activation quantization (networks/network.h): the value a conv / dense layer reads (through
// a Flatten, which is only a view: the stored tensor is the Flatten's input) is fake-quantized
// in place by an extra step right after the step that produces it, before any consumer or
// layout reorder reads it, in whichever plan is active. Blocked layouts are quantized whole,
// channel padding included: the grid holds 0 exactly, so padding stays 0. Setting or clearing
// the parameters rebuilds nothing.
//
// Not thread-safe: one Forward at a time per network. Threads: networks/threads.h.
#ifndef QUANTBENCH_NETWORKS_GRAPH_NETWORK_H_
#define QUANTBENCH_NETWORKS_GRAPH_NETWORK_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "networks/graph.h"
#include "networks/network.h"
#include "networks/param_store.h"

namespace quantbench {

struct GraphNetworkOptions {
  // Fold a BatchNorm that directly follows a conv into the conv (the fast plan). false runs
  // every BatchNorm as its own oneDNN primitive after the conv, so its input (the conv's raw
  // output) is materialized and ForwardWithTaps can read it (networks/batchnorm_calibration.h).
  bool fuse_batchnorm = true;
};

class GraphNetwork : public Network {
 public:
  // `params` is not owned and must outlive the network. InvalidArgument on max_batch < 1 or
  // parameters that do not match the graph (CheckGraphParams); Unimplemented for a layer
  // configuration oneDNN can not express (average pooling that counts padding with a
  // ceil_mode extension beyond non-zero padding); InternalError on oneDNN errors.
  // Calls SyncParams.
  static absl::StatusOr<std::unique_ptr<GraphNetwork>> Create(const Graph& graph,
                                                              ParamStore* params, int max_batch);
  static absl::StatusOr<std::unique_ptr<GraphNetwork>> Create(const Graph& graph,
                                                              ParamStore* params, int max_batch,
                                                              const GraphNetworkOptions& options);
  ~GraphNetwork() override;

  // Re-reads every used parameter from the store (CheckGraphParams first: on error nothing
  // is updated).
  absl::Status SyncParams() override;
  // Re-reads only BatchNorm layer `bn`'s tensors (re-folding the conv it is folded into, if
  // any): a cheap SyncParams for calibration code that changed one BatchNorm's statistics.
  // InvalidArgument if `bn` is not a BatchNorm layer of the graph or the store does not match.
  absl::Status SyncBatchNorm(const std::string& bn);

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

  // Activation quantization (networks/network.h). Sites: every conv and dense layer, in graph
  // order. Two sites reading the same value (e.g. the branches of an inception block) share
  // its quantization: SetActivationQuantization rejects different parameters for them
  // (InvalidArgument naming both), and listing one of them quantizes the value for both.
  std::vector<std::string> ActivationSites() const override;
  absl::Status ObserveActivations(
      absl::Span<const float> input, int batch,
      const std::function<void(const std::string& layer, absl::Span<const float> values)>&
          observe) override;
  absl::Status SetActivationQuantization(
      const std::map<std::string, ActivationQuantParams>& params) override;
  // The value id (index in graph().layers) whose tensor a site reads. NotFound for a name
  // that is not a site.
  absl::StatusOr<int> ActivationSiteValue(const std::string& site) const;

  // Forward with taps, for calibration code. Calls `tap(value, values)` for every value id
  // (index in graph().layers) listed in `values`, once per chunk, as soon as the chunk has
  // computed it and before any layer reads it: the chunk's real examples in plain N, C, H, W
  // order (graph_reference's layout), before activation quantization of that value. `tap`
  // may rewrite the store and call SyncParams: the layers still to run in the chunk use the
  // new values. A non-OK status from `tap` stops the pass and is returned. `probabilities`
  // is written as by Forward, or ignored when empty.
  // InvalidArgument for a value out of range, a Flatten (tap its input: same numbers) or a
  // value the active plan never materializes because it is fused into a primitive (a conv's
  // output before its folded BatchNorm or fused activation; see GraphNetworkOptions).
  using ValueTap = std::function<absl::Status(int value, absl::Span<const float> values)>;
  absl::Status ForwardWithTaps(absl::Span<const float> input, int batch,
                               const std::vector<int>& values, const ValueTap& tap,
                               absl::Span<float> probabilities);

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
  // Which values a pass taps (indexed by value id) and the callback.
  struct Taps {
    std::vector<bool> wanted;
    const ValueTap* tap = nullptr;
  };
  GraphNetwork(const Graph& graph, ParamStore* params, int max_batch,
               const GraphNetworkOptions& options);
  absl::Status BuildPlan(const std::set<std::string>& packed_layers, Plan* plan) const;
  // only_bn: sync only what BatchNorm `*only_bn` feeds (null: everything).
  absl::Status SyncPlan(Plan* plan, const std::string* only_bn = nullptr);
  absl::Status CheckForwardSpans(absl::Span<const float> input, int batch,
                                 size_t probabilities_size) const;
  // Chunks of max_batch; `probabilities` null: not written. `taps` may be null.
  absl::Status RunChunks(absl::Span<const float> input, int batch, float* probabilities,
                         const Taps* taps);
  absl::Status ForwardChunk(const float* input, int rows, float* probabilities,
                            const Taps* taps);
  // The taps and activation quantization of the values ready before exec `step` (0: the
  // input) of the active plan.
  absl::Status ValuesReady(Plan& plan, int step, int rows, const Taps* taps);

  Graph graph_;
  ParamStore* params_;
  int max_batch_;
  GraphNetworkOptions options_;
  // Activation sites in graph order: layer name and the value it reads.
  std::vector<std::pair<std::string, int>> sites_;
  // Per value id: its activation quantization, if any (shared by both plans).
  std::vector<std::optional<ActivationQuantParams>> value_quant_;
  std::unique_ptr<Plan> simulated_plan_;
  std::unique_ptr<Plan> packed_plan_;  // null until the first UsePackedWeights
  Plan* active_ = nullptr;
};

}  // namespace quantbench

#endif  // QUANTBENCH_NETWORKS_GRAPH_NETWORK_H_
