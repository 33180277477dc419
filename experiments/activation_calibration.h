// Calibrates the activation quantization an experiment asks for (experiment.proto
// ActivationQuantization): observes the input tensor of every conv / dense layer of the fp32
// network on the first N evaluation images and turns the statistics into per-tensor uniform
// quantization parameters (quantizers/activation_quantizer.h).
#ifndef QUANTBENCH_EXPERIMENTS_ACTIVATION_CALIBRATION_H_
#define QUANTBENCH_EXPERIMENTS_ACTIVATION_CALIBRATION_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "datasets/idx_dataset.h"
#include "experiments/experiment.pb.h"
#include "networks/network.h"
#include "quantizers/activation_quantizer.h"

namespace quantbench {

struct ActivationCalibrationResult {
  std::map<std::string, ActivationQuantParams> params;  // site (layer name) -> quantization
  int64_t images = 0;                                   // calibration images actually used
  std::vector<std::string> skipped;                     // sites left in fp32
  // site -> the exact min and max observed (what trained thresholds start from).
  std::map<std::string, std::pair<float, float>> ranges;
};

// Default number of calibration images when the config leaves it 0.
inline constexpr int kDefaultCalibrationImages = 256;

// InvalidArgument naming activations.skip_layers[i] when it is not a site of the network
// (the message lists the sites).
absl::StatusOr<ActivationCalibrationResult> CalibrateActivations(Network& network, const LabeledImages& data,
                                                                 const ActivationQuantization& spec, int batch);

}  // namespace quantbench

#endif  // QUANTBENCH_EXPERIMENTS_ACTIVATION_CALIBRATION_H_
