#include "experiments/progress.h"

#include <unistd.h>

#include "absl/strings/str_format.h"

namespace quantbench {

std::string FormatDuration(double seconds) {
  long s = static_cast<long>(seconds + 0.5);
  if (s >= 3600) return absl::StrFormat("%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60);
  return absl::StrFormat("%d:%02d", s / 60, s % 60);
}

Progress::Progress(int total, std::FILE* stream)
    : total_(total), stream_(stream), terminal_(isatty(fileno(stream)) != 0),
      start_(std::chrono::steady_clock::now()) {}

void Progress::Log(const std::string& message) {
  if (terminal_) std::fprintf(stream_, "\r\033[K");
  std::fprintf(stream_, "%s\n", message.c_str());
  std::fflush(stream_);
}

void Progress::Step(const std::string& what) {
  ++done_;
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double eta = done_ ? elapsed / done_ * (total_ - done_) : 0.0;
  if (terminal_) {
    constexpr int kWidth = 30;
    int filled = total_ ? kWidth * done_ / total_ : kWidth;
    std::string bar = std::string(filled, '#') + std::string(kWidth - filled, '.');
    std::fprintf(stream_, "\r\033[K[%s] %d/%d  elapsed %s  ETA %s  %s", bar.c_str(), done_, total_,
                 FormatDuration(elapsed).c_str(), FormatDuration(eta).c_str(), what.c_str());
    if (done_ == total_) std::fprintf(stream_, "\n");
  } else {
    std::fprintf(stream_, "[%d/%d] %s (elapsed %s, ETA %s)\n", done_, total_, what.c_str(),
                 FormatDuration(elapsed).c_str(), FormatDuration(eta).c_str());
  }
  std::fflush(stream_);
}

}  // namespace quantbench
