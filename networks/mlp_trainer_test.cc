#include "networks/mlp_trainer.h"

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "networks/mlp.h"

namespace quantbench {
namespace {

// A learnable problem: 4 Gaussian clusters in 20 dimensions, classes by cluster.
struct Synthetic {
  std::vector<float> images;
  std::vector<int32_t> labels;
};

Synthetic MakeSynthetic(int n, int dims, int classes, uint64_t seed) {
  std::mt19937_64 engine(seed);
  auto uniform = [&] { return static_cast<double>(engine() >> 11) * 0x1.0p-53; };
  std::vector<float> centers(static_cast<size_t>(classes) * dims);
  for (float& c : centers) c = static_cast<float>(uniform() * 2 - 1);
  Synthetic data;
  for (int i = 0; i < n; ++i) {
    const int label = static_cast<int>(engine() % classes);
    data.labels.push_back(label);
    for (int d = 0; d < dims; ++d) {
      // Sum of uniforms: roughly normal noise with std 0.4.
      const double noise = (uniform() + uniform() + uniform() - 1.5) * 0.8;
      data.images.push_back(static_cast<float>(centers[label * dims + d] + noise));
    }
  }
  return data;
}

MlpSpec SmallSpec() {
  MlpSpec spec;
  spec.input_size = 20;
  spec.hidden = {32, 16};
  spec.num_classes = 4;
  return spec;
}

TEST(MlpTrainerTest, LearnsASeparableProblem) {
  const MlpSpec spec = SmallSpec();
  const Synthetic data = MakeSynthetic(2000, spec.input_size, spec.num_classes, 5);
  ParamStore params = InitMlpParams(spec, 1);
  SgdOptions options;
  options.epochs = 8;
  options.batch_size = 32;
  options.learning_rate = 0.05f;
  options.seed = 3;
  std::vector<double> losses, accuracies;
  absl::Status status = TrainMlp(spec, options, data.images.data(), data.labels.data(), 2000,
                                 &params, [&](int epoch, double loss, double acc) {
                                   EXPECT_EQ(epoch, static_cast<int>(losses.size()));
                                   losses.push_back(loss);
                                   accuracies.push_back(acc);
                                 });
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_EQ(losses.size(), 8u);
  EXPECT_LT(losses.back(), 0.5 * losses.front());
  EXPECT_GT(accuracies.back(), 0.97);

  // Held-out accuracy through the oneDNN network agrees.
  // Same generator and seed: the first 2000 samples are the training set, the rest are new
  // samples from the same clusters.
  const Synthetic fresh = MakeSynthetic(2500, spec.input_size, spec.num_classes, 5);
  auto net = MlpNetwork::Create(spec, &params, 128);
  ASSERT_TRUE(net.ok()) << net.status();
  const int held_out = 500;
  std::vector<float> probabilities(held_out * spec.num_classes);
  ASSERT_TRUE((*net)
                  ->Forward(absl::MakeConstSpan(fresh.images.data() + 2000 * spec.input_size,
                                                  held_out * spec.input_size),
                            held_out, absl::MakeSpan(probabilities))
                  .ok());
  int correct = 0;
  for (int i = 0; i < held_out; ++i) {
    int best = 0;
    for (int c = 1; c < spec.num_classes; ++c) {
      if (probabilities[i * spec.num_classes + c] > probabilities[i * spec.num_classes + best]) {
        best = c;
      }
    }
    correct += best == fresh.labels[2000 + i];
  }
  EXPECT_GT(correct, 0.95 * held_out);
}

TEST(MlpTrainerTest, SameSeedGivesBitIdenticalWeights) {
  const MlpSpec spec = SmallSpec();
  const Synthetic data = MakeSynthetic(1000, spec.input_size, spec.num_classes, 9);
  SgdOptions options;
  options.epochs = 3;
  options.batch_size = 64;  // 1000 % 64 != 0: exercises the short last batch
  options.seed = 17;
  auto train = [&](uint64_t seed) {
    ParamStore params = InitMlpParams(spec, 2);
    SgdOptions o = options;
    o.seed = seed;
    EXPECT_TRUE(
        TrainMlp(spec, o, data.images.data(), data.labels.data(), 1000, &params).ok());
    return params;
  };
  const ParamStore a = train(17), b = train(17), c = train(18);
  ASSERT_EQ(a.size(), b.size());
  bool any_difference_c = false;
  for (size_t i = 0; i < a.size(); ++i) {
    const auto& va = a.parameters()[i].values;
    const auto& vb = b.parameters()[i].values;
    ASSERT_EQ(va.size(), vb.size());
    EXPECT_EQ(0, std::memcmp(va.data(), vb.data(), va.size() * sizeof(float)))
        << a.parameters()[i].name;
    any_difference_c |= va != c.parameters()[i].values;
  }
  EXPECT_TRUE(any_difference_c) << "a different shuffle seed should change the weights";
}

TEST(MlpTrainerTest, WeightDecayAppliesToWeightsOnly) {
  // No data signal can move the weights when lr * gradient is tiny; with a large weight decay
  // and zero labels signal, weights shrink while biases are driven by the loss only.
  MlpSpec spec;
  spec.input_size = 3;
  spec.hidden = {};
  spec.num_classes = 2;
  ParamStore params = InitMlpParams(spec, 4);
  const std::vector<float> images = {0, 0, 0, 0, 0, 0};  // zero inputs: no weight gradient
  const std::vector<int32_t> labels = {0, 1};            // balanced: no bias gradient at 0
  const std::vector<float> w0 = params.Find("fc1.weight")->values;
  SgdOptions options;
  options.epochs = 1;
  options.batch_size = 2;
  options.learning_rate = 0.1f;
  options.momentum = 0.0f;
  options.weight_decay = 0.5f;
  ASSERT_TRUE(TrainMlp(spec, options, images.data(), labels.data(), 2, &params).ok());
  // One step at full rate: w <- w - 0.1 * 0.5 * w.
  const std::vector<float>& w1 = params.Find("fc1.weight")->values;
  for (size_t i = 0; i < w0.size(); ++i) EXPECT_FLOAT_EQ(w1[i], w0[i] * 0.95f);
  for (float b : params.Find("fc1.bias")->values) EXPECT_EQ(b, 0.0f);
}

TEST(MlpTrainerTest, RejectsBadArguments) {
  const MlpSpec spec = SmallSpec();
  const Synthetic data = MakeSynthetic(10, spec.input_size, spec.num_classes, 1);
  ParamStore params = InitMlpParams(spec, 1);
  SgdOptions options;
  auto train = [&](const SgdOptions& o, ParamStore* p, const std::vector<int32_t>& labels) {
    return TrainMlp(spec, o, data.images.data(), labels.data(), 10, p);
  };
  SgdOptions bad = options;
  bad.batch_size = 0;
  EXPECT_EQ(train(bad, &params, data.labels).code(), absl::StatusCode::kInvalidArgument);
  bad = options;
  bad.momentum = 1.0f;
  EXPECT_EQ(train(bad, &params, data.labels).code(), absl::StatusCode::kInvalidArgument);
  bad = options;
  bad.learning_rate = NAN;
  EXPECT_EQ(train(bad, &params, data.labels).code(), absl::StatusCode::kInvalidArgument);

  std::vector<int32_t> labels = data.labels;
  labels[4] = 4;
  absl::Status label_status = train(options, &params, labels);
  EXPECT_EQ(label_status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(label_status.message().find("labels[4] = 4"), std::string::npos) << label_status;

  ParamStore wrong = InitMlpParams(spec, 1);
  wrong.Find("fc2.weight")->shape = {32, 16};
  absl::Status shape_status = train(options, &wrong, data.labels);
  EXPECT_EQ(shape_status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(shape_status.message().find("'fc2.weight': expected shape [16, 32], found [32, 16]"),
            std::string::npos)
      << shape_status;

  EXPECT_EQ(TrainMlp(spec, options, nullptr, data.labels.data(), 10, &params).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(TrainMlp(spec, options, data.images.data(), data.labels.data(), 10, nullptr).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(MlpTrainerTest, DivergenceIsReported) {
  const MlpSpec spec = SmallSpec();
  Synthetic data = MakeSynthetic(256, spec.input_size, spec.num_classes, 1);
  for (float& v : data.images) v *= 1e4f;
  ParamStore params = InitMlpParams(spec, 1);
  SgdOptions options;
  options.epochs = 5;
  options.learning_rate = 1e3f;
  options.batch_size = 16;
  absl::Status status =
      TrainMlp(spec, options, data.images.data(), data.labels.data(), 256, &params);
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal) << status;
  EXPECT_NE(status.message().find("not finite"), std::string::npos) << status;
}

TEST(MlpTrainerTest, CacheKeyNamesEverything) {
  MlpSpec spec;
  spec.hidden = {256, 256};
  SgdOptions options;
  const std::string key = MlpTrainingCacheKey(spec, options, 7, "fmnist");
  EXPECT_NE(key.find("784-256-256-10"), std::string::npos) << key;
  EXPECT_NE(key.find("data=fmnist"), std::string::npos) << key;
  SgdOptions other = options;
  other.learning_rate *= 1.0000001f;
  EXPECT_NE(key, MlpTrainingCacheKey(spec, other, 7, "fmnist"));
  EXPECT_NE(key, MlpTrainingCacheKey(spec, options, 8, "fmnist"));
}

}  // namespace
}  // namespace quantbench
