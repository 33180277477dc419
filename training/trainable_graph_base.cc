#include "training/trainable_graph_base.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "kernels/status_macros.h"

namespace quantbench {
namespace {

std::string LayerLabel(const Graph& graph, int i) {
  const Layer& l = graph.layers[i];
  return absl::StrCat(LayerKindName(l.kind), " layer ", i, l.name.empty() ? "" : " '",
                      l.name, l.name.empty() ? "" : "'");
}

}  // namespace

absl::Status CheckTrainableGraph(const Graph& graph) {
  if (graph.layers.empty() || graph.layers[0].kind != LayerKind::kInput) {
    return absl::InvalidArgumentError("TrainableGraph: the graph has no Input layer first");
  }
  if (graph.output <= 0 || graph.output >= static_cast<int>(graph.layers.size())) {
    return absl::InvalidArgumentError(
        absl::StrCat("TrainableGraph: invalid output value id ", graph.output));
  }
  if (graph.layers[graph.output].shape.NumElements() != graph.num_classes ||
      graph.num_classes < 1) {
    return absl::InvalidArgumentError("TrainableGraph: num_classes does not match the output");
  }
  if (graph.input != graph.layers[0].shape) {
    return absl::InvalidArgumentError("TrainableGraph: graph.input differs from the Input layer");
  }
  for (int i = 1; i < static_cast<int>(graph.layers.size()); ++i) {
    const Layer& l = graph.layers[i];
    const std::string what = LayerLabel(graph, i);
    if (l.kind == LayerKind::kInput) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": a second Input"));
    }
    const size_t want = l.kind == LayerKind::kAdd ? 2 : l.kind == LayerKind::kConcat ? 0 : 1;
    if ((want != 0 && l.inputs.size() != want) || l.inputs.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": wrong number of inputs"));
    }
    for (int x : l.inputs) {
      if (x < 0 || x >= i) {
        return absl::InvalidArgumentError(
            absl::StrCat(what, ": input value ", x, " is not computed before it"));
      }
    }
    const TensorShape& in = graph.layers[l.inputs[0]].shape;
    TensorShape expect = in;
    switch (l.kind) {
      case LayerKind::kConv:
        if (in.flat || l.groups < 1 || in.c % l.groups != 0 || l.out_channels % l.groups != 0) {
          return absl::InvalidArgumentError(absl::StrCat(what, ": bad groups or flat input"));
        }
        expect = {l.out_channels,
                  WindowOutputSize(in.h, l.kernel_h, l.stride_h, l.pad_t, l.pad_b, l.dilation,
                                   false),
                  WindowOutputSize(in.w, l.kernel_w, l.stride_w, l.pad_l, l.pad_r, l.dilation,
                                   false),
                  false};
        break;
      case LayerKind::kMaxPool:
      case LayerKind::kAvgPool:
        expect = {in.c,
                  WindowOutputSize(in.h, l.kernel_h, l.stride_h, l.pad_t, l.pad_b, 1, l.ceil_mode),
                  WindowOutputSize(in.w, l.kernel_w, l.stride_w, l.pad_l, l.pad_r, 1, l.ceil_mode),
                  false};
        break;
      case LayerKind::kGlobalAvgPool:
        expect = {in.c, 1, 1, false};
        break;
      case LayerKind::kConcat:
        expect.c = 0;
        for (int x : l.inputs) {
          const TensorShape& s = graph.layers[x].shape;
          if (s.flat || s.h != in.h || s.w != in.w) {
            return absl::InvalidArgumentError(absl::StrCat(what, ": inputs do not concatenate"));
          }
          expect.c += s.c;
        }
        break;
      case LayerKind::kFlatten:
        expect = {static_cast<int>(in.NumElements()), 1, 1, true};
        break;
      case LayerKind::kDense:
        if (!in.flat) return absl::InvalidArgumentError(absl::StrCat(what, ": input not flat"));
        expect = {l.out_channels, 1, 1, true};
        break;
      case LayerKind::kPadChannels:
        if (l.pad_channels_before < 0 || l.pad_channels_after < 0) {
          return absl::InvalidArgumentError(absl::StrCat(what, ": negative padding"));
        }
        expect.c = in.c + l.pad_channels_before + l.pad_channels_after;
        break;
      case LayerKind::kAdd:
        if (graph.layers[l.inputs[1]].shape != in) {
          return absl::InvalidArgumentError(absl::StrCat(what, ": operand shapes differ"));
        }
        break;
      case LayerKind::kBatchNorm:
        if (in.flat || !(l.eps > 0.0f)) {
          return absl::InvalidArgumentError(absl::StrCat(what, ": flat input or eps <= 0"));
        }
        break;
      default:
        break;
    }
    if (expect != l.shape || expect.NumElements() < 1) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": declared shape ",
                                                     TensorShapeToString(l.shape), ", inputs give ",
                                                     TensorShapeToString(expect)));
    }
  }
  return absl::OkStatus();
}

