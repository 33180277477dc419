// The "linear" quantizer's level sets, error bound, granularity and parameters.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "quantizers/quantizer.h"
#include "quantizers/test_util.h"

namespace quantbench {
namespace {

using test::Params;

TEST(LinearTest, MidTreadLevels) {
  // M = 3 at 3 bits: Δ = 3/3 = 1, levels -3 .. 3.
  const std::vector<float> w = {3.0f, -0.2f, 1.4f, -2.6f, 0.5f, -0.5f};
  auto q = test::Quantize("linear", {}, w, 3);
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->codebook, (std::vector<float>{-3, -2, -1, 0, 1, 2, 3}));
  EXPECT_EQ(q->levels_per_table, 7);
  EXPECT_EQ(q->num_tables, 1);
  // ±0.5 are ties: away from zero.
  EXPECT_EQ(q->values, (std::vector<float>{3, 0, 1, -3, 1, -1}));
}

TEST(LinearTest, MidTreadTwoBitsIsTernary) {
  const std::vector<float> w = {0.8f, -0.3f, 0.41f, -0.39f};
  auto q = test::Quantize("linear", {}, w, 2);
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->codebook, (std::vector<float>{-0.8f, 0.0f, 0.8f}));
  EXPECT_EQ(q->values, (std::vector<float>{0.8f, 0.0f, 0.8f, 0.0f}));
}

TEST(LinearTest, MidRiseLevels) {
  // M = 3 at 2 bits: 3·(2k/3 - 1) = -3, -1, 1, 3.
  const std::vector<float> w = {-3.0f, 0.1f, -0.1f, 2.1f};
  auto q = test::Quantize("linear", {{"mode", "mid_rise"}}, w, 2);
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->codebook, (std::vector<float>{-3, -1, 1, 3}));
  EXPECT_EQ(q->values, (std::vector<float>{-3, 1, -1, 3}));
  // 1 bit: {-M, +M}.
  auto one = test::Quantize("linear", {{"mode", "mid_rise"}}, w, 1);
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->codebook, (std::vector<float>{-3, 3}));
  EXPECT_EQ(one->values, (std::vector<float>{-3, 3, -3, 3}));
}

TEST(LinearTest, LevelCountsAndEndsAtEveryWidth) {
  const std::vector<float> w = test::Gaussian(1000, 3);
  const float m = *std::max_element(w.begin(), w.end(),
                                    [](float a, float b) { return std::fabs(a) < std::fabs(b); });
  for (int bits = 2; bits <= 16; ++bits) {
    auto tread = test::Quantize("linear", {}, w, bits);
    auto rise = test::Quantize("linear", {{"mode", "mid_rise"}}, w, bits);
    ASSERT_TRUE(tread.ok() && rise.ok());
    EXPECT_EQ(tread->levels_per_table, (int64_t{1} << bits) - 1);
    EXPECT_EQ(rise->levels_per_table, int64_t{1} << bits);
    EXPECT_EQ(tread->codebook.back(), std::fabs(m));
    EXPECT_EQ(rise->codebook.back(), std::fabs(m));
    EXPECT_EQ(rise->codebook.front(), -std::fabs(m));
    EXPECT_TRUE(std::binary_search(tread->codebook.begin(), tread->codebook.end(), 0.0f));
    EXPECT_FALSE(std::binary_search(rise->codebook.begin(), rise->codebook.end(), 0.0f));
  }
}

TEST(LinearTest, MidTreadEightBitErrorIsAtMostHalfAStep) {
  const std::vector<float> w = test::Gaussian(100000, 5, 0.1f);
  auto q = test::Quantize("linear", {}, w, 8);
  ASSERT_TRUE(q.ok()) << q.status();
  const double m = q->codebook.back();
  const double delta = m / 127.0;
  double max_error = 0.0;
  for (size_t i = 0; i < w.size(); ++i) {
    max_error = std::max(max_error, std::fabs(static_cast<double>(w[i]) - q->values[i]));
  }
  // Slack: the levels themselves are rounded to fp32.
  EXPECT_LE(max_error, delta / 2 + 1e-7 * m);
  EXPECT_GT(max_error, 0.4 * delta);  // the bound is tight, not vacuous
}

