#include "training/progress.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "absl/strings/str_format.h"

namespace quantbench {
namespace {

double SteadySeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

constexpr double kRedrawSeconds = 0.1;  // a fast net makes thousands of steps a second
constexpr int kBarWidth = 30;

}  // namespace

std::string FormatTrainingDuration(double seconds) {
  if (!(seconds >= 0)) seconds = 0;
  const long s = std::lround(std::min(seconds, 1e9));
  if (s >= 3600) return absl::StrFormat("%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60);
  return absl::StrFormat("%d:%02d", s / 60, s % 60);
}

TrainingProgress::TrainingProgress(int epochs, std::FILE* stream)
    : TrainingProgress(epochs, stream, isatty(fileno(stream)) != 0, SteadySeconds) {}

TrainingProgress::TrainingProgress(int epochs, std::FILE* stream, bool terminal, Clock clock)
    : epochs_(std::max(epochs, 1)),
      stream_(stream),
      terminal_(terminal),
      clock_(std::move(clock)),
      start_seconds_(clock_()) {}

void TrainingProgress::Log(const std::string& line) {
  if (bar_visible_) std::fprintf(stream_, "\r\033[K");
  bar_visible_ = false;
  last_draw_seconds_ = -1;  // the next step redraws at once
  std::fprintf(stream_, "%s\n", line.c_str());
  std::fflush(stream_);
}

void TrainingProgress::Step(int epoch, double fraction, double loss) {
  fraction = std::clamp(fraction, 0.0, 1.0);
  const double progress = std::min((epoch + fraction) / epochs_, 1.0);
  if (start_progress_ < 0) start_progress_ = static_cast<double>(epoch) / epochs_;
  if (!terminal_) return;
  const double now = clock_();
  const bool epoch_end = fraction >= 1.0;
  if (!epoch_end && last_draw_seconds_ >= 0 && now - last_draw_seconds_ < kRedrawSeconds) return;
  last_draw_seconds_ = now;

  const double elapsed = now - start_seconds_;
  const double done = progress - start_progress_;
  const std::string eta =
      done > 0 ? FormatTrainingDuration(elapsed / done * (1.0 - progress)) : "?";
  const int filled = static_cast<int>(kBarWidth * fraction);
  std::fprintf(stream_, "\r\033[K[%s%s] epoch %d/%d %3.0f%%  loss %.4f  elapsed %s  ETA %s",
               std::string(filled, '#').c_str(), std::string(kBarWidth - filled, '.').c_str(),
               epoch + 1, epochs_, 100 * fraction, loss, FormatTrainingDuration(elapsed).c_str(),
               eta.c_str());
  std::fflush(stream_);
  bar_visible_ = true;
}

std::function<void(const std::string&)> TrainingProgress::LogCallback() {
  return [this](const std::string& line) { Log(line); };
}

std::function<void(int, double, double)> TrainingProgress::StepCallback() {
  return [this](int epoch, double fraction, double loss) { Step(epoch, fraction, loss); };
}

}  // namespace quantbench
