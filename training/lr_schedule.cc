#include "training/lr_schedule.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "kernels/status_macros.h"

namespace quantbench {
namespace {

constexpr double kPi = 3.14159265358979323846;

absl::Status Invalid(const char* field, double value, const char* expected) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", value, " ", expected));
}

// (1 + cos(pi * t / length)) / 2, going from 1 at t = 0 to 0 at t = length.
double CosineFactor(double t, double length) { return (1.0 + std::cos(kPi * t / length)) / 2.0; }

// Where `progress` falls among the SGDR periods: the start of its period and its length.
// Walked period by period (not through a logarithm) so a boundary lands exactly on the start
// of the next period, as torch's per-step T_cur bookkeeping does.
struct Period {
  double start;
  double length;
};

Period PeriodAt(const LrScheduleSpec& spec, double progress) {
  Period p{0.0, spec.period};
  // A mult of 1 with a tiny period could take many iterations: jump straight there.
  if (spec.period_mult == 1.0) {
    const double index = std::floor(progress / spec.period);
    p.start = index * spec.period;
    // floor() of a quotient can be one off at a boundary; fix it up with exact comparisons.
    if (p.start > progress) p.start -= spec.period;
    if (p.start + spec.period <= progress) p.start += spec.period;
    return p;
  }
  while (p.start + p.length <= progress) {
    p.start += p.length;
    p.length *= spec.period_mult;
  }
  return p;
}

}  // namespace

absl::Status CheckLrSchedule(const LrScheduleSpec& spec) {
  if (!std::isfinite(spec.lr) || spec.lr <= 0) {
    return Invalid("lr", spec.lr, "is not a finite value > 0");
  }
  if (!std::isfinite(spec.min_lr) || spec.min_lr < 0 || spec.min_lr > spec.lr) {
    return Invalid("min_lr", spec.min_lr, "is outside [0, lr]");
  }
  if (!std::isfinite(spec.warmup_epochs) || spec.warmup_epochs < 0) {
    return Invalid("warmup_epochs", spec.warmup_epochs, "is not a finite value >= 0");
  }
  switch (spec.kind) {
    case LrScheduleSpec::kConstant:
      return absl::OkStatus();
    case LrScheduleSpec::kMultiStep:
      if (!std::isfinite(spec.gamma) || spec.gamma <= 0) {
        return Invalid("gamma", spec.gamma, "is not a finite value > 0");
      }
      for (size_t i = 0; i < spec.milestones.size(); ++i) {
        if (spec.milestones[i] <= 0) {
          return absl::InvalidArgumentError(absl::StrCat(
              "milestones[", i, "]: ", spec.milestones[i], " is not a positive epoch"));
        }
        if (i > 0 && spec.milestones[i] <= spec.milestones[i - 1]) {
          return absl::InvalidArgumentError(absl::StrCat(
              "milestones[", i, "]: ", spec.milestones[i], " does not come after milestones[",
              i - 1, "] = ", spec.milestones[i - 1]));
        }
      }
      return absl::OkStatus();
    case LrScheduleSpec::kCosine:
      if (spec.epochs <= 0) {
        return Invalid("epochs", spec.epochs, "is not a positive number of epochs");
      }
      return absl::OkStatus();
    case LrScheduleSpec::kCosineRestarts:
      if (!std::isfinite(spec.period) || spec.period <= 0) {
        return Invalid("period", spec.period, "is not a finite number of epochs > 0");
      }
      // Periods shorter than 1e-3 epochs would make PeriodAt walk for very long.
      if (spec.period < 1e-3) return Invalid("period", spec.period, "is shorter than 0.001 epochs");
      if (!std::isfinite(spec.period_mult) || spec.period_mult < 1) {
        return Invalid("period_mult", spec.period_mult, "is not a finite value >= 1");
      }
      return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat("kind: unknown schedule kind ", static_cast<int>(spec.kind)));
}

double LearningRateAt(const LrScheduleSpec& spec, double progress) {
  if (!(progress > 0)) progress = 0;  // also maps NaN to the start
  double lr = spec.lr;
  switch (spec.kind) {
    case LrScheduleSpec::kConstant:
      break;
    case LrScheduleSpec::kMultiStep: {
      const double epoch = std::floor(progress);
      for (int milestone : spec.milestones) {
        if (milestone <= epoch) lr *= spec.gamma;
      }
      break;
    }
    case LrScheduleSpec::kCosine: {
      const double t = std::min(progress, static_cast<double>(spec.epochs));
      lr = spec.min_lr + (spec.lr - spec.min_lr) * CosineFactor(t, spec.epochs);
      break;
    }
    case LrScheduleSpec::kCosineRestarts: {
      const Period p = PeriodAt(spec, progress);
      lr = spec.min_lr + (spec.lr - spec.min_lr) * CosineFactor(progress - p.start, p.length);
      break;
    }
  }
  if (spec.warmup_epochs > 0 && progress < spec.warmup_epochs) lr *= progress / spec.warmup_epochs;
  return lr;
}

bool RestartBetween(const LrScheduleSpec& spec, double previous, double current) {
  if (spec.kind != LrScheduleSpec::kCosineRestarts || !(current > previous)) return false;
  if (!(previous > 0)) previous = 0;
  if (current <= 0) return false;
  // A restart is the start of a period other than the first; the period holding `current`
  // starts after `previous` exactly when one lies in (previous, current].
  const Period p = PeriodAt(spec, current);
  return p.start > 0 && p.start > previous;
}

}  // namespace quantbench
