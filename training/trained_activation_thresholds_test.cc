// FAT's trained activation thresholds: the forward is FakeQuantizeActivations with the grid the
// parameters give (so inference reproduces training), and the α gradients are the derivatives
// of the surrogate with every rounding offset frozen, checked by central differences.
#include "training/trained_activation_thresholds.h"

#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace quantbench {
namespace {

std::vector<float> Values(size_t n, uint64_t seed, float lo, float hi) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

struct Case {
  float min, max;
  ThresholdMode mode;
  std::vector<float> parameters;
};

// L(p) = Σ g·q(p) with the offsets of the forward at p0 frozen: per value the code-space
// rounding offset c = ⌊v⌉ − v (inside), and for the asymmetric grid the offset of z.
double Surrogate(const Case& c, const std::vector<float>& p0, const std::vector<double>& p, const std::vector<float>& x,
                 const std::vector<float>& g, int bits) {
  auto grid = [&](const std::vector<double>& q, double* step, double* z_real) {
    const double top = std::ldexp(1.0, bits) - 1;
    const bool is_signed = c.min < 0;
    if (c.mode == ThresholdMode::kSymmetric) {
      const double tmax = is_signed ? std::max(-double{c.min}, double{c.max}) : c.max;
      const double n = is_signed ? std::ldexp(1.0, bits - 1) - 1 : top;
      *step = std::clamp(q[0], 0.5, 1.0) * tmax / n;
      *z_real = is_signed ? -std::ldexp(1.0, bits - 1) : 0.0;  // fixed
      return;
    }
    const double lo = std::min(0.0f, c.min), hi = std::max(0.0f, c.max);
    const double shift = is_signed ? std::clamp(q[0], -0.2, 0.4) : 0.0;
    const double tl = lo + shift * (hi - lo);
    *step = std::clamp(q[1], 0.5, 1.0) * (hi - lo) / top;
    *z_real = tl / *step;
  };
  const double top = std::ldexp(1.0, bits) - 1;
  double step0, zr0;
  grid(std::vector<double>(p0.begin(), p0.end()), &step0, &zr0);
  const double z0 = c.mode == ThresholdMode::kSymmetric ? zr0 : std::round(zr0);
  const double e = z0 - zr0;  // frozen offset of z
  double step, zr;
  grid(p, &step, &zr);
  const double z = c.mode == ThresholdMode::kSymmetric ? zr : zr + e;
  double loss = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double v0 = x[i] / step0;
    double q;
    if (v0 < z0) q = step * z;
    else if (v0 > top + z0) q = step * (top + z);
    else q = x[i] + step * (std::round(v0) - v0);
    loss += g[i] * q;
  }
  return loss;
}

TEST(TrainedActivationThresholdsTest, ForwardIsFakeQuantizationAndGradientsMatchFiniteDifferences) {
  const int bits = 4;
  const std::vector<Case> cases = {
      {-1.5f, 2.5f, ThresholdMode::kSymmetric, {0.73f}},
      {0.0f, 6.0f, ThresholdMode::kSymmetric, {0.61f}},
      {-1.5f, 2.5f, ThresholdMode::kAsymmetric, {0.11f, 0.77f}},
      {0.0f, 6.0f, ThresholdMode::kAsymmetric, {0.0f, 0.66f}},
  };
  int index = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE("case " + std::to_string(index));
    auto hook = TrainedActivationThresholds::Create(c.min, c.max, bits, c.mode);
    ASSERT_TRUE(hook.ok()) << hook.status();
    TrainedActivationThresholds& h = **hook;
    ASSERT_EQ(h.TrainableParameters().size(), c.parameters.size());
    std::copy(c.parameters.begin(), c.parameters.end(), h.TrainableParameters().begin());
    const std::vector<float> x = Values(301, 40 + index, c.min - 0.5f, c.max + 0.5f);
    const std::vector<float> g = Values(x.size(), 80 + index, -1.0f, 1.0f);
    std::vector<float> y(x.size()), dx(x.size());
    ASSERT_TRUE(h.Forward(x, absl::MakeSpan(y)).ok());
    std::vector<float> expected = x;
    FakeQuantizeActivations(absl::MakeSpan(expected), h.Params());
    EXPECT_EQ(y, expected);
    std::fill(h.ParameterGradients().begin(), h.ParameterGradients().end(), 0.0f);
    ASSERT_TRUE(h.Backward(g, absl::MakeSpan(dx)).ok());
    // Input gradient: passes inside the grid's range, blocked where clamped.
    const ActivationQuantParams p = h.Params();
    const double lo = -p.zero_point * double{p.scale}, hi = (std::ldexp(1.0, bits) - 1 - p.zero_point) * double{p.scale};
    for (size_t i = 0; i < x.size(); ++i) {
      if (x[i] < lo - 1e-6 || x[i] > hi + 1e-6) {
        EXPECT_EQ(dx[i], 0.0f) << i;
      } else if (x[i] > lo + 1e-6 && x[i] < hi - 1e-6) {
        EXPECT_EQ(dx[i], g[i]) << i;
      }
    }
    for (size_t k = 0; k < c.parameters.size(); ++k) {
      const double hstep = 1e-5;
      std::vector<double> plus(c.parameters.begin(), c.parameters.end()), minus = plus;
      plus[k] += hstep;
      minus[k] -= hstep;
      const double fd = (Surrogate(c, c.parameters, plus, x, g, bits) - Surrogate(c, c.parameters, minus, x, g, bits)) / (2 * hstep);
      EXPECT_NEAR(h.ParameterGradients()[k], fd, 2e-3 * (1 + std::fabs(fd))) << "parameter " << k;
    }
    ++index;
  }
}

TEST(TrainedActivationThresholdsTest, StartsAtTheCalibratedRangeAndRejectsBadInput) {
  auto sym = TrainedActivationThresholds::Create(0.0f, 6.0f, 8, ThresholdMode::kSymmetric);
  ASSERT_TRUE(sym.ok());
  EXPECT_EQ((*sym)->Params().zero_point, 0);
  EXPECT_FLOAT_EQ((*sym)->Params().scale, 6.0f / 255.0f);
  auto signed_sym = TrainedActivationThresholds::Create(-3.0f, 2.0f, 8, ThresholdMode::kSymmetric);
  ASSERT_TRUE(signed_sym.ok());
  EXPECT_EQ((*signed_sym)->Params().zero_point, 128);
  EXPECT_FLOAT_EQ((*signed_sym)->Params().scale, 3.0f / 127.0f);
  auto asym = TrainedActivationThresholds::Create(-1.0f, 3.0f, 8, ThresholdMode::kAsymmetric);
  ASSERT_TRUE(asym.ok());
  EXPECT_FLOAT_EQ((*asym)->Params().scale, 4.0f / 255.0f);
  EXPECT_EQ((*asym)->Params().zero_point, 64);  // round(1 / (4/255)) = round(63.75)
  EXPECT_FALSE(TrainedActivationThresholds::Create(1.0f, -1.0f, 8, ThresholdMode::kSymmetric).ok());
  EXPECT_FALSE(TrainedActivationThresholds::Create(0.0f, NAN, 8, ThresholdMode::kSymmetric).ok());
  EXPECT_FALSE(TrainedActivationThresholds::Create(0.0f, 1.0f, 1, ThresholdMode::kSymmetric).ok());
  std::vector<float> dx(3);
  EXPECT_FALSE((*asym)->Backward(std::vector<float>(3, 1.0f), absl::MakeSpan(dx)).ok());  // no forward yet
}

}  // namespace
}  // namespace quantbench
