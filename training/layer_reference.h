// Plain scalar forward and backward passes of every Graph layer type (networks/graph.h), on
// plain N, C, H, W tensors (flat values: N, F), in PyTorch's semantics: the definition of
// correct that TrainableGraph's oneDNN backend and the finite-difference tests are checked
// against, and the kernels of its kReference backend.
//
// Templated on the scalar type: float for the reference backend, double for the
// finite-difference tests. Sums accumulate in double either way.
//
// Conventions: `x` is the layer's input, `y` its output, `dy` = dL/dy, `dx` = dL/dx; every
// backward WRITES its outputs (callers that fan out accumulate themselves). Weights use the
// ParamStore layout: conv [out, in/groups, kh, kw], dense [out, in]. A null dx / dbias means
// "not wanted". The caller checks shapes (TrainableGraph does, from the Graph).
#ifndef QUANTBENCH_TRAINING_LAYER_REFERENCE_H_
#define QUANTBENCH_TRAINING_LAYER_REFERENCE_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "networks/graph.h"

namespace quantbench {

// Conv (grouped / depthwise, dilation, asymmetric padding): `layer` gives the window and the
// output shape, `in` the input's shape. bias may be null.
template <typename T>
void ConvForwardRef(const Layer& layer, const TensorShape& in, int batch, const T* x, const T* w,
                    const T* bias, T* y);
template <typename T>
void ConvBackwardRef(const Layer& layer, const TensorShape& in, int batch, const T* x, const T* w,
                     const T* dy, T* dx, T* dw, T* dbias);

// BatchNorm over `channels` channels of `spatial` = H * W values per example.
// Training mode normalizes with the batch statistics: `mean` and the BIASED `var` (what
// the backward needs) are written, [channels] each.
template <typename T>
void BatchNormTrainForwardRef(int batch, int channels, int64_t spatial, double eps, const T* x,
                              const T* gamma, const T* beta, T* y, T* mean, T* var);
template <typename T>
void BatchNormTrainBackwardRef(int batch, int channels, int64_t spatial, double eps, const T* x,
                               const T* gamma, const T* mean, const T* var, const T* dy, T* dx,
                               T* dgamma, T* dbeta);
// Inference mode (running statistics).
template <typename T>
void BatchNormEvalForwardRef(int batch, int channels, int64_t spatial, double eps, const T* x,
                             const T* gamma, const T* beta, const T* mean, const T* var, T* y);
// PyTorch's running-average update after a training forward over `count` = N * H * W values
// per channel: running = (1 - momentum) * running + momentum * batch, the variance from the
// UNBIASED batch variance var * count / (count - 1). InvalidArgument if count < 2 (PyTorch:
// "Expected more than 1 value per channel when training").
template <typename T>
absl::Status BatchNormUpdateRunningStatsRef(int channels, int64_t count, double momentum,
                                            const T* mean, const T* var, float* running_mean,
                                            float* running_var);

// ReLU: y = max(x, 0); dx = dy where x > 0. ReLU6: y = min(max(x, 0), 6); dx = dy where
// 0 < x < 6 (PyTorch's hardtanh backward).
template <typename T>
void ReluForwardRef(int64_t n, const T* x, T* y);
template <typename T>
void ReluBackwardRef(int64_t n, const T* x, const T* dy, T* dx);
template <typename T>
void Relu6ForwardRef(int64_t n, const T* x, T* y);
template <typename T>
void Relu6BackwardRef(int64_t n, const T* x, const T* dy, T* dx);

// Max / average pooling with the Layer's window, ceil_mode and count_include_pad (the
// divisor rule of networks/graph.h). Max pooling's backward routes dy to the first maximum of
// each window (row-major), as PyTorch does.
template <typename T>
void PoolForwardRef(const Layer& layer, const TensorShape& in, int batch, const T* x, T* y);
template <typename T>
void PoolBackwardRef(const Layer& layer, const TensorShape& in, int batch, const T* x,
                     const T* dy, T* dx);

// Mean over H * W per channel: y is [batch, channels].
template <typename T>
void GlobalAvgPoolForwardRef(int batch, int channels, int64_t spatial, const T* x, T* y);
template <typename T>
void GlobalAvgPoolBackwardRef(int batch, int channels, int64_t spatial, const T* dy, T* dx);

// Channel concatenation of inputs with channels[i] channels each and the same H * W.
template <typename T>
void ConcatForwardRef(int batch, int64_t spatial, const std::vector<int>& channels,
                      const std::vector<const T*>& xs, T* y);
template <typename T>
void ConcatBackwardRef(int batch, int64_t spatial, const std::vector<int>& channels, const T* dy,
                       const std::vector<T*>& dxs);

// `before` zero channels, the input's `channels`, `after` zero channels.
template <typename T>
void PadChannelsForwardRef(int batch, int channels, int64_t spatial, int before, int after,
                           const T* x, T* y);
template <typename T>
void PadChannelsBackwardRef(int batch, int channels, int64_t spatial, int before, int after,
                            const T* dy, T* dx);

// y = x w^T + bias, x [batch, in], w [out, in].
template <typename T>
void DenseForwardRef(int batch, int in, int out, const T* x, const T* w, const T* bias, T* y);
template <typename T>
void DenseBackwardRef(int batch, int in, int out, const T* x, const T* w, const T* dy, T* dx,
                      T* dw, T* dbias);

}  // namespace quantbench

#endif  // QUANTBENCH_TRAINING_LAYER_REFERENCE_H_
