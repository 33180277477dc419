// The activation observer (histogram, calibrations) and FakeQuantizeActivations vs its scalar
// twin.
#include "quantizers/activation_quantizer.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "quantizers/test_util.h"

namespace quantbench {
namespace {

TEST(FakeQuantizeActivationsTest, MatchesTheScalarTwinBitForBitOnOddSizes) {
  std::mt19937 rng(17);
  for (int trial = 0; trial < 20; ++trial) {
    const int64_t n = 1 + static_cast<int64_t>(rng() % 1001);  // odd and tiny sizes included
    std::vector<float> x = test::Gaussian(n, 200 + trial, 3.0f);
    // Exact ties and the classic trunc(v + 0.5) trap, in units of the step.
    ActivationQuantParams params{1 + trial % 8, 0.25f * (1 + trial % 3), trial % 5};
    if (n > 3) {
      x[0] = 0.5f * params.scale;
      x[1] = -1.5f * params.scale;
      x[2] = std::nextafter(0.5f, 0.0f) * params.scale;
    }
    std::vector<float> fast = x;
    std::vector<float> ref = x;
    FakeQuantizeActivations(absl::MakeSpan(fast), params);
    FakeQuantizeActivationsRef(absl::MakeSpan(ref), params);
    ASSERT_EQ(std::memcmp(fast.data(), ref.data(), n * sizeof(float)), 0) << "trial " << trial;
  }
}

TEST(FakeQuantizeActivationsTest, GridClampAndRounding) {
  // 2 bits, step 0.5, zero point 1: levels {-0.5, 0, 0.5, 1}.
  const ActivationQuantParams params{2, 0.5f, 1};
  std::vector<float> x = {-3.0f, -0.26f, 0.25f, 0.74f, 0.76f, 7.0f};
  FakeQuantizeActivations(absl::MakeSpan(x), params);
  EXPECT_EQ(x, (std::vector<float>{-0.5f, -0.5f, 0.5f, 0.5f, 1.0f, 1.0f}));
}

TEST(ActivationObserverTest, MinMaxCoversEveryBatch) {
  ActivationObserver observer;
  const std::vector<float> a = {0.0f, 1.0f, 2.0f};
  const std::vector<float> b = {5.5f, 0.25f};
  ASSERT_TRUE(observer.Observe(a).ok());
  ASSERT_TRUE(observer.Observe(b).ok());
  EXPECT_EQ(observer.count(), 5);
  EXPECT_EQ(observer.max(), 5.5f);
  auto params = observer.Compute(8, ActivationCalibration::kMinMax);
  ASSERT_TRUE(params.ok()) << params.status();
  EXPECT_EQ(params->zero_point, 0);  // all non-negative: the unsigned grid
  EXPECT_FLOAT_EQ(params->scale, 5.5f / 255.0f);
  std::vector<float> top = {5.5f};
  FakeQuantizeActivations(absl::MakeSpan(top), *params);
  EXPECT_FLOAT_EQ(top[0], 5.5f);
}

TEST(ActivationObserverTest, SignedDataGetsAZeroPointInside) {
  ActivationObserver observer;
  const std::vector<float> x = test::Gaussian(10001, 4, 1.0f);
  ASSERT_TRUE(observer.Observe(x).ok());
  auto params = observer.Compute(8, ActivationCalibration::kMinMax);
  ASSERT_TRUE(params.ok());
  EXPECT_GT(params->zero_point, 64);
  EXPECT_LT(params->zero_point, 192);
  std::vector<float> zero = {0.0f};
  FakeQuantizeActivations(absl::MakeSpan(zero), *params);
  EXPECT_EQ(zero[0], 0.0f);  // zero is exact
}

TEST(ActivationObserverTest, PercentileAndMseClipALongTail) {
  // ReLU-like activations with a few huge outliers: clipping must shrink the step.
  std::vector<float> x = test::Gaussian(50000, 9, 1.0f);
  for (float& v : x) v = std::max(v, 0.0f);
  for (int i = 0; i < 5; ++i) x[i * 2] = 60.0f;  // all in the first 10
  ActivationObserver observer;
  // The outliers come in the last batch: the histogram range grows (8 -> 64) and merges bins.
  ASSERT_TRUE(observer.Observe({}).ok());
  ASSERT_TRUE(observer.Observe(absl::Span<const float>(x.data() + 10, x.size() - 10)).ok());
  ASSERT_TRUE(observer.Observe(absl::Span<const float>(x.data(), 10)).ok());
  auto minmax = observer.Compute(4, ActivationCalibration::kMinMax);
  auto percentile = observer.Compute(4, ActivationCalibration::kPercentile, 99.9);
  auto mse = observer.Compute(4, ActivationCalibration::kMse);
  ASSERT_TRUE(minmax.ok() && percentile.ok() && mse.ok());
  EXPECT_LT(percentile->scale, minmax->scale / 5);
  EXPECT_LT(mse->scale, minmax->scale);
  auto error = [&](const ActivationQuantParams& p) {
    std::vector<float> q = x;
    FakeQuantizeActivations(absl::MakeSpan(q), p);
    return test::Mse(x, q);
  };
  EXPECT_LT(error(*mse), error(*minmax));
  EXPECT_LT(error(*percentile), error(*minmax));
}

TEST(ActivationObserverTest, BatchSplitDoesNotChangeMinMax) {
  const std::vector<float> x = test::Gaussian(3001, 5, 2.0f);
  ActivationObserver whole;
  ActivationObserver pieces;
  ASSERT_TRUE(whole.Observe(x).ok());
  for (size_t i = 0; i < x.size(); i += 250) {
    const size_t len = std::min<size_t>(250, x.size() - i);
    ASSERT_TRUE(pieces.Observe(absl::Span<const float>(x.data() + i, len)).ok());
  }
  auto a = whole.Compute(8, ActivationCalibration::kMinMax);
  auto b = pieces.Compute(8, ActivationCalibration::kMinMax);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->scale, b->scale);
  EXPECT_EQ(a->zero_point, b->zero_point);
}

TEST(ActivationObserverTest, Errors) {
  ActivationObserver observer;
  EXPECT_EQ(observer.Compute(8, ActivationCalibration::kMinMax).status().code(),
            absl::StatusCode::kFailedPrecondition);
  const std::vector<float> bad = {1.0f, std::numeric_limits<float>::quiet_NaN()};
  const absl::Status status = observer.Observe(bad);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("element 1"), std::string::npos) << status;
  const std::vector<float> zeros(10, 0.0f);
  ASSERT_TRUE(observer.Observe(zeros).ok());
  auto all_zero = observer.Compute(8, ActivationCalibration::kMse);
  ASSERT_TRUE(all_zero.ok());
  EXPECT_EQ(all_zero->scale, 0.0f);
  EXPECT_EQ(observer.Compute(0, ActivationCalibration::kMinMax).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(observer.Compute(8, ActivationCalibration::kPercentile, 10).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseActivationCalibration("kl").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*ParseActivationCalibration("mse"), ActivationCalibration::kMse);
}

}  // namespace
}  // namespace quantbench