TrainableGraphBase::TrainableGraphBase(const Graph& graph, const TrainableGraphOptions& options)
    : graph_(graph), options_(options) {
  const int n = static_cast<int>(graph_.layers.size());
  layer_params_.resize(n);
  consumers_.resize(n);
  is_site_.assign(n, false);
  value_hooks_.assign(n, nullptr);
  for (int i = 1; i < n; ++i) {
    const Layer& l = graph_.layers[i];
    for (int x : l.inputs) consumers_[x].push_back(i);
    if (l.kind == LayerKind::kConv || l.kind == LayerKind::kDense) {
      site_names_.push_back(l.name);
      site_layers_.push_back(i);
      is_site_[i] = true;
    }
  }
  site_hooks_.assign(site_names_.size(), nullptr);
}

int TrainableGraphBase::in_channels(int layer) const { return input_shape(layer).c; }

std::vector<std::string> TrainableGraphBase::ActivationSites() const { return site_names_; }

absl::Status TrainableGraphBase::SetActivationHook(const std::string& site, ActivationHook* hook) {
  auto it = std::find(site_names_.begin(), site_names_.end(), site);
  if (it == site_names_.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("SetActivationHook: '", site, "' is not a conv or dense layer of the graph"));
  }
  site_hooks_[it - site_names_.begin()] = hook;
  // Per value: the hook of the first site (execution order) reading it that has one.
  std::fill(value_hooks_.begin(), value_hooks_.end(), nullptr);
  for (size_t s = 0; s < site_layers_.size(); ++s) {
    const int v = graph_.layers[site_layers_[s]].inputs[0];
    if (value_hooks_[v] == nullptr) value_hooks_[v] = site_hooks_[s];
  }
  // A plan built around the old hooks can not run the backward of its forward.
  backward_ready_ = false;
  HooksChanged();
  return absl::OkStatus();
}

absl::Status TrainableGraphBase::ResolveParams(ParamStore* params,
                                               const ParamOverrides& overrides) {
  std::vector<Parameter>& all = params->parameters();
  for (const auto& [index, values] : overrides) {
    if (index < 0 || index >= static_cast<int>(all.size()) || values == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("override for parameter index ", index, ": no such parameter or null"));
    }
    if (values->size() != all[index].values.size()) {
      return absl::InvalidArgumentError(absl::StrCat("override for '", all[index].name, "': ",
                                                     values->size(), " values, the parameter has ",
                                                     all[index].values.size()));
    }
  }
  auto index_of = [&](const std::string& name) -> int {
    for (size_t i = 0; i < all.size(); ++i) {
      if (all[i].name == name) return static_cast<int>(i);
    }
    return -1;
  };
  auto values_of = [&](int index) -> const float* {
    auto it = overrides.find(index);
    return it != overrides.end() ? it->second->data() : all[index].values.data();
  };
  store_size_ = all.size();
  store_sizes_.resize(all.size());
  for (size_t i = 0; i < all.size(); ++i) store_sizes_[i] = all[i].values.size();
  written_by_graph_.assign(all.size(), false);
  for (size_t i = 0; i < graph_.layers.size(); ++i) {
    const Layer& l = graph_.layers[i];
    LayerParams& lp = layer_params_[i];
    lp = LayerParams();
    if (l.kind != LayerKind::kConv && l.kind != LayerKind::kDense &&
        l.kind != LayerKind::kBatchNorm) {
      continue;
    }
    // CheckGraphParams already guaranteed presence and shapes.
    lp.weight_index = index_of(l.name + ".weight");
    lp.weight = values_of(lp.weight_index);
    written_by_graph_[lp.weight_index] = true;
    if (l.kind != LayerKind::kConv || l.bias) {
      lp.bias_index = index_of(l.name + ".bias");
      lp.bias = values_of(lp.bias_index);
      written_by_graph_[lp.bias_index] = true;
    }
    if (l.kind == LayerKind::kBatchNorm) {
      lp.running_mean = all[index_of(l.name + ".running_mean")].values.data();
      lp.running_var = all[index_of(l.name + ".running_var")].values.data();
    }
  }
  return absl::OkStatus();
}

