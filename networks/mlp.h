// The feed-forward classifier of the resiliency study (Sung, Shin & Hwang 2015, sec. 2):
// input -> [dense + ReLU] x hidden.size() -> dense -> softmax.
//
// Parameters live in a ParamStore named "fc1.weight", "fc1.bias", ..., "fcL.weight",
// "fcL.bias" (L = hidden.size() + 1; the output layer is fcL), layer "fcK", layer_type
// "dense", weights [out, in] row-major, biases [out].
//
// MlpNetwork runs inference on oneDNN. Training is in mlp_trainer.h (Eigen).
#ifndef QUANTBENCH_NETWORKS_MLP_H_
#define QUANTBENCH_NETWORKS_MLP_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "kernels/packed_gemm.h"
#include "kernels/packed_matrix.h"
#include "networks/network.h"
#include "networks/param_store.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace quantbench {

struct MlpSpec {
  int input_size = 784;
  std::vector<int> hidden;  // widths of the ReLU hidden layers, input side first
  int num_classes = 10;
};

// InvalidArgument unless input_size, every hidden width and num_classes are in [1, 2^24].
absl::Status ValidateMlpSpec(const MlpSpec& spec);

// "784-256-256-10".
std::string MlpSpecToString(const MlpSpec& spec);

// Number of dense layers: hidden.size() + 1.
int MlpNumLayers(const MlpSpec& spec);
// Name of dense layer `index` (0-based): "fc1" for index 0.
std::string MlpLayerName(int index);
// {fan_in, fan_out} of dense layer `index` (0-based).
std::pair<int, int> MlpLayerDims(const MlpSpec& spec, int index);

// Checks that `params` holds every weight and bias of `spec` with the right shape. Errors
// (InvalidArgument) name the parameter and give the expected and the found shape, e.g.
// "parameter 'fc2.weight': expected shape [256, 256], found [256, 128]". Extra parameters
// are ignored.
absl::Status CheckMlpParams(const MlpSpec& spec, const ParamStore& params);

// Fresh parameters: He-normal weights (N(0, 2 / fan_in), also for the output layer) and zero
// biases, in network order fc1.weight, fc1.bias, fc2.weight, ...
// Deterministic and portable: std::mt19937_64(seed) feeding a hand-written Box-Muller
// transform (std::normal_distribution differs between standard libraries), consumed in
// network order, weights row-major. Returns an empty store if ValidateMlpSpec fails.
ParamStore InitMlpParams(const MlpSpec& spec, uint64_t seed);

// oneDNN inference for an MlpSpec over a ParamStore.
//
// One inner_product (forward_inference, with bias, ReLU fused as a post-op on the hidden
// layers) per layer, then a softmax over the classes. All primitives are created once, in
// Create, for a batch of exactly `max_batch` rows and reused for every Forward call.
// Weights are kept in the layout oneDNN picks (format_tag::any); SyncParams reorders them
// from the store's plain [out, in] layout once, not per batch.
//
// Not thread-safe: one Forward at a time per network. Thread count: networks/threads.h.
class MlpNetwork : public Network {
 public:
  // `params` is not owned and must outlive the network. Fails (InvalidArgument) on an invalid
  // spec, max_batch < 1 or parameters that do not match the spec; InternalError on oneDNN
  // errors. Calls SyncParams.
  static absl::StatusOr<std::unique_ptr<MlpNetwork>> Create(const MlpSpec& spec,
                                                            ParamStore* params, int max_batch);

  // Re-reads every weight and bias from the store: call it after a quantizer rewrote the
  // values. Forward uses the values from the last SyncParams, never the store directly.
  // InvalidArgument naming the parameter if one is missing or its shape changed (nothing is
  // updated then).
  absl::Status SyncParams() override;

  // input: batch x input_size floats, row-major; probabilities: batch x num_classes, written
  // row-major. Any batch >= 0 is accepted: it is processed in chunks of max_batch rows, and
  // a chunk with fewer rows is zero-padded to max_batch (see mlp.cc for why). InvalidArgument
  // on mismatched span sizes.
  absl::Status Forward(absl::Span<const float> input, int batch,
                       absl::Span<float> probabilities) override;

  // Packed mode: each listed layer's inner product becomes a PackedGemm (bias as the
  // epilogue's shift, ReLU fused on hidden layers) over the real rows of a chunk; unlisted
  // layers keep their oneDNN inner product on the fp32 copy; the softmax stays oneDNN.
  // InvalidArgument for a name that is not an 'fcK.weight' of this net or is listed twice;
  // packing errors as in networks/pack_quantized.h. On error nothing changes.
  absl::Status UsePackedWeights(const std::vector<PackedParam>& params,
                                GemmActivations activations) override;
  void UseSimulatedWeights() override;
  int64_t packed_weight_bytes() const override;

  // Activation quantization (networks/network.h): the sites are fc1 .. fcL; fc1 reads the
  // network input, fcK the ReLU output of fc(K-1) (the inner product's destination, ReLU
  // fused), which is fake-quantized in place before fcK runs.
  std::vector<std::string> ActivationSites() const override;
  absl::Status ObserveActivations(
      absl::Span<const float> input, int batch,
      const std::function<void(const std::string& layer, absl::Span<const float> values)>&
          observe) override;
  absl::Status SetActivationQuantization(
      const std::map<std::string, ActivationQuantParams>& params) override;

  std::vector<int64_t> input_shape() const override { return {spec_.input_size}; }
  int num_classes() const override { return spec_.num_classes; }

  const MlpSpec& spec() const { return spec_; }
  int max_batch() const { return max_batch_; }

 private:
  struct Layer {
    std::string weight_name;
    std::string bias_name;
    int in = 0;
    int out = 0;
    dnnl::inner_product_forward primitive;
    dnnl::memory user_weights;  // plain [out, in] view; its handle is set in SyncParams
    dnnl::memory weights;       // oneDNN's layout
    dnnl::reorder weights_reorder;  // user_weights -> weights; null if the layouts match
    dnnl::memory bias;
    dnnl::memory dst;
    // Packed mode: the layer's packed weights, if it is listed.
    bool packed = false;
    PackedMatrix packed_weights;
    // Activation quantization of this layer's input, if set.
    std::optional<ActivationQuantParams> input_quant;
  };
  using ObserveFn =
      std::function<void(const std::string& layer, absl::Span<const float> values)>;

  MlpNetwork(const MlpSpec& spec, ParamStore* params, int max_batch);
  absl::Status Build();
  absl::Status SyncParamsImpl();
  absl::Status CheckForwardSpans(absl::Span<const float> input, int batch,
                                 size_t probabilities_size) const;
  // `observe` may be null (plain Forward).
  absl::Status ForwardChunk(const float* input, int rows, float* probabilities,
                            const ObserveFn* observe);

  MlpSpec spec_;
  ParamStore* params_;
  int max_batch_;
  dnnl::engine engine_;
  dnnl::stream stream_;
  dnnl::memory input_;
  std::vector<Layer> layers_;
  dnnl::softmax_forward softmax_;
  dnnl::memory probabilities_;
  bool packed_mode_ = false;
  GemmActivations activations_ = GemmActivations::kFloat;
};

}  // namespace quantbench

#endif  // QUANTBENCH_NETWORKS_MLP_H_
