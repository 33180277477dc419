// The conformance kit: every property a quantizer must have, run against EVERY quantizer in
// QuantizerRegistry::Global() when the test binary starts (INSTANTIATE_TEST_SUITE_P's generator
// runs after all static registrations). A plugin linked into a test binary with this library
// gets the whole kit for free, with its default parameters; kExtraParameterSets below adds the
// parameter sets worth checking for the plugins of this folder.
//
// What is checked, per (quantizer, parameter set), at every width its CheckBits accepts in 1..16:
//   - at most MaxLevels(bits) ≤ 2^bits distinct values per table; codes in [0, levels_per_table)
//     and levels_per_table ≤ 2^bits (codes fit their bits); storage ≥ n·bits;
//   - values[i] == table entry of codes[i]; tables sorted (except ternary planes, whose table is
//     indexed by digits);
//   - the CodeKind promise: kUniform tables are scale·(k − zero_point_x2/2) (within 2 ulp of the
//     table's largest entry: the table rounds the level computed in double, a kernel multiplies
//     in fp32); kTernary tables are {−a, 0, a} with scale = a; kTernaryPlanes tables decode the
//     digits with plane_scale (same tolerance);
//   - deterministic (a second instance gives identical codes, values and tables);
//   - output finite and in [−f·M, f·M] (M = max|w|, f = Traits().range_factor), plus half a
//     table step where Traits().may_overshoot_half_step;
//   - all-zero → all zero; constant tensors exact where Traits().exact_on_constants, else one
//     value per table; denormal (~1e−40) and huge (~1e30) tensors give finite, in-range, consistent
//     output;
//   - NaN / ±Inf → InvalidArgument naming the tensor; unsupported bits → InvalidArgument from
//     both CheckBits and Quantize;
//   - idempotent, sign-symmetric, MSE non-increasing in bits (2..8): where Traits() promises.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "quantizers/quantizer.h"
#include "quantizers/test_util.h"

namespace quantbench {
namespace {

using test::Params;

// Parameter sets checked besides the defaults (which every registered quantizer gets).
const std::map<std::string, std::vector<Params>>& ExtraParameterSets() {
  static const auto* sets = new std::map<std::string, std::vector<Params>>{
      {"linear",
       {{{"mode", "mid_rise"}},
        {{"granularity", "per_channel"}},
        {{"mode", "mid_rise"}, {"granularity", "per_channel"}},
        {{"symmetric", "false"}},
        {{"symmetric", "false"}, {"granularity", "per_channel"}},
        {{"clip", "percentile"}},
        {{"clip", "percentile"}, {"percentile", "99"}, {"symmetric", "false"}},
        {{"clip", "mse"}},
        {{"clip", "mse"}, {"mode", "mid_rise"}, {"granularity", "per_channel"}},
        {{"clip", "mse"}, {"symmetric", "false"}}}},
      {"exponential",
       {{{"zero_level", "false"}}, {{"base", "0.5"}}, {{"base", "0.7"}, {"zero_level", "false"}}}},
      {"ternary",
       {{{"granularity", "per_channel"}},
        {{"method", "statistical"}},
        {{"method", "statistical"}, {"threshold_ratio", "0.1"}},
        {{"method", "mse"}},
        {{"method", "mse"}, {"granularity", "per_channel"}}}},
      {"binary", {{{"granularity", "per_channel"}}}},
      {"kmeans", {{{"iterations", "5"}}}},
      {"apot", {{{"clip_ratio", "0.8"}}}},
      {"residual_expansion", {{{"t_ex", "2"}}, {{"expansion", "shared"}}}},
      {"adjustable_threshold",
       {{{"alpha", "0.7"}},
        {{"alpha", "1,0.5,0.9,1.2,0.75,1,1,0.6,0.95,1,0.8,0.55,1,1,0.7"}},
        {{"granularity", "per_tensor"}},
        {{"thresholds", "asymmetric"}},
        {{"thresholds", "asymmetric"}, {"granularity", "per_tensor"}}}},
  };
  return *sets;
}

struct Case {
  std::string label;
  std::string quantizer;
  Params params;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.label; }

std::vector<Case> AllCases() {
  std::vector<Case> cases;
  for (const std::string& name : QuantizerRegistry::Global().Names()) {
    cases.push_back({name, name, {}});
    auto extra = ExtraParameterSets().find(name);
    if (extra == ExtraParameterSets().end()) continue;
    for (const Params& params : extra->second) {
      std::string label = name;
      for (const auto& [key, value] : params) absl::StrAppend(&label, "_", key, "_", value);
      for (char& ch : label) {
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      }
      cases.push_back({label, name, params});
    }
  }
  return cases;
}

// 15 depthwise-shaped filters of 17×17 (odd sizes; per-channel quantizers get 15 tables, and the
// shape exercises depthwise-only options).
const std::vector<int64_t> kShape = {15, 1, 17, 17};
constexpr int64_t kCount = 15 * 17 * 17;

class ConformanceTest : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    auto quantizer = QuantizerRegistry::Global().Create(GetParam().quantizer, GetParam().params);
    ASSERT_TRUE(quantizer.ok()) << quantizer.status();
    quantizer_ = std::move(*quantizer);
    traits_ = quantizer_->Traits();
    for (int bits = 1; bits <= 16; ++bits) {
      if (quantizer_->CheckBits(bits).ok()) supported_.push_back(bits);
    }
    ASSERT_FALSE(supported_.empty()) << "no bit width in 1..16 is supported";
  }

