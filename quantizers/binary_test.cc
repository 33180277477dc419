// The "binary" quantizer: a = mean|w|, sign of zero, per-channel scales.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "quantizers/quantizer.h"
#include "quantizers/test_util.h"

namespace quantbench {
namespace {

TEST(BinaryTest, ScaleIsMeanAbs) {
  // mean|w| = (1 + 2 + 0.5 + 0 + 0.5 + 0) / 6 = 4/6.
  const std::vector<float> w = {1.0f, -2.0f, 0.5f, 0.0f, -0.5f, -0.0f};
  auto q = test::Quantize("binary", {}, w, 1);
  ASSERT_TRUE(q.ok()) << q.status();
  const float a = static_cast<float>(4.0 / 6.0);
  EXPECT_EQ(q->codebook, (std::vector<float>{-a, a}));
  EXPECT_EQ(q->levels_per_table, 2);
  // +0 -> +a, -0 -> -a.
  EXPECT_EQ(q->values, (std::vector<float>{a, -a, a, a, -a, -a}));
  EXPECT_EQ(q->codes, (std::vector<int32_t>{1, 0, 1, 1, 0, 0}));
  EXPECT_EQ(q->storage_bits, 6 + 32);
}

TEST(BinaryTest, PerChannelScales) {
  const std::vector<float> w = {1, -3, 2, 2, -0.25f, 0.25f};
  auto q = test::Quantize("binary", {{"granularity", "per_channel"}}, w, 1, {3, 2});
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->num_tables, 3);
  EXPECT_EQ(q->codebook, (std::vector<float>{-2, 2, -2, 2, -0.25f, 0.25f}));
  EXPECT_EQ(q->values, (std::vector<float>{2, -2, 2, 2, -0.25f, 0.25f}));
  EXPECT_EQ(q->storage_bits, 6 + 3 * 32);
}

TEST(BinaryTest, AllZeroAndOneBitOnly) {
  auto q = test::Quantize("binary", {}, std::vector<float>(5, 0.0f), 1);
  ASSERT_TRUE(q.ok()) << q.status();
  for (float v : q->values) EXPECT_EQ(v, 0.0f);
  for (float level : q->codebook) EXPECT_EQ(level, 0.0f);
  auto two = test::Quantize("binary", {}, std::vector<float>{1.0f}, 2);
  EXPECT_EQ(two.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(two.status().message().find("use bits: [1]"), std::string::npos) << two.status();
}

}  // namespace
}  // namespace quantbench