TEST(LinearTest, PerChannelUsesEachRowsOwnMax) {
  // Three rows of very different scale, one all zero.
  const int64_t cols = 500;
  std::vector<float> w;
  const std::vector<float> scales = {1.0f, 100.0f, 0.001f, 0.0f};
  for (size_t r = 0; r < scales.size(); ++r) {
    for (float v : test::Gaussian(cols, 10 + r)) w.push_back(v * scales[r]);
  }
  const int64_t rows = static_cast<int64_t>(scales.size());
  const int bits = 4;
  auto q = test::Quantize("linear", {{"granularity", "per_channel"}}, w, bits, {rows, cols});
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->num_tables, rows);
  EXPECT_EQ(q->levels_per_table, 15);
  EXPECT_EQ(q->storage_bits, static_cast<int64_t>(w.size()) * bits + rows * 32);
  for (int64_t r = 0; r < rows; ++r) {
    const auto row_begin = w.begin() + r * cols;
    float m = 0.0f;
    for (auto it = row_begin; it != row_begin + cols; ++it) m = std::max(m, std::fabs(*it));
    EXPECT_EQ(q->codebook[(r + 1) * 15 - 1], m) << "row " << r;
    EXPECT_EQ(q->codebook[r * 15], -m) << "row " << r;
    // Each row's error is bounded by its own half step.
    for (int64_t c = 0; c < cols; ++c) {
      const int64_t i = r * cols + c;
      ASSERT_LE(std::fabs(static_cast<double>(w[i]) - q->values[i]), m / 7.0 / 2 * (1 + 1e-6))
          << "row " << r;
      ASSERT_TRUE(std::isfinite(q->values[i]));
    }
  }
  // Per tensor, the small row is crushed to zero by the large row's step.
  auto per_tensor = test::Quantize("linear", {}, w, bits, {rows, cols});
  ASSERT_TRUE(per_tensor.ok());
  EXPECT_EQ(per_tensor->num_tables, 1);
  for (int64_t c = 0; c < cols; ++c) EXPECT_EQ(per_tensor->values[2 * cols + c], 0.0f);
}

TEST(LinearTest, StorageIsCodesPlusOneScale) {
  const std::vector<float> w = test::Gaussian(1000, 1);
  auto q = test::Quantize("linear", {}, w, 5);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->storage_bits, 1000 * 5 + 32);
}

TEST(LinearTest, MidTreadNeedsTwoBits) {
  auto quantizer = QuantizerRegistry::Global().Create("linear", {});
  ASSERT_TRUE(quantizer.ok());
  absl::Status status = (*quantizer)->CheckBits(1);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "mid_tread needs at least 2 bits; use mode: mid_rise or symmetric: false for 1 bit");
  auto mid_rise = QuantizerRegistry::Global().Create("linear", {{"mode", "mid_rise"}});
  ASSERT_TRUE(mid_rise.ok());
  EXPECT_TRUE((*mid_rise)->CheckBits(1).ok());
}

