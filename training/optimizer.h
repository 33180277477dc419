// Optimizers over named float tensors: network parameters and quantizer parameters (FAT's
// thresholds) alike.
//
// Update rules are PyTorch 1.13's, so a recipe written for torch means the same here:
//   SGD   g = grad + wd * w (coupled decay); v = momentum * v + g (v = g on the first step);
//         classical: w -= lr * v;  Nesterov: w -= lr * (g + momentum * v)
//   Adam  g = grad + wd * w unless decoupled (AdamW: w -= lr * wd * w first);
//         m = b1 m + (1 - b1) g; s = b2 s + (1 - b2) g^2;
//         w -= lr * (m / (1 - b1^t)) / (sqrt(s / (1 - b2^t)) + eps)
// Weight decay applies to a tensor only if its TrainableTensor::decay is set (the caller
// decides: by default conv / dense weights only, not biases and BatchNorm). Gradient clipping
// rescales all gradients of a step so their global L2 norm is at most clip_norm (torch's
// clip_grad_norm_: factor clip_norm / (norm + 1e-6), at most 1; applied before weight decay).
// Adam's step counter (bias corrections) is one for all tensors; torch keeps one per tensor,
// which differs only for a tensor that first appears after the first step.
// Deterministic: no threads, no randomness.
#ifndef QUANTBENCH_TRAINING_OPTIMIZER_H_
#define QUANTBENCH_TRAINING_OPTIMIZER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace quantbench {

struct OptimizerSpec {
  enum Kind { kSgd, kAdam };
  Kind kind = kSgd;
  // SGD
  float momentum = 0.9f;
  bool nesterov = false;
  // Adam
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;
  bool decoupled_weight_decay = false;  // AdamW-style (Adam only)
  float clip_norm = 0.0f;               // 0 = no clipping
};

// One tensor the optimizer updates in place.
struct TrainableTensor {
  std::string name;        // state key: unique, stable across steps and checkpoints
  absl::Span<float> values;
  absl::Span<const float> grad;  // same size
  bool decay = false;            // apply weight decay
};

// The optimizer's state, for checkpoints: per tensor name its buffers (SGD: velocity; Adam:
// m then s, concatenated) and the step counter.
struct OptimizerState {
  int64_t steps = 0;
  std::map<std::string, std::vector<float>> buffers;
};

class Optimizer {
 public:
  // InvalidArgument for out-of-range settings (negative lr terms, betas outside [0, 1), ...).
  static absl::StatusOr<std::unique_ptr<Optimizer>> Create(const OptimizerSpec& spec);
  virtual ~Optimizer() = default;

  // One update at learning rate lr. InvalidArgument if a tensor's grad size differs from its
  // values or a name changes size between steps.
  virtual absl::Status Step(float lr, absl::Span<const TrainableTensor> tensors) = 0;
  // Forgets all state (warm restarts of the FAT recipe).
  virtual void Reset() = 0;

  virtual const OptimizerState& state() const = 0;
  // InvalidArgument if the buffers do not fit this optimizer kind.
  virtual absl::Status SetState(OptimizerState state) = 0;
};

}  // namespace quantbench

#endif  // QUANTBENCH_TRAINING_OPTIMIZER_H_
