// "residual_expansion": planes against a scalar reference written from the summary's equations,
// the kTernaryPlanes encoding, the true storage cost and the bits/t_ex contract.
#include <cmath>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "quantizers/quantizer.h"
#include "quantizers/test_util.h"

namespace quantbench {
namespace {

using test::Params;

struct Reference {
  std::vector<double> values;
  std::vector<double> scales;
};

// Section 2.3 written out directly, in double: plane p ternarizes x_p with Δ_p = δ_p·max|W|,
// α_p = mean kept |x_p|; x_{p+1} = x_p − α_p·t_p (residual) or W (shared).
Reference ResidualExpansionRef(const std::vector<float>& w, int planes, bool residual) {
  const double deltas[] = {0.05, 0.10, 0.15, 0.20};
  double max_abs = 0.0;
  for (float v : w) max_abs = std::max(max_abs, std::fabs(static_cast<double>(v)));
  Reference ref;
  ref.values.assign(w.size(), 0.0);
  std::vector<double> x(w.begin(), w.end());
  for (int p = 0; p < planes; ++p) {
    const double threshold = deltas[p] * max_abs;
    double sum = 0.0;
    int count = 0;
    for (double v : x) {
      if (v != 0.0 && std::fabs(v) >= threshold) {
        sum += std::fabs(v);
        ++count;
      }
    }
    const double alpha = count == 0 ? 0.0 : static_cast<float>(sum / count);
    ref.scales.push_back(alpha);
    for (size_t i = 0; i < x.size(); ++i) {
      const double t = (x[i] != 0.0 && std::fabs(x[i]) >= threshold) ? (x[i] > 0 ? 1 : -1) : 0;
      ref.values[i] += alpha * t;
      if (residual) x[i] = static_cast<float>(x[i] - alpha * t);
    }
  }
  return ref;
}

TEST(ResidualExpansionTest, MatchesTheReferenceOnRandomOddShapes) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 6; ++trial) {
    const int64_t rows = 1 + static_cast<int64_t>(rng() % 9);
    const int64_t cols = 1 + static_cast<int64_t>(rng() % 131);
    const std::vector<float> w = test::Gaussian(rows * cols, 100 + trial, 0.1f);
    for (const std::string expansion : {"residual", "shared"}) {
      for (int planes = 1; planes <= 4; ++planes) {
        SCOPED_TRACE(expansion + " t_ex = " + std::to_string(planes));
        auto q = test::Quantize("residual_expansion", {{"expansion", expansion}}, w, 2 * planes,
                                {rows, cols});
        ASSERT_TRUE(q.ok()) << q.status();
        const Reference ref = ResidualExpansionRef(w, planes, expansion == "residual");
        ASSERT_EQ(q->plane_scale.size(), ref.scales.size());
        for (int p = 0; p < planes; ++p) EXPECT_EQ(q->plane_scale[p], ref.scales[p]) << p;
        for (size_t i = 0; i < w.size(); ++i) {
          EXPECT_NEAR(q->values[i], ref.values[i], 1e-6 * std::fabs(ref.values[i]) + 1e-12) << i;
        }
      }
    }
  }
}

TEST(ResidualExpansionTest, OnePlaneIsTheStatisticalTernary) {
  const std::vector<float> w = test::Gaussian(1001, 3, 0.05f);
  auto expansion = test::Quantize("residual_expansion", {}, w, 2);
  auto ternary = test::Quantize("ternary", {{"method", "statistical"}}, w, 2);
  ASSERT_TRUE(expansion.ok() && ternary.ok());
  EXPECT_EQ(expansion->values, ternary->values);
}

