#include "training/layer_reference.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace quantbench {
namespace {

// One pooling window clipped to the input, and PyTorch's divisor for average pooling.
struct Window {
  int y0, y1, x0, x1;
  int divisor;
};

Window PoolWindow(const Layer& l, const TensorShape& in, int oy, int ox) {
  Window w;
  w.y0 = oy * l.stride_h - l.pad_t;
  w.x0 = ox * l.stride_w - l.pad_l;
  // The window may reach into the declared padding but not past it (the ceil_mode
  // extension never counts).
  w.y1 = std::min(w.y0 + l.kernel_h, in.h + l.pad_b);
  w.x1 = std::min(w.x0 + l.kernel_w, in.w + l.pad_r);
  const int padded_size = (w.y1 - w.y0) * (w.x1 - w.x0);
  w.y0 = std::max(w.y0, 0);
  w.x0 = std::max(w.x0, 0);
  w.y1 = std::min(w.y1, in.h);
  w.x1 = std::min(w.x1, in.w);
  w.divisor = l.count_include_pad ? padded_size : (w.y1 - w.y0) * (w.x1 - w.x0);
  return w;
}

}  // namespace

// Calls tap(n, out_index, in_index, weight_index) for every (output element, in-bounds input
// element, weight) product of a conv, indices into the batch's flat tensors (weights: one
// layer's tensor). Padding taps are skipped: they read zeros.
template <typename Tap>
void ForEachConvTap(const Layer& l, const TensorShape& in, int batch, Tap tap) {
  const TensorShape& out = l.shape;
  const int icg = in.c / l.groups, ocg = l.out_channels / l.groups;
  const int64_t in_size = in.NumElements(), out_size = out.NumElements();
  for (int n = 0; n < batch; ++n) {
    for (int o = 0; o < out.c; ++o) {
      const int g = o / ocg;
      for (int oy = 0; oy < out.h; ++oy) {
        for (int ox = 0; ox < out.w; ++ox) {
          const int64_t yi = n * out_size + (static_cast<int64_t>(o) * out.h + oy) * out.w + ox;
          for (int ci = 0; ci < icg; ++ci) {
            const int c = g * icg + ci;
            for (int ky = 0; ky < l.kernel_h; ++ky) {
              const int iy = oy * l.stride_h - l.pad_t + ky * l.dilation;
              if (iy < 0 || iy >= in.h) continue;
              for (int kx = 0; kx < l.kernel_w; ++kx) {
                const int ix = ox * l.stride_w - l.pad_l + kx * l.dilation;
                if (ix < 0 || ix >= in.w) continue;
                tap(yi, n * in_size + (static_cast<int64_t>(c) * in.h + iy) * in.w + ix,
                    ((static_cast<int64_t>(o) * icg + ci) * l.kernel_h + ky) * l.kernel_w + kx);
              }
            }
          }
        }
      }
    }
  }
}

template <typename T>
void ConvForwardRef(const Layer& l, const TensorShape& in, int batch, const T* x, const T* w,
                    const T* bias, T* y) {
  const int64_t out_size = l.shape.NumElements();
  const int64_t spatial = static_cast<int64_t>(l.shape.h) * l.shape.w;
  std::vector<double> acc(batch * out_size);
  for (size_t i = 0; i < acc.size(); ++i) {
    acc[i] = bias ? static_cast<double>(bias[(i % out_size) / spatial]) : 0.0;
  }
  ForEachConvTap(l, in, batch, [&](int64_t yi, int64_t xi, int64_t wi) {
    acc[yi] += static_cast<double>(x[xi]) * w[wi];
  });
  for (size_t i = 0; i < acc.size(); ++i) y[i] = static_cast<T>(acc[i]);
}

