#include "experiments/model_loader.h"

#include <algorithm>
#include <new>
#include <stdexcept>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "experiments/memory_budget.h"
#include "experiments/training_setup.h"
#include "kernels/status_macros.h"
#include "networks/architecture.h"
#include "networks/fold_batchnorm.h"
#include "networks/graph.h"
#include "networks/graph_network.h"
#include "networks/onnx_import.h"
#include "networks/weight_cache.h"

namespace quantbench {
namespace {

bool HasBatchNorm(const ParamStore& params) {
  return std::any_of(params.parameters().begin(), params.parameters().end(),
                     [](const Parameter& p) { return p.kind == Parameter::kNormalization; });
}

// Everything the fp32 training result depends on besides the initial weights' seed: the
// trainer version, the network, the whole recipe (data folder left out: the data's content
// identity stands for it), the data's preprocessing and the thread count (oneDNN's
// reductions depend on it).
std::string Fp32TrainingKey(const Experiment& config, const TrainingSet& train, int threads) {
  const NetworkSpec& spec = config.network();
  TrainingSpec recipe = spec.train();
  recipe.mutable_data()->clear_dir();
  std::string variant;
  for (const auto& [k, v] : std::map<std::string, std::string>(spec.variant().begin(), spec.variant().end())) {
    absl::StrAppend(&variant, k, "=", v, ";");
  }
  return absl::StrCat("quantbench-graph-trainer/", kGraphTrainerVersion, "|arch=", spec.architecture(),
                      "|variant=", variant, "|hidden=", absl::StrJoin(spec.mlp().hidden(), ","),
                      "|input=", absl::StrJoin(spec.input_shape(), ","), "|classes=", spec.num_classes(),
                      "|init_seed=", config.seed(), "|recipe=", recipe.ShortDebugString(),
                      "|preprocessing=", config.dataset().preprocessing().ShortDebugString(),
                      "|data=", train.identity, "|threads=", threads);
}

}  // namespace

absl::StatusOr<Graph> BuildConfiguredGraph(const NetworkSpec& spec) {
  ArchitectureOptions options;
  options.num_classes = spec.num_classes();
  options.variant = std::map<std::string, std::string>(spec.variant().begin(), spec.variant().end());
  if (spec.architecture() == "mlp") {
    // The config's mlp { hidden } and flat input_shape are the mlp builder's variants.
    options.variant["hidden"] = absl::StrJoin(spec.mlp().hidden(), ",");
    if (!spec.input_shape().empty()) options.variant["inputs"] = absl::StrCat(spec.input_shape(0));
  } else if (spec.input_shape_size() == 3) {
    options.image_size = static_cast<int>(spec.input_shape(2));
  }
  auto built = ArchitectureRegistry::Global().Build(spec.architecture(), options);
  if (!built.ok()) return Annotate(built.status(), "network");
  return built;
}

namespace {

absl::StatusOr<LoadedModel> LoadGraphNet(const Experiment& config, const std::string& cache_dir,
                                         const LabeledImages* test, int threads,
                                         const std::function<void(const std::string&)>& log) {
  const NetworkSpec& spec = config.network();
  QB_ASSIGN_OR_RETURN(Graph graph, BuildConfiguredGraph(spec));
  // Sizes from the config against the machine, before any weight or batch is allocated.
  QB_RETURN_IF_ERROR(CheckNetworkFitsInMemory(config, graph, AvailableMemoryBytes()));
  const bool fold = spec.batchnorm() == NetworkSpec::FOLD;

  LoadedModel model;
  // Every source starts from the native layout (names and shapes) the graph defines.
  const uint64_t seed = spec.has_random_init() ? spec.random_init().seed() : config.seed();
  QB_ASSIGN_OR_RETURN(ParamStore params, InitGraphParams(graph, seed));
  if (spec.has_random_init()) {
    model.weights = {{"source", "random_init"},
                     {"seed", seed},
                     {"note", "seeded random weights: accuracy is meaningless, agreement with fp32 is not"}};
    if (fold) QB_RETURN_IF_ERROR(FoldBatchNormIntoConvs(&graph, &params));
  } else if (spec.has_onnx()) {
    const OnnxWeights& onnx = spec.onnx();
    const bool by_order = onnx.binding() == OnnxWeights::BY_ORDER;
    if (by_order && HasBatchNorm(params) && !fold) {
      return absl::InvalidArgumentError(
          "network.batchnorm: BY_ORDER binds conv and dense weights only, so a network with "
          "BatchNorm needs batchnorm: FOLD (the file's BatchNorm must already be folded)");
    }
    // A BN-folded file binds to the folded layout; a by-name file to the stored one, then folds.
    if (by_order) QB_RETURN_IF_ERROR(FoldBatchNormIntoConvs(&graph, &params));
    OnnxBindOptions bind_options;
    for (const ParamSpec& p : graph.params) {
      if (!p.used) bind_options.optional_params.insert(p.name);
    }
    auto report = ImportOnnxWeights(onnx.path(), by_order ? OnnxBindingRule::kByOrder : OnnxBindingRule::kByName,
                                    &params, bind_options);
    if (!report.ok()) return Annotate(report.status(), absl::StrCat("network.onnx.path ", onnx.path()));
    if (!by_order && fold) QB_RETURN_IF_ERROR(FoldBatchNormIntoConvs(&graph, &params));
    model.weights = {{"source", "onnx"},
                     {"path", onnx.path()},
                     {"binding", OnnxBindingRuleName(report->rule)},
                     {"bound_values", report->bound_values},
                     {"dequantized_tensors", report->dequantized_tensors},
                     {"transposed_tensors", report->transposed_tensors},
                     {"zero_filled_biases", report->zero_filled_tensors},
                     {"summary", report->Summary()}};
    if (report->dequantized_tensors > 0) {
      model.weights["note"] =
          "fp32 baseline = dequantized int8 weights (scale * (q - zero_point)); activations fp32";
    }
    log(absl::StrCat("fp32 weights: ", report->Summary()));
  } else if (!spec.weights_file().empty()) {
    auto loaded = LoadParamStore(spec.weights_file(), /*expected_key=*/"");
    if (!loaded.ok()) return Annotate(loaded.status(), "network.weights_file");
    if (fold && HasBatchNorm(*loaded)) QB_RETURN_IF_ERROR(FoldBatchNormIntoConvs(&graph, &*loaded));
    params = *std::move(loaded);
    model.weights = {{"source", "file"}, {"path", spec.weights_file()}};
  } else if (spec.has_train()) {
    QB_ASSIGN_OR_RETURN(TrainingSet train, LoadTrainingSet(spec.train(), config.dataset(), graph.input_shape(),
                                                          graph.num_classes, config.seed(), threads, cache_dir));
    std::unique_ptr<TrainingData> test_data;
    if (test != nullptr) test_data = EvaluationAsTrainingData(test);
    TrainerOptions options = TrainerOptionsFor(spec.train(), config.seed());
    QB_ASSIGN_OR_RETURN(TrainedWeights trained,
                        TrainOrLoad(graph, std::move(params), options, train, test_data.get(), nullptr,
                                    Fp32TrainingKey(config, train, threads), cache_dir, spec.architecture(), log));
    params = std::move(trained.params);
    model.weights = {{"source", "trained"}, {"recipe", TrainingRecipeJson(spec.train())}, {"init_seed", config.seed()}};
    model.weights.update(trained.record);
    if (fold) QB_RETURN_IF_ERROR(FoldBatchNormIntoConvs(&graph, &params));
  } else {
    return absl::InvalidArgumentError("network: give train { ... }, onnx { path: ... }, weights_file or random_init");
  }
  QB_RETURN_IF_ERROR(Annotate(CheckGraphParams(graph, params), "network weights"));
  model.weights["batchnorm"] = fold ? "folded before quantization" : "kept; folded at inference after quantization";
  model.fp32 = std::move(params);
  model.working = std::make_unique<ParamStore>(model.fp32);
  QB_ASSIGN_OR_RETURN(model.network, GraphNetwork::Create(graph, model.working.get(), spec.eval_batch()));
  model.graph = std::move(graph);
  return model;
}

}  // namespace

std::vector<std::string> AvailableArchitectures() { return ArchitectureRegistry::Global().Names(); }

absl::StatusOr<LoadedModel> LoadModel(const Experiment& config, const std::string& cache_dir,
                                      const std::function<void(const std::string&)>& log,
                                      const LabeledImages* test, int threads) {
  // The estimate above is from below: an allocation that still fails (a file's sizes, the
  // machine's memory shrinking meanwhile) is an error, not an abort.
  try {
    return LoadGraphNet(config, cache_dir, test, threads, log);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(
        "network: out of memory while building or training the network; lower network.eval_batch or "
        "network.train.batch_size, or use a smaller network");
  } catch (const std::length_error& e) {
    return absl::ResourceExhaustedError(absl::StrCat("network: a size from the config or a file is too large (", e.what(), ")"));
  }
}

}  // namespace quantbench
