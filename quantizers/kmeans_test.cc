// The "kmeans" quantizer: fitted codebook quality, distinct-value shortcut, parameters.
#include <set>
#include <vector>

#include "gtest/gtest.h"
#include "quantizers/quantizer.h"
#include "quantizers/test_util.h"

namespace quantbench {
namespace {

TEST(KMeansTest, BeatsUniformMidRiseOnGaussian) {
  const std::vector<float> w = test::Gaussian(20000, 11, 0.05f);
  for (int bits = 1; bits <= 8; ++bits) {
    auto km = test::Quantize("kmeans", {}, w, bits);
    auto lin = test::Quantize("linear", {{"mode", "mid_rise"}}, w, bits);
    ASSERT_TRUE(km.ok() && lin.ok());
    EXPECT_LE(km->levels_per_table, int64_t{1} << bits);
    EXPECT_LT(test::Mse(w, km->values), test::Mse(w, lin->values)) << "bits = " << bits;
    EXPECT_EQ(km->storage_bits, 20000 * bits + 32 * km->levels_per_table);
  }
}

TEST(KMeansTest, LloydImprovesOnQuantileInit) {
  const std::vector<float> w = test::Gaussian(20000, 12, 0.05f);
  for (int bits = 2; bits <= 5; ++bits) {
    auto init = test::Quantize("kmeans", {{"iterations", "0"}}, w, bits);
    auto fitted = test::Quantize("kmeans", {}, w, bits);
    ASSERT_TRUE(init.ok() && fitted.ok());
    EXPECT_LT(test::Mse(w, fitted->values), test::Mse(w, init->values)) << "bits = " << bits;
  }
}

TEST(KMeansTest, FewDistinctValuesAreTheCodebook) {
  const std::vector<float> w = {0.3f, -1.0f, 0.3f, 2.5f, -1.0f, 0.3f};
  auto q = test::Quantize("kmeans", {}, w, 2);
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->codebook, (std::vector<float>{-1.0f, 0.3f, 2.5f}));
  EXPECT_EQ(q->values, w);
  // 1 bit, three distinct values: two levels.
  auto one = test::Quantize("kmeans", {}, w, 1);
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->levels_per_table, 2);
  EXPECT_EQ(std::set<float>(one->values.begin(), one->values.end()).size(), 2u);
}

TEST(KMeansTest, RejectsNegativeIterations) {
  EXPECT_FALSE(QuantizerRegistry::Global().Create("kmeans", {{"iterations", "-1"}}).ok());
}

}  // namespace
}  // namespace quantbench
