// Sweep progress on stderr: a redrawn bar with ETA on a terminal, plain lines otherwise
// (logs and CI must stay readable, so no carriage returns there).
#ifndef QUANTBENCH_EXPERIMENTS_PROGRESS_H_
#define QUANTBENCH_EXPERIMENTS_PROGRESS_H_

#include <chrono>
#include <cstdio>
#include <string>

namespace quantbench {

class Progress {
 public:
  Progress(int total, std::FILE* stream);
  // Marks one more unit done; `what` says what just finished (e.g. "linear 4 bits: 81.2 %").
  void Step(const std::string& what);
  // Prints a message without breaking the bar.
  void Log(const std::string& message);

 private:
  int total_;
  int done_ = 0;
  std::FILE* stream_;
  bool terminal_;
  std::chrono::steady_clock::time_point start_;
};

// "1:05" / "1:02:03".
std::string FormatDuration(double seconds);

}  // namespace quantbench

#endif  // QUANTBENCH_EXPERIMENTS_PROGRESS_H_