  absl::StatusOr<QuantizedTensor> Run(absl::Span<const float> values, int bits,
                                      const std::string& name = "kit/w") const {
    return quantizer_->Quantize(WeightView{name, kShape, values}, bits);
  }

  static std::vector<float> Weights() { return test::Gaussian(kCount, 42, 0.05f); }

  // Every structural promise of one result on input `w` at `bits`.
  void CheckResult(absl::Span<const float> w, const QuantizedTensor& q, int bits) const {
    const int64_t n = static_cast<int64_t>(w.size());
    ASSERT_EQ(static_cast<int64_t>(q.values.size()), n);
    ASSERT_EQ(static_cast<int64_t>(q.codes.size()), n);
    ASSERT_TRUE(q.num_tables == 1 || q.num_tables == kShape[0]) << q.num_tables;
    ASSERT_GT(q.levels_per_table, 0);
    ASSERT_LE(q.levels_per_table, int64_t{1} << bits) << "codes must fit in " << bits << " bits";
    ASSERT_EQ(static_cast<int64_t>(q.codebook.size()), q.num_tables * q.levels_per_table);
    EXPECT_GE(q.storage_bits, n * bits);
    const int64_t table_size = n / q.num_tables;
    double max_abs = 0.0;
    for (float v : w) max_abs = std::max(max_abs, std::fabs(static_cast<double>(v)));
    for (int64_t t = 0; t < q.num_tables; ++t) {
      const auto begin = q.codebook.begin() + t * q.levels_per_table;
      const auto end = begin + q.levels_per_table;
      if (q.kind != CodeKind::kTernaryPlanes) {
        EXPECT_TRUE(std::is_sorted(begin, end)) << "table " << t;
      }
      double largest_gap = 0.0;
      std::vector<float> sorted(begin, end);
      std::sort(sorted.begin(), sorted.end());
      for (size_t k = 1; k < sorted.size(); ++k) {
        largest_gap = std::max(largest_gap, static_cast<double>(sorted[k]) - sorted[k - 1]);
      }
      const double bound = traits_.range_factor * max_abs * (1 + 1e-6) +
                           (traits_.may_overshoot_half_step ? 0.5 * largest_gap : 0.0);
      std::set<float> distinct;
      for (int64_t i = t * table_size; i < (t + 1) * table_size; ++i) {
        ASSERT_GE(q.codes[i], 0) << i;
        ASSERT_LT(q.codes[i], q.levels_per_table) << i;
        ASSERT_EQ(q.values[i], q.codebook[t * q.levels_per_table + q.codes[i]]) << i;
        ASSERT_TRUE(std::isfinite(q.values[i])) << i;
        ASSERT_LE(std::fabs(static_cast<double>(q.values[i])), bound)
            << "element " << i << " = " << q.values[i] << " vs input " << w[i];
        distinct.insert(q.values[i]);
      }
      EXPECT_LE(static_cast<int64_t>(distinct.size()), quantizer_->MaxLevels(bits));
      CheckKind(q, t);
    }
  }

