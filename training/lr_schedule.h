// Learning-rate schedules as functions of training progress in epochs (fractional: epoch +
// batch / batches_per_epoch), evaluated before every step.
//   constant              lr
//   multistep             lr * gamma^(number of milestones <= floor(progress))
//   cosine                min_lr + (lr - min_lr) * (1 + cos(pi * progress / epochs)) / 2,
//                         min_lr after `epochs`
//   cosine_restarts       cosine within periods of period, period * mult, ... epochs (SGDR);
//                         the optimizer state resets at each restart (the FAT recipe)
// An optional linear warm-up from 0 over the first warmup_epochs multiplies any of them.
#ifndef QUANTBENCH_TRAINING_LR_SCHEDULE_H_
#define QUANTBENCH_TRAINING_LR_SCHEDULE_H_

#include <vector>

#include "absl/status/status.h"

namespace quantbench {

struct LrScheduleSpec {
  enum Kind { kConstant, kMultiStep, kCosine, kCosineRestarts };
  Kind kind = kConstant;
  double lr = 0.1;
  double min_lr = 0.0;
  int epochs = 1;                  // total epochs (cosine)
  std::vector<int> milestones;     // multistep, increasing
  double gamma = 0.1;              // multistep
  double period = 1.0;             // cosine_restarts: first period in epochs
  double period_mult = 1.0;        // cosine_restarts: growth of each period
  double warmup_epochs = 0.0;
};

// InvalidArgument naming the field (non-positive lr or epochs, unsorted milestones, ...).
absl::Status CheckLrSchedule(const LrScheduleSpec& spec);

// Learning rate at `progress` epochs.
double LearningRateAt(const LrScheduleSpec& spec, double progress);

// True if a restart falls in (previous, current]: the caller resets its optimizer.
bool RestartBetween(const LrScheduleSpec& spec, double previous, double current);

}  // namespace quantbench

#endif  // QUANTBENCH_TRAINING_LR_SCHEDULE_H_
