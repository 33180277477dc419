// The interface every runnable network implements, so the sweep runner treats the MLP and
// the ImageNet convolutional nets alike.
//
// A network reads its weights from a ParamStore it does not own. Quantizers rewrite the
// store's values between sweep cells; SyncParams() then refreshes the network's own copy
// (reordered into oneDNN's preferred layout, BatchNorm folded where the net folds it), so the
// per-batch path never touches the store and never rebuilds primitives.
#ifndef QUANTBENCH_NETWORKS_NETWORK_H_
#define QUANTBENCH_NETWORKS_NETWORK_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "kernels/packed_gemm.h"
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
};

}  // namespace quantbench

#endif  // QUANTBENCH_NETWORKS_NETWORK_H_
