// Re-calibrates BatchNorm running statistics on data, for networks with seeded random weights.
//
// A freshly initialized net (He-normal convs, BatchNorm mean 0 / var 1, like torchvision's
// init) does not normalize anything: activations grow or shrink layer after layer and
// ResNet-50's outputs come out nearly one-hot, which makes quantization sweeps on seeded
// weights meaningless. Setting each BatchNorm's running statistics to those of its actual
// input turns every BatchNorm into a true normalization over the calibration images, as
// training-mode BatchNorm would, without learning anything else.
#ifndef QUANTBENCH_NETWORKS_BATCHNORM_CALIBRATION_H_
#define QUANTBENCH_NETWORKS_BATCHNORM_CALIBRATION_H_

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "networks/graph.h"
#include "networks/param_store.h"

namespace quantbench {

// Sets every BatchNorm's `<bn>.running_mean` / `<bn>.running_var` in `params` to the
// per-channel mean and population variance (divisor count·H·W, so that the normalized input has
// variance exactly var / (var + eps)) of its input over `count` images (NCHW, the graph's
// input shape). BatchNorms are visited in graph (topological) order, and each one's input is
// computed with every earlier BatchNorm already re-calibrated. gamma / beta and all other
// parameters are left alone.
//
// Cost: ONE forward pass, with every BatchNorm unfused (its input must be stored) and all
// `count` images as a single batch, because a BatchNorm's statistics must be complete before
// any image goes through it. So memory is about `count` times the unfused plan's per-image
// activation memory (GraphNetwork::activation_bytes; ResNet-50 at 224: 219 MB for 16 images),
// plus building the unfused network once and per-channel statistics in double on one thread.
// Measured: ResNet-50 at 224, 16 images, 2 threads: see networks/README.md.
//
// Errors: InvalidArgument if count < 1, `images` does not hold count images or the store does
// not match the graph (CheckGraphParams); oneDNN errors as InternalError. On error the store
// may hold the statistics of the BatchNorms done so far.
absl::Status RecalibrateBatchNorm(const Graph& graph, ParamStore* params,
                                  absl::Span<const float> images, int count);

}  // namespace quantbench

#endif  // QUANTBENCH_NETWORKS_BATCHNORM_CALIBRATION_H_
