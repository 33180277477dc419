#include "experiments/quantize_model.h"

#include <chrono>
#include <cmath>
#include <algorithm>
#include <unordered_set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kernels/status_macros.h"

namespace quantbench {

double SqnrDb(double signal_energy, double noise_energy) {
  if (noise_energy <= 0.0) return 999.0;
  if (signal_energy <= 0.0) return -999.0;
  return 10.0 * std::log10(signal_energy / noise_energy);
}

absl::StatusOr<int64_t> MaxLevelsUsed(const QuantizedTensor& tensor, const std::string& name) {
  const int64_t tables = tensor.num_tables, levels = tensor.levels_per_table;
  const int64_t n = static_cast<int64_t>(tensor.codes.size());
  if (tables < 1 || levels < 1 || n % tables != 0 || static_cast<int64_t>(tensor.values.size()) != n) {
    return absl::InternalError(absl::StrCat("quantizer output for ", name, " has ", n, " codes, ", tensor.num_tables,
                                            " tables of ", tensor.levels_per_table, " levels"));
  }
  // Codes index the table of their row (rows are contiguous, n / tables codes each): count the
  // distinct codes each table's row uses with a bitmap, far cheaper than hashing values.
  const int64_t per_table = n / tables;
  std::vector<uint8_t> seen(static_cast<size_t>(levels));
  int64_t most = 0;
  for (int64_t t = 0; t < tables; ++t) {
    std::fill(seen.begin(), seen.end(), 0);
    int64_t used = 0;
    for (int64_t i = t * per_table; i < (t + 1) * per_table; ++i) {
      const int32_t code = tensor.codes[i];
      if (code < 0 || code >= levels) {
        return absl::InternalError(absl::StrCat("quantizer output for ", name, ": code ", code, " outside 0..",
                                                levels - 1));
      }
      used += seen[code] == 0;
      seen[code] = 1;
    }
    most = std::max(most, used);
  }
  return most;
}

absl::StatusOr<std::vector<LayerPlan>> PlanLayers(const ParamStore& params, const LayerSelection& selection,
                                                  int sweep_bits) {
  std::vector<const Parameter*> weights;
  for (const Parameter& p : params.parameters()) {
    if (p.kind == Parameter::kWeight) weights.push_back(&p);
  }
  std::vector<LayerPlan> plan;
  for (size_t i = 0; i < weights.size(); ++i) {
    bool first = i == 0, last = i + 1 == weights.size();
    bool skip = (first && (selection.mode() == LayerSelection::SKIP_FIRST ||
                           selection.mode() == LayerSelection::SKIP_FIRST_AND_LAST)) ||
                (last && (selection.mode() == LayerSelection::SKIP_LAST ||
                          selection.mode() == LayerSelection::SKIP_FIRST_AND_LAST));
    plan.push_back({weights[i]->name, weights[i]->layer, weights[i]->layer_type, skip ? 0 : sweep_bits});
  }
  // Type overrides first, then name overrides, so the more specific one wins.
  for (bool by_name : {false, true}) {
    for (const LayerOverride& o : selection.overrides()) {
      if (o.layer().empty() == by_name) continue;
      bool found = false;
      for (LayerPlan& layer : plan) {
        if (by_name ? layer.layer != o.layer() : layer.type != o.type()) continue;
        found = true;
        if (o.skip()) layer.bits = 0;
        else if (o.bits() > 0) layer.bits = o.bits();
      }
      if (!found) {
        std::vector<std::string> names;
        for (const LayerPlan& layer : plan) names.push_back(by_name ? layer.layer : layer.type);
        if (!by_name) {
          std::sort(names.begin(), names.end());
          names.erase(std::unique(names.begin(), names.end()), names.end());
        }
        return absl::InvalidArgumentError(absl::StrCat("layers.overrides: the network has no ",
                                                       by_name ? "layer '" : "layer of type '",
                                                       by_name ? o.layer() : o.type(), "'; its ",
                                                       by_name ? "layers" : "layer types", ": ",
                                                       absl::StrJoin(names, ", ")));
      }
    }
  }
  return plan;
}

absl::StatusOr<ModelReport> QuantizeModel(const Quantizer& quantizer, const ParamStore& original,
                                          const std::vector<LayerPlan>& plan, ParamStore* quantized,
                                          std::map<std::string, QuantizedTensor>* kept) {
  auto start = std::chrono::steady_clock::now();
  *quantized = original;
  ModelReport report;
  double signal = 0.0, noise = 0.0;
  int64_t quantized_weights = 0;
  std::unordered_set<std::string> planned;
  if (kept != nullptr) kept->clear();
  for (const LayerPlan& layer : plan) {
    if (layer.bits == 0) continue;
    planned.insert(layer.param);
    const Parameter* source = original.Find(layer.param);
    Parameter* target = quantized->Find(layer.param);
    if (source == nullptr || target == nullptr) {
      return absl::InternalError(absl::StrCat("layer plan names missing parameter ", layer.param));
    }
    WeightView view{source->name, source->shape, absl::MakeConstSpan(source->values)};
    auto result = quantizer.Quantize(view, layer.bits);
    if (!result.ok()) return Annotate(result.status(), absl::StrCat("quantizing ", source->name));
    if (result->values.size() != source->values.size()) {
      return absl::InternalError(absl::StrCat("quantizer returned ", result->values.size(), " values for ",
                                              source->name, " of ", source->values.size()));
    }
    LayerReport layer_report;
    layer_report.layer = layer.layer;
    layer_report.bits = layer.bits;
    layer_report.weights = static_cast<int64_t>(source->values.size());
    double layer_signal = 0.0, layer_noise = 0.0;
    for (size_t i = 0; i < source->values.size(); ++i) {
      double w = source->values[i], q = result->values[i];
      layer_signal += w * w;
      layer_noise += (w - q) * (w - q);
      layer_report.zeros += result->values[i] == 0.0f;
    }
    layer_report.mse = layer_report.weights ? layer_noise / layer_report.weights : 0.0;
    layer_report.sqnr_db = SqnrDb(layer_signal, layer_noise);
    QB_ASSIGN_OR_RETURN(layer_report.levels_used, MaxLevelsUsed(*result, source->name));
    layer_report.storage_bits = result->storage_bits;
    report.max_levels_used = std::max(report.max_levels_used, layer_report.levels_used);
    report.model_bytes += (result->storage_bits + 7) / 8;
    signal += layer_signal;
    noise += layer_noise;
    quantized_weights += layer_report.weights;
    report.quantized_zeros += layer_report.zeros;
    report.quantized_storage_bits += result->storage_bits;
    if (kept != nullptr) {
      target->values = result->values;
      (*kept)[source->name] = std::move(*result);
    } else {
      target->values = std::move(result->values);
    }
    report.layers.push_back(layer_report);
  }
  for (const Parameter& p : original.parameters()) {
    report.fp32_bytes += 4 * static_cast<int64_t>(p.values.size());
    if (planned.count(p.name) == 0) report.model_bytes += 4 * static_cast<int64_t>(p.values.size());
  }
  report.quantized_weights = quantized_weights;
  report.mse = quantized_weights ? noise / quantized_weights : 0.0;
  report.sqnr_db = SqnrDb(signal, noise);
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace quantbench
