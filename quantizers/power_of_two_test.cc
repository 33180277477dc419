// The "power_of_two" quantizer's level set.
#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "quantizers/quantizer.h"
#include "quantizers/test_util.h"

namespace quantbench {
namespace {

TEST(PowerOfTwoTest, TopLevelIsThePowerOfTwoNearestMax) {
  // max 0.7 < 0.75 = 1.5·2^-1: top 0.5. 3 bits: 3 magnitudes 0.5, 0.25, 0.125 and 0.
  const std::vector<float> w = {0.7f, -0.3f, 0.1f, -0.05f, 0.0f};
  auto q = test::Quantize("power_of_two", {}, w, 3);
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->codebook, (std::vector<float>{-0.5f, -0.25f, -0.125f, 0, 0.125f, 0.25f, 0.5f}));
  EXPECT_EQ(q->levels_per_table, 7);
  EXPECT_EQ(q->values, (std::vector<float>{0.5f, -0.25f, 0.125f, 0, 0}));
  EXPECT_EQ(q->storage_bits, 5 * 3 + 32);
  // max 0.75 >= 1.5·2^-1: top 1. 2 bits: {-1, 0, 1}.
  auto up = test::Quantize("power_of_two", {}, std::vector<float>{0.75f, -0.2f}, 2);
  ASSERT_TRUE(up.ok()) << up.status();
  EXPECT_EQ(up->codebook, (std::vector<float>{-1, 0, 1}));
  EXPECT_EQ(up->values, (std::vector<float>{1, 0}));
}

TEST(PowerOfTwoTest, EveryLevelIsAnExactPowerOfTwo) {
  const std::vector<float> w = test::Gaussian(5000, 3, 0.04f);
  for (int bits = 2; bits <= 8; ++bits) {
    auto q = test::Quantize("power_of_two", {}, w, bits);
    ASSERT_TRUE(q.ok()) << q.status();
    EXPECT_EQ(q->levels_per_table, (int64_t{1} << bits) - 1);
    int zeros = 0;
    for (float level : q->codebook) {
      if (level == 0.0f) {
        ++zeros;
        continue;
      }
      int exponent = 0;
      EXPECT_EQ(std::frexp(std::fabs(level), &exponent), 0.5f) << level;
    }
    EXPECT_EQ(zeros, 1);
  }
  auto one = test::Quantize("power_of_two", {}, w, 1);
  EXPECT_EQ(one.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace quantbench
