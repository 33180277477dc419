// The "ternary" quantizer's threshold rules (twn, statistical, mse) and parameters.
#include <cmath>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "quantizers/quantizer.h"
#include "quantizers/test_util.h"

namespace quantbench {
namespace {

int64_t Zeros(const std::vector<float>& values) {
  int64_t zeros = 0;
  for (float v : values) zeros += v == 0.0f;
  return zeros;
}

TEST(TernaryTest, TwnThresholdOnAKnownTensor) {
  // mean|w| = 5.2/8 = 0.65, Δ = 0.455: kept 1, -1, 0.5, 2, a = 4.5/4 = 1.125.
  const std::vector<float> w = {1.0f, -1.0f, 0.2f, -0.1f, 0.5f, 0.0f, 2.0f, -0.4f};
  auto q = test::Quantize("ternary", {}, w, 2);
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->codebook, (std::vector<float>{-1.125f, 0.0f, 1.125f}));
  EXPECT_EQ(q->levels_per_table, 3);
  EXPECT_EQ(q->values, (std::vector<float>{1.125f, -1.125f, 0, 0, 1.125f, 0, 1.125f, 0}));
  EXPECT_EQ(q->codes, (std::vector<int32_t>{2, 0, 1, 1, 2, 1, 2, 1}));
  EXPECT_EQ(Zeros(q->values), 4);
  EXPECT_EQ(q->storage_bits, 8 * 2 + 32);
}

TEST(TernaryTest, StatisticalUsesFivePercentOfMax) {
  // max|w| = 10, Δ = 0.5: kept 10, 0.51, -0.6, 3 (not -0.4, 0.49).
  const std::vector<float> w = {10.0f, -0.4f, 0.51f, -0.6f, 3.0f, 0.49f};
  auto q = test::Quantize("ternary", {{"method", "statistical"}}, w, 2);
  ASSERT_TRUE(q.ok()) << q.status();
  const float a = static_cast<float>((10.0 + static_cast<double>(0.51f) +
                                      static_cast<double>(0.6f) + 3.0) / 4.0);
  EXPECT_EQ(q->values, (std::vector<float>{a, 0, a, -a, a, 0}));
  // threshold_ratio 0.1: Δ = 1, kept 10 and 3.
  auto q10 =
      test::Quantize("ternary", {{"method", "statistical"}, {"threshold_ratio", "0.1"}}, w, 2);
  ASSERT_TRUE(q10.ok()) << q10.status();
  EXPECT_EQ(q10->values, (std::vector<float>{6.5f, 0, 0, 0, 6.5f, 0}));
  // TWN on the same tensor: mean|w| = 2.5, Δ = 1.75, also kept 10 and 3.
  auto twn = test::Quantize("ternary", {}, w, 2);
  ASSERT_TRUE(twn.ok()) << twn.status();
  EXPECT_EQ(twn->values, q10->values);
}

TEST(TernaryTest, MseKeepsTheBestSet) {
  // k = 2 (the two 3s): gain 36/2 = 18 beats k = 3 (49/3) and k = 4 (49/4).
  const std::vector<float> w = {3.0f, -3.0f, 1.0f, 0.0f};
  auto q = test::Quantize("ternary", {{"method", "mse"}}, w, 2);
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->values, (std::vector<float>{3, -3, 0, 0}));
  // Brute force over every threshold on a small random tensor: mse finds the minimum.
  const std::vector<float> g = test::Gaussian(300, 5);
  auto best = test::Quantize("ternary", {{"method", "mse"}}, g, 2);
  ASSERT_TRUE(best.ok()) << best.status();
  const double best_mse = test::Mse(g, best->values);
  for (float t : g) {
    const double threshold = std::fabs(t);
    double sum = 0;
    int count = 0;
    for (float v : g) {
      if (std::fabs(v) >= threshold) sum += std::fabs(v), ++count;
    }
    const float a = static_cast<float>(sum / count);
    std::vector<float> candidate;
    for (float v : g) candidate.push_back(std::fabs(v) >= threshold ? (v > 0 ? a : -a) : 0.0f);
    EXPECT_LE(best_mse, test::Mse(g, candidate) * (1 + 1e-9));
  }
}

TEST(TernaryTest, MseBeatsTwnAndStatisticalOnGaussian) {
  for (uint32_t seed : {1u, 2u, 3u}) {
    const std::vector<float> w = test::Gaussian(50000, seed, 0.03f);
    auto mse = test::Quantize("ternary", {{"method", "mse"}}, w, 2);
    auto twn = test::Quantize("ternary", {{"method", "twn"}}, w, 2);
    auto stat = test::Quantize("ternary", {{"method", "statistical"}}, w, 2);
    ASSERT_TRUE(mse.ok() && twn.ok() && stat.ok());
    EXPECT_LE(test::Mse(w, mse->values), test::Mse(w, twn->values));
    EXPECT_LE(test::Mse(w, mse->values), test::Mse(w, stat->values));
  }
}

TEST(TernaryTest, PerChannelHasOneScalePerRow) {
  std::vector<float> w = test::Gaussian(4 * 100, 7);
  for (int i = 100; i < 200; ++i) w[i] *= 10.0f;  // row 1 is 10x larger
  auto q = test::Quantize("ternary", {{"granularity", "per_channel"}}, w, 2, {4, 100});
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->num_tables, 4);
  EXPECT_EQ(q->codebook.size(), 12u);
  EXPECT_GT(q->codebook[5], 5.0f * q->codebook[2]);
  EXPECT_EQ(q->storage_bits, 400 * 2 + 4 * 32);
}

TEST(TernaryTest, AllZeroGivesZeroScale) {
  for (const std::string method : {"twn", "statistical", "mse"}) {
    auto q = test::Quantize("ternary", {{"method", method}}, std::vector<float>(10, 0.0f), 2);
    ASSERT_TRUE(q.ok()) << q.status();
    EXPECT_EQ(q->codebook, (std::vector<float>{0, 0, 0})) << method;
    EXPECT_EQ(Zeros(q->values), 10);
  }
}

TEST(TernaryTest, OnlyTwoBitsAndValidParameters) {
  const std::vector<float> w = {1.0f, -1.0f};
  auto q = test::Quantize("ternary", {}, w, 3);
  EXPECT_EQ(q.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(q.status().message().find("ternary stores 2-bit codes; use bits: [2]"),
            std::string::npos)
      << q.status();
  EXPECT_FALSE(QuantizerRegistry::Global().Create("ternary", {{"method", "ttq"}}).ok());
  EXPECT_FALSE(QuantizerRegistry::Global()
                   .Create("ternary", {{"method", "statistical"}, {"threshold_ratio", "0"}})
                   .ok());
  // threshold_ratio only means something for method: statistical.
  EXPECT_FALSE(QuantizerRegistry::Global().Create("ternary", {{"threshold_ratio", "0.1"}}).ok());
}

}  // namespace
}  // namespace quantbench
