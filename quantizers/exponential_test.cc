// The "exponential" quantizer's level sets, base search and parameters.
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

TEST(ExponentialTest, LevelsWithZero) {
  // M = 4, r = 0.5, 3 bits: K = 4 magnitudes 4, 2, 1, 0.5 and the last becomes 0.
  const std::vector<float> w = {4.0f, -1.4f, 0.4f, -0.6f, 3.0f, 0.0f};
  auto q = test::Quantize("exponential", {{"base", "0.5"}}, w, 3);
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->codebook, (std::vector<float>{-4, -2, -1, 0, 1, 2, 4}));
  EXPECT_EQ(q->levels_per_table, 7);
  // 3 is halfway between 2 and 4: away from zero.
  EXPECT_EQ(q->values, (std::vector<float>{4, -1, 0, -1, 4, 0}));
}

TEST(ExponentialTest, LevelsWithoutZero) {
  const std::vector<float> w = {4.0f, -1.4f, 0.4f, -0.6f, 0.1f, 0.0f, -0.0f};
  auto q = test::Quantize("exponential", {{"base", "0.5"}, {"zero_level", "false"}}, w, 3);
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->codebook, (std::vector<float>{-4, -2, -1, -0.5, 0.5, 1, 2, 4}));
  EXPECT_EQ(q->levels_per_table, 8);
  // No zero level: ±0 follow their sign bit.
  EXPECT_EQ(q->values, (std::vector<float>{4, -1, 0.5, -0.5, 0.5, 0.5, -0.5}));
  // 1 bit: {-M, +M}.
  auto one = test::Quantize("exponential", {{"zero_level", "false"}}, w, 1);
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->codebook, (std::vector<float>{-4, 4}));
}

TEST(ExponentialTest, LevelCountsAtEveryWidth) {
  const std::vector<float> w = test::Gaussian(2000, 9);
  for (int bits = 2; bits <= 12; ++bits) {
    auto with_zero = test::Quantize("exponential", {}, w, bits);
    auto without = test::Quantize("exponential", {{"zero_level", "false"}}, w, bits);
    ASSERT_TRUE(with_zero.ok() && without.ok());
    EXPECT_EQ(with_zero->levels_per_table, (int64_t{1} << bits) - 1);
    EXPECT_EQ(without->levels_per_table, int64_t{1} << bits);
    EXPECT_EQ(with_zero->codebook[with_zero->levels_per_table / 2], 0.0f);
  }
}

// The base the search picked, read back from the table: the two largest levels are M and M·r.
double BaseOf(const QuantizedTensor& q) {
  const size_t n = q.codebook.size();
  return static_cast<double>(q.codebook[n - 2]) / q.codebook[n - 1];
}

TEST(ExponentialTest, SearchedBaseBeatsFixedBases) {
  const std::vector<float> w = test::Gaussian(20000, 17, 0.02f);
  for (const std::string zero_level : {"true", "false"}) {
    for (int bits = 3; bits <= 8; ++bits) {
      auto searched = test::Quantize("exponential", {{"zero_level", zero_level}}, w, bits);
      ASSERT_TRUE(searched.ok()) << searched.status();
      const double searched_mse = test::Mse(w, searched->values);
      for (const std::string base : {"0.5", "0.7"}) {
        auto fixed =
            test::Quantize("exponential", {{"zero_level", zero_level}, {"base", base}}, w, bits);
        ASSERT_TRUE(fixed.ok()) << fixed.status();
        EXPECT_LE(searched_mse, test::Mse(w, fixed->values))
            << "bits = " << bits << ", zero_level = " << zero_level << ", base = " << base;
      }
      // The searched base lies on the documented lattice: a multiple of 1e-4 in [0.01, 0.995].
      const double base = BaseOf(*searched);
      EXPECT_GE(base, 0.01 - 1e-6);
      EXPECT_LE(base, 0.995 + 1e-6);
      EXPECT_NEAR(base * 1e4, std::round(base * 1e4), 1e-2) << base;
    }
  }
}

TEST(ExponentialTest, SearchedBaseGrowsWithBits) {
  // More magnitudes cover the same range with a gentler ratio.
  const std::vector<float> w = test::Gaussian(20000, 23);
  double previous = 0.0;
  for (int bits = 3; bits <= 8; ++bits) {
    auto q = test::Quantize("exponential", {}, w, bits);
    ASSERT_TRUE(q.ok());
    EXPECT_GT(BaseOf(*q), previous) << "bits = " << bits;
    previous = BaseOf(*q);
  }
}

TEST(ExponentialTest, StorageIsCodesPlusMaxAndBase) {
  const std::vector<float> w = test::Gaussian(1000, 1);
  auto q = test::Quantize("exponential", {}, w, 4);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->storage_bits, 1000 * 4 + 2 * 32);
  EXPECT_EQ(q->num_tables, 1);
}

TEST(ExponentialTest, ZeroLevelNeedsTwoBits) {
  auto quantizer = QuantizerRegistry::Global().Create("exponential", {});
  ASSERT_TRUE(quantizer.ok());
  absl::Status status = (*quantizer)->CheckBits(1);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("zero_level: false"), std::string::npos) << status;
  auto no_zero = QuantizerRegistry::Global().Create("exponential", {{"zero_level", "false"}});
  ASSERT_TRUE(no_zero.ok());
  EXPECT_TRUE((*no_zero)->CheckBits(1).ok());
}

TEST(ExponentialTest, UnknownParameterListsAcceptedOnes) {
  auto quantizer = QuantizerRegistry::Global().Create("exponential", {{"mode", "mid_rise"}});
  EXPECT_EQ(quantizer.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(quantizer.status().message());
  EXPECT_NE(message.find("'mode'"), std::string::npos) << message;
  EXPECT_NE(message.find("base, zero_level"), std::string::npos) << message;
}

TEST(ExponentialTest, IllTypedParametersAreErrors) {
  for (const Params& params :
       {Params{{"base", "abc"}}, Params{{"base", "1"}}, Params{{"base", "0"}},
        Params{{"base", "-0.5"}}, Params{{"base", "1.5"}}, Params{{"zero_level", "maybe"}}}) {
    auto quantizer = QuantizerRegistry::Global().Create("exponential", params);
    EXPECT_EQ(quantizer.status().code(), absl::StatusCode::kInvalidArgument)
        << params.begin()->second;
    EXPECT_NE(quantizer.status().message().find(params.begin()->first), std::string::npos)
        << quantizer.status();
  }
}

}  // namespace
}  // namespace quantbench