template <typename T>
void ConvBackwardRef(const Layer& l, const TensorShape& in, int batch, const T* x, const T* w,
                     const T* dy, T* dx, T* dw, T* dbias) {
  const int64_t w_size = static_cast<int64_t>(l.out_channels) * (in.c / l.groups) * l.kernel_h *
                         l.kernel_w;
  const int64_t out_size = l.shape.NumElements();
  const int64_t spatial = static_cast<int64_t>(l.shape.h) * l.shape.w;
  std::vector<double> dx_acc(dx ? batch * in.NumElements() : 0, 0.0);
  std::vector<double> dw_acc(w_size, 0.0);
  ForEachConvTap(l, in, batch, [&](int64_t yi, int64_t xi, int64_t wi) {
    dw_acc[wi] += static_cast<double>(dy[yi]) * x[xi];
    if (dx) dx_acc[xi] += static_cast<double>(dy[yi]) * w[wi];
  });
  for (int64_t i = 0; i < w_size; ++i) dw[i] = static_cast<T>(dw_acc[i]);
  if (dbias) {
    std::vector<double> db(l.out_channels, 0.0);
    for (int64_t i = 0; i < batch * out_size; ++i) db[(i % out_size) / spatial] += dy[i];
    for (int o = 0; o < l.out_channels; ++o) dbias[o] = static_cast<T>(db[o]);
  }
  for (size_t i = 0; i < dx_acc.size(); ++i) dx[i] = static_cast<T>(dx_acc[i]);
}

template <typename T>
void BatchNormTrainForwardRef(int batch, int channels, int64_t spatial, double eps, const T* x,
                              const T* gamma, const T* beta, T* y, T* mean, T* var) {
  const double count = static_cast<double>(batch) * spatial;
  for (int c = 0; c < channels; ++c) {
    double sum = 0.0;
    for (int n = 0; n < batch; ++n) {
      const T* p = x + (static_cast<int64_t>(n) * channels + c) * spatial;
      for (int64_t s = 0; s < spatial; ++s) sum += p[s];
    }
    const double m = sum / count;
    double sq = 0.0;  // two-pass variance: exact for the finite-difference tests
    for (int n = 0; n < batch; ++n) {
      const T* p = x + (static_cast<int64_t>(n) * channels + c) * spatial;
      for (int64_t s = 0; s < spatial; ++s) sq += (p[s] - m) * (p[s] - m);
    }
    const double v = sq / count;
    const double inv_std = 1.0 / std::sqrt(v + eps);
    for (int n = 0; n < batch; ++n) {
      const int64_t base = (static_cast<int64_t>(n) * channels + c) * spatial;
      for (int64_t s = 0; s < spatial; ++s) {
        y[base + s] = static_cast<T>((x[base + s] - m) * inv_std * gamma[c] + beta[c]);
      }
    }
    mean[c] = static_cast<T>(m);
    var[c] = static_cast<T>(v);
  }
}

template <typename T>
void BatchNormTrainBackwardRef(int batch, int channels, int64_t spatial, double eps, const T* x,
                               const T* gamma, const T* mean, const T* var, const T* dy, T* dx,
                               T* dgamma, T* dbeta) {
  const double count = static_cast<double>(batch) * spatial;
  for (int c = 0; c < channels; ++c) {
    const double m = mean[c];
    const double inv_std = 1.0 / std::sqrt(static_cast<double>(var[c]) + eps);
    double sum_dy = 0.0, sum_dy_xhat = 0.0;
    for (int n = 0; n < batch; ++n) {
      const int64_t base = (static_cast<int64_t>(n) * channels + c) * spatial;
      for (int64_t s = 0; s < spatial; ++s) {
        sum_dy += dy[base + s];
        sum_dy_xhat += dy[base + s] * (x[base + s] - m) * inv_std;
      }
    }
    dgamma[c] = static_cast<T>(sum_dy_xhat);
    dbeta[c] = static_cast<T>(sum_dy);
    if (dx == nullptr) continue;
    // dx = gamma * inv_std * (dy - mean(dy) - xhat * mean(dy * xhat)): the batch statistics
    // depend on x too.
    for (int n = 0; n < batch; ++n) {
      const int64_t base = (static_cast<int64_t>(n) * channels + c) * spatial;
      for (int64_t s = 0; s < spatial; ++s) {
        const double xhat = (x[base + s] - m) * inv_std;
        dx[base + s] = static_cast<T>(gamma[c] * inv_std *
                                      (dy[base + s] - sum_dy / count - xhat * sum_dy_xhat / count));
      }
    }
  }
}

