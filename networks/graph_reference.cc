#include "networks/graph_reference.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "kernels/status_macros.h"

namespace quantbench {
namespace {

using Values = std::vector<double>;  // one example, C x H x W

const std::vector<float>& P(const ParamStore& params, const std::string& name) {
  return params.Find(name)->values;
}

Values Conv(const Layer& l, const TensorShape& in, const Values& x, const ParamStore& params) {
  const TensorShape& out = l.shape;
  const std::vector<float>& w = P(params, l.name + ".weight");
  const std::vector<float>* b = l.bias ? &P(params, l.name + ".bias") : nullptr;
  const int icg = in.c / l.groups, ocg = l.out_channels / l.groups;
  Values y(out.NumElements(), 0.0);
  for (int o = 0; o < out.c; ++o) {
    const int g = o / ocg;
    for (int oy = 0; oy < out.h; ++oy) {
      for (int ox = 0; ox < out.w; ++ox) {
        double acc = b ? (*b)[o] : 0.0;
        for (int ci = 0; ci < icg; ++ci) {
          const int c = g * icg + ci;
          for (int ky = 0; ky < l.kernel_h; ++ky) {
            const int iy = oy * l.stride_h - l.pad_t + ky * l.dilation;
            if (iy < 0 || iy >= in.h) continue;
            for (int kx = 0; kx < l.kernel_w; ++kx) {
              const int ix = ox * l.stride_w - l.pad_l + kx * l.dilation;
              if (ix < 0 || ix >= in.w) continue;
              acc += x[(static_cast<size_t>(c) * in.h + iy) * in.w + ix] *
                     w[((static_cast<size_t>(o) * icg + ci) * l.kernel_h + ky) * l.kernel_w + kx];
            }
          }
        }
        y[(static_cast<size_t>(o) * out.h + oy) * out.w + ox] = acc;
      }
    }
  }
  return y;
}

Values Pool(const Layer& l, const TensorShape& in, const Values& x) {
  const TensorShape& out = l.shape;
  Values y(out.NumElements(), 0.0);
  const bool is_max = l.kind == LayerKind::kMaxPool;
  for (int c = 0; c < out.c; ++c) {
    for (int oy = 0; oy < out.h; ++oy) {
      for (int ox = 0; ox < out.w; ++ox) {
        int y0 = oy * l.stride_h - l.pad_t, x0 = ox * l.stride_w - l.pad_l;
        int y1 = std::min(y0 + l.kernel_h, in.h + l.pad_b);
        int x1 = std::min(x0 + l.kernel_w, in.w + l.pad_r);
        const int pool_size = (y1 - y0) * (x1 - x0);
        y0 = std::max(y0, 0);
        x0 = std::max(x0, 0);
        y1 = std::min(y1, in.h);
        x1 = std::min(x1, in.w);
        double acc = is_max ? -std::numeric_limits<double>::infinity() : 0.0;
        for (int iy = y0; iy < y1; ++iy) {
          for (int ix = x0; ix < x1; ++ix) {
            const double v = x[(static_cast<size_t>(c) * in.h + iy) * in.w + ix];
            acc = is_max ? std::max(acc, v) : acc + v;
          }
        }
        if (!is_max) {
          const int divisor = l.count_include_pad ? pool_size : (y1 - y0) * (x1 - x0);
          acc /= divisor;
        }
        y[(static_cast<size_t>(c) * out.h + oy) * out.w + ox] = acc;
      }
    }
  }
  return y;
}

}  // namespace

absl::StatusOr<std::vector<float>> ReferenceForward(const Graph& graph, const ParamStore& params,
                                                    const std::vector<float>& input, int batch,
                                                    bool softmax,
                                                    const ReferenceValueHook& hook) {
  QB_RETURN_IF_ERROR(CheckGraphParams(graph, params));
  const int64_t in_size = graph.input.NumElements();
  if (static_cast<int64_t>(input.size()) != batch * in_size) {
    return absl::InvalidArgumentError("ReferenceForward: input size");
  }
  const int k = graph.num_classes;
  std::vector<float> result(static_cast<size_t>(batch) * k);
  for (int b = 0; b < batch; ++b) {
    std::vector<Values> v(graph.layers.size());
    v[0].assign(input.begin() + b * in_size, input.begin() + (b + 1) * in_size);
    if (hook) hook(0, b, &v[0]);
    for (size_t i = 1; i < graph.layers.size(); ++i) {
      const Layer& l = graph.layers[i];
      const Values& x = v[l.inputs[0]];
      const TensorShape& in = graph.layers[l.inputs[0]].shape;
      Values& y = v[i];
      switch (l.kind) {
        case LayerKind::kInput:
          return absl::InvalidArgumentError("second input");
        case LayerKind::kConv:
          y = Conv(l, in, x, params);
          break;
        case LayerKind::kBatchNorm: {
          const auto& g = P(params, l.name + ".weight");
          const auto& be = P(params, l.name + ".bias");
          const auto& m = P(params, l.name + ".running_mean");
          const auto& var = P(params, l.name + ".running_var");
          y = x;
          const size_t hw = static_cast<size_t>(in.h) * in.w;
          for (int c = 0; c < in.c; ++c) {
            for (size_t s = 0; s < hw; ++s) {
              double& e = y[c * hw + s];
              e = (e - m[c]) / std::sqrt(static_cast<double>(var[c]) + l.eps) * g[c] + be[c];
            }
          }
          break;
        }
        case LayerKind::kRelu:
          y = x;
          for (double& e : y) e = std::max(e, 0.0);
          break;
        case LayerKind::kRelu6:
          y = x;
          for (double& e : y) e = std::min(std::max(e, 0.0), 6.0);
          break;
        case LayerKind::kAdd: {
          y = x;
          const Values& x2 = v[l.inputs[1]];
          for (size_t j = 0; j < y.size(); ++j) y[j] += x2[j];
          break;
        }
        case LayerKind::kMaxPool:
        case LayerKind::kAvgPool:
          y = Pool(l, in, x);
          break;
        case LayerKind::kGlobalAvgPool: {
          y.assign(in.c, 0.0);
          const size_t hw = static_cast<size_t>(in.h) * in.w;
          for (int c = 0; c < in.c; ++c) {
            double acc = 0.0;
            for (size_t s = 0; s < hw; ++s) acc += x[c * hw + s];
            y[c] = acc / hw;
          }
          break;
        }
        case LayerKind::kConcat:
          y.clear();
          for (int in_id : l.inputs) y.insert(y.end(), v[in_id].begin(), v[in_id].end());
          break;
        case LayerKind::kFlatten:
          y = x;
          break;
        case LayerKind::kPadChannels: {
          const size_t hw = static_cast<size_t>(in.h) * in.w;
          y.assign(static_cast<size_t>(l.shape.c) * hw, 0.0);
          std::copy(x.begin(), x.end(), y.begin() + l.pad_channels_before * hw);
          break;
        }
        case LayerKind::kDense: {
          const auto& w = P(params, l.name + ".weight");
          const auto& bias = P(params, l.name + ".bias");
          const size_t n_in = x.size();
          y.assign(l.out_channels, 0.0);
          for (int o = 0; o < l.out_channels; ++o) {
            double acc = bias[o];
            for (size_t j = 0; j < n_in; ++j) acc += w[o * n_in + j] * x[j];
            y[o] = acc;
          }
          break;
        }
      }
      if (hook) hook(static_cast<int>(i), b, &y);
    }
    const Values& out = v[graph.output];
    double max_logit = -std::numeric_limits<double>::infinity();
    for (double e : out) max_logit = std::max(max_logit, e);
    double sum = 0.0;
    for (double e : out) sum += std::exp(e - max_logit);
    for (int c = 0; c < k; ++c) {
      result[b * k + c] =
          static_cast<float>(softmax ? std::exp(out[c] - max_logit) / sum : out[c]);
    }
  }
  return result;
}

}  // namespace quantbench
