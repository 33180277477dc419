// "adjustable_threshold" (FAT): the per-filter threshold formula against a scalar reference,
// α clipping, α lists, the asymmetric (α_T, α_R) thresholds and the parameter errors, and the
// straight-through gradients of both against finite differences.
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "quantizers/quantizer.h"
#include "quantizers/test_util.h"
#include "quantizers/trainable_quantizer.h"

namespace quantbench {
namespace {

using test::Params;

// Sections 2.2-2.3 written out: T = clip(α, 0.5, 1)·max|W_k|, S = (2^(b−1) − 1)/T,
// q = clip(round(S·w), ±(2^(b−1) − 1))/S, in double.
std::vector<double> FatRef(const std::vector<float>& w, int64_t rows, int bits,
                           const std::vector<double>& alphas) {
  const int64_t cols = static_cast<int64_t>(w.size()) / rows;
  const double half = std::ldexp(1.0, bits - 1) - 1;
  std::vector<double> out(w.size());
  for (int64_t r = 0; r < rows; ++r) {
    double max_abs = 0.0;
    for (int64_t c = 0; c < cols; ++c)
      max_abs = std::max(max_abs, std::fabs(double{w[r * cols + c]}));
    const double alpha = alphas.size() == 1 ? alphas[0] : alphas[r];
    const double threshold = std::clamp(alpha, 0.5, 1.0) * max_abs;
    for (int64_t c = 0; c < cols; ++c) {
      if (threshold == 0.0) continue;
      const double s = half / threshold;
      out[r * cols + c] = std::clamp(std::round(s * w[r * cols + c]), -half, half) / s;
    }
  }
  return out;
}

TEST(AdjustableThresholdTest, MatchesTheReferenceOnRandomOddShapes) {
  std::mt19937 rng(3);
  for (int trial = 0; trial < 8; ++trial) {
    const int64_t rows = 1 + static_cast<int64_t>(rng() % 7);
    const int64_t cols = 1 + static_cast<int64_t>(rng() % 97);
    const std::vector<float> w = test::Gaussian(rows * cols, 50 + trial, 0.2f);
    std::vector<double> alphas;
    std::string list;
    for (int64_t r = 0; r < rows; ++r) {
      alphas.push_back(0.3 + 0.1 * static_cast<double>(rng() % 10));  // 0.3 .. 1.2: some clipped
      list += (r ? "," : "") + std::to_string(alphas.back());
    }
    for (int bits : {2, 3, 5, 8}) {
      SCOPED_TRACE("alpha = " + list + ", bits = " + std::to_string(bits));
      auto q = test::Quantize("adjustable_threshold", {{"alpha", list}}, w, bits, {rows, cols});
      ASSERT_TRUE(q.ok()) << q.status();
      EXPECT_EQ(q->kind, CodeKind::kUniform);
      EXPECT_EQ(q->num_tables, rows);
      const std::vector<double> ref = FatRef(w, rows, bits, alphas);
      for (size_t i = 0; i < w.size(); ++i) {
        EXPECT_NEAR(q->values[i], ref[i], 1e-6 * std::fabs(ref[i]) + 1e-12) << i;
      }
    }
  }
}

TEST(AdjustableThresholdTest, AlphaOneIsPerChannelMidTread) {
  const std::vector<float> w = test::Gaussian(12 * 33, 8, 0.05f);
  for (int bits = 2; bits <= 8; ++bits) {
    auto fat = test::Quantize("adjustable_threshold", {}, w, bits, {12, 33});
    auto linear = test::Quantize("linear", {{"granularity", "per_channel"}}, w, bits, {12, 33});
    ASSERT_TRUE(fat.ok() && linear.ok());
    EXPECT_EQ(fat->values, linear->values) << bits;
    EXPECT_EQ(fat->scale, linear->scale) << bits;
  }
}

TEST(AdjustableThresholdTest, AlphaIsClippedToHalfAndOne) {
  const std::vector<float> w = {1.0f, -0.8f, 0.3f, 0.05f};
  auto low = test::Quantize("adjustable_threshold", {{"alpha", "0.1"}}, w, 3);
  auto half = test::Quantize("adjustable_threshold", {{"alpha", "0.5"}}, w, 3);
  auto high = test::Quantize("adjustable_threshold", {{"alpha", "7"}}, w, 3);
  auto one = test::Quantize("adjustable_threshold", {}, w, 3);
  ASSERT_TRUE(low.ok() && half.ok() && high.ok() && one.ok());
  EXPECT_EQ(low->values, half->values);
  EXPECT_EQ(high->values, one->values);
  // T = 0.5: the largest weights saturate at ±0.5.
  EXPECT_EQ(half->values[0], 0.5f);
  EXPECT_EQ(half->values[1], -0.5f);
}

TEST(AdjustableThresholdTest, AlphaListLengthIsChecked) {
  const std::vector<float> w = test::Gaussian(3 * 10, 1);
  auto q =
      test::Quantize("adjustable_threshold", {{"alpha", "1, 0.9"}}, w, 8, {3, 10}, "stage2/conv1");
  EXPECT_EQ(q.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(q.status().message().find("lists 2 values but tensor 'stage2/conv1' has 3"),
            std::string::npos)
      << q.status();
  auto bad = QuantizerRegistry::Global().Create("adjustable_threshold", {{"alpha", "1,,0.9"}});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("item 2"), std::string::npos) << bad.status();
}

TEST(AdjustableThresholdTest, ParameterErrors) {
  for (const Params& bad : {Params{{"granularity", "per_tensor"}, {"alpha", "1,0.5"}},
                            Params{{"thresholds", "bogus"}}, Params{{"alpha", "nan"}},
                            Params{{"thresholds", "asymmetric"}, {"alpha", "0.7"}}}) {
    EXPECT_EQ(QuantizerRegistry::Global().Create("adjustable_threshold", bad).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
  auto q = QuantizerRegistry::Global().Create("adjustable_threshold", {});
  ASSERT_TRUE(q.ok());
  EXPECT_FALSE((*q)->CheckBits(1).ok());
  EXPECT_TRUE((*q)->CheckBits(8).ok());
}

// ---- The trainable side (quantizers/trainable_quantizer.h).

const TrainableQuantizer* Trainable(const Quantizer& q) {
  const TrainableQuantizer* t = q.AsTrainable();
  EXPECT_NE(t, nullptr);
  return t;
}

TEST(AdjustableThresholdTrainableTest, InitialParametersReproduceQuantize) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> w(5 * 7);
  for (float& v : w) v = normal(rng);
  WeightView view{"w", {5, 7}, w};
  for (const char* granularity : {"per_channel", "per_tensor"}) {
    auto q = QuantizerRegistry::Global().Create(
        "adjustable_threshold", {{"alpha", "0.75"}, {"granularity", granularity}});
    ASSERT_TRUE(q.ok()) << q.status();
    const TrainableQuantizer* t = Trainable(**q);
    auto alphas = t->InitialParameters(view, 4);
    ASSERT_TRUE(alphas.ok()) << alphas.status();
    EXPECT_EQ(alphas->size(), std::string(granularity) == "per_channel" ? 5u : 1u);
    for (float a : *alphas) EXPECT_EQ(a, 0.75f);  // exact in float: the same grid
    auto direct = (*q)->Quantize(view, 4);
    auto with = t->QuantizeWithParameters(view, 4, *alphas);
    ASSERT_TRUE(direct.ok() && with.ok());
    EXPECT_EQ(direct->values, with->values);
    EXPECT_EQ(direct->codes, with->codes);
    // Wrong parameter count: an error naming the tensor.
    std::vector<float> wrong(3, 1.0f);
    EXPECT_EQ(t->QuantizeWithParameters(view, 4, wrong).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
}

// The STE gradient of α is the exact derivative of the surrogate in which every weight's
// rounding offset (⌊S·w⌉ − S·w) is frozen: q_i(α) = w_i + c_i/S(α) inside, ±n/S(α) clipped.
// Central differences of that surrogate (in double) must equal Backward's dL/dα, for
// L = sum_i g_i·q_i with random g.
TEST(AdjustableThresholdTrainableTest, AlphaGradientMatchesFrozenRoundingSurrogate) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t rows = 3, cols = 9;
  const int bits = 3;
  std::vector<float> w(rows * cols), g(rows * cols);
  for (float& v : w) v = normal(rng);
  for (float& v : g) v = normal(rng);
  WeightView view{"w", {rows, cols}, w};
  auto q = QuantizerRegistry::Global().Create("adjustable_threshold", {});
  ASSERT_TRUE(q.ok());
  const TrainableQuantizer* t = Trainable(**q);
  const std::vector<float> alphas = {0.7f, 0.93f, 0.55f};
  std::vector<float> dw(w.size()), dalpha(rows, 0.0f);
  ASSERT_TRUE(t->Backward(view, bits, alphas, g, absl::MakeSpan(dw), absl::MakeSpan(dalpha)).ok());

  const double n = 3.0;  // 2^(bits-1) - 1
  for (int64_t k = 0; k < rows; ++k) {
    double tmax = 0.0;
    for (int64_t c = 0; c < cols; ++c) tmax = std::max(tmax, std::fabs(double{w[k * cols + c]}));
    const double s0 = n / (alphas[k] * tmax);
    auto surrogate = [&](double alpha) {
      const double s = n / (alpha * tmax);
      double loss = 0.0;
      for (int64_t c = 0; c < cols; ++c) {
        const double x0 = s0 * w[k * cols + c];
        const double r0 = std::round(x0);
        const double qi = std::fabs(r0) <= n ? w[k * cols + c] + (r0 - x0) / s : (r0 > 0 ? n : -n) / s;
        loss += g[k * cols + c] * qi;
      }
      return loss;
    };
    const double h = 1e-6;
    const double fd = (surrogate(alphas[k] + h) - surrogate(alphas[k] - h)) / (2 * h);
    EXPECT_NEAR(dalpha[k], fd, 1e-4 * (1 + std::fabs(fd))) << "row " << k;
    // Weights: the gradient passes where the code is not clipped.
    for (int64_t c = 0; c < cols; ++c) {
      const double r0 = std::round(s0 * w[k * cols + c]);
      EXPECT_EQ(dw[k * cols + c], std::fabs(r0) <= n ? g[k * cols + c] : 0.0f);
    }
  }
  // Outside [0.5, 1] the clip passes no gradient to α; the result accumulates.
  std::vector<float> outside = {1.2f, 0.3f, 0.9f};
  std::vector<float> acc = {1.0f, 1.0f, 1.0f};
  ASSERT_TRUE(t->Backward(view, bits, outside, g, absl::MakeSpan(dw), absl::MakeSpan(acc)).ok());
  EXPECT_EQ(acc[0], 1.0f);
  EXPECT_EQ(acc[1], 1.0f);
  EXPECT_NE(acc[2], 1.0f);
}


// Section 2.3's asymmetric thresholds written out in double: [lo, hi] = [min(W_k, 0),
// max(W_k, 0)], T_l = lo + clip(α_T, −0.2, 0.4)·R, Δ = clip(α_R, 0.5, 1)·R/(2^b − 1),
// z = round(T_l/Δ), q = Δ·(clamp(round(w/Δ) − z, 0, 2^b − 1) + z).
std::vector<double> AsymmetricRef(const std::vector<float>& w, int64_t rows, int bits,
                                  const std::vector<float>& params) {
  const int64_t cols = static_cast<int64_t>(w.size()) / rows;
  const double qmax = std::ldexp(1.0, bits) - 1;
  std::vector<double> out(w.size());
  for (int64_t r = 0; r < rows; ++r) {
    double lo = 0.0, hi = 0.0;
    for (int64_t c = 0; c < cols; ++c) {
      lo = std::min(lo, double{w[r * cols + c]});
      hi = std::max(hi, double{w[r * cols + c]});
    }
    const double range = hi - lo;
    const double tl = lo + std::clamp(double{params[2 * r]}, -0.2, 0.4) * range;
    const double step = std::clamp(double{params[2 * r + 1]}, 0.5, 1.0) * range / qmax;
    const double z = std::round(tl / step);
    for (int64_t c = 0; c < cols; ++c) {
      out[r * cols + c] = step * (std::clamp(std::round(w[r * cols + c] / step) - z, 0.0, qmax) + z);
    }
  }
  return out;
}

TEST(AdjustableThresholdAsymmetricTest, MatchesTheReferenceOnRandomOddShapes) {
  std::mt19937 rng(17);
  for (int trial = 0; trial < 6; ++trial) {
    const int64_t rows = 1 + static_cast<int64_t>(rng() % 6);
    const int64_t cols = 2 + static_cast<int64_t>(rng() % 61);
    std::vector<float> w = test::Gaussian(rows * cols, 70 + trial, 0.3f);
    if (trial % 2 == 1) {
      for (float& v : w) v = std::fabs(v);  // a one-sided tensor: lo = 0
    }
    std::vector<float> params;
    for (int64_t r = 0; r < rows; ++r) {
      params.push_back(-0.3f + 0.1f * static_cast<float>(rng() % 8));  // -0.3 .. 0.4: some clipped
      params.push_back(0.4f + 0.1f * static_cast<float>(rng() % 8));   // 0.4 .. 1.1
    }
    auto q = QuantizerRegistry::Global().Create("adjustable_threshold", {{"thresholds", "asymmetric"}});
    ASSERT_TRUE(q.ok()) << q.status();
    for (int bits : {2, 3, 5, 8}) {
      SCOPED_TRACE("trial " + std::to_string(trial) + ", bits " + std::to_string(bits));
      WeightView view{"w", {rows, cols}, w};
      auto initial = (*q)->AsTrainable()->InitialParameters(view, bits);
      ASSERT_TRUE(initial.ok());
      ASSERT_EQ(initial->size(), static_cast<size_t>(2 * rows));
      auto out = (*q)->AsTrainable()->QuantizeWithParameters(view, bits, params);
      ASSERT_TRUE(out.ok()) << out.status();
      EXPECT_EQ(out->num_tables, rows);
      EXPECT_EQ(out->levels_per_table, int64_t{1} << bits);
      const std::vector<double> ref = AsymmetricRef(w, rows, bits, params);
      for (size_t i = 0; i < w.size(); ++i) {
        EXPECT_NEAR(out->values[i], ref[i], 1e-5 * std::fabs(ref[i]) + 1e-7) << i;
      }
      // (0, 1) is the min/max grid: the ends are reproduced within one step.
      auto plain = (*q)->Quantize(view, bits);
      ASSERT_TRUE(plain.ok());
      const std::vector<double> ref_plain = AsymmetricRef(w, rows, bits, *initial);
      for (size_t i = 0; i < w.size(); ++i) EXPECT_NEAR(plain->values[i], ref_plain[i], 1e-5 * std::fabs(ref_plain[i]) + 1e-7);
    }
  }
}

// The surrogate with every rounding offset frozen (data and the offset z):
//   inside q = w + Δ(α)·c,  clamped low q = T_l(α) + Δ(α)·e,  high q = T_l(α) + Δ(α)·(qmax + e),
// c = round(w/Δ0) − w/Δ0, e = z0 − T_l0/Δ0. Central differences of Σ g·q must equal Backward.
TEST(AdjustableThresholdAsymmetricTest, GradientsMatchFrozenRoundingSurrogate) {
  const int64_t rows = 3, cols = 11;
  const int bits = 3;
  const double qmax = 7.0;
  const std::vector<float> w = test::Gaussian(rows * cols, 91, 1.0f);
  const std::vector<float> g = test::Gaussian(rows * cols, 92, 1.0f);
  const std::vector<float> params = {0.13f, 0.71f, -0.07f, 0.93f, 0.21f, 0.58f};
  auto q = QuantizerRegistry::Global().Create("adjustable_threshold",
                                              {{"thresholds", "asymmetric"}, {"granularity", "per_channel"}});
  ASSERT_TRUE(q.ok());
  WeightView view{"w", {rows, cols}, w};
  std::vector<float> dw(w.size()), dp(params.size(), 0.0f);
  ASSERT_TRUE((*q)->AsTrainable()->Backward(view, bits, params, g, absl::MakeSpan(dw), absl::MakeSpan(dp)).ok());
  for (int64_t k = 0; k < rows; ++k) {
    double lo = 0.0, hi = 0.0;
    for (int64_t c = 0; c < cols; ++c) {
      lo = std::min(lo, double{w[k * cols + c]});
      hi = std::max(hi, double{w[k * cols + c]});
    }
    const double range = hi - lo;
    auto grid = [&](double at, double ar) {
      const double tl = lo + at * range;
      return std::pair<double, double>(tl, ar * range / qmax);
    };
    // Plain copies, not a structured binding: C++17 lambdas cannot capture bindings (clang rejects it).
    const auto grid0 = grid(params[2 * k], params[2 * k + 1]);
    const double tl0 = grid0.first, step0 = grid0.second;
    const double z0 = std::round(tl0 / step0);
    const double e = z0 - tl0 / step0;
    auto surrogate = [&](double at, double ar) {
      const auto [tl, step] = grid(at, ar);
      double loss = 0.0;
      for (int64_t c = 0; c < cols; ++c) {
        const double x = w[k * cols + c];
        const double r0 = std::round(x / step0);
        const double code = r0 - z0;
        double qi;
        if (code < 0) qi = tl + step * e;
        else if (code > qmax) qi = tl + step * (qmax + e);
        else qi = x + step * (r0 - x / step0);
        loss += g[k * cols + c] * qi;
        EXPECT_EQ(dw[k * cols + c], code < 0 || code > qmax ? 0.0f : g[k * cols + c]);
      }
      return loss;
    };
    const double h = 1e-6;
    const double at = params[2 * k], ar = params[2 * k + 1];
    const double fd_t = (surrogate(at + h, ar) - surrogate(at - h, ar)) / (2 * h);
    const double fd_r = (surrogate(at, ar + h) - surrogate(at, ar - h)) / (2 * h);
    EXPECT_NEAR(dp[2 * k], fd_t, 1e-4 * (1 + std::fabs(fd_t))) << "alpha_T of row " << k;
    EXPECT_NEAR(dp[2 * k + 1], fd_r, 1e-4 * (1 + std::fabs(fd_r))) << "alpha_R of row " << k;
  }
  // Outside their clips the parameters get no gradient.
  const std::vector<float> outside = {0.5f, 1.2f, -0.3f, 0.4f, 0.1f, 0.8f};
  std::vector<float> acc(outside.size(), 0.0f);
  ASSERT_TRUE((*q)->AsTrainable()->Backward(view, bits, outside, g, absl::MakeSpan(dw), absl::MakeSpan(acc)).ok());
  EXPECT_EQ(acc[0], 0.0f);
  EXPECT_EQ(acc[1], 0.0f);
  EXPECT_EQ(acc[2], 0.0f);
  EXPECT_EQ(acc[3], 0.0f);
  EXPECT_NE(acc[4], 0.0f);
  EXPECT_NE(acc[5], 0.0f);
}

TEST(AdjustableThresholdTrainableTest, OtherQuantizersAreNotTrainable) {
  auto q = QuantizerRegistry::Global().Create("linear", {});
  ASSERT_TRUE(q.ok());
  EXPECT_EQ((*q)->AsTrainable(), nullptr);
}

}  // namespace
}  // namespace quantbench
