// The sweep's depthwise-separable rescaling step (Experiment.dws_rescaling): the per-channel
// maxima of the value each depthwise conv's reader sees, observed on calibration images with the
// fp32 network, then networks/dws_rescaling.h on the fp32 weights (which every cell, and the
// distillation teacher, start from).
#ifndef QUANTBENCH_EXPERIMENTS_DWS_RESCALING_STEP_H_
#define QUANTBENCH_EXPERIMENTS_DWS_RESCALING_STEP_H_

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "datasets/labeled_images.h"
#include "experiments/experiment.pb.h"
#include "experiments/model_loader.h"

namespace quantbench {

inline constexpr int kDefaultDwsCalibrationImages = 100;

// Rescales model->fp32 (and the working copy the network reads; synced). Returns the report
// for the result file. FailedPrecondition for a network without a graph.
absl::StatusOr<nlohmann::json> ApplyDwsRescaling(const DwsRescaling& spec, LoadedModel* model,
                                                 const LabeledImages& calibration, int batch);

}  // namespace quantbench

#endif  // QUANTBENCH_EXPERIMENTS_DWS_RESCALING_STEP_H_
