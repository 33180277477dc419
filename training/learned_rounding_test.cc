#include "training/learned_rounding.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace quantbench {
namespace {

// A small layer: rows × cols weights on a 4-bit mid-tread grid (15 levels, zero at code 7),
// inputs with correlated features so that nearest rounding is not optimal.
struct Fixture {
  int64_t rows, cols;
  std::vector<float> w, step, zero, gram;
  RoundingProblem problem() const {
    RoundingProblem p;
    p.rows = rows;
    p.cols = cols;
    p.weights = w;
    p.step = step;
    p.zero = zero;
    p.levels = 15;
    p.groups = 1;
    p.gram = gram;
    return p;
  }
};

Fixture MakeFixture(int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  Fixture f{rows, cols, {}, {}, {}, {}};
  for (int64_t i = 0; i < rows * cols; ++i) f.w.push_back(normal(rng));
  for (int64_t r = 0; r < rows; ++r) {
    float m = 0;
    for (int64_t c = 0; c < cols; ++c) m = std::max(m, std::abs(f.w[r * cols + c]));
    f.step.push_back(m / 7);
    f.zero.push_back(7);
  }
  // x = A u with a shared random mixing A: correlated columns.
  const int samples = 400;
  std::vector<float> a(cols * cols);
  for (float& v : a) v = normal(rng);
  f.gram.assign(cols * cols, 0.0f);
  std::vector<float> x(cols);
  for (int s = 0; s < samples; ++s) {
    std::vector<float> u(cols);
    for (float& v : u) v = normal(rng);
    for (int64_t i = 0; i < cols; ++i) {
      x[i] = 0;
      for (int64_t j = 0; j < cols; ++j) x[i] += a[i * cols + j] * u[j] * (j == i ? 3.0f : 1.0f);
    }
    for (int64_t i = 0; i < cols; ++i) {
      for (int64_t j = 0; j < cols; ++j) f.gram[i * cols + j] += x[i] * x[j] / samples;
    }
  }
  return f;
}

TEST(LearnedRounding, RectifiedSigmoidInverseAndGradient) {
  for (float frac : {0.0f, 0.1f, 0.37f, 0.5f, 0.93f, 1.0f}) {
    EXPECT_NEAR(RectifiedSigmoid(RectifiedSigmoidInverse(frac, 1.1f, -0.1f), 1.1f, -0.1f), frac, 1e-5);
  }
  for (float v : {-2.0f, -0.3f, 0.0f, 0.8f, 2.1f}) {
    const float e = 1e-3f;
    const double fd = (RectifiedSigmoid(v + e, 1.1f, -0.1f) - RectifiedSigmoid(v - e, 1.1f, -0.1f)) / (2 * e);
    EXPECT_NEAR(RectifiedSigmoidGradient(v, 1.1f, -0.1f), fd, 1e-3) << v;
  }
  EXPECT_EQ(RectifiedSigmoidGradient(8.0f, 1.1f, -0.1f), 0.0f);  // clipped at 1
  EXPECT_EQ(RectifiedSigmoid(-8.0f, 1.1f, -0.1f), 0.0f);
}

TEST(LearnedRounding, RegularizerGradientMatchesFiniteDifferences) {
  for (double beta : {2.0, 3.5, 20.0}) {
    for (double h : {0.05, 0.3, 0.49, 0.51, 0.8, 0.97}) {
      const double e = 1e-6;
      const double fd = (RoundingRegularizer(h + e, beta) - RoundingRegularizer(h - e, beta)) / (2 * e);
      EXPECT_NEAR(RoundingRegularizerGradient(h, beta), fd, 1e-5 * std::max(1.0, std::abs(fd))) << h << " " << beta;
    }
    EXPECT_DOUBLE_EQ(RoundingRegularizer(0.0, beta), 0.0);
    EXPECT_DOUBLE_EQ(RoundingRegularizer(1.0, beta), 0.0);
    EXPECT_DOUBLE_EQ(RoundingRegularizer(0.5, beta), 1.0);
  }
}

TEST(LearnedRounding, BetaWarmupThenLinearAnnealing) {
  LearnedRoundingOptions o;
  o.iterations = 101;
  o.warmup = 0.2f;
  EXPECT_FALSE(BetaAt(0, o).active);
  EXPECT_FALSE(BetaAt(19, o).active);
  EXPECT_TRUE(BetaAt(20, o).active);
  EXPECT_DOUBLE_EQ(BetaAt(20, o).beta, 20.0);
  EXPECT_NEAR(BetaAt(100, o).beta, 2.0, 1e-12);
  EXPECT_NEAR(BetaAt(60, o).beta, 11.0, 1e-12);
}

TEST(LearnedRounding, ObjectiveGradientMatchesFiniteDifferences) {
  Fixture f = MakeFixture(3, 6, 7);
  RoundingProblem p = f.problem();
  LearnedRoundingOptions o;
  o.regularization = 0.5f;
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> uni(-2.2f, 2.2f);  // inside the unclipped range (|v| < 2.398)
  std::vector<float> v(p.rows * p.cols);
  for (float& x : v) x = uni(rng);
  const double nearest = 0.37;
  for (AnnealedBeta beta : {AnnealedBeta{false, 0.0}, AnnealedBeta{true, 3.0}}) {
    std::vector<float> grad;
    EvaluateRoundingObjective(p, v, nearest, beta, o, &grad);
    for (size_t i = 0; i < v.size(); ++i) {
      std::vector<float> plus = v, minus = v;
      const float e = 1e-2f;
      plus[i] += e;
      minus[i] -= e;
      const double fd = (EvaluateRoundingObjective(p, plus, nearest, beta, o, nullptr).total -
                         EvaluateRoundingObjective(p, minus, nearest, beta, o, nullptr).total) /
                        (2 * e);
      EXPECT_NEAR(grad[i], fd, 2e-3 * std::max(1.0, std::abs(fd))) << "weight " << i << " beta " << beta.beta;
    }
  }
}

// The exact optimum of each row (rows are independent: rec = Σ_r d_r G d_rᵀ) by trying all 2^cols
// up / down choices.
double BruteForceOptimum(const Fixture& f) {
  double total = 0;
  for (int64_t r = 0; r < f.rows; ++r) {
    double best = INFINITY;
    for (int mask = 0; mask < (1 << f.cols); ++mask) {
      std::vector<double> d(f.cols);
      for (int64_t c = 0; c < f.cols; ++c) {
        const double x = f.w[r * f.cols + c] / f.step[r] + f.zero[r];
        double code = std::floor(x) + ((mask >> c) & 1);
        code = std::min(code, 14.0);
        d[c] = f.step[r] * (code - f.zero[r]) - f.w[r * f.cols + c];
      }
      double q = 0;
      for (int64_t i = 0; i < f.cols; ++i) {
        for (int64_t j = 0; j < f.cols; ++j) q += d[i] * f.gram[i * f.cols + j] * d[j];
      }
      best = std::min(best, q);
    }
    total += best;
  }
  return total;
}

// The relaxation is a continuation heuristic, not an exact solver: on these small, strongly
// correlated problems (40 weights) it lands between the optimum and nearest rounding on two
// seeds and 1.7 % above nearest on the third (measured), so the check is on the sum, per seed
// only that the result is hard, on the grid and never below the true optimum (a bug detector).
TEST(LearnedRounding, BeatsNearestAndEndsHard) {
  double nearest = 0, learned = 0, optimum = 0;
  for (uint32_t seed : {11u, 12u, 13u}) {
    Fixture f = MakeFixture(4, 10, seed);
    RoundingProblem p = f.problem();
    absl::StatusOr<RoundingResult> r = LearnRounding(p, LearnedRoundingOptions());
    ASSERT_TRUE(r.ok()) << r.status();
    const double best = BruteForceOptimum(f);
    std::printf("seed %u: nearest %.5f learned %.5f optimum %.5f flipped %lld undecided %lld\n", seed, r->loss_nearest,
                r->loss_learned, best, static_cast<long long>(r->flipped), static_cast<long long>(r->undecided));
    EXPECT_GE(r->loss_learned, best * (1 - 1e-5));
    EXPECT_EQ(r->undecided, 0);  // h ended at 0 / 1
    EXPECT_NEAR(r->loss_soft, r->loss_learned, 1e-3 * r->loss_learned);
    for (int64_t i = 0; i < p.rows * p.cols; ++i) {
      const double x = f.w[i] / f.step[i / p.cols] + f.zero[i / p.cols];
      EXPECT_LE(std::abs(r->codes[i] - x), 1.0) << i;  // the floor or the ceiling
      EXPECT_GE(r->codes[i], 0);
      EXPECT_LE(r->codes[i], 14);
    }
    nearest += r->loss_nearest;
    learned += r->loss_learned;
    optimum += best;
  }
  EXPECT_LT(learned, optimum + 0.6 * (nearest - optimum));
}

TEST(LearnedRounding, GroupsUseTheirOwnGram) {
  // Two groups of one row each: with block 1 all zeros, row 1 has nothing to reconstruct.
  Fixture f = MakeFixture(2, 5, 5);
  std::vector<float> gram(2 * 25, 0.0f);
  for (int i = 0; i < 25; ++i) gram[i] = f.gram[i];
  RoundingProblem p = f.problem();
  p.groups = 2;
  p.gram = gram;
  std::vector<float> q(f.w);
  for (int c = 0; c < 5; ++c) q[5 + c] += 1.0f;  // error in row 1 only: invisible
  EXPECT_DOUBLE_EQ(ReconstructionLoss(p, q), 0.0);
  q[0] += 1.0f;
  EXPECT_NEAR(ReconstructionLoss(p, q), f.gram[0], 1e-6 * f.gram[0]);
}

TEST(LearnedRounding, RejectsBadInput) {
  Fixture f = MakeFixture(2, 3, 1);
  RoundingProblem p = f.problem();
  LearnedRoundingOptions o;
  o.iterations = 0;
  EXPECT_EQ(LearnRounding(p, o).status().code(), absl::StatusCode::kInvalidArgument);
  o = LearnedRoundingOptions();
  o.beta_start = 1.0f;
  EXPECT_NE(LearnRounding(p, o).status().message().find("beta_start"), std::string::npos);
  p.groups = 3;
  EXPECT_EQ(LearnRounding(p, LearnedRoundingOptions()).status().code(), absl::StatusCode::kInvalidArgument);
  p = f.problem();
  std::vector<float> w = f.w;
  w[1] = NAN;
  p.weights = w;
  EXPECT_EQ(LearnRounding(p, LearnedRoundingOptions()).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace quantbench
