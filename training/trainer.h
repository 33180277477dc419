// The training loop: minibatch SGD / Adam over a TrainableGraph, for fp32 training and for
// quantization-aware training (QAT), with labels or by distillation from a frozen teacher,
// checkpointed every epoch and resumable.
//
// One step: shuffle order (seeded Fisher-Yates per epoch) -> batch (augmented for the epoch)
// -> QAT: quantize every listed weight from its latent fp32 values -> forward (kTrain) ->
// loss (cross-entropy, or distillation against the teacher's kEval logits) -> backward ->
// straight-through estimator for quantized weights (identity, or zero where |w| >= 1) ->
// optimizer step on the latent weights at the schedule's rate for the step's fractional epoch.
// The last minibatch of an epoch may be smaller. Deterministic for a given seed and thread
// count (oneDNN's reductions depend on the thread count).
//
// Checkpoints (training/checkpoint.h): with a checkpoint path, the state after every epoch
// is written atomically; a run whose path holds a checkpoint for the same key resumes after
// its last epoch (the shuffles and augmentation are functions of seed and epoch, so a resumed
// run continues exactly as an uninterrupted one would). A corrupt checkpoint is reported and
// discarded. The checkpoint is left in place when training completes: the caller removes it
// once it has stored the result, never before.
#ifndef QUANTBENCH_TRAINING_TRAINER_H_
#define QUANTBENCH_TRAINING_TRAINER_H_

#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "networks/graph.h"
#include "networks/param_store.h"
#include "quantizers/quantizer.h"
#include "training/losses.h"
#include "training/lr_schedule.h"
#include "training/optimizer.h"
#include "training/trainable_graph.h"
#include "training/training_data.h"

namespace quantbench {

// How the gradient of a quantized weight reaches its latent fp32 value.
enum class SteRule {
  kIdentity,  // dL/dw = dL/dq
  kClipped,   // dL/dw = dL/dq where |w| < 1, else 0 (the TTN paper)
};

// One weight tensor quantized in every forward pass.
struct QuantizedWeight {
  std::string param;           // e.g. "layer1.0.conv1.weight"
  const Quantizer* quantizer;  // not owned
  int bits = 0;
  SteRule ste = SteRule::kIdentity;
  // Learn the quantizer's own parameters (quantizers/trainable_quantizer.h; e.g. FAT's α)
  // with the optimizer; the quantizer's Backward then also gives the weights' gradient (its
  // own STE, to which a kClipped rule still applies). Ignored for a quantizer without the
  // extension (its parameters stay frozen).
  bool train_parameters = false;
};

struct TrainerOptions {
  int epochs = 1;
  int batch_size = 128;
  uint64_t seed = 1;
  OptimizerSpec optimizer;
  LrScheduleSpec schedule;
  // Weight decay on biases and BatchNorm gamma / beta too (default: weights only).
  bool decay_biases_and_batchnorm = false;
  // Objective: labels, or distillation from `teacher` (labels unused).
  bool distill = false;
  DistillationKind distillation = DistillationKind::kRmse;
  float temperature = 1.0f;
  // QAT.
  std::vector<QuantizedWeight> quantized_weights;
  // Train only the quantizers' parameters (and activation hooks'); the network's own
  // parameters stay as they are (FAT: "only the α's train"). BatchNorm layers still run in
  // training mode (batch statistics): fold them first, as FAT does.
  bool freeze_network = false;
  // Activation hooks by site (TrainableGraph::SetActivationHook); not owned.
  std::map<std::string, ActivationHook*> activation_hooks;
  // Test accuracy every N epochs and after the last (0: after the last only).
  int test_every = 0;
  TrainingBackend backend = TrainingBackend::kOneDnn;
  // Checkpoints; an empty path disables them. The key names everything the result depends on.
  std::string checkpoint_path;
  std::string checkpoint_key;
  // Progress: one line per epoch and state changes (resume, discarded checkpoint).
  std::function<void(const std::string&)> log;
  // Live progress within an epoch (fraction of the epoch done); optional.
  std::function<void(int epoch, double fraction, double loss)> on_step;
};

struct EpochRecord {
  int epoch = 0;              // 1-based
  double learning_rate = 0;   // at the epoch's first step
  double train_loss = 0;      // mean over the epoch's steps, before each update
  double train_top1 = NAN;    // labels only
  double test_top1 = NAN;     // when measured
  double seconds = 0;
  double images_per_second = 0;
};

// TrainingReport::quantizer_parameters also holds the trained parameters of activation hooks
// (ActivationHook::TrainableParameters), under this prefix + the site's name.
inline constexpr char kActivationParameterPrefix[] = "activation:";

struct TrainingReport {
  std::vector<EpochRecord> epochs;  // all epochs, resumed ones included
  // Trained quantizer parameters by weight name (QuantizedWeight::train_parameters): quantize
  // with TrainableQuantizer::QuantizeWithParameters and these to get the trained net.
  std::map<std::string, std::vector<float>> quantizer_parameters;
  int resumed_after_epoch = 0;      // 0 = started from scratch
  double seconds = 0;               // wall time of this invocation
  int64_t steps = 0;                // optimizer steps over the whole run
};

// A frozen network that gives distillation targets (kEval).
struct Teacher {
  const Graph* graph = nullptr;
  ParamStore* params = nullptr;
};

// Trains `params` (which must match `graph`) in place. `test` may be null. For QAT the store
// keeps the latent weights; quantize them once more to get the trained quantized net.
// Errors: InvalidArgument for bad options (named), Internal when the loss diverges.
absl::StatusOr<TrainingReport> TrainGraph(const Graph& graph, ParamStore* params,
                                          const TrainerOptions& options, const TrainingData& train,
                                          const TrainingData* test, const Teacher* teacher = nullptr);

// Top-1 accuracy (fraction) of `graph` with `params` on the labelled examples of `data`
// (kEval, in order, batches of batch_size).
absl::StatusOr<double> EvaluateTop1(const Graph& graph, ParamStore* params, const TrainingData& data,
                                    int batch_size, TrainingBackend backend = TrainingBackend::kOneDnn);

}  // namespace quantbench

#endif  // QUANTBENCH_TRAINING_TRAINER_H_