absl::Status TrainableGraphBase::Forward(ParamStore* params, absl::Span<const float> input,
                                         int batch, Phase phase, absl::Span<float> logits,
                                         const ParamOverrides& overrides) {
  backward_ready_ = false;
  if (params == nullptr) return absl::InvalidArgumentError("Forward: null ParamStore");
  if (batch < 1) return absl::InvalidArgumentError(absl::StrCat("Forward: batch ", batch, " < 1"));
  const int64_t in_size = graph_.input.NumElements();
  if (static_cast<int64_t>(input.size()) != batch * in_size) {
    return absl::InvalidArgumentError(absl::StrCat("Forward: input has ", input.size(),
                                                   " floats, batch ", batch, " x ", in_size,
                                                   " expected"));
  }
  if (static_cast<int64_t>(logits.size()) != static_cast<int64_t>(batch) * graph_.num_classes) {
    return absl::InvalidArgumentError(absl::StrCat("Forward: logits has ", logits.size(),
                                                   " floats, batch ", batch, " x ",
                                                   graph_.num_classes, " expected"));
  }
  QB_RETURN_IF_ERROR(CheckGraphParams(graph_, *params));
  QB_RETURN_IF_ERROR(ResolveParams(params, overrides));
  QB_RETURN_IF_ERROR(RunForward(input, batch, phase, logits));
  if (phase == Phase::kTrain) {
    batch_ = batch;
    backward_ready_ = true;
  }
  return absl::OkStatus();
}

absl::Status TrainableGraphBase::Backward(absl::Span<const float> dlogits, ParamGradients* grads,
                                          absl::Span<float> dinput) {
  if (!backward_ready_) {
    return absl::FailedPreconditionError(
        "Backward: no kTrain Forward since the graph was created or its hooks changed");
  }
  if (grads == nullptr) return absl::InvalidArgumentError("Backward: null ParamGradients");
  if (static_cast<int64_t>(dlogits.size()) != static_cast<int64_t>(batch_) * graph_.num_classes) {
    return absl::InvalidArgumentError(absl::StrCat("Backward: dlogits has ", dlogits.size(),
                                                   " floats, batch ", batch_, " x ",
                                                   graph_.num_classes, " expected"));
  }
  if (!dinput.empty() &&
      static_cast<int64_t>(dinput.size()) != batch_ * graph_.input.NumElements()) {
    return absl::InvalidArgumentError(absl::StrCat("Backward: dinput has ", dinput.size(),
                                                   " floats, batch ", batch_, " x ",
                                                   graph_.input.NumElements(), " expected"));
  }
  if (grads->grads.size() != store_size_) {
    return absl::InvalidArgumentError(absl::StrCat("Backward: ", grads->grads.size(),
                                                   " gradient tensors for a store of ",
                                                   store_size_, " (use ZerosLike)"));
  }
  for (size_t i = 0; i < store_size_; ++i) {
    std::vector<float>& g = grads->grads[i];
    if (written_by_graph_[i] && static_cast<int64_t>(g.size()) != store_sizes_[i]) {
      return absl::InvalidArgumentError(absl::StrCat("Backward: gradient ", i, " has ", g.size(),
                                                     " values, its parameter ", store_sizes_[i]));
    }
    // Trainable tensors the graph does not read (unused layers) have zero gradient.
    if (!written_by_graph_[i]) std::fill(g.begin(), g.end(), 0.0f);
  }
  return RunBackward(dlogits, grads, dinput);
}

}  // namespace quantbench
