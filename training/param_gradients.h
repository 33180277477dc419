// Gradients of a loss with respect to the trainable tensors of a ParamStore.
//
// grads[i] belongs to store.parameters()[i] and has its element count when the parameter is
// trainable (conv / dense weights and biases, BatchNorm gamma and beta); it is empty for
// BatchNorm running statistics, which are estimated, not learned.
#ifndef QUANTBENCH_TRAINING_PARAM_GRADIENTS_H_
#define QUANTBENCH_TRAINING_PARAM_GRADIENTS_H_

#include <string>
#include <vector>

#include "networks/param_store.h"

namespace quantbench {

// False for "<bn>.running_mean" / "<bn>.running_var", true for every other parameter.
bool IsTrainableParameter(const Parameter& parameter);

struct ParamGradients {
  std::vector<std::vector<float>> grads;  // aligned with ParamStore::parameters()

  // Zero gradients shaped like `store` (empty entries for non-trainable parameters).
  static ParamGradients ZerosLike(const ParamStore& store);
  void SetZero();
};

}  // namespace quantbench

#endif  // QUANTBENCH_TRAINING_PARAM_GRADIENTS_H_
