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

namespace quantbench {

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
};

}  // namespace quantbench

#endif  // QUANTBENCH_NETWORKS_NETWORK_H_
