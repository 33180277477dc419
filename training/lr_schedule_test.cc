#include "training/lr_schedule.h"

#include <cmath>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "training/torch_reference.h"

namespace quantbench {
namespace {

double Number(const TorchScheduleCase& c, const std::string& key) {
  double value = 0;
  EXPECT_TRUE(absl::SimpleAtod(c.settings.at(key), &value)) << key;
  return value;
}

LrScheduleSpec SpecOf(const TorchScheduleCase& c) {
  LrScheduleSpec spec;
  const std::string& kind = c.settings.at("kind");
  spec.lr = Number(c, "lr");
  if (kind == "multistep") {
    spec.kind = LrScheduleSpec::kMultiStep;
    spec.gamma = Number(c, "gamma");
    for (absl::string_view m : absl::StrSplit(c.settings.at("milestones"), ',')) {
      int milestone = 0;
      EXPECT_TRUE(absl::SimpleAtoi(m, &milestone));
      spec.milestones.push_back(milestone);
    }
  } else if (kind == "cosine") {
    spec.kind = LrScheduleSpec::kCosine;
    spec.min_lr = Number(c, "min_lr");
    spec.epochs = static_cast<int>(Number(c, "epochs"));
  } else {
    EXPECT_EQ(kind, "cosine_restarts");
    spec.kind = LrScheduleSpec::kCosineRestarts;
    spec.min_lr = Number(c, "min_lr");
    spec.period = Number(c, "period");
    spec.period_mult = Number(c, "period_mult");
  }
  return spec;
}

// torch's schedulers stepped once per batch, four batches an epoch, against LearningRateAt at
// the same fractional progress, and torch's restarts (T_cur falling) against RestartBetween.
TEST(LrScheduleTest, MatchesTorchSchedulers) {
  auto reference = LoadTorchReference();
  ASSERT_TRUE(reference.ok()) << reference.status();
  ASSERT_GE(reference->schedules.size(), 5u);
  int restarts = 0;
  for (const TorchScheduleCase& c : reference->schedules) {
    const LrScheduleSpec spec = SpecOf(c);
    ASSERT_TRUE(CheckLrSchedule(spec).ok()) << c.settings.at("kind");
    ASSERT_GT(c.points.size(), 10u);
    for (size_t i = 0; i < c.points.size(); ++i) {
      const TorchScheduleCase::Point& p = c.points[i];
      const double lr = LearningRateAt(spec, p.progress);
      EXPECT_NEAR(lr, p.lr, 1e-6 * std::fabs(p.lr) + 1e-12)
          << c.settings.at("kind") << " at " << p.progress << " epochs";
      if (i > 0) {
        EXPECT_EQ(RestartBetween(spec, c.points[i - 1].progress, p.progress), p.restart)
            << c.settings.at("kind") << " between " << c.points[i - 1].progress << " and "
            << p.progress;
        restarts += p.restart;
      }
    }
  }
  EXPECT_EQ(restarts, 6);  // 3 at 3, 9, 21 epochs; 3 at 2.5, 5, 7.5
}

TEST(LrScheduleTest, ClosedForms) {
  LrScheduleSpec multistep;
  multistep.kind = LrScheduleSpec::kMultiStep;
  multistep.lr = 1.0;
  multistep.milestones = {2, 4};
  multistep.gamma = 0.5;
  EXPECT_DOUBLE_EQ(LearningRateAt(multistep, 1.999), 1.0);
  EXPECT_DOUBLE_EQ(LearningRateAt(multistep, 2.0), 0.5);  // milestones <= floor(progress)
  EXPECT_DOUBLE_EQ(LearningRateAt(multistep, 3.7), 0.5);
  EXPECT_DOUBLE_EQ(LearningRateAt(multistep, 100), 0.25);

  LrScheduleSpec cosine;
  cosine.kind = LrScheduleSpec::kCosine;
  cosine.lr = 0.2;
  cosine.min_lr = 0.02;
  cosine.epochs = 8;
  EXPECT_DOUBLE_EQ(LearningRateAt(cosine, 0), 0.2);
  EXPECT_NEAR(LearningRateAt(cosine, 4), 0.11, 1e-15);  // half-way: the mean of lr and min_lr
  EXPECT_NEAR(LearningRateAt(cosine, 8), 0.02, 1e-15);
  EXPECT_NEAR(LearningRateAt(cosine, 20), 0.02, 1e-15);  // stays at min_lr past the end

  LrScheduleSpec constant;
  constant.lr = 0.3;
  EXPECT_DOUBLE_EQ(LearningRateAt(constant, 7.5), 0.3);
  EXPECT_FALSE(RestartBetween(constant, 0, 100));
}

TEST(LrScheduleTest, WarmupMultipliesLinearlyFromZero) {
  LrScheduleSpec cosine;
  cosine.kind = LrScheduleSpec::kCosine;
  cosine.lr = 0.1;
  cosine.epochs = 10;
  cosine.warmup_epochs = 2;
  LrScheduleSpec plain = cosine;
  plain.warmup_epochs = 0;
  EXPECT_DOUBLE_EQ(LearningRateAt(cosine, 0), 0.0);
  EXPECT_DOUBLE_EQ(LearningRateAt(cosine, 0.5), 0.25 * LearningRateAt(plain, 0.5));
  EXPECT_DOUBLE_EQ(LearningRateAt(cosine, 1.5), 0.75 * LearningRateAt(plain, 1.5));
  EXPECT_DOUBLE_EQ(LearningRateAt(cosine, 2.0), LearningRateAt(plain, 2.0));
  EXPECT_DOUBLE_EQ(LearningRateAt(cosine, 6.0), LearningRateAt(plain, 6.0));
}

TEST(LrScheduleTest, RestartsSpanningSeveralPeriodsAndBoundaries) {
  LrScheduleSpec sgdr;
  sgdr.kind = LrScheduleSpec::kCosineRestarts;
  sgdr.lr = 1.0;
  sgdr.period = 1.0;
  sgdr.period_mult = 2.0;                       // restarts at 1, 3, 7, 15
  EXPECT_TRUE(RestartBetween(sgdr, 0.9, 1.0));  // the boundary belongs to (previous, current]
  EXPECT_FALSE(RestartBetween(sgdr, 1.0, 1.1));
  EXPECT_TRUE(RestartBetween(sgdr, 2.0, 8.0));  // several at once: still one reset
  EXPECT_FALSE(RestartBetween(sgdr, 3.5, 6.99));
  EXPECT_FALSE(RestartBetween(sgdr, 0.0, 0.5));  // the start is not a restart
  EXPECT_FALSE(RestartBetween(sgdr, 5.0, 4.0));
  EXPECT_DOUBLE_EQ(LearningRateAt(sgdr, 7.0), 1.0);    // a fresh period starts at lr
  EXPECT_NEAR(LearningRateAt(sgdr, 5.0), 0.5, 1e-15);  // half-way through [3, 7)
}

TEST(LrScheduleTest, ValidationNamesTheField) {
  auto message = [](auto mutate) {
    LrScheduleSpec spec;
    mutate(spec);
    absl::Status status = CheckLrSchedule(spec);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    return std::string(status.message());
  };
  EXPECT_EQ(message([](LrScheduleSpec& s) { s.lr = 0; }).rfind("lr:", 0), 0u);
  EXPECT_EQ(message([](LrScheduleSpec& s) { s.lr = std::nan(""); }).rfind("lr:", 0), 0u);
  EXPECT_EQ(message([](LrScheduleSpec& s) { s.min_lr = 1.0; }).rfind("min_lr:", 0), 0u);
  EXPECT_EQ(message([](LrScheduleSpec& s) { s.warmup_epochs = -1; }).rfind("warmup_epochs:", 0),
            0u);
  EXPECT_EQ(message([](LrScheduleSpec& s) {
              s.kind = LrScheduleSpec::kCosine;
              s.epochs = 0;
            }).rfind("epochs:", 0),
            0u);
  EXPECT_EQ(message([](LrScheduleSpec& s) {
              s.kind = LrScheduleSpec::kMultiStep;
              s.milestones = {3, 3};
            }).rfind("milestones[1]:", 0),
            0u);
  EXPECT_EQ(message([](LrScheduleSpec& s) {
              s.kind = LrScheduleSpec::kMultiStep;
              s.milestones = {0};
            }).rfind("milestones[0]:", 0),
            0u);
  EXPECT_EQ(message([](LrScheduleSpec& s) {
              s.kind = LrScheduleSpec::kMultiStep;
              s.gamma = 0;
            }).rfind("gamma:", 0),
            0u);
  EXPECT_EQ(message([](LrScheduleSpec& s) {
              s.kind = LrScheduleSpec::kCosineRestarts;
              s.period = 0;
            }).rfind("period:", 0),
            0u);
  EXPECT_EQ(message([](LrScheduleSpec& s) {
              s.kind = LrScheduleSpec::kCosineRestarts;
              s.period_mult = 0.5;
            }).rfind("period_mult:", 0),
            0u);
}

}  // namespace
}  // namespace quantbench
