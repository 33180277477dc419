#include "experiments/qat_cell.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "experiments/training_setup.h"
#include "kernels/status_macros.h"
#include "quantizers/trainable_quantizer.h"
#include "training/activation_fake_quant.h"
#include "training/trained_activation_thresholds.h"
#include "training/trainer.h"

namespace quantbench {
namespace {

// The cell's quantizer with trained parameters bound by tensor name: Quantize(view) is
// QuantizeWithParameters(view, trained[view.name]); tensors without trained parameters use
// the configured quantizer.
class BoundQuantizer : public Quantizer {
 public:
  BoundQuantizer(const Quantizer& base, std::map<std::string, std::vector<float>> parameters)
      : base_(base), parameters_(std::move(parameters)) {}
  QuantizerTraits Traits() const override { return base_.Traits(); }
  int64_t MaxLevels(int bits) const override { return base_.MaxLevels(bits); }
  absl::Status CheckBits(int bits) const override { return base_.CheckBits(bits); }
  absl::StatusOr<QuantizedTensor> Quantize(const WeightView& weights, int bits) const override {
    auto it = parameters_.find(weights.name);
    if (it == parameters_.end() || base_.AsTrainable() == nullptr) return base_.Quantize(weights, bits);
    return base_.AsTrainable()->QuantizeWithParameters(weights, bits, it->second);
  }

