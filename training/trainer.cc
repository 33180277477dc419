#include "training/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "kernels/status_macros.h"
#include "quantizers/trainable_quantizer.h"
#include "training/checkpoint.h"
#include "training/param_gradients.h"

namespace quantbench {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The example order of one epoch: a Fisher-Yates shuffle driven by a generator seeded from
// (seed, epoch) alone, so a resumed run sees the same orders as an uninterrupted one. Written
// out because std::shuffle and the std distributions differ between standard libraries;
// Lemire's multiply-shift maps a 64-bit draw to [0, i] (bias below 2^-40 for these sizes).
std::vector<int64_t> EpochOrder(int64_t n, uint64_t seed, int epoch) {
  std::vector<int64_t> order(n);
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(epoch) + 1);
  for (int64_t i = n - 1; i > 0; --i) {
    const uint64_t j = static_cast<uint64_t>(
        (static_cast<unsigned __int128>(rng()) * static_cast<uint64_t>(i + 1)) >> 64);
    std::swap(order[i], order[j]);
  }
  return order;
}

int ArgMax(const float* row, int n) {
  int best = 0;
  for (int i = 1; i < n; ++i) {
    if (row[i] > row[best]) best = i;
  }
  return best;
}

nlohmann::json EpochJson(const EpochRecord& r) {
  nlohmann::json j;
  j["epoch"] = r.epoch;
  j["learning_rate"] = r.learning_rate;
  j["train_loss"] = r.train_loss;
  if (!std::isnan(r.train_top1)) j["train_top1"] = r.train_top1;
  if (!std::isnan(r.test_top1)) j["test_top1"] = r.test_top1;
  j["seconds"] = r.seconds;
  j["images_per_second"] = r.images_per_second;
  return j;
}

EpochRecord EpochFromJson(const nlohmann::json& j) {
  EpochRecord r;
  r.epoch = j.value("epoch", 0);
  r.learning_rate = j.value("learning_rate", 0.0);
  r.train_loss = j.value("train_loss", 0.0);
  r.train_top1 = j.contains("train_top1") ? j["train_top1"].get<double>() : NAN;
  r.test_top1 = j.contains("test_top1") ? j["test_top1"].get<double>() : NAN;
  r.seconds = j.value("seconds", 0.0);
  r.images_per_second = j.value("images_per_second", 0.0);
  return r;
}

absl::Status CheckOptions(const TrainerOptions& options, const TrainingData& train,
                          const Graph& graph, const Teacher* teacher) {
  if (options.epochs < 1) return absl::InvalidArgumentError("training: epochs must be >= 1");
  if (options.batch_size < 1) return absl::InvalidArgumentError("training: batch_size must be >= 1");
  if (train.size() < 1) return absl::InvalidArgumentError("training: the training set is empty");
  const int64_t example = graph.input.NumElements();
  if (train.example_size() != example) {
    return absl::InvalidArgumentError(absl::StrCat(
        "training: examples have ", train.example_size(), " values, the network's input ",
        TensorShapeToString(graph.input), " has ", example));
  }
  if (options.distill && (teacher == nullptr || teacher->graph == nullptr || teacher->params == nullptr)) {
    return absl::InvalidArgumentError("training: distillation needs a teacher network");
  }
  if (options.distill && teacher->graph->num_classes != graph.num_classes) {
    return absl::InvalidArgumentError("training: the teacher's and the student's class counts differ");
  }
  for (const QuantizedWeight& q : options.quantized_weights) {
    if (q.quantizer == nullptr) return absl::InvalidArgumentError("training: quantized weight '" + q.param + "' has no quantizer");
    QB_RETURN_IF_ERROR(q.quantizer->CheckBits(q.bits));
  }
  return CheckLrSchedule(options.schedule);
}

// The trainable side of a quantized weight's quantizer when its parameters train, else null.
const TrainableQuantizer* TrainableSide(const QuantizedWeight& q) {
  return q.train_parameters ? q.quantizer->AsTrainable() : nullptr;
}

