// Float training of an MlpSpec network, in C++ with Eigen, single-threaded and deterministic.
//
// Algorithm (fixed; changes must bump kMlpTrainerVersion so cached weights are retrained):
//   * loss: mean softmax cross-entropy over the minibatch;
//   * optimizer: SGD with classical (heavy-ball, PyTorch-style) momentum
//         g = dL/dw + weight_decay * w      (weight decay: weights only, not biases)
//         v = momentum * v + g
//         w = w - lr_epoch * v
//     i.e. torch.optim.SGD(momentum=m, weight_decay=wd, nesterov=False) with biases in a
//     weight_decay=0 group; velocities start at zero;
//   * learning-rate schedule: cosine decay per epoch,
//         lr_epoch(e) = learning_rate * 0.5 * (1 + cos(pi * e / epochs)),  e = 0..epochs-1
//     (full rate in epoch 0, about learning_rate * 0.0096 in the last of 20 epochs);
//   * order: every epoch, a Fisher-Yates shuffle of 0..n-1 driven by std::mt19937_64 seeded
//     with `seed` once per run (hand-written, since std::shuffle differs between libraries);
//     minibatches of batch_size in that order, the last one smaller if n % batch_size != 0.
//
// Same inputs, seed, binary and CPU model -> bit-identical weights: Eigen runs on one thread
// here (this target is never compiled with -fopenmp); its GEMM blocking depends on the CPU's
// cache sizes, so another machine may differ in the last bits (cache the weights instead).
//
// Speed (-c opt -march=x86-64-v2, one core of an AVX-512 EPYC): about 2.1 s per epoch of the
// 60000 Fashion-MNIST images for 784-256-256-10 at batch 128.
#ifndef QUANTBENCH_NETWORKS_MLP_TRAINER_H_
#define QUANTBENCH_NETWORKS_MLP_TRAINER_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "networks/mlp.h"
#include "networks/param_store.h"

namespace quantbench {

// Bumped whenever the training algorithm changes results; part of MlpTrainingCacheKey.
inline constexpr int kMlpTrainerVersion = 1;

// Defaults are the recommended Fashion-MNIST setting for MLP 784-256-256-10 on inputs
// normalised as (pixel / 255 - 0.2860) / 0.3530 (see networks/README.md for measurements).
struct SgdOptions {
  int epochs = 15;
  int batch_size = 128;
  float learning_rate = 0.05f;
  float momentum = 0.9f;
  float weight_decay = 5e-4f;
  uint64_t seed = 1;
};

// Trains `params` in place, starting from their current values (e.g. InitMlpParams(spec,
// seed)). `images`: n x spec.input_size floats, row-major, already normalised; `labels`: n
// class indices in [0, num_classes). on_epoch, if set, is called after every epoch with the
// 0-based epoch, the mean training loss and the training accuracy over that epoch (both
// measured on the fly, before each minibatch's update).
// Errors: InvalidArgument for bad options, null data, labels out of range or parameters that
// do not match the spec (named); Internal if the loss becomes non-finite (diverged).
absl::Status TrainMlp(const MlpSpec& spec, const SgdOptions& options, const float* images,
                      const int32_t* labels, int64_t n, ParamStore* params,
                      std::function<void(int epoch, double loss, double train_acc)> on_epoch = {});

// A weight-cache key naming everything that determines TrainMlp's result besides the data:
// the trainer version, the spec, every option and the init seed, plus the caller's
// `data_tag` (e.g. "fashion-mnist/train/norm=0.2860,0.3530").
std::string MlpTrainingCacheKey(const MlpSpec& spec, const SgdOptions& options,
                                uint64_t init_seed, const std::string& data_tag);

}  // namespace quantbench

#endif  // QUANTBENCH_NETWORKS_MLP_TRAINER_H_
