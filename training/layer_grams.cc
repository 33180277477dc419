#include "training/layer_grams.h"

#include <Eigen/Core>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "kernels/status_macros.h"
#include "networks/activation_pass.h"

namespace quantbench {
namespace {

// What one site needs to turn its input values into columns.
struct Site {
  const Layer* layer = nullptr;
  TensorShape in;              // the value the layer reads
  int64_t cols = 0, groups = 1;
  std::vector<double> sum;     // groups × cols × cols
  int64_t columns = 0;         // per group
};

// Adds one image's im2col columns of group g (cols × pixels, column-major) to acc's lower half.
void AddConvColumns(const Site& s, const float* image, int64_t g, Eigen::MatrixXf* x, Eigen::MatrixXf* acc) {
  const Layer& l = *s.layer;
  const int cin = s.in.c / static_cast<int>(s.groups);
  const int oh = l.shape.h, ow = l.shape.w;
  x->setZero(s.cols, static_cast<int64_t>(oh) * ow);
  for (int ci = 0; ci < cin; ++ci) {
    const float* plane = image + static_cast<int64_t>(g * cin + ci) * s.in.h * s.in.w;
    for (int ky = 0; ky < l.kernel_h; ++ky) {
      for (int kx = 0; kx < l.kernel_w; ++kx) {
        const int64_t row = (static_cast<int64_t>(ci) * l.kernel_h + ky) * l.kernel_w + kx;
        for (int oy = 0; oy < oh; ++oy) {
          const int iy = oy * l.stride_h - l.pad_t + ky * l.dilation;
          if (iy < 0 || iy >= s.in.h) continue;
          for (int ox = 0; ox < ow; ++ox) {
            const int ix = ox * l.stride_w - l.pad_l + kx * l.dilation;
            if (ix < 0 || ix >= s.in.w) continue;
            (*x)(row, static_cast<int64_t>(oy) * ow + ox) = plane[static_cast<int64_t>(iy) * s.in.w + ix];
          }
        }
      }
    }
  }
  acc->selfadjointView<Eigen::Lower>().rankUpdate(*x);
}

void Flush(Site& s, int64_t g, const Eigen::MatrixXf& acc) {
  double* out = s.sum.data() + g * s.cols * s.cols;
  for (int64_t j = 0; j < s.cols; ++j) {
    for (int64_t i = j; i < s.cols; ++i) out[j * s.cols + i] += acc(i, j);
  }
}

}  // namespace

absl::StatusOr<std::map<std::string, LayerGram>> CollectLayerGrams(Network& network, const Graph& graph,
                                                                   const LabeledImages& data, int64_t images,
                                                                   int batch, const std::set<std::string>& layers) {
  std::map<std::string, Site> sites;
  for (const Layer& l : graph.layers) {
    if (l.kind != LayerKind::kConv && l.kind != LayerKind::kDense) continue;
    if (!layers.empty() && layers.count(l.name) == 0) continue;
    Site s;
    s.layer = &l;
    s.in = graph.layers[l.inputs[0]].shape;
    if (l.kind == LayerKind::kConv) {
      s.groups = l.groups;
      s.cols = static_cast<int64_t>(s.in.c / l.groups) * l.kernel_h * l.kernel_w;
    } else {
      s.cols = s.in.NumElements();
    }
    s.sum.assign(s.groups * s.cols * s.cols, 0.0);
    sites.emplace(l.name, std::move(s));
  }
  for (const std::string& name : layers) {
    if (sites.count(name) == 0) {
      return absl::InvalidArgumentError(absl::StrCat("layer Grams: '", name, "' is not a conv or dense layer"));
    }
  }
  images = std::min(images, data.count);
  if (images < 1) return absl::InvalidArgumentError("layer Grams: no images");
  Eigen::MatrixXf x, acc;
  auto observe = [&](const std::string& name, absl::Span<const float> values) {
    auto it = sites.find(name);
    if (it == sites.end()) return;
    Site& s = it->second;
    const int64_t per_image = s.in.NumElements();
    const int64_t n = static_cast<int64_t>(values.size()) / per_image;
    if (s.layer->kind == LayerKind::kDense) {
      Eigen::Map<const Eigen::MatrixXf> features(values.data(), s.cols, n);
      acc.setZero(s.cols, s.cols);
      acc.selfadjointView<Eigen::Lower>().rankUpdate(features);
      Flush(s, 0, acc);
      s.columns += n;
      return;
    }
    for (int64_t g = 0; g < s.groups; ++g) {
      acc.setZero(s.cols, s.cols);
      for (int64_t e = 0; e < n; ++e) AddConvColumns(s, values.data() + e * per_image, g, &x, &acc);
      Flush(s, g, acc);
    }
    s.columns += n * s.layer->shape.h * s.layer->shape.w;
  };
  QB_RETURN_IF_ERROR(ObserveActivationsOverImages(network, data, images, batch, observe));
  std::map<std::string, LayerGram> out;
  for (auto& [name, s] : sites) {
    LayerGram g;
    g.layer = name;
    g.cols = s.cols;
    g.groups = s.groups;
    g.columns = s.columns;
    g.gram.resize(s.sum.size());
    const double inv = s.columns > 0 ? 1.0 / static_cast<double>(s.columns) : 0.0;
    for (int64_t b = 0; b < s.groups; ++b) {
      const double* in = s.sum.data() + b * s.cols * s.cols;
      float* o = g.gram.data() + b * s.cols * s.cols;
      for (int64_t j = 0; j < s.cols; ++j) {
        for (int64_t i = j; i < s.cols; ++i) {
          o[j * s.cols + i] = o[i * s.cols + j] = static_cast<float>(in[j * s.cols + i] * inv);
        }
      }
    }
    out.emplace(name, std::move(g));
  }
  return out;
}

}  // namespace quantbench