// Quantizes every listed weight from its latent values (with its trained quantizer
// parameters where they train); *overrides points into *quantized.
absl::Status QuantizeWeights(const TrainerOptions& options, const ParamStore& params,
                             const std::vector<int>& indices,
                             const std::map<std::string, std::vector<float>>& qparams,
                             std::vector<QuantizedTensor>* quantized, ParamOverrides* overrides) {
  overrides->clear();
  quantized->resize(options.quantized_weights.size());
  for (size_t k = 0; k < options.quantized_weights.size(); ++k) {
    const QuantizedWeight& q = options.quantized_weights[k];
    const Parameter& p = params.parameters()[indices[k]];
    WeightView view{p.name, p.shape, absl::MakeConstSpan(p.values)};
    if (const TrainableQuantizer* trainable = TrainableSide(q)) {
      QB_ASSIGN_OR_RETURN((*quantized)[k],
                          trainable->QuantizeWithParameters(view, q.bits, qparams.at(q.param)));
    } else {
      QB_ASSIGN_OR_RETURN((*quantized)[k], q.quantizer->Quantize(view, q.bits));
    }
    (*overrides)[indices[k]] = &(*quantized)[k].values;
  }
  return absl::OkStatus();
}

// Top-1 over the labelled examples, in order, with the given overrides (the quantized weights).
absl::StatusOr<double> Top1(TrainableGraph& net, ParamStore* params, const TrainingData& data,
                            int batch_size, const ParamOverrides& overrides) {
  const int classes = net.graph().num_classes;
  std::vector<float> x, logits;
  std::vector<int32_t> labels;
  std::vector<int64_t> indices;
  int64_t correct = 0, labelled = 0;
  for (int64_t first = 0; first < data.size(); first += batch_size) {
    const int n = static_cast<int>(std::min<int64_t>(batch_size, data.size() - first));
    indices.resize(n);
    for (int i = 0; i < n; ++i) indices[i] = first + i;
    x.resize(static_cast<size_t>(n) * data.example_size());
    labels.resize(n);
    logits.resize(static_cast<size_t>(n) * classes);
    QB_RETURN_IF_ERROR(data.Batch(indices, /*epoch=*/0, absl::MakeSpan(x), absl::MakeSpan(labels)));
    QB_RETURN_IF_ERROR(net.Forward(params, x, n, Phase::kEval, absl::MakeSpan(logits), overrides));
    for (int i = 0; i < n; ++i) {
      if (labels[i] < 0) continue;
      ++labelled;
      if (ArgMax(&logits[static_cast<size_t>(i) * classes], classes) == labels[i]) ++correct;
    }
  }
  if (labelled == 0) return absl::InvalidArgumentError("evaluation: no labelled examples");
  return static_cast<double>(correct) / static_cast<double>(labelled);
}

}  // namespace

absl::StatusOr<double> EvaluateTop1(const Graph& graph, ParamStore* params, const TrainingData& data,
                                    int batch_size, TrainingBackend backend) {
  if (batch_size < 1) return absl::InvalidArgumentError("evaluation: batch_size must be >= 1");
  TrainableGraphOptions graph_options;
  graph_options.backend = backend;
  QB_ASSIGN_OR_RETURN(std::unique_ptr<TrainableGraph> net, TrainableGraph::Create(graph, graph_options));
  return Top1(*net, params, data, batch_size, {});
}

