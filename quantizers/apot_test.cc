// "apot": the documented level set per width, built here independently from the term exponent
// lists of apot.cc's table, and the α / clip_ratio rule.
#include <algorithm>
#include <cmath>
#include <set>
#include <vector>

#include "gtest/gtest.h"
#include "quantizers/quantizer.h"
#include "quantizers/test_util.h"

namespace quantbench {
namespace {

// Magnitudes (normalized to max 1) from explicit exponent lists: every combination of one
// choice per term (0 or 2^-e).
std::vector<double> Sums(const std::vector<std::vector<int>>& terms) {
  std::set<double> sums = {0.0};
  double max_sum = 0.0;
  for (const auto& term : terms) {
    std::set<double> next;
    for (double s : sums) {
      next.insert(s);
      for (int e : term) next.insert(s + std::ldexp(1.0, -e));
    }
    sums = next;
    double largest = 0.0;
    for (int e : term) largest = std::max(largest, std::ldexp(1.0, -e));
    max_sum += largest;
  }
  std::vector<double> out;
  for (double s : sums) out.push_back(s / max_sum);
  return out;
}

TEST(ApotTest, LevelSetsAreTheDocumentedSums) {
  const std::vector<std::vector<std::vector<int>>> documented = {
      {{0}},
      {{0, 1, 2}},
      {{0, 2, 4}, {1}},
      {{0, 2, 4}, {1, 3, 5}},
      {{0, 3, 6}, {1, 4, 7}, {2}},
      {{0, 3, 6}, {1, 4, 7}, {2, 5, 8}},
      {{0, 4, 8}, {1, 5, 9}, {2, 6, 10}, {3}},
  };
  // max|w| = 2 so α = 2.
  const std::vector<float> w = {2.0f, -1.3f, 0.4f, 0.01f, -0.2f};
  for (int bits = 2; bits <= 8; ++bits) {
    auto q = test::Quantize("apot", {}, w, bits);
    ASSERT_TRUE(q.ok()) << q.status();
    const std::vector<double> unit = Sums(documented[bits - 2]);
    ASSERT_EQ(unit.size(), size_t{1} << (bits - 1)) << "distinct sums, bits = " << bits;
    ASSERT_EQ(q->levels_per_table, (int64_t{1} << bits) - 1);
    // Table = −2·U (descending magnitudes), then 2·U.
    std::vector<float> expected;
    for (size_t i = unit.size(); i-- > 1;) expected.push_back(static_cast<float>(-2.0 * unit[i]));
    for (double u : unit) expected.push_back(static_cast<float>(2.0 * u));
    EXPECT_EQ(q->codebook, expected) << "bits = " << bits;
    EXPECT_EQ(q->values[0], 2.0f);
  }
}

TEST(ApotTest, ThreeBitsIsPowerOfTwoAndTwoBitsIsTernary) {
  const std::vector<float> w = {1.0f, 0.3f, -0.6f, 0.1f, -0.14f};
  auto three = test::Quantize("apot", {}, w, 3);
  auto two = test::Quantize("apot", {}, w, 2);
  ASSERT_TRUE(three.ok() && two.ok());
  EXPECT_EQ(three->codebook, (std::vector<float>{-1, -0.5f, -0.25f, 0, 0.25f, 0.5f, 1}));
  EXPECT_EQ(three->values, (std::vector<float>{1, 0.25f, -0.5f, 0, -0.25f}));
  EXPECT_EQ(two->codebook, (std::vector<float>{-1, 0, 1}));
}

TEST(ApotTest, ClipRatioScalesTheTopLevel) {
  const std::vector<float> w = test::Gaussian(777, 2, 0.1f);
  float max_abs = 0.0f;
  for (float v : w) max_abs = std::max(max_abs, std::fabs(v));
  auto q = test::Quantize("apot", {{"clip_ratio", "0.8"}}, w, 5);
  ASSERT_TRUE(q.ok());
  EXPECT_FLOAT_EQ(q->codebook.back(), 0.8f * max_abs);
  EXPECT_EQ(q->storage_bits, 777 * 5 + 32);
}

TEST(ApotTest, WidthsAndParameters) {
  auto q = QuantizerRegistry::Global().Create("apot", {});
  ASSERT_TRUE(q.ok());
  for (int bits = 1; bits <= 16; ++bits)
    EXPECT_EQ((*q)->CheckBits(bits).ok(), bits >= 2 && bits <= 8);
  for (const char* bad : {"0", "1.5", "-1"}) {
    EXPECT_EQ(QuantizerRegistry::Global().Create("apot", {{"clip_ratio", bad}}).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace quantbench