TEST(LinearTest, UnknownParameterListsAcceptedOnes) {
  auto quantizer = QuantizerRegistry::Global().Create("linear", {{"base", "0.5"}});
  EXPECT_EQ(quantizer.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(quantizer.status().message());
  EXPECT_NE(message.find("'base'"), std::string::npos) << message;
  EXPECT_NE(message.find("granularity, mode"), std::string::npos) << message;
}

TEST(LinearTest, IllTypedParametersAreErrors) {
  for (const Params& params : {Params{{"mode", "sideways"}}, Params{{"granularity", "per_row"}}}) {
    auto quantizer = QuantizerRegistry::Global().Create("linear", params);
    EXPECT_EQ(quantizer.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(quantizer.status().message().find(params.begin()->second), std::string::npos)
        << quantizer.status();
  }
}

TEST(LinearTest, KindIsUniformWithTheGridsZeroPoint) {
  const std::vector<float> w = test::Gaussian(300, 6, 0.1f);
  for (int bits = 2; bits <= 8; ++bits) {
    auto tread = test::Quantize("linear", {}, w, bits);
    auto rise = test::Quantize("linear", {{"mode", "mid_rise"}}, w, bits);
    ASSERT_TRUE(tread.ok() && rise.ok());
    EXPECT_EQ(tread->kind, CodeKind::kUniform);
    EXPECT_EQ(tread->zero_point_x2, (std::vector<int32_t>{(1 << bits) - 2}));
    EXPECT_EQ(rise->zero_point_x2, (std::vector<int32_t>{(1 << bits) - 1}));  // odd: half-integer
    EXPECT_EQ(tread->scale[0] * static_cast<float>((1 << (bits - 1)) - 1), tread->codebook.back());
  }
}

TEST(LinearTest, AsymmetricGridHasTwoToTheBitsLevelsAndAnIntegerZero) {
  // Values in [-1, 3] at 2 bits: levels {-1.5, 0, 1.5, 3} (uniform_grid.h).
  const std::vector<float> w = {3.0f, -1.0f, 0.7f, 0.8f, 2.2f, -0.7f};
  auto q = test::Quantize("linear", {{"symmetric", "false"}}, w, 2);
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->codebook, (std::vector<float>{-1.5f, 0.0f, 1.5f, 3.0f}));
  EXPECT_EQ(q->values, (std::vector<float>{3.0f, -1.5f, 0.0f, 1.5f, 1.5f, 0.0f}));
  EXPECT_EQ(q->zero_point_x2, (std::vector<int32_t>{2}));
  EXPECT_EQ(q->scale, (std::vector<float>{1.5f}));
  EXPECT_EQ(q->storage_bits, 6 * 2 + 2 * 32);  // codes + scale + zero point
}

TEST(LinearTest, AsymmetricBeatsSymmetricOnOneSidedWeights) {
  std::vector<float> w = test::Gaussian(4000, 12, 0.05f);
  for (float& v : w) v = std::fabs(v);  // post-ReLU-like: all non-negative
  for (int bits = 2; bits <= 6; ++bits) {
    auto sym = test::Quantize("linear", {}, w, bits);
    auto asym = test::Quantize("linear", {{"symmetric", "false"}}, w, bits);
    ASSERT_TRUE(sym.ok() && asym.ok());
    EXPECT_LT(test::Mse(w, asym->values), test::Mse(w, sym->values)) << bits;
  }
}

TEST(LinearTest, ClippingLowersErrorWithAnOutlier) {
  std::vector<float> w = test::Gaussian(8000, 13, 0.05f);
  w[5] = 2.0f;
  for (const Params& clipped : {Params{{"clip", "percentile"}, {"percentile", "99.9"}},
                                Params{{"clip", "mse"}}}) {
    auto plain = test::Quantize("linear", {}, w, 4);
    auto q = test::Quantize("linear", clipped, w, 4);
    ASSERT_TRUE(plain.ok() && q.ok());
    EXPECT_LT(test::Mse(w, q->values), test::Mse(w, plain->values)) << clipped.begin()->second;
    EXPECT_LT(q->codebook.back(), 2.0f);
  }
}

TEST(LinearTest, ClippingParameterErrors) {
  for (const Params& bad :
       {Params{{"percentile", "99"}}, Params{{"clip", "percentile"}, {"percentile", "20"}},
        Params{{"clip", "percentile"}, {"percentile", "100.5"}},
        Params{{"symmetric", "false"}, {"mode", "mid_rise"}}, Params{{"clip", "max"}}}) {
    auto quantizer = QuantizerRegistry::Global().Create("linear", bad);
    EXPECT_EQ(quantizer.status().code(), absl::StatusCode::kInvalidArgument);
  }
  auto one_bit = QuantizerRegistry::Global().Create("linear", {{"symmetric", "false"}});
  ASSERT_TRUE(one_bit.ok());
  EXPECT_TRUE((*one_bit)->CheckBits(1).ok());
}

}  // namespace
}  // namespace quantbench
