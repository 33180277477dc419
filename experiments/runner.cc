#include "experiments/runner.h"

#include <google/protobuf/util/json_util.h>

#include <chrono>
#include <optional>
#include <functional>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "experiments/activation_calibration.h"
#include "experiments/dws_rescaling_step.h"
#include "experiments/cell_store.h"
#include "experiments/config.h"
#include "experiments/environment.h"
#include "experiments/evaluate.h"
#include "experiments/learned_rounding_cell.h"
#include "experiments/dataset_loader.h"
#include "experiments/model_loader.h"
#include "experiments/plots.h"
#include "experiments/qat_cell.h"
#include "experiments/progress.h"
#include "experiments/quantize_model.h"
#include "experiments/result_files.h"
#include "kernels/atomic_file.h"
#include "kernels/file_lock.h"
#include "kernels/packed_gemm.h"
#include "kernels/status_macros.h"
#include "networks/batchnorm_calibration.h"
#include "networks/threads.h"
#include "quantizers/quantizer.h"

namespace quantbench {
namespace {

bool MetricEnabled(const Experiment& config, const std::string& metric) {
  if (config.metrics().empty()) return true;
  for (const std::string& m : config.metrics()) {
    if (m == metric) return true;
  }
  return false;
}

nlohmann::json ConfigAsJson(const Experiment& config) {
  std::string text;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  if (!google::protobuf::util::MessageToJsonString(config, &text, options).ok()) return nullptr;
  return nlohmann::json::parse(text);
}

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

// Runs one quantized cell again on the packed low-bit kernels and compares it with the
// simulated run just made: accuracy, agreement of top-1 predictions (identical is the
// promise; where they differ the reason is recorded), latency and the bytes actually stored.
absl::StatusOr<nlohmann::json> RunPacked(Network& network, const std::map<std::string, QuantizedTensor>& kept,
                                         const std::vector<LayerPlan>& plan, const LabeledImages& test, int batch,
                                         const Evaluation& simulated, const Evaluation& fp32,
                                         const PackedOptions& options, int64_t fp32_bytes, const ParamStore& store,
                                         const std::function<nlohmann::json(double)>& accuracy) {
  std::vector<PackedParam> params;
  for (const LayerPlan& layer : plan) {
    if (layer.bits == 0) continue;
    auto it = kept.find(layer.param);
    if (it == kept.end()) return absl::InternalError(absl::StrCat("no quantizer output kept for ", layer.param));
    params.push_back({layer.param, &it->second, layer.bits});
  }
  const bool int8 = options.activations() == PackedOptions::INT8;
  QB_RETURN_IF_ERROR(network.UsePackedWeights(params, int8 ? GemmActivations::kInt8 : GemmActivations::kFloat));
  auto packed_eval = Evaluate(network, test, batch, &simulated.predictions);
  const int64_t packed_weight_bytes = network.packed_weight_bytes();
  network.UseSimulatedWeights();
  QB_RETURN_IF_ERROR(packed_eval.status());
  // Everything not packed (biases, BatchNorm, layers left in fp32) is counted at 4 bytes.
  int64_t other_bytes = 0;
  for (const Parameter& p : store.parameters()) {
    bool is_packed = false;
    for (const PackedParam& pp : params) is_packed |= pp.param == p.name;
    if (!is_packed) other_bytes += 4 * static_cast<int64_t>(p.values.size());
  }
  int64_t differ = 0;
  for (size_t i = 0; i < simulated.predictions.size(); ++i) {
    differ += packed_eval->predictions[i] != simulated.predictions[i];
  }
  const double images = static_cast<double>(simulated.predictions.size());
  nlohmann::json out = {
      {"activations", int8 ? "int8" : "fp32"},
      {"top1", accuracy(packed_eval->top1)},
      {"top5", accuracy(packed_eval->top5)},
      {"top1_agreement_with_simulated", packed_eval->agreement_top1},
      {"predictions_differing_from_simulated", differ},
      {"model_bytes", packed_weight_bytes + other_bytes},
      {"packed_weight_bytes", packed_weight_bytes},
      {"compression_vs_fp32", static_cast<double>(fp32_bytes) / (packed_weight_bytes + other_bytes)},
      {"eval_seconds", packed_eval->seconds},
      {"simulated_eval_seconds", simulated.seconds},
      {"fp32_eval_seconds", fp32.seconds},
      {"ms_per_image", images > 0 ? 1e3 * packed_eval->seconds / images : 0.0},
      {"speedup_vs_simulated", packed_eval->seconds > 0 ? simulated.seconds / packed_eval->seconds : 0.0},
      {"batch", batch}};
  if (differ > 0) {
    out["why_predictions_differ"] =
        int8 ? "int8 activations: each activation row is rounded to 8 bits before the dot products"
             : "fp32 summation order differs between the packed kernels and oneDNN; these are near-ties";
  }
  return out;
}

// One (quantizer, bits) cell on a fresh copy of the fp32 weights (or its QAT-retrained ones).
absl::StatusOr<nlohmann::json> ComputeCell(const Experiment& config, const QuantizerSpec& q, int bits,
                                           LoadedModel& model, Network& network, const LabeledImages& test,
                                           const Evaluation& baseline,
                                           const std::map<std::string, ActivationQuantParams>& activation_params,
                                           const std::map<std::string, std::pair<float, float>>& activation_ranges,
                                           const std::function<nlohmann::json(double)>& accuracy, int64_t fp32_bytes,
                                           int threads, bool packed, const std::string& cache_dir,
                                           LayerGramCache* gram_cache,
                                           const std::function<void(const std::string&)>& log) {
  const int batch = config.network().eval_batch();
  std::map<std::string, std::string> params(q.params().begin(), q.params().end());
  QB_ASSIGN_OR_RETURN(std::unique_ptr<Quantizer> quantizer, QuantizerRegistry::Global().Create(q.name(), params));
  auto cell_start = std::chrono::steady_clock::now();
  QB_ASSIGN_OR_RETURN(std::vector<LayerPlan> plan, PlanLayers(model.fp32, config.layers(), bits));
  // Quantization-aware cells quantize their retrained latent weights; the others the fp32 ones.
  std::optional<QatCellResult> qat;
  if (q.has_qat()) {
    QB_ASSIGN_OR_RETURN(qat, TrainQatCell(config, q, *quantizer, bits, plan, *model.graph, model.fp32, &test,
                                          activation_params, activation_ranges, threads, cache_dir, log));
  }
  // A trained cell also records the same cell before training (the configured quantizer on
  // the fp32 weights, activations at the initial thresholds): "calibration only".
  nlohmann::json before_training;
  if (qat) {
    if (!qat->initial_activations.empty()) QB_RETURN_IF_ERROR(network.SetActivationQuantization(qat->initial_activations));
    QB_RETURN_IF_ERROR(QuantizeModel(*quantizer, model.fp32, plan, model.working.get(), nullptr).status());
    QB_RETURN_IF_ERROR(network.SyncParams());
    QB_ASSIGN_OR_RETURN(Evaluation direct, Evaluate(network, test, batch, &baseline.predictions));
    before_training = {{"top1", accuracy(direct.top1)},
                       {"top5", accuracy(direct.top5)},
                       {"top1_agreement_with_fp32", direct.agreement_top1}};
    if (!qat->activations.empty()) QB_RETURN_IF_ERROR(network.SetActivationQuantization(qat->activations));
  }
  // Learned rounding keeps the quantizer's grid and learns each weight's up / down choice; the
  // cell also records the same grid with nearest rounding.
  std::unique_ptr<LearnedRoundingQuantizer> learned;
  nlohmann::json learned_record;
  if (q.has_learned_rounding()) {
    if (gram_cache == nullptr) return absl::FailedPreconditionError("learned_rounding: needs a graph network");
    // The Grams are of the fp32 network's inputs: the previous cell left its quantized weights
    // in the working store (a first run without this collected the inputs of the last cell's
    // 2-bit network).
    *model.working = model.fp32;
    QB_RETURN_IF_ERROR(network.SyncParams());
    QB_ASSIGN_OR_RETURN(const LayerGramCache::Entry* grams, gram_cache->Get(q.learned_rounding().images(), log));
    QB_RETURN_IF_ERROR(QuantizeModel(*quantizer, model.fp32, plan, model.working.get(), nullptr).status());
    QB_RETURN_IF_ERROR(network.SyncParams());
    QB_ASSIGN_OR_RETURN(Evaluation nearest, Evaluate(network, test, batch, &baseline.predictions));
    learned_record = {{"nearest_rounding", {{"top1", accuracy(nearest.top1)},
                                            {"top5", accuracy(nearest.top5)},
                                            {"top1_agreement_with_fp32", nearest.agreement_top1}}},
                      {"gram_images", grams->images},
                      {"gram_set", gram_cache->calibration_name()},
                      {"gram_seconds", grams->seconds},
                      {"gram_inputs", "fp32 network, activation quantization off (symmetric variant)"},
                      {"loss", "per layer: mean over input columns of ||(W~ - W) x||^2 (pre-activation output), "
                               "normalised by nearest rounding's, + regularization * mean(1 - |2h - 1|^beta)"}};
    learned = std::make_unique<LearnedRoundingQuantizer>(*quantizer, grams->grams,
                                                         LearnedRoundingOptionsFrom(q.learned_rounding()));
  }
  const Quantizer& cell_quantizer = qat ? *qat->quantizer : learned ? *learned : *quantizer;
  std::map<std::string, QuantizedTensor> kept;
  QB_ASSIGN_OR_RETURN(ModelReport report,
                      QuantizeModel(cell_quantizer, qat ? qat->trained : model.fp32, plan, model.working.get(),
                                    packed ? &kept : nullptr));
  QB_RETURN_IF_ERROR(network.SyncParams());
  QB_ASSIGN_OR_RETURN(Evaluation eval, Evaluate(network, test, batch, &baseline.predictions));
  nlohmann::json cell = {{"quantizer", q.label()},
                         {"name", q.name()},
                         {"params", params},
                         {"bits", bits},
                         {"top1", accuracy(eval.top1)},
                         {"delta_top1", accuracy(eval.top1 - baseline.top1)},
                         {"top1_agreement_with_fp32", eval.agreement_top1},
                         {"top5_agreement_with_fp32", eval.agreement_top5}};
  if (MetricEnabled(config, "top5")) {
    cell["top5"] = accuracy(eval.top5);
    cell["delta_top5"] = accuracy(eval.top5 - baseline.top5);
  }
  if (MetricEnabled(config, "weight_error")) {
    cell["weight_mse"] = report.mse;
    cell["sqnr_db"] = report.sqnr_db;
  }
  if (MetricEnabled(config, "levels")) cell["max_levels_used"] = report.max_levels_used;
  if (MetricEnabled(config, "model_size")) {
    cell["model_bytes"] = report.model_bytes;
    cell["compression_vs_fp32"] = static_cast<double>(fp32_bytes) / report.model_bytes;
    cell["quantized_weights"] = report.quantized_weights;
    cell["effective_bits_per_weight"] = report.EffectiveBitsPerWeight();
    cell["weight_sparsity"] = report.Sparsity();
  }
  if (packed) {
    QB_ASSIGN_OR_RETURN(cell["packed"], RunPacked(network, kept, plan, test, batch, eval, baseline,
                                                  config.packed(), fp32_bytes, model.fp32, accuracy));
  }
  if (MetricEnabled(config, "per_layer")) {
    nlohmann::json layers = nlohmann::json::array();
    for (const LayerReport& l : report.layers) {
      layers.push_back({{"layer", l.layer},          {"bits", l.bits},       {"weights", l.weights},
                        {"mse", l.mse},              {"sqnr_db", l.sqnr_db}, {"levels_used", l.levels_used},
                        {"storage_bits", l.storage_bits}, {"sparsity", l.Sparsity()}});
    }
    cell["layers"] = layers;
  }
  if (qat) {
    cell["before_training"] = before_training;
    if (!qat->activations.empty()) {
      // Back to the sweep's calibrated grids for the next cell.
      QB_RETURN_IF_ERROR(network.SetActivationQuantization(activation_params));
    }
    cell["training"] = qat->record;
    cell["training"]["weight_error_measured_against"] = "the trained latent fp32 weights";
  }
  if (learned) {
    learned_record["optimisation_seconds"] = learned->optimisation_seconds();
    const nlohmann::json layers = learned->layers();
    double ratio_sum = 0;
    for (const nlohmann::json& l : layers) ratio_sum += l["loss_ratio"].get<double>();
    // Mean over layers of (learned / nearest) reconstruction loss: below 1 = learned helps.
    learned_record["mean_loss_ratio"] = layers.empty() ? 1.0 : ratio_sum / layers.size();
    learned_record["layers"] = layers;
    cell["learned_rounding"] = learned_record;
  }
  cell["quantize_seconds"] = report.seconds;
  cell["eval_seconds"] = eval.seconds;
  cell["seconds"] = Seconds(cell_start);
  return cell;
}

// The work directory: the one given, else <cache_dir>/sweeps/<experiment>-<config hash>.
std::string WorkDirOf(const Experiment& config, const SweepOptions& options) {
  return options.work_dir.empty() ? WorkDirectoryFor(config, options.cache_dir + "/sweeps") : options.work_dir;
}

}  // namespace

absl::StatusOr<ShardOutcome> RunSweepCells(const Experiment& config, const SweepOptions& options) {
  auto setup_start = std::chrono::steady_clock::now();
  QB_ASSIGN_OR_RETURN(CellStore store, CellStore::Open(WorkDirOf(config, options), config));
  const std::string code_version = CodeVersion();
  ShardOutcome outcome;
  outcome.work_dir = store.dir();
  // This shard's cells not yet in the work directory (finished by an earlier, killed run or
  // by another shard); they are all a rerun recomputes.
  std::vector<SweepCell> pending;
  for (const SweepCell& cell : SweepCells(config)) {
    if (!InShard(cell, options.shard)) continue;
    ++outcome.cells_in_shard;
    QB_ASSIGN_OR_RETURN(std::optional<nlohmann::json> done, store.ReadCell(cell.key));
    if (done.has_value() && (done->value("code_version", "") == code_version || options.allow_mixed_versions)) {
      ++outcome.already_done;
    } else {
      pending.push_back(cell);
    }
  }
  if (options.progress != nullptr && outcome.already_done > 0) {
    std::fprintf(options.progress, "resuming from %s: %d of %d cells already done\n", store.dir().c_str(),
                 outcome.already_done, outcome.cells_in_shard);
  }
  QB_ASSIGN_OR_RETURN(std::optional<nlohmann::json> header_done, store.ReadHeader());
  if (pending.empty() && header_done.has_value() &&
      ((*header_done).value("code_version", "") == code_version || options.allow_mixed_versions)) {
    return outcome;
  }

  const int threads = config.threads() > 0 ? config.threads()
                                           : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  SetNumThreads(threads);
  Progress progress(static_cast<int>(pending.size()), options.progress);
  auto log = [&](const std::string& message) { progress.Log(message); };
  // The evaluation set shaped for the network's input, then the network and its fp32
  // weights (a network trained here reports its test accuracy per epoch on that set).
  QB_ASSIGN_OR_RETURN(Graph configured, BuildConfiguredGraph(config.network()));
  QB_ASSIGN_OR_RETURN(LoadedDataset dataset, LoadDataset(config.dataset(), configured.input_shape(),
                                                         configured.num_classes, threads, options.cache_dir));
  const LabeledImages& test = dataset.data;
  log(absl::StrFormat("dataset: %d examples", test.count));
  QB_ASSIGN_OR_RETURN(LoadedModel model, LoadModel(config, options.cache_dir, log, &test, threads));
  Network& network = *model.network;
  const int batch = config.network().eval_batch();
  if (config.network().random_init().calibrate_batchnorm_images() > 0) {
    // Seeded weights: BatchNorm statistics from real images, before anything is measured.
    const int64_t n = std::min<int64_t>(config.network().random_init().calibrate_batchnorm_images(), test.count);
    if (!model.graph.has_value() || n < 1) {
      return absl::InvalidArgumentError("network.random_init.calibrate_batchnorm_images: needs an image network and images");
    }
    std::vector<float> scratch;
    QB_ASSIGN_OR_RETURN(absl::Span<const float> images, test.Examples(0, n, &scratch));
    QB_RETURN_IF_ERROR(Annotate(RecalibrateBatchNorm(*model.graph, &model.fp32, images, static_cast<int>(n)),
                                "recalibrating BatchNorm"));
    *model.working = model.fp32;
    QB_RETURN_IF_ERROR(network.SyncParams());
    model.weights["batchnorm_recalibrated_on"] =
        absl::StrCat("the first ", n, " evaluation images (running mean/var re-estimated layer by layer)");
    log(absl::StrFormat("BatchNorm statistics re-estimated on %d images", n));
  }
  // Calibration images (activation ranges, DWS maxima): the config's, or the evaluation set.
  std::optional<LoadedDataset> calibration_set;
  if (config.has_calibration_data()) {
    DatasetSpec spec = config.calibration_data();
    *spec.mutable_preprocessing() = config.dataset().preprocessing();
    QB_ASSIGN_OR_RETURN(calibration_set, LoadDataset(spec, configured.input_shape(), configured.num_classes, threads,
                                                     options.cache_dir));
  }
  const LabeledImages& calibration_images = calibration_set ? calibration_set->data : test;
  const std::string calibration_name =
      calibration_set ? absl::StrCat("the first calibration_images images of ", config.calibration_data().dir())
                      : std::string("the first calibration_images images of the evaluation set");
  QB_ASSIGN_OR_RETURN(Evaluation baseline, Evaluate(network, test, batch));
  nlohmann::json dws_report;
  if (config.dws_rescaling().enabled()) {
    // Function-preserving up to ReLU6 saturation the calibration did not see: measured.
    QB_ASSIGN_OR_RETURN(dws_report, ApplyDwsRescaling(config.dws_rescaling(), &model, calibration_images, batch));
    QB_ASSIGN_OR_RETURN(Evaluation rescaled, Evaluate(network, test, batch, &baseline.predictions));
    dws_report["fp32_after_rescaling"] = {{"top1", rescaled.top1}, {"top1_agreement_with_fp32", rescaled.agreement_top1}};
    log(absl::StrFormat("DWS rescaling: %d pairs, %d of %d channels locked; fp32 top-1 %.2f %% -> %.2f %% (agreement %.2f %%)",
                        dws_report["pairs"].get<int>(), dws_report["locked_channels"].get<int>(),
                        dws_report["channels"].get<int>(), 100 * baseline.top1, 100 * rescaled.top1,
                        100 * rescaled.agreement_top1));
  }
  int64_t fp32_bytes = 0, parameter_count = 0;
  for (const Parameter& p : model.fp32.parameters()) {
    fp32_bytes += 4 * static_cast<int64_t>(p.values.size());
    parameter_count += static_cast<int64_t>(p.values.size());
  }
  const bool labeled = baseline.labeled > 0;
  // Accuracy exists only against labels; JSON null says "no labels" rather than a fake 0.
  auto accuracy = [labeled](double value) { return labeled ? nlohmann::json(value) : nlohmann::json(nullptr); };
  log(labeled ? absl::StrFormat("fp32 baseline: top-1 %.2f %%, top-5 %.2f %% on %d images", 100 * baseline.top1,
                                100 * baseline.top5, test.count)
              : absl::StrFormat("fp32 baseline: %d unlabeled images (agreement only)", test.count));

  nlohmann::json result;
  result["schema"] = "quantbench.sweep/1";
  result["experiment"] = config.name();
  result["description"] = config.description();
  result["command"] = options.command;
  result["config_path"] = options.config_path;
  result["config"] = ConfigAsJson(config);
  result["timestamp"] = UtcTimestamp();
  result["work_dir"] = store.dir();
  result["environment"] = DescribeEnvironment(options.dirs.workspace, threads);
  result["dataset"] = dataset.info;
  result["dataset"]["labeled_examples"] = baseline.labeled;
  if (!dws_report.is_null()) result["dws_rescaling"] = dws_report;
  result["fp32"] = {{"top1", accuracy(baseline.top1)},
                    {"top5", accuracy(baseline.top5)},
                    {"model_bytes", fp32_bytes},
                    {"parameters", parameter_count},
                    {"eval_seconds", baseline.seconds},
                    {"weights", model.weights}};

  // Activation quantization: calibrated once on the fp32 network, then active for every cell
  // (and measured alone, fp32 weights, so a table can separate the two sources of damage).
  std::map<std::string, ActivationQuantParams> activation_params;  // also applied in QAT cells
  std::map<std::string, std::pair<float, float>> activation_ranges;  // where trained thresholds start
  if (config.activations().bits() > 0) {
    const ActivationQuantization& spec = config.activations();
    QB_ASSIGN_OR_RETURN(ActivationCalibrationResult calibration,
                        CalibrateActivations(network, calibration_images, spec, batch));
    activation_params = calibration.params;
    activation_ranges = calibration.ranges;
    QB_RETURN_IF_ERROR(network.SetActivationQuantization(calibration.params));
    QB_ASSIGN_OR_RETURN(Evaluation act_only, Evaluate(network, test, batch, &baseline.predictions));
    nlohmann::json sites = nlohmann::json::object();
    for (const auto& [site, p] : calibration.params) {
      sites[site] = {{"scale", p.scale}, {"zero_point", p.zero_point}};
    }
    result["activations"] = {
        {"bits", spec.bits()},
        {"calibration", spec.calibration().empty() ? "minmax" : spec.calibration()},
        {"calibration_images", calibration.images},
        {"calibration_set", calibration_name},
        {"quantized_sites", calibration.params.size()},
        {"skipped_sites", calibration.skipped},
        {"sites", sites},
        {"fp32_weights", {{"top1", accuracy(act_only.top1)},
                          {"top5", accuracy(act_only.top5)},
                          {"top1_agreement_with_fp32", act_only.agreement_top1}}}};
    log(absl::StrFormat("activations: %d bits on %d layer inputs (calibrated on %d images); fp32 weights: top-1 %.2f %%",
                        spec.bits(), calibration.params.size(), calibration.images, 100 * act_only.top1));
  }

  result["setup_seconds"] = Seconds(setup_start);
  QB_RETURN_IF_ERROR(store.WriteHeader(result, code_version));

  // Learned rounding's Grams: collected by the first cell that needs them, shared by the rest.
  std::optional<LayerGramCache> gram_cache;
  if (model.graph.has_value()) {
    gram_cache.emplace(network, *model.graph, calibration_images, calibration_name, batch, activation_params);
  }

  // The cells, each written to the work directory as soon as it is finished.
  const bool packed = config.execution() == Experiment::PACKED;
  // One cell under its running lock. A cell another process holds is deferred (first pass)
  // or waited for (second pass): when that process finishes it, it is done here too; when that
  // process died, this one computes it. So concurrent runs of one sweep share the work.
  std::vector<SweepCell> deferred;
  auto process = [&](const SweepCell& todo, bool wait) -> absl::Status {
    absl::StatusOr<FileLock> running = wait ? FileLock::Acquire(store.RunningLockPath(todo.key))
                                            : FileLock::TryAcquire(store.RunningLockPath(todo.key));
    if (!wait && absl::IsFailedPrecondition(running.status())) {
      log(absl::StrCat("cell ", todo.key, " is being computed by another process; coming back to it at the end"));
      deferred.push_back(todo);
      return absl::OkStatus();
    }
    QB_RETURN_IF_ERROR(running.status());
    QB_ASSIGN_OR_RETURN(std::optional<nlohmann::json> done, store.ReadCell(todo.key));
    if (done.has_value() && done->value("code_version", "") == code_version) {
      ++outcome.already_done;
      return absl::OkStatus();
    }
    const QuantizerSpec& q = config.quantizers(todo.quantizer_index);
    absl::StatusOr<nlohmann::json> cell =
        ComputeCell(config, q, todo.bits, model, network, test, baseline, activation_params, activation_ranges, accuracy, fp32_bytes,
                    threads, packed, options.cache_dir, gram_cache ? &*gram_cache : nullptr, log);
    if (!cell.ok()) {
      const std::string message = absl::StrCat(q.label(), ", ", todo.bits, " bits: ", cell.status().message());
      (void)store.WriteFailure(todo.key, message);
      return absl::Status(cell.status().code(), message);
    }
    QB_RETURN_IF_ERROR(store.WriteCell(todo, code_version, *cell));
    // Safe to remove while held: whoever locks a fresh file next finds the cell written.
    std::remove(store.RunningLockPath(todo.key).c_str());
    ++outcome.computed;
    const double top1 = (*cell)["top1"].is_null() ? 0.0 : (*cell)["top1"].get<double>();
    progress.Step(labeled ? absl::StrFormat("%s, %d bits: top-1 %.2f %%", q.label(), todo.bits, 100 * top1)
                          : absl::StrFormat("%s, %d bits: top-1 agreement %.2f %%", q.label(), todo.bits,
                                            100 * (*cell)["top1_agreement_with_fp32"].get<double>()));
    return absl::OkStatus();
  };
  for (int pass = 0; pass < 2; ++pass) {
    const std::vector<SweepCell> cells = pass == 0 ? pending : std::move(deferred);
    for (const SweepCell& todo : cells) {
      if (options.stop != nullptr && options.stop->load()) {
        outcome.stopped = true;
        return outcome;
      }
      QB_RETURN_IF_ERROR(process(todo, /*wait=*/pass == 1));
    }
  }
  return outcome;
}

absl::StatusOr<nlohmann::json> RunSweep(const Experiment& config, const SweepOptions& options) {
  QB_ASSIGN_OR_RETURN(ShardOutcome outcome, RunSweepCells(config, options));
  if (outcome.stopped) {
    return absl::CancelledError(absl::StrCat("stopped after ", outcome.already_done + outcome.computed, " of ",
                                             outcome.cells_in_shard, " cells; finished cells are kept in ",
                                             outcome.work_dir, ": rerun the same command to resume"));
  }
  QB_ASSIGN_OR_RETURN(CellStore store, CellStore::OpenExisting(outcome.work_dir));
  return MergeCells(store, CodeVersion(), options.allow_mixed_versions);
}

absl::Status WriteSweepResults(const nlohmann::json& sweep, const std::string& json_path) {
  QB_ASSIGN_OR_RETURN(std::string text, DumpJson(sweep, 2, json_path));
  QB_RETURN_IF_ERROR(WriteFileAtomically(json_path, {text, "\n"}));
  return WriteMarkdownAndFigures(sweep, json_path, PlotOptions{}, stderr);
}

}  // namespace quantbench
