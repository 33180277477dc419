#include "quantizers/levels.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"

namespace quantbench {
namespace {

TEST(NearestLevelTest, PicksTheNearestLevel) {
  const std::vector<float> levels = {-2.0f, -1.0f, 0.0f, 1.0f, 2.0f};
  EXPECT_EQ(NearestLevel(levels, -7.0f), 0);  // below the table: clamps
  EXPECT_EQ(NearestLevel(levels, 9.0f), 4);   // above the table: clamps
  EXPECT_EQ(NearestLevel(levels, 1.0f), 3);   // exact hit
  EXPECT_EQ(NearestLevel(levels, 0.4f), 2);
  EXPECT_EQ(NearestLevel(levels, 0.6f), 3);
  EXPECT_EQ(NearestLevel(levels, -1.7f), 0);
}

TEST(NearestLevelTest, TiesGoAwayFromZero) {
  const std::vector<float> levels = {-2.0f, -1.0f, 0.0f, 1.0f, 2.0f};
  EXPECT_EQ(NearestLevel(levels, 0.5f), 3);
  EXPECT_EQ(NearestLevel(levels, -0.5f), 1);
  EXPECT_EQ(NearestLevel(levels, 1.5f), 4);
  EXPECT_EQ(NearestLevel(levels, -1.5f), 0);
}

TEST(NearestLevelTest, ZeroBetweenTwoLevelsFollowsItsSignBit) {
  const std::vector<float> levels = {-3.0f, -1.0f, 1.0f, 3.0f};
  EXPECT_EQ(NearestLevel(levels, 0.0f), 2);
  EXPECT_EQ(NearestLevel(levels, -0.0f), 1);
}

TEST(NearestLevelTest, RepeatedLevelsAndSingleLevel) {
  const std::vector<float> repeated = {0.0f, 0.0f, 0.0f, 1.0f};
  EXPECT_EQ(repeated[NearestLevel(repeated, 0.2f)], 0.0f);
  EXPECT_EQ(repeated[NearestLevel(repeated, 0.9f)], 1.0f);
  const std::vector<float> single = {0.25f};
  EXPECT_EQ(NearestLevel(single, -5.0f), 0);
  EXPECT_EQ(NearestLevel(single, 5.0f), 0);
}

TEST(NearestLevelTest, MatchesBruteForce) {
  std::vector<float> levels;
  for (int k = -20; k <= 20; ++k) levels.push_back(0.37f * k * std::abs(k));
  for (int i = -4000; i <= 4000; ++i) {
    const float x = 0.0413f * i;
    int best = 0;
    for (int j = 1; j < static_cast<int>(levels.size()); ++j) {
      if (std::fabs(static_cast<double>(x) - levels[j]) <
          std::fabs(static_cast<double>(x) - levels[best])) {
        best = j;
      }
    }
    EXPECT_DOUBLE_EQ(std::fabs(x - levels[NearestLevel(levels, x)]), std::fabs(x - levels[best]))
        << "x = " << x;
  }
}

TEST(EncodeNearestTest, WritesCodesAndValues) {
  const std::vector<float> levels = {-1.0f, 0.0f, 1.0f};
  const std::vector<float> values = {-0.9f, 0.2f, 0.7f, 3.0f};
  std::vector<int32_t> codes(values.size());
  std::vector<float> out(values.size());
  EncodeNearest(levels, values, absl::MakeSpan(codes), absl::MakeSpan(out));
  EXPECT_EQ(codes, (std::vector<int32_t>{0, 1, 2, 2}));
  EXPECT_EQ(out, (std::vector<float>{-1.0f, 0.0f, 1.0f, 1.0f}));
}

TEST(MaxAbsTest, Works) {
  EXPECT_EQ(MaxAbs({}), 0.0f);
  EXPECT_EQ(MaxAbs(std::vector<float>{0.5f, -3.0f, 2.0f}), 3.0f);
}

}  // namespace
}  // namespace quantbench
