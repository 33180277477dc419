// Uniform grids and the choice of their range (uniform_grid.h, weight_clipping.h).
#include "quantizers/weight_clipping.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "quantizers/levels.h"
#include "quantizers/test_util.h"
#include "quantizers/uniform_grid.h"

namespace quantbench {
namespace {

double GridMse(const UniformGrid& grid, const std::vector<float>& w) {
  const std::vector<float> levels = GridLevels(grid);
  std::vector<int32_t> codes(w.size());
  std::vector<float> out(w.size());
  EncodeNearest(levels, w, absl::MakeSpan(codes), absl::MakeSpan(out));
  return test::Mse(w, out);
}

TEST(UniformGridTest, AffineGridHasAnIntegerZeroAndCoversTheRange) {
  // [-1, 3] at 2 bits: step0 = 4/3, z = round(0.75) = 1, step = max(3/2, 1/1) = 1.5.
  const UniformGrid grid = AffineGrid(2, -1.0, 3.0);
  EXPECT_EQ(grid.zero_point_x2, 2);
  EXPECT_DOUBLE_EQ(grid.step, 1.5);
  EXPECT_EQ(GridLevels(grid), (std::vector<float>{-1.5f, 0.0f, 1.5f, 3.0f}));
  // All-positive data: z = 0 and the top level is the max exactly.
  const UniformGrid positive = AffineGrid(4, 0.2, 0.9);
  EXPECT_EQ(positive.zero_point_x2, 0);
  EXPECT_EQ(GridLevels(positive).back(), 0.9f);
  // Nothing but zeros: one all-zero grid.
  EXPECT_EQ(AffineGrid(3, 0.0, 0.0).step, 0.0);
}

TEST(UniformGridTest, MidRiseHasAHalfIntegerZero) {
  const UniformGrid grid = MidRiseGrid(3, 7.0);
  EXPECT_EQ(grid.zero_point_x2, 7);
  EXPECT_EQ(GridLevels(grid), (std::vector<float>{-7, -5, -3, -1, 1, 3, 5, 7}));
  const UniformGrid tread = MidTreadGrid(3, 3.0);
  EXPECT_EQ(GridLevels(tread), (std::vector<float>{-3, -2, -1, 0, 1, 2, 3}));
}

TEST(WeightClippingTest, NearestRankPercentile) {
  std::vector<float> w;
  for (int i = 1; i <= 200; ++i) w.push_back(static_cast<float>(i % 2 ? i : -i));
  EXPECT_EQ(NearestRankPercentile(w, 99.0, /*magnitudes=*/true), 198.0);  // rank ⌈198⌉
  EXPECT_EQ(NearestRankPercentile(w, 100.0, true), 200.0);
  EXPECT_EQ(NearestRankPercentile(w, 0.0, false), -200.0);
  EXPECT_EQ(NearestRankPercentile(w, 100.0, false), 199.0);
}

TEST(WeightClippingTest, PercentileClipsTheOutlier) {
  std::vector<float> w = test::Gaussian(9999, 4, 0.05f);
  w[17] = 5.0f;  // one outlier would stretch a min/max grid 25x
  const ClipSpec percentile{ClipMethod::kPercentile, 99.9};
  const UniformGrid clipped = ChooseClippedGrid(GridShape::kMidTread, 4, percentile, w);
  EXPECT_LT(GridLevels(clipped).back(), 0.5f);
  const UniformGrid full = ChooseClippedGrid(GridShape::kMidTread, 4, ClipSpec{}, w);
  EXPECT_EQ(GridLevels(full).back(), 5.0f);
  EXPECT_LT(GridMse(clipped, w), GridMse(full, w));
}

TEST(WeightClippingTest, MseSearchIsNoWorseThanMinMaxOrAnyLatticeRatio) {
  for (GridShape shape : {GridShape::kMidTread, GridShape::kMidRise, GridShape::kAffine}) {
    for (int bits : {2, 3, 4, 6}) {
      std::vector<float> w = test::Gaussian(5001, 10 + bits, 0.05f);
      for (float& v : w) v = v > 0 ? v * 1.5f : v;  // skewed, so the affine grid matters
      const ClipSpec mse{ClipMethod::kMse, 100.0};
      const UniformGrid best = ChooseClippedGrid(shape, bits, mse, w);
      const double best_mse = GridMse(best, w);
      EXPECT_LE(best_mse, GridMse(ChooseClippedGrid(shape, bits, ClipSpec{}, w), w) * (1 + 1e-9));
      // Every coarse lattice ratio, checked by brute force on the data itself.
      double lo = 0.0;
      double hi = 0.0;
      for (float v : w) {
        lo = std::min(lo, static_cast<double>(v));
        hi = std::max(hi, static_cast<double>(v));
      }
      for (int i = 2; i <= 20; ++i) {
        const double r = 0.05 * i;
        const UniformGrid grid = shape == GridShape::kAffine ? AffineGrid(bits, r * lo, r * hi)
                                 : shape == GridShape::kMidRise
                                     ? MidRiseGrid(bits, r * std::max(-lo, hi))
                                     : MidTreadGrid(bits, r * std::max(-lo, hi));
        EXPECT_LE(best_mse, GridMse(grid, w) * (1 + 1e-9)) << "ratio " << r << " bits " << bits;
      }
    }
  }
}

}  // namespace
}  // namespace quantbench
