// The PyTorch 1.13 references of training/testdata/torch_reference.txt (made by
// torch_reference.py there): optimizer trajectories, scheduler values and losses, parsed for
// the optimizer, schedule and loss tests.
#ifndef QUANTBENCH_TRAINING_TORCH_REFERENCE_H_
#define QUANTBENCH_TRAINING_TORCH_REFERENCE_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace quantbench {

// One optimizer run: initial tensors, then per step the lr, raw gradients and the tensors
// after torch's step.
struct TorchOptimizerCase {
  struct Tensor {
    std::string name;
    bool decay = false;
    std::vector<float> values;
  };
  struct Step {
    float lr = 0;
    std::map<std::string, std::vector<float>> grad;
    std::map<std::string, std::vector<float>> after;
    bool reset_after = false;  // torch's optimizer was recreated after this step
  };
  std::string name;
  std::map<std::string, std::string> settings;  // key=value of the case line
  std::vector<Tensor> tensors;                  // in the order torch saw them
  std::vector<Step> steps;
  std::map<std::string, std::vector<float>> final_state;
};

// One scheduler run, sampled once per batch.
struct TorchScheduleCase {
  struct Point {
    double progress = 0;  // epochs
    double lr = 0;
    bool restart = false;  // a new period began in (previous point, this point]
  };
  std::map<std::string, std::string> settings;
  std::vector<Point> points;
};

// One loss on float32 logits, its value and gradient computed by torch in float64.
struct TorchLossCase {
  std::string name;
  std::map<std::string, std::string> settings;       // kind, batch, classes, temperature
  std::map<std::string, std::vector<float>> inputs;  // "student", "teacher"
  std::vector<int32_t> labels;
  double value = 0;
  std::vector<double> grad;  // d loss / d student
};

struct TorchReference {
  std::vector<TorchOptimizerCase> optimizers;
  std::vector<TorchScheduleCase> schedules;
  std::vector<TorchLossCase> losses;
};

// Reads the golden file from the test's runfiles (or the workspace-relative path).
absl::StatusOr<TorchReference> LoadTorchReference();

// |actual - expected| <= tolerance * max(1, |expected|): relative for values >= 1, absolute
// below, so values near 0 are not held to an impossible relative bound.
bool NearlyEqual(double actual, double expected, double tolerance);

}  // namespace quantbench

#endif  // QUANTBENCH_TRAINING_TORCH_REFERENCE_H_