template <typename T>
void BatchNormEvalForwardRef(int batch, int channels, int64_t spatial, double eps, const T* x,
                             const T* gamma, const T* beta, const T* mean, const T* var, T* y) {
  for (int n = 0; n < batch; ++n) {
    for (int c = 0; c < channels; ++c) {
      const double inv_std = 1.0 / std::sqrt(static_cast<double>(var[c]) + eps);
      const int64_t base = (static_cast<int64_t>(n) * channels + c) * spatial;
      for (int64_t s = 0; s < spatial; ++s) {
        y[base + s] = static_cast<T>((x[base + s] - mean[c]) * inv_std * gamma[c] + beta[c]);
      }
    }
  }
}

template <typename T>
absl::Status BatchNormUpdateRunningStatsRef(int channels, int64_t count, double momentum,
                                            const T* mean, const T* var, float* running_mean,
                                            float* running_var) {
  if (count < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "batch_norm in training mode needs more than 1 value per channel, got ", count));
  }
  const double unbias = static_cast<double>(count) / static_cast<double>(count - 1);
  for (int c = 0; c < channels; ++c) {
    running_mean[c] = static_cast<float>((1.0 - momentum) * running_mean[c] + momentum * mean[c]);
    running_var[c] =
        static_cast<float>((1.0 - momentum) * running_var[c] + momentum * var[c] * unbias);
  }
  return absl::OkStatus();
}

template <typename T>
void ReluForwardRef(int64_t n, const T* x, T* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > T(0) ? x[i] : T(0);
}

template <typename T>
void ReluBackwardRef(int64_t n, const T* x, const T* dy, T* dx) {
  for (int64_t i = 0; i < n; ++i) dx[i] = x[i] > T(0) ? dy[i] : T(0);
}

template <typename T>
void Relu6ForwardRef(int64_t n, const T* x, T* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::min(std::max(x[i], T(0)), T(6));
}

template <typename T>
void Relu6BackwardRef(int64_t n, const T* x, const T* dy, T* dx) {
  for (int64_t i = 0; i < n; ++i) dx[i] = x[i] > T(0) && x[i] < T(6) ? dy[i] : T(0);
}

template <typename T>
void PoolForwardRef(const Layer& l, const TensorShape& in, int batch, const T* x, T* y) {
  const TensorShape& out = l.shape;
  const bool is_max = l.kind == LayerKind::kMaxPool;
  for (int n = 0; n < batch; ++n) {
    for (int c = 0; c < out.c; ++c) {
      const T* xc = x + (static_cast<int64_t>(n) * in.c + c) * in.h * in.w;
      T* yc = y + (static_cast<int64_t>(n) * out.c + c) * out.h * out.w;
      for (int oy = 0; oy < out.h; ++oy) {
        for (int ox = 0; ox < out.w; ++ox) {
          const Window win = PoolWindow(l, in, oy, ox);
          double acc = is_max ? static_cast<double>(xc[win.y0 * in.w + win.x0]) : 0.0;
          for (int iy = win.y0; iy < win.y1; ++iy) {
            for (int ix = win.x0; ix < win.x1; ++ix) {
              const double v = xc[iy * in.w + ix];
              acc = is_max ? std::max(acc, v) : acc + v;
            }
          }
          yc[oy * out.w + ox] = static_cast<T>(is_max ? acc : acc / win.divisor);
        }
      }
    }
  }
}