  void CheckKind(const QuantizedTensor& q, int64_t t) const {
    const float* table = q.codebook.data() + t * q.levels_per_table;
    float largest = 0.0f;
    for (int64_t k = 0; k < q.levels_per_table; ++k)
      largest = std::max(largest, std::fabs(table[k]));
    // 2 ulp of the table's largest entry, and never less than the smallest normal float.
    const double tolerance = std::max(2.0 * std::ldexp(static_cast<double>(largest), -23),
                                      static_cast<double>(std::numeric_limits<float>::min()));
    switch (q.kind) {
      case CodeKind::kCodebook:
        return;
      case CodeKind::kUniform: {
        ASSERT_EQ(static_cast<int64_t>(q.scale.size()), q.num_tables);
        ASSERT_EQ(static_cast<int64_t>(q.zero_point_x2.size()), q.num_tables);
        EXPECT_GE(q.scale[t], 0.0f);
        for (int64_t k = 0; k < q.levels_per_table; ++k) {
          const double expected =
              static_cast<double>(q.scale[t]) * (static_cast<double>(k) - 0.5 * q.zero_point_x2[t]);
          ASSERT_NEAR(table[k], expected, tolerance) << "table " << t << " entry " << k;
        }
        return;
      }
      case CodeKind::kTernary:
        ASSERT_EQ(q.levels_per_table, 3);
        EXPECT_EQ(table[0], -table[2]);
        EXPECT_EQ(table[1], 0.0f);
        EXPECT_GE(table[2], 0.0f);
        if (!q.scale.empty()) {
          ASSERT_EQ(static_cast<int64_t>(q.scale.size()), q.num_tables);
          EXPECT_EQ(q.scale[t], table[2]);
        }
        return;
      case CodeKind::kTernaryPlanes: {
        ASSERT_GT(q.ternary_planes, 0);
        ASSERT_EQ(static_cast<int64_t>(q.plane_scale.size()), q.ternary_planes * q.num_tables);
        int64_t codes = 1;
        for (int p = 0; p < q.ternary_planes; ++p) codes *= 3;
        ASSERT_EQ(q.levels_per_table, codes);
        for (int64_t code = 0; code < codes; ++code) {
          double expected = 0.0;
          int64_t digits = code;
          for (int p = 0; p < q.ternary_planes; ++p) {
            expected += static_cast<double>(q.plane_scale[p * q.num_tables + t]) *
                        static_cast<double>(digits % 3 - 1);
            digits /= 3;
          }
          ASSERT_NEAR(table[code], expected, tolerance) << "code " << code;
        }
        return;
      }
    }
    FAIL() << "unknown CodeKind";
  }

  std::unique_ptr<Quantizer> quantizer_;
  QuantizerTraits traits_;
  std::vector<int> supported_;
};

TEST_P(ConformanceTest, ResultsAreConsistentAtEveryWidth) {
  const std::vector<float> w = Weights();
  for (int bits : supported_) {
    SCOPED_TRACE(absl::StrCat("bits = ", bits));
    auto q = Run(w, bits);
    ASSERT_TRUE(q.ok()) << q.status();
    CheckResult(w, *q, bits);
  }
}

TEST_P(ConformanceTest, Deterministic) {
  const std::vector<float> w = Weights();
  auto other = QuantizerRegistry::Global().Create(GetParam().quantizer, GetParam().params);
  ASSERT_TRUE(other.ok());
  for (int bits : supported_) {
    auto a = Run(w, bits);
    auto b = (*other)->Quantize(WeightView{"kit/w", kShape, w}, bits);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(a->values, b->values) << "bits = " << bits;
    EXPECT_EQ(a->codes, b->codes) << "bits = " << bits;
    EXPECT_EQ(a->codebook, b->codebook) << "bits = " << bits;
    EXPECT_EQ(a->storage_bits, b->storage_bits) << "bits = " << bits;
  }
}

TEST_P(ConformanceTest, IdempotentWherePromised) {
  if (!traits_.idempotent) GTEST_SKIP() << "not promised by Traits()";
  const std::vector<float> w = Weights();
  for (int bits : supported_) {
    auto once = Run(w, bits);
    ASSERT_TRUE(once.ok()) << once.status();
    auto twice = Run(once->values, bits);
    ASSERT_TRUE(twice.ok()) << twice.status();
    EXPECT_EQ(twice->values, once->values) << "bits = " << bits;
  }
}

TEST_P(ConformanceTest, SignSymmetricWherePromised) {
  if (!traits_.sign_symmetric) GTEST_SKIP() << "not promised by Traits()";
  std::vector<float> w = Weights();
  w[3] = 0.0f;  // zero, and with it -0 in the negated tensor
  for (int bits : supported_) {
    auto q = Run(w, bits);
    auto q_neg = Run(test::Negated(w), bits);
    ASSERT_TRUE(q.ok() && q_neg.ok());
    EXPECT_EQ(q_neg->values, test::Negated(q->values)) << "bits = " << bits;
  }
}

