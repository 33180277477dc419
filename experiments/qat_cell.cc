#include "experiments/qat_cell.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "experiments/training_setup.h"
#include "kernels/status_macros.h"
#include "quantizers/trainable_quantizer.h"
#include "training/activation_fake_quant.h"
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

}  // namespace

absl::StatusOr<QatCellResult> TrainQatCell(const Experiment& config, const QuantizerSpec& spec,
                                           const Quantizer& quantizer, int bits,
                                           const std::vector<LayerPlan>& plan, const Graph& graph,
                                           const ParamStore& fp32, const LabeledImages* test,
                                           const std::map<std::string, ActivationQuantParams>& activations,
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
  std::vector<std::unique_ptr<ActivationFakeQuantHook>> hooks;
  std::string activation_key;
  for (const auto& [site, params] : activations) {
    hooks.push_back(std::make_unique<ActivationFakeQuantHook>(params));
    options.activation_hooks[site] = hooks.back().get();
    absl::StrAppendFormat(&activation_key, "%s:%d:%.9g:%d;", site, params.bits, params.scale, params.zero_point);
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
      "|data=", train.identity, "|activations=", activation_key, "|threads=", threads);
  QB_ASSIGN_OR_RETURN(TrainedWeights trained,
                      TrainOrLoad(graph, fp32, options, train, test_data.get(), options.distill ? &teacher : nullptr,
                                  key, cache_dir, absl::StrCat(config.network().architecture(), "-qat-", spec.name(), "-", bits),
                                  log));
  QatCellResult result;
  result.trained = std::move(trained.params);
  result.record = {{"recipe", TrainingRecipeJson(qat.train())},
                   {"ste", ste == SteRule::kClipped ? "identity where |w| < 1, else 0 (clipped)" : "identity"},
                   {"loss", QuantizationAwareTraining::Loss_Name(qat.loss())},
                   {"start", "the fp32 weights of this sweep"},
                   {"quantizer_parameters_trained", !trained.quantizer_parameters.empty()},
                   {"activation_sites_fake_quantized", activations.size()}};
  if (options.distill) result.record["temperature"] = qat.temperature();
  result.record.update(trained.record);
  result.quantizer = std::make_unique<BoundQuantizer>(quantizer, std::move(trained.quantizer_parameters));
  return result;
}

}  // namespace quantbench