template <typename T>
void PoolBackwardRef(const Layer& l, const TensorShape& in, int batch, const T* x, const T* dy,
                     T* dx) {
  const TensorShape& out = l.shape;
  const bool is_max = l.kind == LayerKind::kMaxPool;
  std::vector<double> acc(in.h * in.w);
  for (int n = 0; n < batch; ++n) {
    for (int c = 0; c < out.c; ++c) {
      const int64_t in_base = (static_cast<int64_t>(n) * in.c + c) * in.h * in.w;
      const T* xc = x + in_base;
      const T* dyc = dy + (static_cast<int64_t>(n) * out.c + c) * out.h * out.w;
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int oy = 0; oy < out.h; ++oy) {
        for (int ox = 0; ox < out.w; ++ox) {
          const Window win = PoolWindow(l, in, oy, ox);
          const double d = dyc[oy * out.w + ox];
          if (is_max) {
            int best = win.y0 * in.w + win.x0;
            for (int iy = win.y0; iy < win.y1; ++iy) {
              for (int ix = win.x0; ix < win.x1; ++ix) {
                if (xc[iy * in.w + ix] > xc[best]) best = iy * in.w + ix;
              }
            }
            acc[best] += d;
          } else {
            for (int iy = win.y0; iy < win.y1; ++iy) {
              for (int ix = win.x0; ix < win.x1; ++ix) acc[iy * in.w + ix] += d / win.divisor;
            }
          }
        }
      }
      for (size_t i = 0; i < acc.size(); ++i) dx[in_base + i] = static_cast<T>(acc[i]);
    }
  }
}

template <typename T>
void GlobalAvgPoolForwardRef(int batch, int channels, int64_t spatial, const T* x, T* y) {
  for (int64_t nc = 0; nc < static_cast<int64_t>(batch) * channels; ++nc) {
    double acc = 0.0;
    for (int64_t s = 0; s < spatial; ++s) acc += x[nc * spatial + s];
    y[nc] = static_cast<T>(acc / spatial);
  }
}

template <typename T>
void GlobalAvgPoolBackwardRef(int batch, int channels, int64_t spatial, const T* dy, T* dx) {
  for (int64_t nc = 0; nc < static_cast<int64_t>(batch) * channels; ++nc) {
    const T d = static_cast<T>(static_cast<double>(dy[nc]) / spatial);
    for (int64_t s = 0; s < spatial; ++s) dx[nc * spatial + s] = d;
  }
}

template <typename T>
void ConcatForwardRef(int batch, int64_t spatial, const std::vector<int>& channels,
                      const std::vector<const T*>& xs, T* y) {
  for (int n = 0; n < batch; ++n) {
    for (size_t i = 0; i < xs.size(); ++i) {
      const int64_t block = channels[i] * spatial;
      std::copy(xs[i] + n * block, xs[i] + (n + 1) * block, y);
      y += block;
    }
  }
}

template <typename T>
void ConcatBackwardRef(int batch, int64_t spatial, const std::vector<int>& channels, const T* dy,
                       const std::vector<T*>& dxs) {
  for (int n = 0; n < batch; ++n) {
    for (size_t i = 0; i < dxs.size(); ++i) {
      const int64_t block = channels[i] * spatial;
      std::copy(dy, dy + block, dxs[i] + n * block);
      dy += block;
    }
  }
}

template <typename T>
void PadChannelsForwardRef(int batch, int channels, int64_t spatial, int before, int after,
                           const T* x, T* y) {
  const int64_t in_block = channels * spatial;
  const int64_t out_block = (before + channels + after) * spatial;
  for (int n = 0; n < batch; ++n) {
    T* yn = y + n * out_block;
    std::fill(yn, yn + before * spatial, T(0));
    std::copy(x + n * in_block, x + (n + 1) * in_block, yn + before * spatial);
    std::fill(yn + before * spatial + in_block, yn + out_block, T(0));
  }
}

template <typename T>
void PadChannelsBackwardRef(int batch, int channels, int64_t spatial, int before, int after,
                            const T* dy, T* dx) {
  const int64_t in_block = channels * spatial;
  const int64_t out_block = (before + channels + after) * spatial;
  for (int n = 0; n < batch; ++n) {
    const T* src = dy + n * out_block + before * spatial;
    std::copy(src, src + in_block, dx + n * in_block);
  }
}

template <typename T>
void DenseForwardRef(int batch, int in, int out, const T* x, const T* w, const T* bias, T* y) {
  for (int n = 0; n < batch; ++n) {
    for (int o = 0; o < out; ++o) {
      double acc = bias ? static_cast<double>(bias[o]) : 0.0;
      for (int i = 0; i < in; ++i) {
        acc += static_cast<double>(x[static_cast<int64_t>(n) * in + i]) *
               w[static_cast<int64_t>(o) * in + i];
      }
      y[static_cast<int64_t>(n) * out + o] = static_cast<T>(acc);
    }
  }
}

