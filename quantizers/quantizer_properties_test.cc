// Properties every registered quantizer configuration must have, checked through the registry.
#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "quantizers/quantizer.h"
#include "quantizers/test_util.h"

namespace quantbench {
namespace {

using test::Params;

struct Config {
  std::string label;
  std::string quantizer;
  Params params;
  int min_bits;  // the smallest bit width the configuration supports
  int max_bits = 16;  // the largest (ternary and binary support a single width)
  // q(-w) == -q(w); false for k-means, whose quantile init and fp32 means are not mirror images.
  bool symmetric = true;
  // max|w| is a level, so a constant tensor is exact; false for power_of_two, whose top level is
  // the power of two nearest max|w| (it is then checked on power-of-two constants only).
  bool exact_on_constants = true;
};

void PrintTo(const Config& config, std::ostream* os) { *os << config.label; }

// 16 rows of 256: per-channel configurations get 16 tables.
constexpr int64_t kRows = 16;
constexpr int64_t kCols = 256;
const std::vector<int64_t> kShape = {kRows, kCols};

class QuantizerPropertiesTest : public ::testing::TestWithParam<Config> {
 protected:
  absl::StatusOr<QuantizedTensor> Run(absl::Span<const float> values, int bits,
                                      const std::string& tensor_name = "test/w") const {
    return test::Quantize(GetParam().quantizer, GetParam().params, values, bits, kShape,
                          tensor_name);
  }
  std::vector<float> Weights() const { return test::Gaussian(kRows * kCols, 42, 0.05f); }
};

TEST_P(QuantizerPropertiesTest, AtMostTwoToTheBitsDistinctValues) {
  const std::vector<float> w = Weights();
  for (int bits = GetParam().min_bits; bits <= GetParam().max_bits; ++bits) {
    auto q = Run(w, bits);
    ASSERT_TRUE(q.ok()) << q.status();
    ASSERT_TRUE(q->num_tables == 1 || q->num_tables == kRows);
    // Per table: at most 2^bits distinct values.
    const int64_t table_size = static_cast<int64_t>(w.size()) / q->num_tables;
    for (int64_t t = 0; t < q->num_tables; ++t) {
      std::set<float> distinct(q->values.begin() + t * table_size,
                               q->values.begin() + (t + 1) * table_size);
      EXPECT_LE(distinct.size(), size_t{1} << bits) << "bits = " << bits;
    }
    EXPECT_LE(q->levels_per_table, int64_t{1} << bits);
  }
}

TEST_P(QuantizerPropertiesTest, ValuesComeFromTheCodebook) {
  const std::vector<float> w = Weights();
  for (int bits = GetParam().min_bits; bits <= GetParam().max_bits; ++bits) {
    auto q = Run(w, bits);
    ASSERT_TRUE(q.ok()) << q.status();
    ASSERT_EQ(q->values.size(), w.size());
    ASSERT_EQ(q->codes.size(), w.size());
    ASSERT_EQ(static_cast<int64_t>(q->codebook.size()), q->num_tables * q->levels_per_table);
    for (int64_t t = 0; t < q->num_tables; ++t) {
      const auto begin = q->codebook.begin() + t * q->levels_per_table;
      EXPECT_TRUE(std::is_sorted(begin, begin + q->levels_per_table));
    }
    const int64_t table_size = static_cast<int64_t>(w.size()) / q->num_tables;
    for (size_t i = 0; i < w.size(); ++i) {
      const int64_t table = static_cast<int64_t>(i) / table_size;
      ASSERT_GE(q->codes[i], 0);
      ASSERT_LT(q->codes[i], q->levels_per_table);
      ASSERT_EQ(q->values[i], q->codebook[table * q->levels_per_table + q->codes[i]]) << i;
    }
    EXPECT_GE(q->storage_bits, static_cast<int64_t>(w.size()) * bits);
  }
}

TEST_P(QuantizerPropertiesTest, Idempotent) {
  const std::vector<float> w = Weights();
  for (int bits = GetParam().min_bits; bits <= GetParam().max_bits; ++bits) {
    auto once = Run(w, bits);
    ASSERT_TRUE(once.ok()) << once.status();
    auto twice = Run(once->values, bits);
    ASSERT_TRUE(twice.ok()) << twice.status();
    EXPECT_EQ(twice->values, once->values) << "bits = " << bits;
  }
}

TEST_P(QuantizerPropertiesTest, Symmetric) {
  if (!GetParam().symmetric) GTEST_SKIP() << "not sign-symmetric by design";
  std::vector<float> w = Weights();
  w[3] = 0.0f;  // zero, and with it -0 in the negated tensor
  for (int bits = GetParam().min_bits; bits <= GetParam().max_bits; ++bits) {
    auto q = Run(w, bits);
    auto q_neg = Run(test::Negated(w), bits);
    ASSERT_TRUE(q.ok() && q_neg.ok());
    EXPECT_EQ(q_neg->values, test::Negated(q->values)) << "bits = " << bits;
  }
}

TEST_P(QuantizerPropertiesTest, MseNonIncreasingInBits) {
  const std::vector<float> w = Weights();
  const int first = std::max(2, GetParam().min_bits);
  const int last = std::min(8, GetParam().max_bits);
  if (last <= first) GTEST_SKIP() << "a single bit width";
  std::vector<double> mse;
  for (int bits = first; bits <= last; ++bits) {
    auto q = Run(w, bits);
    ASSERT_TRUE(q.ok()) << q.status();
    mse.push_back(test::Mse(w, q->values));
    if (mse.size() > 1) {
      EXPECT_LE(mse.back(), mse[mse.size() - 2]) << "bits = " << bits;
    }
  }
  EXPECT_LT(mse.back(), mse.front());
}

TEST_P(QuantizerPropertiesTest, AllZeroTensorStaysZero) {
  const std::vector<float> w(kRows * kCols, 0.0f);
  for (int bits = GetParam().min_bits; bits <= GetParam().max_bits; ++bits) {
    auto q = Run(w, bits);
    ASSERT_TRUE(q.ok()) << q.status();
    for (float v : q->values) ASSERT_EQ(v, 0.0f);
    for (float level : q->codebook) ASSERT_TRUE(std::isfinite(level));
  }
}

TEST_P(QuantizerPropertiesTest, ConstantTensorIsExact) {
  const std::vector<float> constants = GetParam().exact_on_constants
                                           ? std::vector<float>{0.37f, -2.5f, 1e-30f}
                                           : std::vector<float>{0.25f, -2.0f, 0x1p-100f};
  for (float c : constants) {
    const std::vector<float> w(kRows * kCols, c);
    for (int bits = GetParam().min_bits; bits <= GetParam().max_bits; ++bits) {
      auto q = Run(w, bits);
      ASSERT_TRUE(q.ok()) << q.status();
      // max|w| = |c| is always a level (for power_of_two: |c| is a power of two).
      for (float v : q->values) ASSERT_EQ(v, c) << "bits = " << bits;
    }
  }
}

TEST_P(QuantizerPropertiesTest, NonFiniteInputNamesTheTensor) {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    std::vector<float> w = Weights();
    w[100] = bad;
    auto q = Run(w, 4, "block3/conv2/kernel");
    EXPECT_EQ(q.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(q.status().message().find("block3/conv2/kernel"), std::string::npos) << q.status();
  }
}

TEST_P(QuantizerPropertiesTest, BitsOutOfRangeAreErrors) {
  auto quantizer = QuantizerRegistry::Global().Create(GetParam().quantizer, GetParam().params);
  ASSERT_TRUE(quantizer.ok()) << quantizer.status();
  const std::vector<float> w = Weights();
  for (int bits : {-1, 0, 17}) {
    EXPECT_EQ((*quantizer)->CheckBits(bits).code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(Run(w, bits).status().code(), absl::StatusCode::kInvalidArgument);
  }
  // Supported widths inside [1, 16] but outside [min_bits, max_bits] are errors too.
  for (int bits = 1; bits <= 16; ++bits) {
    if (bits >= GetParam().min_bits && bits <= GetParam().max_bits) continue;
    EXPECT_EQ((*quantizer)->CheckBits(bits).code(), absl::StatusCode::kInvalidArgument) << bits;
    EXPECT_EQ(Run(w, bits).status().code(), absl::StatusCode::kInvalidArgument) << bits;
  }
  for (int bits = GetParam().min_bits; bits <= GetParam().max_bits; ++bits) {
    EXPECT_TRUE((*quantizer)->CheckBits(bits).ok()) << bits;
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllQuantizers, QuantizerPropertiesTest,
    ::testing::Values(Config{"linear", "linear", {}, 2},
                      Config{"linear_mid_rise", "linear", {{"mode", "mid_rise"}}, 1},
                      Config{"linear_per_channel", "linear", {{"granularity", "per_channel"}}, 2},
                      Config{"linear_mid_rise_per_channel",
                             "linear",
                             {{"mode", "mid_rise"}, {"granularity", "per_channel"}},
                             1},
                      Config{"exponential", "exponential", {}, 2},
                      Config{"exponential_no_zero", "exponential", {{"zero_level", "false"}}, 1},
                      Config{"exponential_base_0_5", "exponential", {{"base", "0.5"}}, 2},
                      Config{"exponential_base_0_7_no_zero",
                             "exponential",
                             {{"base", "0.7"}, {"zero_level", "false"}},
                             1},
                      Config{"ternary", "ternary", {}, 2, 2},
                      Config{"ternary_per_channel",
                             "ternary",
                             {{"granularity", "per_channel"}},
                             2,
                             2},
                      Config{"ternary_statistical", "ternary", {{"method", "statistical"}}, 2, 2},
                      Config{"ternary_statistical_0_1",
                             "ternary",
                             {{"method", "statistical"}, {"threshold_ratio", "0.1"}},
                             2,
                             2},
                      Config{"ternary_mse", "ternary", {{"method", "mse"}}, 2, 2},
                      Config{"ternary_mse_per_channel",
                             "ternary",
                             {{"method", "mse"}, {"granularity", "per_channel"}},
                             2,
                             2},
                      Config{"binary", "binary", {}, 1, 1},
                      Config{"binary_per_channel",
                             "binary",
                             {{"granularity", "per_channel"}},
                             1,
                             1},
                      Config{"power_of_two", "power_of_two", {}, 2, 16, true, false},
                      Config{"kmeans", "kmeans", {}, 1, 16, false}),
    [](const ::testing::TestParamInfo<Config>& info) { return info.param.label; });

}  // namespace
}  // namespace quantbench
