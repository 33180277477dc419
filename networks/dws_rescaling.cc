#include "networks/dws_rescaling.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace quantbench {
namespace {

// Readers of every value.
std::vector<std::vector<int>> Readers(const Graph& graph) {
  std::vector<std::vector<int>> readers(graph.layers.size());
  for (size_t i = 0; i < graph.layers.size(); ++i) {
    for (int input : graph.layers[i].inputs) readers[input].push_back(static_cast<int>(i));
  }
  return readers;
}

bool IsPlainConv(const Layer& layer) { return layer.kind == LayerKind::kConv && layer.groups == 1; }

}  // namespace

std::vector<DepthwiseSeparablePair> FindDepthwiseSeparablePairs(const Graph& graph) {
  const std::vector<std::vector<int>> readers = Readers(graph);
  std::vector<DepthwiseSeparablePair> pairs;
  for (size_t i = 1; i < graph.layers.size(); ++i) {
    const Layer& dw = graph.layers[i];
    if (dw.kind != LayerKind::kConv || dw.inputs.size() != 1) continue;
    const int in_channels = graph.layers[dw.inputs[0]].shape.c;
    if (dw.groups <= 1 || dw.groups != in_channels || dw.out_channels != in_channels) continue;
    if (readers[i].size() != 1 || static_cast<int>(i) == graph.output) continue;
    int next = readers[i][0];
    DwsActivation activation = DwsActivation::kNone;
    const LayerKind kind = graph.layers[next].kind;
    if (kind == LayerKind::kRelu || kind == LayerKind::kRelu6) {
      activation = kind == LayerKind::kRelu ? DwsActivation::kRelu : DwsActivation::kRelu6;
      if (readers[next].size() != 1 || next == graph.output) continue;
      next = readers[next][0];
    }
    if (!IsPlainConv(graph.layers[next])) continue;
    pairs.push_back({dw.name, graph.layers[next].name, activation, dw.out_channels});
  }
  return pairs;
}

absl::StatusOr<DwsRescalingReport> RescaleDepthwiseSeparable(
    const Graph& graph, ParamStore* params, const std::map<std::string, std::vector<float>>& input_channel_max,
    float lock_threshold) {
  DwsRescalingReport report;
  report.lock_threshold = lock_threshold;
  for (const DepthwiseSeparablePair& pair : FindDepthwiseSeparablePairs(graph)) {
    auto found = input_channel_max.find(pair.next);
    if (found == input_channel_max.end() || static_cast<int>(found->second.size()) != pair.channels) {
      return absl::InvalidArgumentError(absl::StrCat("DWS rescaling of ", pair.depthwise, ": need ", pair.channels,
                                                     " channel maxima of the input of ", pair.next));
    }
    const std::vector<float>& x = found->second;
    Parameter* w = params->Find(pair.depthwise + ".weight");
    Parameter* bias = params->Find(pair.depthwise + ".bias");
    Parameter* w_next = params->Find(pair.next + ".weight");
    if (w == nullptr || w_next == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("DWS rescaling of ", pair.depthwise, ": weights missing"));
    }
    const int c = pair.channels;
    const size_t per_filter = w->values.size() / c;
    const int64_t out = w_next->shape[0];
    const size_t next_per_in = w_next->values.size() / (static_cast<size_t>(out) * c);  // kh * kw
    std::vector<double> t(c, 0.0);
    for (int k = 0; k < c; ++k) {
      if (!std::isfinite(x[k])) {
        return absl::InvalidArgumentError(absl::StrCat("DWS rescaling of ", pair.depthwise, ": channel ", k,
                                                       " maximum is not finite"));
      }
      for (size_t j = 0; j < per_filter; ++j) t[k] = std::max(t[k], std::fabs(double{w->values[k * per_filter + j]}));
    }
    DwsRescalingReport::Pair r;
    r.depthwise = pair.depthwise;
    r.channels = c;
    r.tensor_max_before = *std::max_element(t.begin(), t.end());
    const bool relu6 = pair.activation == DwsActivation::kRelu6;
    std::vector<bool> locked(c, false);
    double locked_sum = 0.0;
    for (int k = 0; k < c; ++k) {
      locked[k] = relu6 && x[k] >= lock_threshold;
      if (locked[k]) {
        ++r.locked;
        locked_sum += t[k];
      }
    }
    r.threshold = r.locked > 0 ? locked_sum / r.locked : r.tensor_max_before;
    std::vector<double> s(c, 1.0);
    for (int k = 0; k < c; ++k) {
      if (locked[k] || t[k] <= 0.0 || r.threshold <= 0.0) continue;
      s[k] = r.threshold / t[k];
      if (relu6 && x[k] > 0.0f && s[k] > 6.0 / x[k]) {
        s[k] = 6.0 / x[k];
        ++r.capped;
      }
    }
    double after = 0.0;
    for (int k = 0; k < c; ++k) {
      for (size_t j = 0; j < per_filter; ++j) {
        float& v = w->values[k * per_filter + j];
        v = static_cast<float>(v * s[k]);
        after = std::max(after, std::fabs(double{v}));
      }
      if (bias != nullptr) bias->values[k] = static_cast<float>(bias->values[k] * s[k]);
      for (int64_t o = 0; o < out; ++o) {
        for (size_t j = 0; j < next_per_in; ++j) {
          float& v = w_next->values[(o * c + k) * next_per_in + j];
          v = static_cast<float>(v / s[k]);
        }
      }
    }
    r.tensor_max_after = after;
    r.min_scale = *std::min_element(s.begin(), s.end());
    r.max_scale = *std::max_element(s.begin(), s.end());
    report.pairs.push_back(r);
  }
  return report;
}

}  // namespace quantbench