template <typename T>
void DenseBackwardRef(int batch, int in, int out, const T* x, const T* w, const T* dy, T* dx,
                      T* dw, T* dbias) {
  if (dx) {
    for (int n = 0; n < batch; ++n) {
      for (int i = 0; i < in; ++i) {
        double acc = 0.0;
        for (int o = 0; o < out; ++o) {
          acc += static_cast<double>(dy[static_cast<int64_t>(n) * out + o]) *
                 w[static_cast<int64_t>(o) * in + i];
        }
        dx[static_cast<int64_t>(n) * in + i] = static_cast<T>(acc);
      }
    }
  }
  for (int o = 0; o < out; ++o) {
    for (int i = 0; i < in; ++i) {
      double acc = 0.0;
      for (int n = 0; n < batch; ++n) {
        acc += static_cast<double>(dy[static_cast<int64_t>(n) * out + o]) *
               x[static_cast<int64_t>(n) * in + i];
      }
      dw[static_cast<int64_t>(o) * in + i] = static_cast<T>(acc);
    }
    if (dbias) {
      double acc = 0.0;
      for (int n = 0; n < batch; ++n) acc += dy[static_cast<int64_t>(n) * out + o];
      dbias[o] = static_cast<T>(acc);
    }
  }
}

#define QB_INSTANTIATE_LAYER_REFERENCE(T)                                                       \
  template void ConvForwardRef<T>(const Layer&, const TensorShape&, int, const T*, const T*,     \
                                  const T*, T*);                                                 \
  template void ConvBackwardRef<T>(const Layer&, const TensorShape&, int, const T*, const T*,    \
                                   const T*, T*, T*, T*);                                        \
  template void BatchNormTrainForwardRef<T>(int, int, int64_t, double, const T*, const T*,       \
                                            const T*, T*, T*, T*);                               \
  template void BatchNormTrainBackwardRef<T>(int, int, int64_t, double, const T*, const T*,      \
                                             const T*, const T*, const T*, T*, T*, T*);          \
  template void BatchNormEvalForwardRef<T>(int, int, int64_t, double, const T*, const T*,        \
                                           const T*, const T*, const T*, T*);                    \
  template absl::Status BatchNormUpdateRunningStatsRef<T>(int, int64_t, double, const T*,        \
                                                          const T*, float*, float*);             \
  template void ReluForwardRef<T>(int64_t, const T*, T*);                                        \
  template void ReluBackwardRef<T>(int64_t, const T*, const T*, T*);                             \
  template void Relu6ForwardRef<T>(int64_t, const T*, T*);                                       \
  template void Relu6BackwardRef<T>(int64_t, const T*, const T*, T*);                            \
  template void PoolForwardRef<T>(const Layer&, const TensorShape&, int, const T*, T*);          \
  template void PoolBackwardRef<T>(const Layer&, const TensorShape&, int, const T*, const T*,    \
                                   T*);                                                          \
  template void GlobalAvgPoolForwardRef<T>(int, int, int64_t, const T*, T*);                     \
  template void GlobalAvgPoolBackwardRef<T>(int, int, int64_t, const T*, T*);                    \
  template void ConcatForwardRef<T>(int, int64_t, const std::vector<int>&,                       \
                                    const std::vector<const T*>&, T*);                           \
  template void ConcatBackwardRef<T>(int, int64_t, const std::vector<int>&, const T*,            \
                                     const std::vector<T*>&);                                    \
  template void PadChannelsForwardRef<T>(int, int, int64_t, int, int, const T*, T*);             \
  template void PadChannelsBackwardRef<T>(int, int, int64_t, int, int, const T*, T*);            \
  template void DenseForwardRef<T>(int, int, int, const T*, const T*, const T*, T*);             \
  template void DenseBackwardRef<T>(int, int, int, const T*, const T*, const T*, T*, T*, T*);

QB_INSTANTIATE_LAYER_REFERENCE(float)
QB_INSTANTIATE_LAYER_REFERENCE(double)

#undef QB_INSTANTIATE_LAYER_REFERENCE

}  // namespace quantbench
