// Training progress on a stream (stderr): the trainer's per-epoch lines (epoch, loss, train
// and test accuracy, images/s, ETA: TrainerOptions::log) always, and on a terminal a live bar
// within the epoch (TrainerOptions::on_step), redrawn in place, with the whole run's ETA.
// Like experiments/progress.h, nothing but plain lines goes to a file or pipe, so logs and CI
// stay readable.
//
//   TrainingProgress progress(options.epochs, stderr);
//   options.log = progress.LogCallback();
//   options.on_step = progress.StepCallback();
#ifndef QUANTBENCH_TRAINING_PROGRESS_H_
#define QUANTBENCH_TRAINING_PROGRESS_H_

#include <cstdio>
#include <functional>
#include <string>

namespace quantbench {

class TrainingProgress {
 public:
  // Seconds on a monotonic clock.
  using Clock = std::function<double()>;

  // Draws the bar when `stream` is a terminal.
  TrainingProgress(int epochs, std::FILE* stream);
  // For tests: the bar on or off, and the clock, chosen by the caller.
  TrainingProgress(int epochs, std::FILE* stream, bool terminal, Clock clock);

  // Prints one line; on a terminal it first erases the bar, which the next Step redraws.
  void Log(const std::string& line);
  // `fraction` of 0-based `epoch` is done and the last step's loss was `loss`. Redraws the
  // bar on a terminal, at most every 0.1 s and at the end of each epoch; no output otherwise.
  void Step(int epoch, double fraction, double loss);

  // Callbacks with TrainerOptions' signatures; they refer to this object, which must outlive
  // the training.
  std::function<void(const std::string&)> LogCallback();
  std::function<void(int, double, double)> StepCallback();

 private:
  int epochs_;
  std::FILE* stream_;
  bool terminal_;
  Clock clock_;
  double start_seconds_;
  // Where this run started (a resumed run starts after its checkpoint's epochs): the ETA is
  // extrapolated from the progress made since then only.
  double start_progress_ = -1;
  double last_draw_seconds_ = -1;
  bool bar_visible_ = false;
};

// "0:05", "12:34", "1:02:03".
std::string FormatTrainingDuration(double seconds);

}  // namespace quantbench

#endif  // QUANTBENCH_TRAINING_PROGRESS_H_