absl::StatusOr<TrainingReport> TrainGraph(const Graph& graph, ParamStore* params,
                                          const TrainerOptions& options, const TrainingData& train,
                                          const TrainingData* test, const Teacher* teacher) {
  const Clock::time_point start = Clock::now();
  auto log = [&](const std::string& line) {
    if (options.log) options.log(line);
  };
  QB_RETURN_IF_ERROR(CheckOptions(options, train, graph, teacher));
  QB_RETURN_IF_ERROR(CheckGraphParams(graph, *params));

  TrainableGraphOptions graph_options;
  graph_options.backend = options.backend;
  QB_ASSIGN_OR_RETURN(std::unique_ptr<TrainableGraph> net, TrainableGraph::Create(graph, graph_options));
  for (const auto& [site, hook] : options.activation_hooks) {
    QB_RETURN_IF_ERROR(net->SetActivationHook(site, hook));
  }
  std::unique_ptr<TrainableGraph> teacher_net;
  if (options.distill) {
    QB_RETURN_IF_ERROR(CheckGraphParams(*teacher->graph, *teacher->params));
    QB_ASSIGN_OR_RETURN(teacher_net, TrainableGraph::Create(*teacher->graph, graph_options));
  }

  // Parameter indices of the quantized weights.
  std::vector<int> quantized_index;
  for (const QuantizedWeight& q : options.quantized_weights) {
    int found = -1;
    for (size_t i = 0; i < params->parameters().size(); ++i) {
      if (params->parameters()[i].name == q.param) found = static_cast<int>(i);
    }
    if (found < 0) return absl::InvalidArgumentError("training: no parameter '" + q.param + "' to quantize");
    quantized_index.push_back(found);
  }

  // Trainable quantizer parameters, keyed by the weight's name, and their gradients.
  std::map<std::string, std::vector<float>> qparams, qgrads;
  for (size_t k = 0; k < options.quantized_weights.size(); ++k) {
    const QuantizedWeight& q = options.quantized_weights[k];
    if (const TrainableQuantizer* trainable = TrainableSide(q)) {
      const Parameter& p = params->parameters()[quantized_index[k]];
      QB_ASSIGN_OR_RETURN(qparams[q.param], trainable->InitialParameters(
                                                WeightView{p.name, p.shape, p.values}, q.bits));
      qgrads[q.param].assign(qparams[q.param].size(), 0.0f);
    }
  }

  // Trainable activation hooks' parameters, under "activation:<site>" beside the quantizers'.
  std::map<std::string, ActivationHook*> trained_hooks;
  for (const auto& [site, hook] : options.activation_hooks) {
    if (hook->TrainableParameters().size() != hook->ParameterGradients().size()) {
      return absl::InvalidArgumentError("training: activation hook of '" + site + "' has mismatched parameter and gradient sizes");
    }
    if (!hook->TrainableParameters().empty()) trained_hooks[kActivationParameterPrefix + site] = hook;
  }

  QB_ASSIGN_OR_RETURN(std::unique_ptr<Optimizer> optimizer, Optimizer::Create(options.optimizer));
  TrainingReport report;
  int first_epoch = 0;
  if (!options.checkpoint_path.empty()) {
    absl::StatusOr<TrainingCheckpoint> checkpoint =
        LoadTrainingCheckpoint(options.checkpoint_path, options.checkpoint_key);
    if (checkpoint.ok()) {
      const bool fits = CheckGraphParams(graph, checkpoint->params).ok() &&
                        checkpoint->epochs_done >= 1 && checkpoint->epochs_done <= options.epochs;
      absl::Status state = fits ? optimizer->SetState(checkpoint->optimizer)
                                : absl::DataLossError("checkpoint does not fit this network");
      if (fits && state.ok()) {
        *params = std::move(checkpoint->params);
        for (auto& [name, values] : qparams) {
          auto saved = checkpoint->extra_tensors.find(name);
          if (saved != checkpoint->extra_tensors.end() && saved->second.size() == values.size()) {
            values = saved->second;
          }
        }
        for (auto& [name, hook] : trained_hooks) {
          auto saved = checkpoint->extra_tensors.find(name);
          absl::Span<float> values = hook->TrainableParameters();
          if (saved != checkpoint->extra_tensors.end() && saved->second.size() == values.size()) {
            std::copy(saved->second.begin(), saved->second.end(), values.begin());
          }
        }
        first_epoch = checkpoint->epochs_done;
        report.resumed_after_epoch = first_epoch;
        // The optimizer's own counter restarts at every warm restart: the run's step count is
        // kept in the history.
        nlohmann::json history = nlohmann::json::parse(checkpoint->history_json, nullptr, false);
        if (history.is_object()) {
          report.steps = history.value("steps", int64_t{0});
          for (const nlohmann::json& e : history.value("epochs", nlohmann::json::array())) {
            report.epochs.push_back(EpochFromJson(e));
          }
        }
        log(absl::StrFormat("resuming after epoch %d/%d from %s", first_epoch, options.epochs,
                            options.checkpoint_path));
      } else {
        log(absl::StrCat("discarding unusable checkpoint ", options.checkpoint_path, ": ",
                         state.ok() ? "does not fit" : state.message()));
        std::remove(options.checkpoint_path.c_str());
      }
    } else if (!absl::IsNotFound(checkpoint.status())) {
      log(absl::StrCat("discarding unusable checkpoint ", options.checkpoint_path, ": ",
                       checkpoint.status().message()));
      std::remove(options.checkpoint_path.c_str());
    }
  }

  const int classes = graph.num_classes;
  const int64_t n = train.size();
  const int64_t steps_per_epoch = (n + options.batch_size - 1) / options.batch_size;
  ParamGradients grads = ParamGradients::ZerosLike(*params);
  std::vector<float> x, logits, teacher_logits, dlogits;
  std::vector<int32_t> labels;
  std::vector<QuantizedTensor> quantized;
  ParamOverrides overrides;
  std::vector<TrainableTensor> tensors;

  for (int epoch = first_epoch; epoch < options.epochs; ++epoch) {
    const Clock::time_point epoch_start = Clock::now();
    const std::vector<int64_t> order = EpochOrder(n, options.seed, epoch);
    EpochRecord record;
    record.epoch = epoch + 1;
    double loss_sum = 0.0;
    int64_t correct = 0, labelled = 0;
    for (int64_t step = 0; step < steps_per_epoch; ++step) {
      const int64_t first = step * options.batch_size;
      const int batch = static_cast<int>(std::min<int64_t>(options.batch_size, n - first));
      absl::Span<const int64_t> indices(order.data() + first, batch);
      x.resize(static_cast<size_t>(batch) * train.example_size());
      labels.resize(batch);
      logits.resize(static_cast<size_t>(batch) * classes);
      dlogits.resize(logits.size());
      QB_RETURN_IF_ERROR(train.Batch(indices, epoch, absl::MakeSpan(x), absl::MakeSpan(labels)));

      QB_RETURN_IF_ERROR(QuantizeWeights(options, *params, quantized_index, qparams, &quantized, &overrides));
      for (auto& [name, hook] : trained_hooks) {
        absl::Span<float> g = hook->ParameterGradients();
        std::fill(g.begin(), g.end(), 0.0f);
      }
      QB_RETURN_IF_ERROR(net->Forward(params, x, batch, Phase::kTrain, absl::MakeSpan(logits), overrides));
      double loss = 0.0;
      if (options.distill) {
        teacher_logits.resize(logits.size());
        QB_RETURN_IF_ERROR(teacher_net->Forward(teacher->params, x, batch, Phase::kEval,
                                                absl::MakeSpan(teacher_logits)));
        QB_ASSIGN_OR_RETURN(loss, DistillationLoss(options.distillation, logits, teacher_logits, batch,
                                                   classes, options.temperature, absl::MakeSpan(dlogits)));
      } else {
        int64_t hits = 0;
        QB_ASSIGN_OR_RETURN(loss, SoftmaxCrossEntropy(logits, labels, batch, classes,
                                                      absl::MakeSpan(dlogits), &hits));
        correct += hits;
        labelled += batch;
      }
      if (!std::isfinite(loss)) {
        return absl::InternalError(absl::StrFormat(
            "training diverged: loss %g at epoch %d, step %d (lower the learning rate)", loss,
            epoch + 1, step + 1));
      }
      loss_sum += loss;
      QB_RETURN_IF_ERROR(net->Backward(dlogits, &grads));

      // Straight-through estimator: the gradient w.r.t. the quantized values reaches the
      // latent ones (through the quantizer's own Backward where its parameters train),
      // masked where the rule clips.
      for (size_t k = 0; k < quantized_index.size(); ++k) {
        const QuantizedWeight& q = options.quantized_weights[k];
        const Parameter& p = params->parameters()[quantized_index[k]];
        std::vector<float>& g = grads.grads[quantized_index[k]];
        if (const TrainableQuantizer* trainable = TrainableSide(q)) {
          std::vector<float>& dp = qgrads[q.param];
          std::fill(dp.begin(), dp.end(), 0.0f);
          std::vector<float> dq = g;
          QB_RETURN_IF_ERROR(trainable->Backward(WeightView{p.name, p.shape, p.values}, q.bits,
                                                 qparams[q.param], dq, absl::MakeSpan(g),
                                                 absl::MakeSpan(dp)));
        }
        if (q.ste != SteRule::kClipped) continue;
        for (size_t i = 0; i < g.size(); ++i) {
          if (!(std::fabs(p.values[i]) < 1.0f)) g[i] = 0.0f;
        }
      }

      const double progress = epoch + static_cast<double>(step) / steps_per_epoch;
      const double previous = epoch + static_cast<double>(step - 1) / steps_per_epoch;
      if (report.steps > 0 && RestartBetween(options.schedule, previous, progress)) optimizer->Reset();
      const double lr = LearningRateAt(options.schedule, progress);
      if (step == 0) record.learning_rate = lr;
      tensors.clear();
      for (size_t i = 0; i < params->parameters().size() && !options.freeze_network; ++i) {
        Parameter& p = params->parameters()[i];
        if (grads.grads[i].empty()) continue;
        const bool decay = p.kind == Parameter::kWeight || options.decay_biases_and_batchnorm;
        tensors.push_back(TrainableTensor{p.name, absl::MakeSpan(p.values), grads.grads[i], decay});
      }
      for (auto& [name, values] : qparams) {
        tensors.push_back(TrainableTensor{"quantizer:" + name, absl::MakeSpan(values), qgrads[name], false});
      }
      for (auto& [name, hook] : trained_hooks) {
        tensors.push_back(TrainableTensor{name, hook->TrainableParameters(), hook->ParameterGradients(), false});
      }
      QB_RETURN_IF_ERROR(optimizer->Step(static_cast<float>(lr), tensors));
      ++report.steps;
      if (options.on_step) options.on_step(epoch, static_cast<double>(step + 1) / steps_per_epoch, loss);
    }
    record.train_loss = loss_sum / steps_per_epoch;
    if (labelled > 0) record.train_top1 = static_cast<double>(correct) / labelled;
    const double train_seconds = SecondsSince(epoch_start);
    record.images_per_second = n / std::max(train_seconds, 1e-9);
    const bool last = epoch + 1 == options.epochs;
    if (test != nullptr && (last || (options.test_every > 0 && (epoch + 1) % options.test_every == 0))) {
      QB_RETURN_IF_ERROR(QuantizeWeights(options, *params, quantized_index, qparams, &quantized, &overrides));
      // At the training batch: the graph keeps one plan (every layer's output and hook buffers)
      // per batch size and phase, so a larger evaluation batch would add the largest plan of all
      // (a MobileNet-v2 FAT run training at 16 and evaluating at 100 held 19 GB).
      QB_ASSIGN_OR_RETURN(record.test_top1, Top1(*net, params, *test, options.batch_size, overrides));
    }
    record.seconds = SecondsSince(epoch_start);
    report.epochs.push_back(record);

    const double eta = record.seconds * (options.epochs - epoch - 1);
    std::string line = absl::StrFormat("epoch %d/%d: lr %.4g, loss %.4f", record.epoch, options.epochs,
                                       record.learning_rate, record.train_loss);
    if (!std::isnan(record.train_top1)) absl::StrAppendFormat(&line, ", train top-1 %.2f%%", 100 * record.train_top1);
    if (!std::isnan(record.test_top1)) absl::StrAppendFormat(&line, ", test top-1 %.2f%%", 100 * record.test_top1);
    absl::StrAppendFormat(&line, ", %.0f img/s, %.1f s, ETA %.0f s", record.images_per_second, record.seconds, eta);
    log(line);

    if (!options.checkpoint_path.empty() && !last) {
      TrainingCheckpoint checkpoint;
      checkpoint.epochs_done = epoch + 1;
      checkpoint.params = *params;
      checkpoint.optimizer = optimizer->state();
      checkpoint.extra_tensors = qparams;
      for (auto& [name, hook] : trained_hooks) {
        absl::Span<float> values = hook->TrainableParameters();
        checkpoint.extra_tensors[name].assign(values.begin(), values.end());
      }
      nlohmann::json history = {{"steps", report.steps}, {"epochs", nlohmann::json::array()}};
      for (const EpochRecord& e : report.epochs) history["epochs"].push_back(EpochJson(e));
      checkpoint.history_json = history.dump();
      absl::Status saved = SaveTrainingCheckpoint(options.checkpoint_path, options.checkpoint_key, checkpoint);
      if (!saved.ok()) log(absl::StrCat("could not write checkpoint: ", saved.message()));
    }
  }
  // The checkpoint stays: the caller removes it once it has stored the result, so a kill
  // between the end of training and that store resumes from it instead of from zero.
  report.quantizer_parameters = std::move(qparams);
  for (auto& [name, hook] : trained_hooks) {
    absl::Span<float> values = hook->TrainableParameters();
    report.quantizer_parameters[name].assign(values.begin(), values.end());
  }
  report.seconds = SecondsSince(start);
  return report;
}

}  // namespace quantbench
