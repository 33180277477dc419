#include "training/param_gradients.h"

#include "gtest/gtest.h"

namespace quantbench {
namespace {

Parameter Make(const std::string& name, Parameter::Kind kind, size_t n) {
  Parameter p;
  p.name = name;
  p.layer = name.substr(0, name.find('.'));
  p.kind = kind;
  p.shape = {static_cast<int64_t>(n)};
  p.values.assign(n, 1.5f);
  return p;
}

TEST(ParamGradientsTest, RunningStatisticsAreNotTrainable) {
  EXPECT_TRUE(IsTrainableParameter(Make("conv.weight", Parameter::kWeight, 1)));
  EXPECT_TRUE(IsTrainableParameter(Make("fc.bias", Parameter::kBias, 1)));
  EXPECT_TRUE(IsTrainableParameter(Make("bn.weight", Parameter::kNormalization, 1)));
  EXPECT_TRUE(IsTrainableParameter(Make("bn.bias", Parameter::kNormalization, 1)));
  EXPECT_FALSE(IsTrainableParameter(Make("bn.running_mean", Parameter::kNormalization, 1)));
  EXPECT_FALSE(IsTrainableParameter(Make("bn.running_var", Parameter::kNormalization, 1)));
}

TEST(ParamGradientsTest, ZerosLikeShapesAndSetZero) {
  ParamStore store;
  ASSERT_TRUE(store.Add(Make("conv.weight", Parameter::kWeight, 6)).ok());
  ASSERT_TRUE(store.Add(Make("bn.weight", Parameter::kNormalization, 3)).ok());
  ASSERT_TRUE(store.Add(Make("bn.running_var", Parameter::kNormalization, 3)).ok());
  ParamGradients g = ParamGradients::ZerosLike(store);
  ASSERT_EQ(g.grads.size(), 3u);
  EXPECT_EQ(g.grads[0], std::vector<float>(6, 0.0f));
  EXPECT_EQ(g.grads[1], std::vector<float>(3, 0.0f));
  EXPECT_TRUE(g.grads[2].empty());
  g.grads[0][4] = 2.0f;
  g.grads[1][0] = -1.0f;
  g.SetZero();
  EXPECT_EQ(g.grads[0], std::vector<float>(6, 0.0f));
  EXPECT_EQ(g.grads[1], std::vector<float>(3, 0.0f));
}

}  // namespace
}  // namespace quantbench
