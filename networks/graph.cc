#include "networks/graph.h"

#include <cmath>
#include <random>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kernels/status_macros.h"
#include "networks/normal_sampler.h"

namespace quantbench {
namespace {

constexpr int kMaxDim = 1 << 20;

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

const char* LayerKindName(LayerKind kind) {
  switch (kind) {
    case LayerKind::kInput: return "input";
    case LayerKind::kConv: return "conv";
    case LayerKind::kBatchNorm: return "batch_norm";
    case LayerKind::kRelu: return "relu";
    case LayerKind::kRelu6: return "relu6";
    case LayerKind::kAdd: return "add";
    case LayerKind::kMaxPool: return "max_pool";
    case LayerKind::kAvgPool: return "avg_pool";
    case LayerKind::kGlobalAvgPool: return "global_avg_pool";
    case LayerKind::kConcat: return "concat";
    case LayerKind::kFlatten: return "flatten";
    case LayerKind::kDense: return "dense";
    case LayerKind::kPadChannels: return "pad_channels";
  }
  return "?";
}

std::string TensorShapeToString(const TensorShape& shape) {
  if (shape.flat) return absl::StrCat("[", shape.c, "]");
  return absl::StrCat("[", shape.c, ", ", shape.h, ", ", shape.w, "]");
}

int64_t Graph::NumTrainableParameters() const {
  int64_t total = 0;
  for (const ParamSpec& p : params) {
    if (EndsWith(p.name, ".running_mean") || EndsWith(p.name, ".running_var")) continue;
    int64_t n = 1;
    for (int64_t d : p.shape) n *= d;
    total += n;
  }
  return total;
}

int WindowOutputSize(int in, int kernel, int stride, int pad_before, int pad_after, int dilation,
                     bool ceil_mode) {
  const int64_t span = static_cast<int64_t>(in) + pad_before + pad_after -
                       static_cast<int64_t>(dilation) * (kernel - 1) - 1;
  if (span < 0 || stride < 1) return 0;
  int64_t out = span / stride + 1;
  if (ceil_mode) {
    out = (span + stride - 1) / stride + 1;
    // PyTorch: the last window must start inside the input or the left padding.
    if ((out - 1) * stride >= static_cast<int64_t>(in) + pad_before) --out;
  }
  return static_cast<int>(out);
}

std::string LayerParamType(const Layer& layer, int in_channels) {
  switch (layer.kind) {
    case LayerKind::kConv:
      return layer.groups > 1 && in_channels / layer.groups == 1 ? "depthwise_conv" : "conv";
    case LayerKind::kDense: return "dense";
    case LayerKind::kBatchNorm: return "batch_norm";
    default: return LayerKindName(layer.kind);
  }
}

std::vector<ParamSpec> LayerParams(const Layer& layer, int in_channels) {
  std::vector<ParamSpec> out;
  auto add = [&](const std::string& suffix, Parameter::Kind kind, std::vector<int64_t> shape) {
    ParamSpec p;
    p.name = layer.name + suffix;
    p.layer = layer.name;
    p.layer_type = LayerParamType(layer, in_channels);
    p.kind = kind;
    p.shape = std::move(shape);
    out.push_back(std::move(p));
  };
  switch (layer.kind) {
    case LayerKind::kConv:
      add(".weight", Parameter::kWeight,
          {layer.out_channels, in_channels / layer.groups, layer.kernel_h, layer.kernel_w});
      if (layer.bias) add(".bias", Parameter::kBias, {layer.out_channels});
      break;
    case LayerKind::kDense:
      add(".weight", Parameter::kWeight, {layer.out_channels, in_channels});
      add(".bias", Parameter::kBias, {layer.out_channels});
      break;
    case LayerKind::kBatchNorm:
      for (const char* s : {".weight", ".bias", ".running_mean", ".running_var"}) {
        add(s, Parameter::kNormalization, {in_channels});
      }
      break;
    default:
      break;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// GraphBuilder

bool GraphBuilder::Fail(const std::string& message) {
  if (status_.ok()) status_ = absl::InvalidArgumentError(message);
  return false;
}

bool GraphBuilder::CheckValue(int x, const char* what) {
  if (!status_.ok()) return false;
  if (x < 0 || x >= static_cast<int>(layers_.size())) {
    return Fail(absl::StrCat(what, ": invalid input value id ", x, " (", layers_.size(),
                             " values so far)"));
  }
  return true;
}

TensorShape GraphBuilder::shape(int x) const {
  if (x < 0 || x >= static_cast<int>(layers_.size())) return TensorShape{};
  return layers_[x].shape;
}

int GraphBuilder::Append(Layer layer) {
  if (!status_.ok()) return -1;
  const TensorShape& s = layer.shape;
  if (s.c < 1 || s.h < 1 || s.w < 1 || s.c > kMaxDim || s.h > kMaxDim || s.w > kMaxDim) {
    Fail(absl::StrCat(LayerKindName(layer.kind), " '", layer.name, "': output shape ",
                      TensorShapeToString(s), " is empty or too large"));
    return -1;
  }
  layers_.push_back(std::move(layer));
  return static_cast<int>(layers_.size()) - 1;
}

int GraphBuilder::Input(int c, int h, int w) {
  if (!status_.ok()) return -1;
  if (!layers_.empty()) {
    Fail("Input must be the first layer, and only one");
    return -1;
  }
  Layer layer;
  layer.kind = LayerKind::kInput;
  layer.shape = {c, h, w, false};
  return Append(std::move(layer));
}

int GraphBuilder::Conv(int x, std::string name, int out_channels, int kh, int kw, int stride_h,
                       int stride_w, int pad_t, int pad_l, int pad_b, int pad_r, int groups,
                       bool bias, int dilation) {
  if (!CheckValue(x, "Conv")) return -1;
  const TensorShape in = layers_[x].shape;
  const std::string what = absl::StrCat("Conv '", name, "'");
  if (name.empty()) return Fail("Conv: empty name"), -1;
  if (in.flat) return Fail(what + ": input is flat"), -1;
  if (out_channels < 1 || kh < 1 || kw < 1 || stride_h < 1 || stride_w < 1 || groups < 1 ||
      dilation < 1 || pad_t < 0 || pad_l < 0 || pad_b < 0 || pad_r < 0) {
    return Fail(what + ": non-positive size, stride, groups or dilation, or negative padding"), -1;
  }
  if (in.c % groups != 0 || out_channels % groups != 0) {
    return Fail(absl::StrCat(what, ": groups = ", groups, " must divide input channels ", in.c,
                             " and output channels ", out_channels)),
           -1;
  }
  Layer layer;
  layer.kind = LayerKind::kConv;
  layer.name = std::move(name);
  layer.inputs = {x};
  layer.kernel_h = kh;
  layer.kernel_w = kw;
  layer.stride_h = stride_h;
  layer.stride_w = stride_w;
  layer.pad_t = pad_t;
  layer.pad_l = pad_l;
  layer.pad_b = pad_b;
  layer.pad_r = pad_r;
  layer.dilation = dilation;
  layer.out_channels = out_channels;
  layer.groups = groups;
  layer.bias = bias;
  layer.shape.c = out_channels;
  layer.shape.h = WindowOutputSize(in.h, kh, stride_h, pad_t, pad_b, dilation, false);
  layer.shape.w = WindowOutputSize(in.w, kw, stride_w, pad_l, pad_r, dilation, false);
  return Append(std::move(layer));
}

int GraphBuilder::Conv(int x, std::string name, int out_channels, int kernel, int stride, int pad,
                       int groups, bool bias) {
  return Conv(x, std::move(name), out_channels, kernel, kernel, stride, stride, pad, pad, pad, pad,
              groups, bias);
}

int GraphBuilder::BatchNorm(int x, std::string name, float eps) {
  if (!CheckValue(x, "BatchNorm")) return -1;
  if (name.empty()) return Fail("BatchNorm: empty name"), -1;
  if (layers_[x].shape.flat) return Fail("BatchNorm '" + name + "': input is flat"), -1;
  if (!(eps > 0.0f)) return Fail("BatchNorm '" + name + "': eps must be > 0"), -1;
  Layer layer;
  layer.kind = LayerKind::kBatchNorm;
  layer.name = std::move(name);
  layer.inputs = {x};
  layer.eps = eps;
  layer.shape = layers_[x].shape;
  return Append(std::move(layer));
}

int GraphBuilder::Relu(int x) {
  if (!CheckValue(x, "Relu")) return -1;
  Layer layer;
  layer.kind = LayerKind::kRelu;
  layer.inputs = {x};
  layer.shape = layers_[x].shape;
  return Append(std::move(layer));
}

int GraphBuilder::Relu6(int x) {
  if (!CheckValue(x, "Relu6")) return -1;
  Layer layer;
  layer.kind = LayerKind::kRelu6;
  layer.inputs = {x};
  layer.shape = layers_[x].shape;
  return Append(std::move(layer));
}

int GraphBuilder::Add(int a, int b) {
  if (!CheckValue(a, "Add") || !CheckValue(b, "Add")) return -1;
  if (layers_[a].shape != layers_[b].shape) {
    return Fail(absl::StrCat("Add: shapes differ: ", TensorShapeToString(layers_[a].shape), " vs ",
                             TensorShapeToString(layers_[b].shape))),
           -1;
  }
  Layer layer;
  layer.kind = LayerKind::kAdd;
  layer.inputs = {a, b};
  layer.shape = layers_[a].shape;
  return Append(std::move(layer));
}

int GraphBuilder::Pool(LayerKind kind, int x, int kh, int kw, int sh, int sw, int pt, int pl,
                       int pb, int pr, bool count_include_pad, bool ceil_mode) {
  if (!CheckValue(x, LayerKindName(kind))) return -1;
  const TensorShape in = layers_[x].shape;
  if (in.flat) return Fail(absl::StrCat(LayerKindName(kind), ": input is flat")), -1;
  if (kh < 1 || kw < 1 || sh < 1 || sw < 1 || pt < 0 || pl < 0 || pb < 0 || pr < 0) {
    return Fail(absl::StrCat(LayerKindName(kind), ": bad window")), -1;
  }
  if (pt >= kh || pb >= kh || pl >= kw || pr >= kw) {
    return Fail(absl::StrCat(LayerKindName(kind), ": padding must be smaller than the kernel")), -1;
  }
  Layer layer;
  layer.kind = kind;
  layer.inputs = {x};
  layer.kernel_h = kh;
  layer.kernel_w = kw;
  layer.stride_h = sh;
  layer.stride_w = sw;
  layer.pad_t = pt;
  layer.pad_l = pl;
  layer.pad_b = pb;
  layer.pad_r = pr;
  layer.ceil_mode = ceil_mode;
  layer.count_include_pad = count_include_pad;
  layer.shape.c = in.c;
  layer.shape.h = WindowOutputSize(in.h, kh, sh, pt, pb, 1, ceil_mode);
  layer.shape.w = WindowOutputSize(in.w, kw, sw, pl, pr, 1, ceil_mode);
  return Append(std::move(layer));
}

int GraphBuilder::MaxPool(int x, int kh, int kw, int stride_h, int stride_w, int pad_t, int pad_l,
                          int pad_b, int pad_r, bool ceil_mode) {
  return Pool(LayerKind::kMaxPool, x, kh, kw, stride_h, stride_w, pad_t, pad_l, pad_b, pad_r,
              false, ceil_mode);
}

int GraphBuilder::MaxPool(int x, int kernel, int stride, int pad, bool ceil_mode) {
  return MaxPool(x, kernel, kernel, stride, stride, pad, pad, pad, pad, ceil_mode);
}

int GraphBuilder::AvgPool(int x, int kh, int kw, int stride_h, int stride_w, int pad_t, int pad_l,
                          int pad_b, int pad_r, bool count_include_pad, bool ceil_mode) {
  return Pool(LayerKind::kAvgPool, x, kh, kw, stride_h, stride_w, pad_t, pad_l, pad_b, pad_r,
              count_include_pad, ceil_mode);
}

int GraphBuilder::AvgPool(int x, int kernel, int stride, int pad, bool count_include_pad,
                          bool ceil_mode) {
  return AvgPool(x, kernel, kernel, stride, stride, pad, pad, pad, pad, count_include_pad,
                 ceil_mode);
}

int GraphBuilder::GlobalAvgPool(int x) {
  if (!CheckValue(x, "GlobalAvgPool")) return -1;
  if (layers_[x].shape.flat) return Fail("GlobalAvgPool: input is flat"), -1;
  Layer layer;
  layer.kind = LayerKind::kGlobalAvgPool;
  layer.inputs = {x};
  layer.shape = {layers_[x].shape.c, 1, 1, false};
  return Append(std::move(layer));
}

int GraphBuilder::Concat(std::vector<int> xs) {
  if (!status_.ok()) return -1;
  if (xs.empty()) return Fail("Concat: no inputs"), -1;
  int channels = 0;
  for (int x : xs) {
    if (!CheckValue(x, "Concat")) return -1;
    const TensorShape& s = layers_[x].shape;
    const TensorShape& first = layers_[xs[0]].shape;
    if (s.flat || s.h != first.h || s.w != first.w) {
      return Fail(absl::StrCat("Concat: input shapes ", TensorShapeToString(first), " and ",
                               TensorShapeToString(s), " do not concatenate on channels")),
             -1;
    }
    channels += s.c;
  }
  Layer layer;
  layer.kind = LayerKind::kConcat;
  layer.inputs = std::move(xs);
  layer.shape = layers_[layer.inputs[0]].shape;
  layer.shape.c = channels;
  return Append(std::move(layer));
}

int GraphBuilder::Flatten(int x) {
  if (!CheckValue(x, "Flatten")) return -1;
  Layer layer;
  layer.kind = LayerKind::kFlatten;
  layer.inputs = {x};
  const int64_t n = layers_[x].shape.NumElements();
  if (n > kMaxDim) return Fail("Flatten: too many features"), -1;
  layer.shape = {static_cast<int>(n), 1, 1, true};
  return Append(std::move(layer));
}

int GraphBuilder::PadChannels(int x, int before, int after) {
  if (!CheckValue(x, "PadChannels")) return -1;
  const TensorShape in = layers_[x].shape;
  if (in.flat) return Fail("PadChannels: input is flat"), -1;
  if (before < 0 || after < 0 || static_cast<int64_t>(in.c) + before + after > kMaxDim) {
    return Fail(absl::StrCat("PadChannels: bad padding ", before, ", ", after)), -1;
  }
  Layer layer;
  layer.kind = LayerKind::kPadChannels;
  layer.inputs = {x};
  layer.pad_channels_before = before;
  layer.pad_channels_after = after;
  layer.shape = {in.c + before + after, in.h, in.w, false};
  return Append(std::move(layer));
}

int GraphBuilder::Dense(int x, std::string name, int out) {
  if (!CheckValue(x, "Dense")) return -1;
  if (name.empty()) return Fail("Dense: empty name"), -1;
  if (!layers_[x].shape.flat) {
    return Fail(absl::StrCat("Dense '", name, "': input ", TensorShapeToString(layers_[x].shape),
                             " is not flat (add a Flatten)")),
           -1;
  }
  if (out < 1) return Fail("Dense '" + name + "': out < 1"), -1;
  Layer layer;
  layer.kind = LayerKind::kDense;
  layer.name = std::move(name);
  layer.inputs = {x};
  layer.out_channels = out;
  layer.bias = true;
  layer.shape = {out, 1, 1, true};
  return Append(std::move(layer));
}

int GraphBuilder::ConvBn(int x, const std::string& conv_name, const std::string& bn_name,
                         int out_channels, int kernel, int stride, int pad, int groups, Act act,
                         float eps) {
  int y = Conv(x, conv_name, out_channels, kernel, stride, pad, groups, false);
  y = BatchNorm(y, bn_name, eps);
  if (act == Act::kRelu) y = Relu(y);
  if (act == Act::kRelu6) y = Relu6(y);
  return y;
}

absl::StatusOr<Graph> GraphBuilder::Finish(int output) {
  QB_RETURN_IF_ERROR(status_);
  if (layers_.empty() || layers_[0].kind != LayerKind::kInput) {
    return absl::InvalidArgumentError("graph has no Input");
  }
  if (output <= 0 || output >= static_cast<int>(layers_.size())) {
    return absl::InvalidArgumentError(absl::StrCat("Finish: invalid output value id ", output));
  }
  const TensorShape out_shape = layers_[output].shape;
  if (!out_shape.flat && (out_shape.h != 1 || out_shape.w != 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Finish: the output ", TensorShapeToString(out_shape), " must be flat or C x 1 x 1"));
  }
  // Mark the layers the output depends on (plus the input).
  std::vector<bool> live(layers_.size(), false);
  live[output] = true;
  live[0] = true;
  for (int i = output; i >= 0; --i) {
    if (!live[i]) continue;
    for (int x : layers_[i].inputs) live[x] = true;
  }
  Graph graph;
  graph.input = layers_[0].shape;
  graph.num_classes = static_cast<int>(out_shape.NumElements());
  std::vector<int> new_id(layers_.size(), -1);
  std::set<std::string> names;
  for (size_t i = 0; i < layers_.size(); ++i) {
    const Layer& layer = layers_[i];
    const int in_c = layer.inputs.empty() ? 0 : layers_[layer.inputs[0]].shape.c;
    for (ParamSpec& p : LayerParams(layer, in_c)) {
      if (!names.insert(p.name).second) {
        return absl::InvalidArgumentError(absl::StrCat("duplicate parameter name '", p.name, "'"));
      }
      p.used = live[i];
      graph.params.push_back(std::move(p));
    }
    if (!live[i]) continue;
    Layer copy = layer;
    for (int& x : copy.inputs) x = new_id[x];
    new_id[i] = static_cast<int>(graph.layers.size());
    graph.layers.push_back(std::move(copy));
  }
  graph.output = new_id[output];
  layers_.clear();
  status_ = absl::FailedPreconditionError("GraphBuilder already finished");
  return graph;
}

void RebuildGraphParams(Graph* graph) {
  std::vector<ParamSpec> fresh;
  for (const Layer& layer : graph->layers) {
    const int in_c = layer.inputs.empty() ? 0 : graph->layers[layer.inputs[0]].shape.c;
    for (ParamSpec& p : LayerParams(layer, in_c)) fresh.push_back(std::move(p));
  }
  // Keep unused parameters at their old position: emit fresh ones in order, and each unused
  // old one after the fresh parameter that preceded it in the old list.
  std::vector<ParamSpec> merged;
  size_t next_fresh = 0;
  auto emit_fresh_until = [&](const std::string& name) {
    // Emits fresh parameters up to and including `name` (if it is still fresh).
    for (size_t j = next_fresh; j < fresh.size(); ++j) {
      if (fresh[j].name == name) {
        for (size_t k = next_fresh; k <= j; ++k) merged.push_back(fresh[k]);
        next_fresh = j + 1;
        return;
      }
    }
  };
  for (const ParamSpec& old : graph->params) {
    if (old.used) {
      emit_fresh_until(old.name);
    } else {
      merged.push_back(old);
    }
  }
  for (size_t k = next_fresh; k < fresh.size(); ++k) merged.push_back(fresh[k]);
  graph->params = std::move(merged);
}

absl::StatusOr<ParamStore> InitGraphParams(const Graph& graph, uint64_t seed) {
  ParamStore store;
  NormalSampler normal(seed);
  for (const ParamSpec& spec : graph.params) {
    Parameter p = spec.EmptyParameter();
    QB_ASSIGN_OR_RETURN(const int64_t n, ShapeNumElements(spec.shape));
    p.values.assign(static_cast<size_t>(n), 0.0f);
    if (spec.kind == Parameter::kWeight) {
      int64_t fan_in = 1;
      for (size_t d = 1; d < spec.shape.size(); ++d) fan_in *= spec.shape[d];
      const double stddev = std::sqrt(2.0 / static_cast<double>(std::max<int64_t>(fan_in, 1)));
      for (float& v : p.values) v = static_cast<float>(stddev * normal.Next());
    } else if (spec.kind == Parameter::kNormalization) {
      if (EndsWith(spec.name, ".weight") || EndsWith(spec.name, ".running_var")) {
        p.values.assign(p.values.size(), 1.0f);
      }
    }
    QB_RETURN_IF_ERROR(store.Add(std::move(p)));
  }
  return store;
}

absl::Status CheckGraphParams(const Graph& graph, const ParamStore& params) {
  for (const ParamSpec& spec : graph.params) {
    const Parameter* p = params.Find(spec.name);
    if (p == nullptr) {
      if (!spec.used) continue;
      return absl::InvalidArgumentError(absl::StrCat("parameter '", spec.name,
                                                     "' (expected shape ", ShapeToString(spec.shape),
                                                     ") is missing from the store"));
    }
    if (p->shape != spec.shape) {
      return absl::InvalidArgumentError(absl::StrCat("parameter '", spec.name,
                                                     "': expected shape ", ShapeToString(spec.shape),
                                                     ", found ", ShapeToString(p->shape)));
    }
    if (static_cast<int64_t>(p->values.size()) != p->NumElements()) {
      return absl::InvalidArgumentError(absl::StrCat("parameter '", spec.name, "': shape ",
                                                     ShapeToString(p->shape), " needs ",
                                                     p->NumElements(), " values, found ",
                                                     p->values.size()));
    }
  }
  return absl::OkStatus();
}

}  // namespace quantbench
