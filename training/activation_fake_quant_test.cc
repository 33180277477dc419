#include "training/activation_fake_quant.h"

#include <vector>

#include "gtest/gtest.h"

namespace quantbench {
namespace {

// 2 bits, scale 0.5, zero point 1: levels -0.5, 0, 0.5, 1.0; range [-0.5, 1.0].
TEST(ActivationFakeQuantHook, QuantizesForwardAndPassesGradientInsideTheRange) {
  ActivationQuantParams p;
  p.bits = 2;
  p.scale = 0.5f;
  p.zero_point = 1;
  ActivationFakeQuantHook hook(p);
  const std::vector<float> x = {-2.0f, -0.5f, 0.1f, 0.3f, 0.74f, 1.0f, 1.2f};
  std::vector<float> y(x.size());
  ASSERT_TRUE(hook.Forward(x, absl::MakeSpan(y)).ok());
  EXPECT_EQ(y, (std::vector<float>{-0.5f, -0.5f, 0.0f, 0.5f, 0.5f, 1.0f, 1.0f}));
  std::vector<float> expected = y;
  FakeQuantizeActivationsRef(absl::MakeSpan(expected = x), p);
  EXPECT_EQ(y, expected);  // the same function as inference's fake quantization
  const std::vector<float> dy = {1, 2, 3, 4, 5, 6, 7};
  std::vector<float> dx(dy.size());
  ASSERT_TRUE(hook.Backward(dy, absl::MakeSpan(dx)).ok());
  EXPECT_EQ(dx, (std::vector<float>{0, 2, 3, 4, 5, 6, 0}));
  std::vector<float> wrong(3);
  EXPECT_EQ(hook.Backward(absl::MakeConstSpan(wrong), absl::MakeSpan(wrong)).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace quantbench
