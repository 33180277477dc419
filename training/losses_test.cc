#include "training/losses.h"

#include <cmath>
#include <functional>
#include <random>
#include <vector>

#include "absl/strings/numbers.h"
#include "gtest/gtest.h"
#include "training/torch_reference.h"

namespace quantbench {
namespace {

std::vector<float> RandomLogits(int n, uint64_t seed, float scale = 2.0f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

// Checks `analytic` (dL/dx at x) against central differences of `loss`. The loss is computed
// in double from float inputs, so the step is divided by the exact difference of the two
// perturbed floats.
void ExpectGradientMatches(const std::function<double(const std::vector<float>&)>& loss,
                           const std::vector<float>& x, const std::vector<float>& analytic,
                           double tolerance) {
  ASSERT_EQ(x.size(), analytic.size());
  for (size_t i = 0; i < x.size(); ++i) {
    std::vector<float> plus = x, minus = x;
    plus[i] = x[i] + 1e-3f;
    minus[i] = x[i] - 1e-3f;
    const double numeric = (loss(plus) - loss(minus)) / (static_cast<double>(plus[i]) - minus[i]);
    EXPECT_NEAR(analytic[i], numeric, tolerance * std::fmax(1.0, std::fabs(numeric)))
        << "element " << i;
  }
}

TEST(SoftmaxCrossEntropyTest, UniformLogitsGiveLogClasses) {
  const int batch = 3, classes = 7;
  std::vector<float> logits(batch * classes, 0.25f), grad(logits.size());
  const std::vector<int32_t> labels = {0, 6, 3};
  auto loss = SoftmaxCrossEntropy(logits, labels, batch, classes, absl::MakeSpan(grad));
  ASSERT_TRUE(loss.ok()) << loss.status();
  EXPECT_NEAR(*loss, std::log(7.0), 1e-12);
  for (int b = 0; b < batch; ++b) {
    for (int c = 0; c < classes; ++c) {
      EXPECT_NEAR(grad[b * classes + c], ((c == labels[b] ? -6.0 : 1.0) / 7.0) / batch, 1e-7);
    }
  }
}

TEST(SoftmaxCrossEntropyTest, GradientMatchesFiniteDifferences) {
  const int batch = 5, classes = 11;
  const std::vector<float> logits = RandomLogits(batch * classes, 1);
  const std::vector<int32_t> labels = {0, 10, 4, 4, 7};
  std::vector<float> grad(logits.size());
  ASSERT_TRUE(SoftmaxCrossEntropy(logits, labels, batch, classes, absl::MakeSpan(grad)).ok());
  ExpectGradientMatches(
      [&](const std::vector<float>& x) {
        return *SoftmaxCrossEntropy(x, labels, batch, classes, {});
      },
      logits, grad, 1e-5);
}

TEST(SoftmaxCrossEntropyTest, StableForHugeLogits) {
  // exp(1000) overflows; the log-sum-exp form gives the exact answer.
  const std::vector<float> logits = {1000.0f, 0.0f, -1000.0f, 999.0f};
  std::vector<float> grad(4);
  auto loss = SoftmaxCrossEntropy(logits, {1, 0}, 2, 2, absl::MakeSpan(grad));
  ASSERT_TRUE(loss.ok());
  // Row 0: -log softmax = 1000 + log(1 + e^-1000); row 1: 1999 + log(1 + e^-1999).
  EXPECT_NEAR(*loss, (1000.0 + 1999.0) / 2, 1e-9);
  EXPECT_NEAR(grad[0], 0.5, 1e-7);
  EXPECT_NEAR(grad[1], -0.5, 1e-7);
}

TEST(SoftmaxCrossEntropyTest, CorrectCountsFirstMaximumLikeArgmax) {
  // Row 0 ties classes 0 and 2: argmax says 0. Row 1 ties 1 and 2: argmax says 1.
  const std::vector<float> logits = {3, 1, 3, 0, 2, 2, 5, 1, std::nanf("")};
  int64_t correct = -1;
  ASSERT_TRUE(SoftmaxCrossEntropy(logits, {0, 2, 0}, 3, 3, {}, &correct).ok());
  EXPECT_EQ(correct, 1);  // row 0 only; row 1's tie goes to 1; row 2 holds a NaN
  ASSERT_TRUE(SoftmaxCrossEntropy(logits, {2, 1, 0}, 3, 3, {}, &correct).ok());
  EXPECT_EQ(correct, 1);  // row 1 only
}

TEST(SoftmaxCrossEntropyTest, RejectsBadInput) {
  const std::vector<float> logits(6, 0.0f);
  std::vector<float> grad(6), short_grad(5);
  EXPECT_EQ(SoftmaxCrossEntropy(logits, {0, 3}, 2, 3, absl::MakeSpan(grad)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SoftmaxCrossEntropy(logits, {0, -1}, 2, 3, absl::MakeSpan(grad)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SoftmaxCrossEntropy(logits, {0}, 2, 3, absl::MakeSpan(grad)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SoftmaxCrossEntropy(logits, {0, 1}, 2, 4, absl::MakeSpan(grad)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SoftmaxCrossEntropy(logits, {0, 1}, 2, 3, absl::MakeSpan(short_grad)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SoftmaxCrossEntropy({}, {}, 0, 3, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

class DistillationTest : public ::testing::TestWithParam<DistillationKind> {};

TEST_P(DistillationTest, GradientMatchesFiniteDifferences) {
  const int batch = 4, classes = 9;
  const std::vector<float> student = RandomLogits(batch * classes, 2);
  const std::vector<float> teacher = RandomLogits(batch * classes, 3);
  for (float temperature : {1.0f, 3.5f}) {
    std::vector<float> grad(student.size());
    ASSERT_TRUE(DistillationLoss(GetParam(), student, teacher, batch, classes, temperature,
                                 absl::MakeSpan(grad))
                    .ok());
    ExpectGradientMatches(
        [&](const std::vector<float>& s) {
          return *DistillationLoss(GetParam(), s, teacher, batch, classes, temperature, {});
        },
        student, grad, 1e-5);
  }
}

INSTANTIATE_TEST_SUITE_P(AllKinds, DistillationTest,
                         ::testing::Values(DistillationKind::kRmse, DistillationKind::kL1,
                                           DistillationKind::kKl));

// torch.nn.functional's cross_entropy and kl_div (batchmean, times T^2), torch's sqrt of
// mse_loss and the FAT code's smoothed L1, in float64 on the same float32 logits.
TEST(LossesTest, MatchTorch) {
  auto reference = LoadTorchReference();
  ASSERT_TRUE(reference.ok()) << reference.status();
  ASSERT_EQ(reference->losses.size(), 6u);
  for (const TorchLossCase& c : reference->losses) {
    int batch = 0, classes = 0;
    float temperature = 0;
    ASSERT_TRUE(absl::SimpleAtoi(c.settings.at("batch"), &batch));
    ASSERT_TRUE(absl::SimpleAtoi(c.settings.at("classes"), &classes));
    ASSERT_TRUE(absl::SimpleAtof(c.settings.at("temperature"), &temperature));
    const std::string& kind = c.settings.at("kind");
    const std::vector<float>& student = c.inputs.at("student");
    std::vector<float> grad(student.size());
    absl::StatusOr<double> loss;
    if (kind == "cross_entropy") {
      loss = SoftmaxCrossEntropy(student, c.labels, batch, classes, absl::MakeSpan(grad));
    } else {
      const DistillationKind k = kind == "kl"     ? DistillationKind::kKl
                                 : kind == "rmse" ? DistillationKind::kRmse
                                                  : DistillationKind::kL1;
      loss = DistillationLoss(k, student, c.inputs.at("teacher"), batch, classes, temperature,
                              absl::MakeSpan(grad));
    }
    ASSERT_TRUE(loss.ok()) << c.name << ": " << loss.status();
    EXPECT_NEAR(*loss, c.value, 1e-12 * std::fmax(1.0, std::fabs(c.value))) << c.name;
    ASSERT_EQ(grad.size(), c.grad.size()) << c.name;
    for (size_t i = 0; i < grad.size(); ++i) {
      // The gradient is rounded to float: a float's relative precision.
      EXPECT_NEAR(grad[i], c.grad[i], 1e-7 * std::fmax(1e-3, std::fabs(c.grad[i])))
          << c.name << " [" << i << "]";
    }
  }
}

TEST(DistillationLossTest, RmseIsOneRootOverTheWholeBatch) {
  // Image 0 differs by 3 in each of its 2 logits, image 1 by 0: the root of the mean square
  // over all 4 logits is sqrt(18 / 4), not the mean of per-image roots (1.5).
  const std::vector<float> student = {3, -3, 1, 1}, teacher = {0, 0, 1, 1};
  std::vector<float> grad(4);
  auto loss =
      DistillationLoss(DistillationKind::kRmse, student, teacher, 2, 2, 1.0f, absl::MakeSpan(grad));
  ASSERT_TRUE(loss.ok());
  EXPECT_NEAR(*loss, std::sqrt(18.0 / 4), 1e-12);
  EXPECT_NEAR(grad[0], 3.0 / (4 * std::sqrt(18.0 / 4)), 1e-7);
  EXPECT_EQ(grad[2], 0.0f);
  // Equal logits: zero loss, and the zero subgradient instead of 0 / 0.
  auto zero =
      DistillationLoss(DistillationKind::kRmse, teacher, teacher, 2, 2, 1.0f, absl::MakeSpan(grad));
  ASSERT_TRUE(zero.ok());
  EXPECT_EQ(*zero, 0.0);
  for (float g : grad) EXPECT_EQ(g, 0.0f);
}

TEST(DistillationLossTest, L1IsTheFatCodesSmoothedSumOverClasses) {
  const std::vector<float> student = {2, -1, 0.5f, 0, 0, 0}, teacher = {0, 1, 0.5f, 0, 0, 0};
  auto loss = DistillationLoss(DistillationKind::kL1, student, teacher, 2, 3, 1.0f, {});
  ASSERT_TRUE(loss.ok());
  const double r = std::sqrt(1e-5);
  // Image 0: sqrt(4 + 1e-5) + sqrt(4 + 1e-5) + r; image 1: 3r; averaged over the 2 images.
  EXPECT_NEAR(*loss, (2 * std::sqrt(4 + 1e-5) + 4 * r) / 2, 1e-12);
}

TEST(DistillationLossTest, KlIsZeroForEqualLogits) {
  const std::vector<float> logits = RandomLogits(3 * 5, 4);
  std::vector<float> grad(logits.size(), 1.0f);
  auto loss =
      DistillationLoss(DistillationKind::kKl, logits, logits, 3, 5, 2.0f, absl::MakeSpan(grad));
  ASSERT_TRUE(loss.ok());
  EXPECT_NEAR(*loss, 0.0, 1e-12);
  for (float g : grad) EXPECT_NEAR(g, 0.0f, 1e-7);
  // Shifting every logit of a row changes no softmax.
  std::vector<float> shifted = logits;
  for (float& x : shifted) x += 7.0f;
  EXPECT_NEAR(*DistillationLoss(DistillationKind::kKl, shifted, logits, 3, 5, 2.0f, {}), 0.0, 1e-9);
}

TEST(DistillationLossTest, KlTemperatureScaling) {
  // softmax(T s / T) = softmax(s): logits scaled by T at temperature T give T^2 times the
  // temperature-1 loss, and the gradient (T (q - p) / B) is T times the temperature-1 one.
  const int batch = 2, classes = 6;
  const std::vector<float> s = RandomLogits(batch * classes, 5, 1.0f),
                           t = RandomLogits(batch * classes, 6, 1.0f);
  std::vector<float> s4 = s, t4 = t;
  for (float& x : s4) x *= 4.0f;
  for (float& x : t4) x *= 4.0f;
  std::vector<float> g1(s.size()), g4(s.size());
  auto at1 =
      DistillationLoss(DistillationKind::kKl, s, t, batch, classes, 1.0f, absl::MakeSpan(g1));
  auto at4 =
      DistillationLoss(DistillationKind::kKl, s4, t4, batch, classes, 4.0f, absl::MakeSpan(g4));
  ASSERT_TRUE(at1.ok() && at4.ok());
  EXPECT_GT(*at1, 0.01);
  EXPECT_NEAR(*at4, 16.0 * *at1, 1e-9 * *at4);
  for (size_t i = 0; i < g1.size(); ++i) EXPECT_NEAR(g4[i], 4.0f * g1[i], 1e-6);
  // A higher temperature softens both distributions: the same logits at T = 4 are closer.
  EXPECT_LT(*DistillationLoss(DistillationKind::kKl, s, t, batch, classes, 4.0f, {}) / 16.0, *at1);
}

TEST(DistillationLossTest, RejectsBadInput) {
  const std::vector<float> a(6, 0.0f), b(5, 0.0f);
  EXPECT_EQ(DistillationLoss(DistillationKind::kRmse, a, b, 2, 3, 1.0f, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DistillationLoss(DistillationKind::kKl, a, a, 2, 3, 0.0f, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DistillationLoss(DistillationKind::kKl, a, a, 2, 3, std::nanf(""), {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<float> grad(4);
  EXPECT_EQ(DistillationLoss(DistillationKind::kL1, a, a, 2, 3, 1.0f, absl::MakeSpan(grad))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace quantbench