TEST_P(ConformanceTest, ErrorNonIncreasingInBitsWherePromised) {
  if (!traits_.error_nonincreasing_in_bits) GTEST_SKIP() << "not promised by Traits()";
  const std::vector<float> w = Weights();
  std::vector<double> mse;
  for (int bits : supported_) {
    if (bits < 2 || bits > 8) continue;
    auto q = Run(w, bits);
    ASSERT_TRUE(q.ok()) << q.status();
    mse.push_back(test::Mse(w, q->values));
    if (mse.size() > 1) EXPECT_LE(mse.back(), mse[mse.size() - 2]) << "bits = " << bits;
  }
  if (mse.size() < 2) GTEST_SKIP() << "fewer than two widths in 2..8";
  EXPECT_LT(mse.back(), mse.front());
}

TEST_P(ConformanceTest, AllZeroTensorStaysZero) {
  const std::vector<float> w(kCount, 0.0f);
  for (int bits : supported_) {
    SCOPED_TRACE(absl::StrCat("bits = ", bits));
    auto q = Run(w, bits);
    ASSERT_TRUE(q.ok()) << q.status();
    CheckResult(w, *q, bits);
    for (float v : q->values) ASSERT_EQ(v, 0.0f);
  }
}

TEST_P(ConformanceTest, ConstantTensors) {
  for (float c : {0.37f, -2.5f, 1e-30f, 0x1p-3f}) {
    const std::vector<float> w(kCount, c);
    for (int bits : supported_) {
      SCOPED_TRACE(absl::StrCat("c = ", c, ", bits = ", bits));
      auto q = Run(w, bits);
      ASSERT_TRUE(q.ok()) << q.status();
      CheckResult(w, *q, bits);
      const int64_t table_size = kCount / q->num_tables;
      for (int64_t t = 0; t < q->num_tables; ++t) {
        const std::set<float> distinct(q->values.begin() + t * table_size,
                                       q->values.begin() + (t + 1) * table_size);
        EXPECT_EQ(distinct.size(), 1u) << "a constant table maps to one value; table " << t;
      }
      if (traits_.exact_on_constants) {
        for (float v : q->values) ASSERT_EQ(v, c);
      }
    }
  }
}

TEST_P(ConformanceTest, DenormalAndHugeTensors) {
  for (float scale : {1e-40f, 1e30f}) {
    std::vector<float> w = Weights();
    for (float& v : w) v = static_cast<float>(static_cast<double>(v) / 0.05 * scale);
    for (int bits : supported_) {
      SCOPED_TRACE(absl::StrCat("scale = ", scale, ", bits = ", bits));
      auto q = Run(w, bits);
      ASSERT_TRUE(q.ok()) << q.status();
      CheckResult(w, *q, bits);
    }
  }
}

TEST_P(ConformanceTest, NonFiniteInputIsAnErrorNamingTheTensor) {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    std::vector<float> w = Weights();
    w[100] = bad;
    auto q = Run(w, supported_.front(), "block3/conv2/kernel");
    EXPECT_EQ(q.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(q.status().message().find("block3/conv2/kernel"), std::string::npos) << q.status();
  }
}

TEST_P(ConformanceTest, UnsupportedBitsAreErrors) {
  const std::vector<float> w = Weights();
  for (int bits = -1; bits <= 17; ++bits) {
    if (std::find(supported_.begin(), supported_.end(), bits) != supported_.end()) continue;
    EXPECT_EQ(quantizer_->CheckBits(bits).code(), absl::StatusCode::kInvalidArgument) << bits;
    EXPECT_EQ(Run(w, bits).status().code(), absl::StatusCode::kInvalidArgument) << bits;
  }
}

TEST_P(ConformanceTest, LevelBoundIsAtMostTwoToTheBits) {
  for (int bits : supported_) {
    EXPECT_GE(quantizer_->MaxLevels(bits), 1) << bits;
    EXPECT_LE(quantizer_->MaxLevels(bits), int64_t{1} << bits) << bits;
  }
}

INSTANTIATE_TEST_SUITE_P(Registered, ConformanceTest, ::testing::ValuesIn(AllCases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return info.param.label;
                         });

}  // namespace
}  // namespace quantbench
