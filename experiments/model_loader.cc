#include "experiments/model_loader.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "experiments/fp32_weights.h"
#include "kernels/status_macros.h"
#include "networks/architecture.h"
#include "networks/fold_batchnorm.h"
#include "networks/graph.h"
#include "networks/graph_network.h"
#include "networks/mlp.h"
#include "networks/onnx_import.h"
#include "networks/weight_cache.h"

namespace quantbench {
namespace {

// The mlp's weights from an ONNX file (e.g. one written by //experiments:export_onnx) or a
// seeded initialisation; training and .qbw files are ObtainFp32Weights' job.
absl::StatusOr<Fp32Weights> MlpWeightsWithoutTraining(const Experiment& config,
                                                      const std::function<void(const std::string&)>& log) {
  const NetworkSpec& network = config.network();
  const MlpSpec spec = MlpSpecFor(network);
  Fp32Weights fp32;
  if (network.has_random_init()) {
    fp32.source = "random_init";
    fp32.params = InitMlpParams(spec, network.random_init().seed());
    return fp32;
  }
  // The native layout (names, shapes) comes from the spec; the file supplies the values.
  fp32.source = "onnx";
  fp32.path = network.onnx().path();
  fp32.params = InitMlpParams(spec, config.seed());
  const OnnxBindingRule rule =
      network.onnx().binding() == OnnxWeights::BY_ORDER ? OnnxBindingRule::kByOrder : OnnxBindingRule::kByName;
  auto report = ImportOnnxWeights(fp32.path, rule, &fp32.params);
  if (!report.ok()) return Annotate(report.status(), absl::StrCat("network.onnx.path ", fp32.path));
  log(absl::StrCat("fp32 weights: ", report->Summary()));
  return fp32;
}

absl::StatusOr<LoadedModel> LoadMlp(const Experiment& config, const std::string& cache_dir,
                                    const std::function<void(const std::string&)>& log) {
  const bool native = config.network().has_train() || config.network().weights_case() == NetworkSpec::kWeightsFile;
  QB_ASSIGN_OR_RETURN(Fp32Weights fp32, native ? ObtainFp32Weights(config, cache_dir, log)
                                               : MlpWeightsWithoutTraining(config, log));
  LoadedModel model;
  model.weights = {{"source", fp32.source}, {"path", fp32.path}};
  if (fp32.source == "trained") {
    model.weights["from_cache"] = fp32.from_cache;
    model.weights["cache_key"] = fp32.cache_key;
    if (!fp32.from_cache) model.weights["train_seconds"] = fp32.train_seconds;
  } else if (fp32.source == "random_init") {
    model.weights["seed"] = config.network().random_init().seed();
    model.weights["note"] = "seeded random weights: accuracy is meaningless, agreement with fp32 is not";
  }
  model.fp32 = std::move(fp32.params);
  model.working = std::make_unique<ParamStore>(model.fp32);
  QB_ASSIGN_OR_RETURN(model.network,
                      MlpNetwork::Create(MlpSpecFor(config.network()), model.working.get(),
                                         config.network().eval_batch()));
  return model;
}

bool HasBatchNorm(const ParamStore& params) {
  return std::any_of(params.parameters().begin(), params.parameters().end(),
                     [](const Parameter& p) { return p.kind == Parameter::kNormalization; });
}

absl::StatusOr<LoadedModel> LoadGraphNet(const Experiment& config, const std::function<void(const std::string&)>& log) {
  const NetworkSpec& spec = config.network();
  ArchitectureOptions options;
  options.num_classes = spec.num_classes();
  if (spec.input_shape_size() == 3) options.image_size = static_cast<int>(spec.input_shape(2));
  options.variant = std::map<std::string, std::string>(spec.variant().begin(), spec.variant().end());
  auto built = ArchitectureRegistry::Global().Build(spec.architecture(), options);
  if (!built.ok()) return Annotate(built.status(), "network");
  Graph graph = *std::move(built);
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
  } else {
    return absl::InvalidArgumentError(absl::StrCat("network.train: only the mlp is trained here; give '",
                                                   spec.architecture(), "' onnx, weights_file or random_init"));
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

std::vector<std::string> AvailableArchitectures() {
  std::vector<std::string> names = ArchitectureRegistry::Global().Names();
  names.insert(names.begin(), "mlp");
  return names;
}

absl::StatusOr<LoadedModel> LoadModel(const Experiment& config, const std::string& cache_dir,
                                      const std::function<void(const std::string&)>& log) {
  if (config.network().architecture() == "mlp") return LoadMlp(config, cache_dir, log);
  return LoadGraphNet(config, log);
}

}  // namespace quantbench
