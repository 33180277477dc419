#include "training/progress.h"

#include <cmath>
#include <cstdio>
#include <string>

#include "gtest/gtest.h"

namespace quantbench {
namespace {

// Everything written to `file` so far.
std::string Contents(std::FILE* file) {
  std::fflush(file);
  std::rewind(file);
  std::string text;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), file)) > 0) text.append(buffer, n);
  return text;
}

TEST(TrainingProgressTest, PlainLinesOnlyWhenNotATerminal) {
  std::FILE* file = std::tmpfile();
  ASSERT_NE(file, nullptr);
  TrainingProgress progress(3, file);  // a temporary file is no terminal
  auto step = progress.StepCallback();
  auto log = progress.LogCallback();
  step(0, 0.5, 2.0);
  step(0, 1.0, 1.5);
  log("epoch 1/3: loss 1.7500");
  EXPECT_EQ(Contents(file), "epoch 1/3: loss 1.7500\n");
  std::fclose(file);
}

TEST(TrainingProgressTest, TerminalBarWithEtaAndLinesThatEraseIt) {
  std::FILE* file = std::tmpfile();
  ASSERT_NE(file, nullptr);
  double now = 100.0;
  TrainingProgress progress(4, file, /*terminal=*/true, [&] { return now; });
  now = 110.0;  // a quarter of epoch 1 (1/16 of the run) in 10 s: 150 s to go
  progress.Step(0, 0.25, 2.3456);
  const std::string first = Contents(file);
  EXPECT_EQ(first,
            "\r\033[K[#######.......................] epoch 1/4  25%  loss 2.3456  "
            "elapsed 0:10  ETA 2:30");
  // Within 0.1 s of the last draw: not redrawn.
  now = 110.05;
  progress.Step(0, 0.3, 2.0);
  EXPECT_EQ(Contents(file), first);
  // The end of an epoch is always drawn; a log line erases the bar first.
  progress.Step(0, 1.0, 1.25);
  progress.Log("epoch 1/4: loss 1.9");
  const std::string text = Contents(file);
  EXPECT_NE(text.find("[##############################] epoch 1/4 100%  loss 1.2500"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.substr(text.size() - 24), "\r\033[Kepoch 1/4: loss 1.9\n");
  std::fclose(file);
}

TEST(TrainingProgressTest, ResumedRunEstimatesFromItsOwnProgress) {
  std::FILE* file = std::tmpfile();
  ASSERT_NE(file, nullptr);
  double now = 0.0;
  TrainingProgress progress(10, file, /*terminal=*/true, [&] { return now; });
  // Resumed after 8 epochs: half of epoch 9 took 30 s, so 1.5 epochs remain: 90 s.
  now = 30.0;
  progress.Step(8, 0.5, 0.5);
  EXPECT_NE(Contents(file).find("epoch 9/10  50%  loss 0.5000  elapsed 0:30  ETA 1:30"),
            std::string::npos)
      << Contents(file);
  std::fclose(file);
}

TEST(TrainingProgressTest, FormatsDurations) {
  EXPECT_EQ(FormatTrainingDuration(0), "0:00");
  EXPECT_EQ(FormatTrainingDuration(65.4), "1:05");
  EXPECT_EQ(FormatTrainingDuration(3723), "1:02:03");
  EXPECT_EQ(FormatTrainingDuration(-5), "0:00");
  EXPECT_EQ(FormatTrainingDuration(std::nan("")), "0:00");
}

}  // namespace
}  // namespace quantbench