TEST(ResidualExpansionTest, CodesAreBaseThreeDigitsOfThePlanes) {
  // max|W| = 1: plane 0 keeps |x| >= 0.05, α0 = mean(1, 0.5, 0.25) = 0.583..; plane 1 keeps
  // residuals >= 0.1.
  const std::vector<float> w = {1.0f, -0.5f, 0.25f, 0.01f};
  auto q = test::Quantize("residual_expansion", {{"t_ex", "2"}}, w, 4);
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->kind, CodeKind::kTernaryPlanes);
  EXPECT_EQ(q->ternary_planes, 2);
  EXPECT_EQ(q->levels_per_table, 9);
  const float a0 = static_cast<float>(1.75 / 3.0);
  EXPECT_EQ(q->plane_scale[0], a0);
  // Residuals: 1 − a0 = 0.4167 (kept, +), −0.5 + a0 = 0.0833 (dropped), 0.25 − a0 = −0.333
  // (kept, −), 0.01 (dropped).
  const double r0 = 1.0 - static_cast<double>(a0);
  const double r2 = static_cast<double>(a0) - 0.25;
  EXPECT_FLOAT_EQ(q->plane_scale[1], static_cast<float>((r0 + r2) / 2.0));
  // code = (t0 + 1) + 3·(t1 + 1)
  EXPECT_EQ(q->codes, (std::vector<int32_t>{2 + 3 * 2, 0 + 3 * 1, 2 + 3 * 0, 1 + 3 * 1}));
  EXPECT_EQ(q->values[3], 0.0f);
}

TEST(ResidualExpansionTest, StorageCountsEveryPlaneAndScale) {
  const std::vector<float> w = test::Gaussian(999, 5);
  for (int planes = 1; planes <= 4; ++planes) {
    auto q = test::Quantize("residual_expansion", {}, w, 2 * planes);
    ASSERT_TRUE(q.ok()) << q.status();
    EXPECT_EQ(q->storage_bits, 999 * 2 * planes + 32 * planes);
  }
}

TEST(ResidualExpansionTest, ErrorFallsWithEachResidualPlane) {
  const std::vector<float> w = test::Gaussian(4096, 9, 0.05f);
  double previous = test::Mse(w, std::vector<float>(w.size(), 0.0f));
  for (int planes = 1; planes <= 4; ++planes) {
    auto q = test::Quantize("residual_expansion", {}, w, 2 * planes);
    ASSERT_TRUE(q.ok());
    const double mse = test::Mse(w, q->values);
    EXPECT_LT(mse, previous) << planes;
    previous = mse;
  }
}

TEST(ResidualExpansionTest, SharedPlanesAreNestedSoFewLevels) {
  const std::vector<float> w = test::Gaussian(4096, 11, 0.05f);
  auto q = test::Quantize("residual_expansion", {{"expansion", "shared"}}, w, 8);
  ASSERT_TRUE(q.ok());
  std::set<float> distinct(q->values.begin(), q->values.end());
  EXPECT_EQ(distinct.size(), 9u);  // 0 and ±(α0), ±(α0+α1), ... : 2·t_ex + 1
}

TEST(ResidualExpansionTest, BitsMustBeTwiceTheTerms) {
  auto fixed = QuantizerRegistry::Global().Create("residual_expansion", {{"t_ex", "2"}});
  ASSERT_TRUE(fixed.ok());
  EXPECT_TRUE((*fixed)->CheckBits(4).ok());
  const absl::Status wrong = (*fixed)->CheckBits(2);
  EXPECT_EQ(wrong.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(wrong.message().find("bits: [4]"), std::string::npos) << wrong;
  auto free = QuantizerRegistry::Global().Create("residual_expansion", {});
  ASSERT_TRUE(free.ok());
  for (int bits = 1; bits <= 16; ++bits) {
    EXPECT_EQ((*free)->CheckBits(bits).ok(), bits % 2 == 0 && bits <= 8) << bits;
  }
  for (const Params& bad : {Params{{"t_ex", "0"}}, Params{{"t_ex", "5"}}, Params{{"t_ex", "1.5"}},
                            Params{{"expansion", "recursive"}}}) {
    EXPECT_EQ(QuantizerRegistry::Global().Create("residual_expansion", bad).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace quantbench
