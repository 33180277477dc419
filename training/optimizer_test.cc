#include "training/optimizer.h"

#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "gtest/gtest.h"
#include "training/torch_reference.h"

namespace quantbench {
namespace {

constexpr double kTolerance = 1e-6;

float Setting(const TorchOptimizerCase& c, const std::string& key) {
  float value = 0;
  EXPECT_TRUE(absl::SimpleAtof(c.settings.at(key), &value)) << c.name << " " << key;
  return value;
}

OptimizerSpec SpecOf(const TorchOptimizerCase& c) {
  OptimizerSpec spec;
  spec.kind = c.settings.at("kind") == "adam" ? OptimizerSpec::kAdam : OptimizerSpec::kSgd;
  spec.momentum = Setting(c, "momentum");
  spec.nesterov = c.settings.at("nesterov") == "1";
  spec.weight_decay = Setting(c, "weight_decay");
  spec.decoupled_weight_decay = c.settings.at("decoupled") == "1";
  spec.beta1 = Setting(c, "beta1");
  spec.beta2 = Setting(c, "beta2");
  spec.eps = Setting(c, "eps");
  spec.clip_norm = Setting(c, "clip_norm");
  return spec;
}

// The tensors of a case being trained, with the gradient of the current step.
struct Replay {
  explicit Replay(const TorchOptimizerCase& c) : c(c) {
    for (const auto& t : c.tensors) values[t.name] = t.values;
  }
  // Runs steps [first, last) on `optimizer`; checks each against torch if `check`.
  void Run(Optimizer* optimizer, size_t first, size_t last, bool check) {
    for (size_t k = first; k < last; ++k) {
      const TorchOptimizerCase::Step& step = c.steps[k];
      std::vector<TrainableTensor> tensors;
      for (const auto& t : c.tensors) {
        tensors.push_back({t.name, absl::MakeSpan(values[t.name]), step.grad.at(t.name), t.decay});
      }
      ASSERT_TRUE(optimizer->Step(step.lr, tensors).ok()) << c.name << " step " << k;
      if (check) {
        for (const auto& t : c.tensors) {
          const std::vector<float>& expected = step.after.at(t.name);
          ASSERT_EQ(values[t.name].size(), expected.size());
          for (size_t i = 0; i < expected.size(); ++i) {
            EXPECT_TRUE(NearlyEqual(values[t.name][i], expected[i], kTolerance))
                << c.name << " step " << k << " " << t.name << "[" << i
                << "]: " << values[t.name][i] << " vs torch " << expected[i];
          }
        }
      }
      if (step.reset_after) optimizer->Reset();
    }
  }
  const TorchOptimizerCase& c;
  std::map<std::string, std::vector<float>> values;
};

TEST(OptimizerTest, MatchesTorchTrajectories) {
  auto reference = LoadTorchReference();
  ASSERT_TRUE(reference.ok()) << reference.status();
  ASSERT_GE(reference->optimizers.size(), 10u);
  for (const TorchOptimizerCase& c : reference->optimizers) {
    auto optimizer = Optimizer::Create(SpecOf(c));
    ASSERT_TRUE(optimizer.ok()) << c.name << ": " << optimizer.status();
    Replay replay(c);
    replay.Run(optimizer->get(), 0, c.steps.size(), /*check=*/true);
    // The final state is torch's buffers (momentum_buffer; exp_avg then exp_avg_sq).
    const OptimizerState& state = (*optimizer)->state();
    ASSERT_EQ(state.buffers.size(), c.final_state.size()) << c.name;
    for (const auto& [name, expected] : c.final_state) {
      ASSERT_EQ(state.buffers.count(name), 1u) << c.name << " " << name;
      const std::vector<float>& actual = state.buffers.at(name);
      ASSERT_EQ(actual.size(), expected.size()) << c.name << " " << name;
      for (size_t i = 0; i < expected.size(); ++i) {
        EXPECT_TRUE(NearlyEqual(actual[i], expected[i], kTolerance))
            << c.name << " state " << name << "[" << i << "]: " << actual[i] << " vs "
            << expected[i];
      }
    }
  }
}

// Stopping half-way, moving the state into a fresh optimizer and going on is bit-identical to
// never stopping: what a checkpoint resume relies on.
TEST(OptimizerTest, StateRoundTripContinuesExactly) {
  auto reference = LoadTorchReference();
  ASSERT_TRUE(reference.ok()) << reference.status();
  for (const TorchOptimizerCase& c : reference->optimizers) {
    const size_t half = c.steps.size() / 2;
    auto straight = Optimizer::Create(SpecOf(c));
    auto first = Optimizer::Create(SpecOf(c));
    auto second = Optimizer::Create(SpecOf(c));
    ASSERT_TRUE(straight.ok() && first.ok() && second.ok());
    Replay a(c), b(c);
    a.Run(straight->get(), 0, c.steps.size(), false);
    b.Run(first->get(), 0, half, false);
    ASSERT_TRUE((*second)->SetState((*first)->state()).ok()) << c.name;
    EXPECT_EQ((*second)->state().steps, (*first)->state().steps);
    b.Run(second->get(), half, c.steps.size(), false);
    EXPECT_EQ(a.values, b.values) << c.name;
    EXPECT_EQ((*straight)->state().buffers, (*second)->state().buffers) << c.name;
  }
}

TEST(OptimizerTest, ResetForgetsState) {
  OptimizerSpec spec;
  spec.kind = OptimizerSpec::kAdam;
  auto adam = Optimizer::Create(spec);
  ASSERT_TRUE(adam.ok());
  std::vector<float> w = {1.0f, -2.0f, 0.5f};
  const std::vector<float> g = {0.3f, -0.1f, 2.0f};
  ASSERT_TRUE((*adam)->Step(0.01f, {{"w", absl::MakeSpan(w), g, false}}).ok());
  EXPECT_EQ((*adam)->state().steps, 1);
  EXPECT_EQ((*adam)->state().buffers.at("w").size(), 6u);
  (*adam)->Reset();
  EXPECT_EQ((*adam)->state().steps, 0);
  EXPECT_TRUE((*adam)->state().buffers.empty());
  // Adam's first bias-corrected step moves every weight by lr * g / (|g| + eps'): ~lr.
  const std::vector<float> before = w;
  ASSERT_TRUE((*adam)->Step(0.01f, {{"w", absl::MakeSpan(w), g, false}}).ok());
  for (size_t i = 0; i < w.size(); ++i) {
    EXPECT_NEAR(before[i] - w[i], g[i] > 0 ? 0.01 : -0.01, 1e-6);
  }
}

TEST(OptimizerTest, ClippingBoundsTheGlobalNorm) {
  // Plain SGD at lr 1 moves the weights by exactly the clipped gradient.
  OptimizerSpec spec;
  spec.momentum = 0;
  spec.clip_norm = 1.0f;
  auto sgd = Optimizer::Create(spec);
  ASSERT_TRUE(sgd.ok());
  std::vector<float> a = {0, 0}, b = {0};
  const std::vector<float> ga = {3, 0}, gb = {4};  // global norm 5
  ASSERT_TRUE(
      (*sgd)
          ->Step(1.0f, {{"a", absl::MakeSpan(a), ga, false}, {"b", absl::MakeSpan(b), gb, false}})
          .ok());
  EXPECT_NEAR(a[0], -0.6, 1e-6);
  EXPECT_NEAR(b[0], -0.8, 1e-6);
  // Below the bound nothing is rescaled.
  std::vector<float> c = {0};
  const std::vector<float> gc = {0.5f};
  ASSERT_TRUE((*sgd)->Step(1.0f, {{"c", absl::MakeSpan(c), gc, false}}).ok());
  EXPECT_EQ(c[0], -0.5f);
}

TEST(OptimizerTest, RejectsBadSpecs) {
  auto bad = [](auto mutate) {
    OptimizerSpec spec;
    mutate(spec);
    return Optimizer::Create(spec).status();
  };
  EXPECT_EQ(bad([](OptimizerSpec& s) { s.momentum = -0.1f; }).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad([](OptimizerSpec& s) { s.momentum = 1.0f; }).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad([](OptimizerSpec& s) {
              s.momentum = 0;
              s.nesterov = true;
            }).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad([](OptimizerSpec& s) { s.weight_decay = -1; }).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad([](OptimizerSpec& s) { s.clip_norm = -1; }).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad([](OptimizerSpec& s) { s.decoupled_weight_decay = true; }).code(),
            absl::StatusCode::kInvalidArgument);
  const absl::Status beta = bad([](OptimizerSpec& s) {
    s.kind = OptimizerSpec::kAdam;
    s.beta2 = 1.0f;
  });
  EXPECT_EQ(beta.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(beta.message().find("beta2"), std::string::npos) << beta;
  EXPECT_EQ(bad([](OptimizerSpec& s) {
              s.kind = OptimizerSpec::kAdam;
              s.eps = std::nanf("");
            }).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(OptimizerTest, RejectsBadStepsWithoutTouchingAnything) {
  OptimizerSpec spec;
  auto sgd = Optimizer::Create(spec);
  ASSERT_TRUE(sgd.ok());
  std::vector<float> w = {1, 2, 3}, v = {4};
  const std::vector<float> g3 = {1, 1, 1}, g2 = {1, 1}, g1 = {1};
  // A gradient of the wrong size, after a valid tensor: no tensor may move.
  absl::Status status = (*sgd)->Step(
      0.1f, {{"v", absl::MakeSpan(v), g1, false}, {"w", absl::MakeSpan(w), g2, false}});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(v[0], 4);
  EXPECT_EQ((*sgd)->state().steps, 0);
  EXPECT_EQ((*sgd)->Step(-0.1f, {{"w", absl::MakeSpan(w), g3, false}}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      (*sgd)
          ->Step(0.1f, {{"w", absl::MakeSpan(w), g3, false}, {"w", absl::MakeSpan(w), g3, false}})
          .code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*sgd)->Step(0.1f, {{"", absl::MakeSpan(w), g3, false}}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(w, (std::vector<float>{1, 2, 3}));
  // A name that changes size between steps.
  ASSERT_TRUE((*sgd)->Step(0.1f, {{"w", absl::MakeSpan(w), g3, false}}).ok());
  std::vector<float> shorter = {1, 2};
  EXPECT_EQ((*sgd)->Step(0.1f, {{"w", absl::MakeSpan(shorter), g2, false}}).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(OptimizerTest, SetStateRejectsBuffersOfAnotherKind) {
  OptimizerSpec spec;
  spec.kind = OptimizerSpec::kAdam;
  auto adam = Optimizer::Create(spec);
  ASSERT_TRUE(adam.ok());
  OptimizerState odd;
  odd.steps = 3;
  odd.buffers["w"] = {1, 2, 3};  // Adam keeps m and s: always an even count
  EXPECT_EQ((*adam)->SetState(odd).code(), absl::StatusCode::kInvalidArgument);
  OptimizerState negative;
  negative.steps = -1;
  EXPECT_EQ((*adam)->SetState(negative).code(), absl::StatusCode::kInvalidArgument);
  spec = OptimizerSpec();
  spec.momentum = 0;
  auto plain = Optimizer::Create(spec);
  ASSERT_TRUE(plain.ok());
  OptimizerState velocity;
  velocity.buffers["w"] = {1};
  EXPECT_EQ((*plain)->SetState(velocity).code(), absl::StatusCode::kInvalidArgument);
  // A restored buffer must fit the tensor it is used for.
  OptimizerState two;
  two.steps = 1;
  two.buffers["w"] = {0, 0, 0, 0};  // m and s for 2 values
  ASSERT_TRUE((*adam)->SetState(two).ok());
  std::vector<float> w = {1, 2, 3};
  const std::vector<float> g = {1, 1, 1};
  EXPECT_EQ((*adam)->Step(0.1f, {{"w", absl::MakeSpan(w), g, false}}).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace quantbench