 private:
  const Quantizer& base_;
  std::map<std::string, std::vector<float>> parameters_;
};

// Content identity of the starting weights.
std::string StoreIdentity(const ParamStore& store) {
  uint32_t crc = 0;
  for (const Parameter& p : store.parameters()) {
    crc = ContentCrc32(crc, p.name);
    crc = ContentCrc32(crc, p.values);
  }
  return absl::StrFormat("%08x:%d", crc, store.TotalCount());
}

// Count, min, mean, max of every `stride`-th value from `first`, and how many sit at or beyond
// the book's clip bounds of α ([0.5, 1]; for α_T of [-0.2, 0.4]).
nlohmann::json ParameterStatistics(const std::vector<float>& values, size_t first, size_t stride) {
  double sum = 0.0, lo = INFINITY, hi = -INFINITY;
  int64_t n = 0, at_min = 0, at_max = 0;
  const bool shift = stride == 2 && first == 0;
  for (size_t i = first; i < values.size(); i += stride) {
    const double v = values[i];
    sum += v;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    ++n;
    at_min += v <= (shift ? -0.2 : 0.5);
    at_max += v >= (shift ? 0.4 : 1.0);
  }
  if (n == 0) return nlohmann::json::object();
  return {{"count", n}, {"min", lo}, {"mean", sum / n}, {"max", hi}, {"at_lower_clip", at_min}, {"at_upper_clip", at_max}};
}

}  // namespace

absl::StatusOr<QatCellResult> TrainQatCell(const Experiment& config, const QuantizerSpec& spec,
                                           const Quantizer& quantizer, int bits,
                                           const std::vector<LayerPlan>& plan, const Graph& graph,
                                           const ParamStore& fp32, const LabeledImages* test,
                                           const std::map<std::string, ActivationQuantParams>& activations,
                                           const std::map<std::string, std::pair<float, float>>& activation_ranges,
                                           int threads, const std::string& cache_dir,
                                           const std::function<void(const std::string&)>& log) {
  const QuantizationAwareTraining& qat = spec.qat();
  QB_ASSIGN_OR_RETURN(TrainingSet train, LoadTrainingSet(qat.train(), config.dataset(), graph.input_shape(),
                                                        graph.num_classes, config.seed(), threads, cache_dir));
  TrainerOptions options = TrainerOptionsFor(qat.train(), config.seed());
  const SteRule ste = qat.ste() == QuantizationAwareTraining::CLIPPED ? SteRule::kClipped : SteRule::kIdentity;
  std::string plan_key;
  for (const LayerPlan& layer : plan) {
    if (layer.bits == 0) continue;
    QuantizedWeight q{layer.param, &quantizer, layer.bits, ste};
    q.train_parameters = quantizer.AsTrainable() != nullptr;
    options.quantized_weights.push_back(q);
    absl::StrAppend(&plan_key, layer.param, ":", layer.bits, ";");
  }
  switch (qat.loss()) {
    case QuantizationAwareTraining::DISTILL_RMSE: options.distill = true; options.distillation = DistillationKind::kRmse; break;
    case QuantizationAwareTraining::DISTILL_L1: options.distill = true; options.distillation = DistillationKind::kL1; break;
    case QuantizationAwareTraining::DISTILL_KL: options.distill = true; options.distillation = DistillationKind::kKl; break;
    default: break;
  }
  options.temperature = qat.temperature();
  options.freeze_network = qat.freeze_weights();
  const bool trained_thresholds = qat.activation_thresholds() != QuantizationAwareTraining::FIXED;
  const ThresholdMode mode = qat.activation_thresholds() == QuantizationAwareTraining::ASYMMETRIC
                                 ? ThresholdMode::kAsymmetric
                                 : ThresholdMode::kSymmetric;
  std::vector<std::unique_ptr<ActivationHook>> hooks;
  std::map<std::string, TrainedActivationThresholds*> threshold_hooks;
  QatCellResult result;
  std::string activation_key;
  for (const auto& [site, params] : activations) {
    if (trained_thresholds) {
      auto range = activation_ranges.find(site);
      if (range == activation_ranges.end()) return absl::InternalError("no calibrated range for activation site " + site);
      QB_ASSIGN_OR_RETURN(std::unique_ptr<TrainedActivationThresholds> hook,
                          TrainedActivationThresholds::Create(range->second.first, range->second.second, params.bits, mode));
      result.initial_activations[site] = hook->Params();
      threshold_hooks[site] = hook.get();
      hooks.push_back(std::move(hook));
      absl::StrAppendFormat(&activation_key, "%s:%d:trained-%s:%.9g:%.9g;", site, params.bits,
                            QuantizationAwareTraining::ActivationThresholds_Name(qat.activation_thresholds()),
                            range->second.first, range->second.second);
    } else {
      hooks.push_back(std::make_unique<ActivationFakeQuantHook>(params));
      absl::StrAppendFormat(&activation_key, "%s:%d:%.9g:%d;", site, params.bits, params.scale, params.zero_point);
    }
    options.activation_hooks[site] = hooks.back().get();
  }
  Teacher teacher{&graph, const_cast<ParamStore*>(&fp32)};
  std::unique_ptr<TrainingData> test_data;
  if (test != nullptr) test_data = EvaluationAsTrainingData(test);

  TrainingSpec recipe = qat.train();
  recipe.mutable_data()->clear_dir();
  std::string quantizer_key = spec.name();
  for (const auto& [k, v] : std::map<std::string, std::string>(spec.params().begin(), spec.params().end())) {
    absl::StrAppend(&quantizer_key, ",", k, "=", v);
  }
  const std::string key = absl::StrCat(
      "quantbench-qat/", kGraphTrainerVersion, "|start=", StoreIdentity(fp32), "|quantizer=", quantizer_key,
      "|bits=", bits, "|plan=", plan_key, "|ste=", QuantizationAwareTraining::Ste_Name(qat.ste()),
      "|loss=", QuantizationAwareTraining::Loss_Name(qat.loss()), "|temperature=", qat.temperature(),
      "|recipe=", recipe.ShortDebugString(), "|preprocessing=", config.dataset().preprocessing().ShortDebugString(),
      "|data=", train.identity, "|activations=", activation_key, "|freeze=", qat.freeze_weights(),
      "|threads=", threads);
  QB_ASSIGN_OR_RETURN(TrainedWeights trained,
                      TrainOrLoad(graph, fp32, options, train, test_data.get(), options.distill ? &teacher : nullptr,
                                  key, cache_dir, absl::StrCat(config.network().architecture(), "-qat-", spec.name(), "-", bits),
                                  log));
  result.trained = std::move(trained.params);
  // The trained thresholds back into their hooks (also after a cache hit), then their grids.
  nlohmann::json activation_alphas = nlohmann::json::object();
  std::vector<float> all_activation_alphas;
  for (auto& [site, hook] : threshold_hooks) {
    auto it = trained.quantizer_parameters.find(kActivationParameterPrefix + site);
    if (it == trained.quantizer_parameters.end() || it->second.size() != hook->TrainableParameters().size()) {
      return absl::InternalError("trained thresholds of activation site " + site + " are missing");
    }
    std::copy(it->second.begin(), it->second.end(), hook->TrainableParameters().begin());
    result.activations[site] = hook->Params();
    activation_alphas[site] = it->second;
    trained.quantizer_parameters.erase(it);
  }
  std::vector<float> weight_parameters;
  for (const auto& [name, values] : trained.quantizer_parameters) {
    weight_parameters.insert(weight_parameters.end(), values.begin(), values.end());
  }
  result.record = {{"recipe", TrainingRecipeJson(qat.train())},
                   {"ste", ste == SteRule::kClipped ? "identity where |w| < 1, else 0 (clipped)" : "identity"},
                   {"loss", QuantizationAwareTraining::Loss_Name(qat.loss())},
                   {"start", "the fp32 weights of this sweep"},
                   {"quantizer_parameters_trained", !trained.quantizer_parameters.empty()},
                   {"activation_sites_fake_quantized", activations.size()}};
  if (options.distill) result.record["temperature"] = qat.temperature();
  result.record["weights_frozen"] = qat.freeze_weights();
  result.record["activation_thresholds"] = QuantizationAwareTraining::ActivationThresholds_Name(qat.activation_thresholds());
  const bool asymmetric_weights = spec.params().count("thresholds") != 0 && spec.params().at("thresholds") == "asymmetric";
  if (!weight_parameters.empty()) {
    result.record["weight_parameters"] = asymmetric_weights
        ? nlohmann::json{{"alpha_T", ParameterStatistics(weight_parameters, 0, 2)},
                         {"alpha_R", ParameterStatistics(weight_parameters, 1, 2)}}
        : nlohmann::json{{"alpha", ParameterStatistics(weight_parameters, 0, 1)}};
  }
  if (!threshold_hooks.empty()) {
    for (const auto& [site, values] : activation_alphas.items()) {
      all_activation_alphas.insert(all_activation_alphas.end(), values.begin(), values.end());
    }
    result.record["activation_parameters"] = mode == ThresholdMode::kAsymmetric
        ? nlohmann::json{{"alpha_T", ParameterStatistics(all_activation_alphas, 0, 2)},
                         {"alpha_R", ParameterStatistics(all_activation_alphas, 1, 2)}}
        : nlohmann::json{{"alpha", ParameterStatistics(all_activation_alphas, 0, 1)}};
    result.record["activation_parameters"]["per_site"] = activation_alphas;
  }
  result.record.update(trained.record);
  result.quantizer = std::make_unique<BoundQuantizer>(quantizer, std::move(trained.quantizer_parameters));
  return result;
}

}  // namespace quantbench
