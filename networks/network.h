// The interface a runnable network implements (GraphNetwork, networks/graph_network.h), so the
// sweep runner drives every architecture, the mlp included, through one API.
//
// A network reads its weights from a ParamStore it does not own. Quantizers rewrite the
// store's values between sweep cells; SyncParams() then refreshes the network's own copy
// (reordered into oneDNN's preferred layout, BatchNorm folded where the net folds it), so the
// per-batch path never touches the store and never rebuilds primitives.
#ifndef QUANTBENCH_NETWORKS_NETWORK_H_
#define QUANTBENCH_NETWORKS_NETWORK_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "kernels/packed_gemm.h"
#include "quantizers/activation_quantizer.h"
#include "quantizers/quantizer.h"

namespace quantbench {

// One weight parameter to run on packed low-bit kernels: its quantizer output (not owned; only
// read during UsePackedWeights) and the bit width it was quantized at.
struct PackedParam {
  std::string param;
  const QuantizedTensor* tensor;
  int bits;
};

class Network {
 public:
  virtual ~Network() = default;

  // Re-reads every parameter from the store. InvalidArgument naming the parameter if one is
  // missing or has the wrong shape (nothing is updated then).
  virtual absl::Status SyncParams() = 0;

  // input: batch x product(input_shape()) floats (NCHW for images), row-major.
  // scores: batch x num_classes(), row-major: class probabilities (softmax applied).
  // Any batch >= 0 is accepted.
  virtual absl::Status Forward(absl::Span<const float> input, int batch, absl::Span<float> scores) = 0;

  // One example's shape without the batch dimension, e.g. {784} or {3, 224, 224}.
  virtual std::vector<int64_t> input_shape() const = 0;
  virtual int num_classes() const = 0;

  // Run the layers whose weight parameter is listed on packed kernels; every other layer
  // keeps reading the store (fp32). Call after SyncParams. Unimplemented by default.
  // The packed weights are copied out of the QuantizedTensors (which may be freed
  // afterwards); biases and BatchNorm statistics still come from the store (at this call and
  // at every later SyncParams). On error the network keeps its previous mode and weights.
  virtual absl::Status UsePackedWeights(const std::vector<PackedParam>& params,
                                        GemmActivations activations) {
    (void)params;
    (void)activations;
    return absl::UnimplementedError(
        "UsePackedWeights: this network type has no packed execution; run it simulated");
  }
  // Back to fp32 for all layers (the store's values as of the last SyncParams).
  virtual void UseSimulatedWeights() {}
  // PackedMatrix::StorageBytes summed over the packed layers; 0 when running simulated.
  virtual int64_t packed_weight_bytes() const { return 0; }

  // ---- Activation quantization (quantizers/activation_quantizer.h)
  //
  // A site is a conv or dense layer, named by its layer name; its activation is the value the
  // layer reads (for the first layer: the network input). That is the tensor an integer
  // accelerator would store in low precision, so quantization applies to the stored VALUE:
  // when one value feeds several layers (a residual branch and a conv, several convs of an
  // inception block), all of them see it quantized.

  // The sites in execution order (empty for networks without activation quantization).
  virtual std::vector<std::string> ActivationSites() const { return {}; }

  // Runs Forward over `batch` examples (input as in Forward) and calls
  // `observe(site, values)` with the input tensor of every site, once per chunk the network
  // processes: the chunk's real examples only, in plain N, C, H, W order. Values are those
  // Forward computes in the current mode (activation quantization in effect included); a
  // site's own values are passed before they are quantized. For calibration: the network's
  // later outputs do not change. Unimplemented by default.
  virtual absl::Status ObserveActivations(
      absl::Span<const float> input, int batch,
      const std::function<void(const std::string& layer, absl::Span<const float> values)>&
          observe) {
    (void)input;
    (void)batch;
    (void)observe;
    return absl::UnimplementedError(
        "ObserveActivations: this network type has no activation sites");
  }

  // From now on Forward fake-quantizes (FakeQuantizeActivations) the input value of each
  // listed site with its parameters before any layer reads it, in simulated and packed mode
  // alike; an empty map switches activation quantization off. Replaces the previous setting.
  // InvalidArgument (nothing changes) for an unknown site or invalid parameters.
  // The default accepts only the empty map.
  virtual absl::Status SetActivationQuantization(
      const std::map<std::string, ActivationQuantParams>& params) {
    if (params.empty()) return absl::OkStatus();
    return absl::UnimplementedError(absl::StrCat(
        "SetActivationQuantization: this network type can not quantize activations (asked for "
        "site '",
        params.begin()->first, "')"));
  }
};

}  // namespace quantbench

#endif  // QUANTBENCH_NETWORKS_NETWORK_H_
