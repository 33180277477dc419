#include "networks/fold_batchnorm.h"

#include <cmath>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/status_macros.h"

namespace quantbench {

absl::Status FoldBatchNormIntoConvs(Graph* graph, ParamStore* params) {
  QB_RETURN_IF_ERROR(CheckGraphParams(*graph, *params));
  std::vector<Layer>& layers = graph->layers;
  const int num_layers = static_cast<int>(layers.size());
  std::vector<int> num_consumers(num_layers, 0);
  for (const Layer& layer : layers) {
    for (int x : layer.inputs) ++num_consumers[x];
  }
  // bn layer index -> conv layer index
  std::map<int, int> folds;
  for (int i = 0; i < num_layers; ++i) {
    if (layers[i].kind != LayerKind::kBatchNorm) continue;
    const int c = layers[i].inputs[0];
    if (layers[c].kind == LayerKind::kConv && num_consumers[c] == 1 && c != graph->output) {
      folds[i] = c;
    }
  }
  if (folds.empty()) return absl::OkStatus();

  // Parameters: compute every folded tensor first (nothing changes on error).
  std::set<std::string> drop;                           // BN parameter names
  std::map<std::string, std::vector<float>> new_weight;  // conv weight name -> values
  std::map<std::string, Parameter> new_bias;             // conv weight name -> bias param
  for (const auto& [bn_index, conv_index] : folds) {
    const Layer& bn = layers[bn_index];
    const Layer& conv = layers[conv_index];
    const Parameter* w = params->Find(conv.name + ".weight");
    const Parameter* b = conv.bias ? params->Find(conv.name + ".bias") : nullptr;
    const std::vector<float>& gamma = params->Find(bn.name + ".weight")->values;
    const std::vector<float>& beta = params->Find(bn.name + ".bias")->values;
    const std::vector<float>& mean = params->Find(bn.name + ".running_mean")->values;
    const std::vector<float>& var = params->Find(bn.name + ".running_var")->values;
    const int out = conv.out_channels;
    const size_t per_out = w->values.size() / out;
    std::vector<float> weight(w->values.size());
    Parameter bias;
    bias.name = conv.name + ".bias";
    bias.layer = conv.name;
    bias.layer_type = w->layer_type;
    bias.kind = Parameter::kBias;
    bias.shape = {out};
    bias.values.resize(out);
    for (int o = 0; o < out; ++o) {
      const double scale = gamma[o] / std::sqrt(static_cast<double>(var[o]) + bn.eps);
      for (size_t k = 0; k < per_out; ++k) {
        weight[o * per_out + k] = static_cast<float>(w->values[o * per_out + k] * scale);
      }
      const double b0 = b != nullptr ? b->values[o] : 0.0;
      bias.values[o] = static_cast<float>((b0 - mean[o]) * scale + beta[o]);
    }
    for (const char* s : {".weight", ".bias", ".running_mean", ".running_var"}) {
      drop.insert(bn.name + s);
    }
    new_weight[w->name] = std::move(weight);
    new_bias[w->name] = std::move(bias);
  }

  // Rebuild the store in order.
  std::set<std::string> replaced_biases;
  for (const auto& [weight_name, bias] : new_bias) replaced_biases.insert(bias.name);
  ParamStore rebuilt;
  for (Parameter& p : params->parameters()) {
    if (drop.count(p.name) != 0 || replaced_biases.count(p.name) != 0) continue;
    auto w = new_weight.find(p.name);
    if (w == new_weight.end()) {
      QB_RETURN_IF_ERROR(rebuilt.Add(std::move(p)));
      continue;
    }
    p.values = std::move(w->second);
    QB_RETURN_IF_ERROR(rebuilt.Add(std::move(p)));
    QB_RETURN_IF_ERROR(rebuilt.Add(std::move(new_bias[w->first])));
  }
  *params = std::move(rebuilt);

  // Graph: conv gets a bias; BN layers disappear, their consumers read the conv.
  std::vector<int> replacement(num_layers);
  for (int i = 0; i < num_layers; ++i) replacement[i] = i;
  for (const auto& [bn_index, conv_index] : folds) {
    replacement[bn_index] = conv_index;
    layers[conv_index].bias = true;
  }
  std::vector<Layer> kept;
  std::vector<int> new_id(num_layers, -1);
  for (int i = 0; i < num_layers; ++i) {
    if (folds.count(i) != 0) continue;
    Layer layer = layers[i];
    for (int& x : layer.inputs) x = new_id[replacement[x]];
    new_id[i] = static_cast<int>(kept.size());
    kept.push_back(std::move(layer));
  }
  graph->output = new_id[replacement[graph->output]];
  graph->layers = std::move(kept);
  RebuildGraphParams(graph);
  return absl::OkStatus();
}

}  // namespace quantbench
