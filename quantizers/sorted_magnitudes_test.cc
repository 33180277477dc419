#include "quantizers/sorted_magnitudes.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "quantizers/levels.h"
#include "quantizers/test_util.h"

namespace quantbench {
namespace {

// Σ (|v| - nearest level)², one value at a time.
double BruteForceSquaredError(const std::vector<float>& values, const std::vector<float>& levels) {
  double total = 0.0;
  for (float v : values) {
    const double d = static_cast<double>(std::fabs(v)) - levels[NearestLevel(levels, std::fabs(v))];
    total += d * d;
  }
  return total;
}

std::vector<float> TestValues(int64_t n, uint32_t seed) {
  std::vector<float> values = test::Gaussian(n, seed);
  // Exact zeros, repeats and both signs of one magnitude.
  for (int64_t i = 0; i < n; i += 7) values[i] = 0.0f;
  for (int64_t i = 3; i < n; i += 11) values[i] = (i % 2 ? 0.5f : -0.5f);
  return values;
}

TEST(SortedMagnitudesTest, SortsAbsoluteValues) {
  const std::vector<float> values = TestValues(100000, 1);
  SortedMagnitudes sorted(values);
  std::vector<float> expected;
  for (float v : values) expected.push_back(std::fabs(v));
  std::sort(expected.begin(), expected.end());
  ASSERT_EQ(sorted.size(), static_cast<int64_t>(expected.size()));
  EXPECT_TRUE(std::equal(expected.begin(), expected.end(), sorted.sorted().begin()));
  EXPECT_EQ(sorted.max(), expected.back());
}

TEST(SortedMagnitudesTest, SquaredErrorMatchesBruteForce) {
  for (int64_t n : {1, 5, 64, 65, 1000, 100000}) {
    const std::vector<float> values = TestValues(n, static_cast<uint32_t>(n));
    SortedMagnitudes sorted(values);
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> uniform(0.0f, 4.0f);
    for (int trial = 0; trial < 20; ++trial) {
      std::vector<float> levels(1 + trial * 3);
      for (float& l : levels) l = uniform(rng);
      if (trial % 2 == 0) levels[0] = 0.0f;
      if (trial % 3 == 0) levels.push_back(0.5f);           // a level hit exactly by some values
      if (trial % 4 == 0) levels.push_back(levels.back());  // a repeated level
      std::sort(levels.begin(), levels.end());
      const double expected = BruteForceSquaredError(values, levels);
      EXPECT_NEAR(sorted.SquaredError(levels), expected, 1e-9 * (1.0 + expected))
          << "n = " << n << ", trial = " << trial;
    }
  }
}

TEST(SortedMagnitudesTest, MidpointTiesAndExactFit) {
  // 1.5 is halfway between the levels 1 and 2: either choice costs 0.25.
  const std::vector<float> values = {1.0f, -1.5f, 2.0f, 0.0f};
  SortedMagnitudes sorted(values);
  EXPECT_DOUBLE_EQ(sorted.SquaredError(std::vector<float>{0.0f, 1.0f, 2.0f}), 0.25);
  EXPECT_DOUBLE_EQ(sorted.SquaredError(std::vector<float>{0.0f, 1.0f, 1.5f, 2.0f}), 0.0);
}

TEST(SortedMagnitudesTest, Empty) {
  SortedMagnitudes sorted(absl::Span<const float>{});
  EXPECT_EQ(sorted.size(), 0);
  EXPECT_EQ(sorted.max(), 0.0f);
  EXPECT_EQ(sorted.SquaredError(std::vector<float>{0.0f, 1.0f}), 0.0);
}

}  // namespace
}  // namespace quantbench
