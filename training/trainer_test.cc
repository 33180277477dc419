#include "training/trainer.h"

#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "networks/graph.h"
#include "quantizers/quantizer.h"
#include "training/trained_activation_thresholds.h"

namespace quantbench {
namespace {

// Two Gaussian blobs per class in 8 dimensions: learnable to ~100 % by a small MLP.
class BlobData : public TrainingData {
 public:
  BlobData(int64_t n, int classes, uint64_t seed) : classes_(classes) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> noise(0.0f, 0.3f);
    std::mt19937_64 centre_rng(7);
    std::uniform_real_distribution<float> centre(-1.0f, 1.0f);
    std::vector<float> centres(static_cast<size_t>(classes) * kDim);
    for (float& c : centres) c = centre(centre_rng);
    for (int64_t i = 0; i < n; ++i) {
      const int label = static_cast<int>(i % classes);
      labels_.push_back(label);
      for (int d = 0; d < kDim; ++d) x_.push_back(centres[label * kDim + d] + noise(rng));
    }
  }
  static constexpr int kDim = 8;
  int64_t size() const override { return static_cast<int64_t>(labels_.size()); }
  int64_t example_size() const override { return kDim; }
  absl::Status Batch(absl::Span<const int64_t> indices, int, absl::Span<float> x,
                     absl::Span<int32_t> labels) const override {
    for (size_t i = 0; i < indices.size(); ++i) {
      for (int d = 0; d < kDim; ++d) x[i * kDim + d] = x_[indices[i] * kDim + d];
      labels[i] = labels_[indices[i]];
    }
    return absl::OkStatus();
  }

 private:
  int classes_;
  std::vector<float> x_;
  std::vector<int32_t> labels_;
};

Graph SmallMlp(int classes) {
  GraphBuilder b;
  int x = b.Flatten(b.Input(BlobData::kDim, 1, 1));
  x = b.Relu(b.Dense(x, "fc1", 16));
  x = b.Dense(x, "fc2", classes);
  absl::StatusOr<Graph> g = b.Finish(x);
  EXPECT_TRUE(g.ok()) << g.status();
  return *g;
}

TrainerOptions BaseOptions(int epochs) {
  TrainerOptions o;
  o.epochs = epochs;
  o.batch_size = 17;  // the last batch of each epoch is smaller
  o.seed = 3;
  o.optimizer.kind = OptimizerSpec::kSgd;
  o.optimizer.momentum = 0.9f;
  o.optimizer.nesterov = true;
  o.optimizer.weight_decay = 1e-4f;
  o.schedule.kind = LrScheduleSpec::kCosine;
  o.schedule.lr = 0.05;
  o.schedule.epochs = epochs;
  return o;
}

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir ? dir : "/tmp") + "/" + name;
}

TEST(TrainerTest, LearnsBlobsAndReportsCurves) {
  const int classes = 4;
  Graph graph = SmallMlp(classes);
  absl::StatusOr<ParamStore> params = InitGraphParams(graph, 1);
  ASSERT_TRUE(params.ok());
  BlobData train(400, classes, 1), test(200, classes, 2);
  TrainerOptions o = BaseOptions(6);
  o.test_every = 2;
  absl::StatusOr<TrainingReport> report = TrainGraph(graph, &*params, o, train, &test);
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->epochs.size(), 6u);
  EXPECT_EQ(report->steps, 6 * ((400 + 16) / 17));
  EXPECT_LT(report->epochs.back().train_loss, report->epochs.front().train_loss);
  EXPECT_GT(report->epochs.back().test_top1, 0.95);
  EXPECT_TRUE(std::isnan(report->epochs[0].test_top1));
  EXPECT_FALSE(std::isnan(report->epochs[1].test_top1));
  absl::StatusOr<double> top1 = EvaluateTop1(graph, &*params, test, 50);
  ASSERT_TRUE(top1.ok());
  EXPECT_DOUBLE_EQ(*top1, report->epochs.back().test_top1);
}

// An interrupted run resumed from its checkpoint ends with exactly the weights of an
// uninterrupted one.
TEST(TrainerTest, ResumeFromCheckpointIsExact) {
  const int classes = 3;
  Graph graph = SmallMlp(classes);
  BlobData train(150, classes, 4);
  ParamStore full = *InitGraphParams(graph, 5);
  ASSERT_TRUE(TrainGraph(graph, &full, BaseOptions(4), train, nullptr).ok());

  // Run 2 of 4 epochs by stopping after epoch 2: train with epochs = 4 but fail at epoch 3
  // through a data set that errors then.
  class FailingData : public TrainingData {
   public:
    FailingData(const TrainingData& inner, int fail_epoch) : inner_(inner), fail_epoch_(fail_epoch) {}
    int64_t size() const override { return inner_.size(); }
    int64_t example_size() const override { return inner_.example_size(); }
    absl::Status Batch(absl::Span<const int64_t> i, int epoch, absl::Span<float> x,
                       absl::Span<int32_t> l) const override {
      if (epoch == fail_epoch_) return absl::AbortedError("interrupted");
      return inner_.Batch(i, epoch, x, l);
    }
   private:
    const TrainingData& inner_;
    int fail_epoch_;
  };
  TrainerOptions o = BaseOptions(4);
  o.checkpoint_path = TempPath("resume.qbckpt");
  o.checkpoint_key = "trainer-test";
  std::remove(o.checkpoint_path.c_str());
  ParamStore resumed = *InitGraphParams(graph, 5);
  FailingData failing(train, 2);
  EXPECT_EQ(TrainGraph(graph, &resumed, o, failing, nullptr).status().code(), absl::StatusCode::kAborted);
  ParamStore restarted = *InitGraphParams(graph, 5);
  std::vector<std::string> lines;
  o.log = [&](const std::string& l) { lines.push_back(l); };
  absl::StatusOr<TrainingReport> report = TrainGraph(graph, &restarted, o, train, nullptr);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->resumed_after_epoch, 2);
  EXPECT_EQ(report->epochs.size(), 4u);
  EXPECT_EQ(report->steps, 4 * ((150 + 16) / 17));  // the whole run's steps, resumed ones included
  ASSERT_FALSE(lines.empty());
  EXPECT_NE(lines[0].find("resuming after epoch 2/4"), std::string::npos) << lines[0];
  for (size_t i = 0; i < full.size(); ++i) {
    EXPECT_EQ(full.parameters()[i].values, restarted.parameters()[i].values) << full.parameters()[i].name;
  }
  // The finished run keeps its checkpoint: the caller removes it after storing the result.
  FILE* kept = std::fopen(o.checkpoint_path.c_str(), "rb");
  EXPECT_NE(kept, nullptr);
  if (kept != nullptr) std::fclose(kept);
  std::remove(o.checkpoint_path.c_str());
}

TEST(TrainerTest, CorruptCheckpointIsDiscarded) {
  Graph graph = SmallMlp(3);
  BlobData train(60, 3, 4);
  TrainerOptions o = BaseOptions(2);
  o.checkpoint_path = TempPath("corrupt.qbckpt");
  o.checkpoint_key = "k";
  FILE* f = std::fopen(o.checkpoint_path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  std::fputs("not a checkpoint at all", f);
  std::fclose(f);
  std::vector<std::string> lines;
  o.log = [&](const std::string& l) { lines.push_back(l); };
  ParamStore params = *InitGraphParams(graph, 1);
  absl::StatusOr<TrainingReport> report = TrainGraph(graph, &params, o, train, nullptr);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->resumed_after_epoch, 0);
  ASSERT_FALSE(lines.empty());
  EXPECT_NE(lines[0].find("discarding unusable checkpoint"), std::string::npos) << lines[0];
}

// Distillation from a trained teacher, without labels, reaches the teacher's accuracy.
TEST(TrainerTest, DistillationWithoutLabels) {
  const int classes = 4;
  Graph graph = SmallMlp(classes);
  BlobData train(400, classes, 1), test(200, classes, 2);
  ParamStore teacher_params = *InitGraphParams(graph, 1);
  ASSERT_TRUE(TrainGraph(graph, &teacher_params, BaseOptions(6), train, nullptr).ok());
  const double teacher_top1 = *EvaluateTop1(graph, &teacher_params, test, 100);

  class Unlabelled : public TrainingData {
   public:
    explicit Unlabelled(const TrainingData& d) : d_(d) {}
    int64_t size() const override { return d_.size(); }
    int64_t example_size() const override { return d_.example_size(); }
    absl::Status Batch(absl::Span<const int64_t> i, int e, absl::Span<float> x,
                       absl::Span<int32_t> l) const override {
      QB_RETURN_IF_ERROR(d_.Batch(i, e, x, l));
      for (int32_t& v : l) v = -1;
      return absl::OkStatus();
    }
   private:
    const TrainingData& d_;
  };
  Unlabelled unlabelled(train);
  TrainerOptions o = BaseOptions(8);
  o.distill = true;
  o.distillation = DistillationKind::kRmse;
  Teacher teacher{&graph, &teacher_params};
  ParamStore student = *InitGraphParams(graph, 9);
  absl::StatusOr<TrainingReport> report = TrainGraph(graph, &student, o, unlabelled, &test, &teacher);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(std::isnan(report->epochs.back().train_top1));
  EXPECT_GT(report->epochs.back().test_top1, teacher_top1 - 0.05);
}

// QAT with a registered ternary quantizer: retrained ternary beats direct ternary.
TEST(TrainerTest, QuantizationAwareTrainingTernary) {
  const int classes = 4;
  Graph graph = SmallMlp(classes);
  BlobData train(400, classes, 1), test(400, classes, 2);
  ParamStore params = *InitGraphParams(graph, 1);
  ASSERT_TRUE(TrainGraph(graph, &params, BaseOptions(6), train, nullptr).ok());
  absl::StatusOr<std::unique_ptr<Quantizer>> ternary =
      QuantizerRegistry::Global().Create("ternary", {});
  ASSERT_TRUE(ternary.ok()) << ternary.status();
  TrainerOptions o = BaseOptions(4);
  for (const char* name : {"fc1.weight", "fc2.weight"}) {
    o.quantized_weights.push_back(QuantizedWeight{name, ternary->get(), 2, SteRule::kClipped});
  }
  absl::StatusOr<TrainingReport> report = TrainGraph(graph, &params, o, train, &test);
  ASSERT_TRUE(report.ok()) << report.status();
  // The test accuracy is measured with the weights quantized.
  EXPECT_GT(report->epochs.back().test_top1, 0.9);
}

TEST(TrainerTest, BadOptionsAreNamed) {
  Graph graph = SmallMlp(3);
  BlobData train(30, 3, 1);
  ParamStore params = *InitGraphParams(graph, 1);
  TrainerOptions o = BaseOptions(1);
  o.batch_size = 0;
  EXPECT_EQ(TrainGraph(graph, &params, o, train, nullptr).status().code(), absl::StatusCode::kInvalidArgument);
  o = BaseOptions(1);
  o.distill = true;
  EXPECT_EQ(TrainGraph(graph, &params, o, train, nullptr).status().code(), absl::StatusCode::kInvalidArgument);
  o = BaseOptions(1);
  o.quantized_weights.push_back(QuantizedWeight{"nope.weight", nullptr, 2, SteRule::kIdentity});
  EXPECT_EQ(TrainGraph(graph, &params, o, train, nullptr).status().code(), absl::StatusCode::kInvalidArgument);
}

// A non-finite loss stops training with an error naming the epoch and step.
TEST(TrainerTest, DivergenceIsAnError) {
  class NanData : public TrainingData {
   public:
    int64_t size() const override { return 20; }
    int64_t example_size() const override { return BlobData::kDim; }
    absl::Status Batch(absl::Span<const int64_t> i, int, absl::Span<float> x,
                       absl::Span<int32_t> l) const override {
      for (float& v : x) v = std::nanf("");
      for (int32_t& v : l) v = 0;
      return absl::OkStatus();
    }
  };
  Graph graph = SmallMlp(3);
  ParamStore params = *InitGraphParams(graph, 1);
  // A NaN weight in the output layer makes every logit NaN (a NaN input would not: ReLU
  // maps it to 0).
  params.Find("fc2.weight")->values[0] = std::nanf("");
  NanData data;
  absl::Status s = TrainGraph(graph, &params, BaseOptions(1), data, nullptr).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
  EXPECT_NE(s.message().find("epoch 1, step 1"), std::string::npos) << s;
}

}  // namespace
}  // namespace quantbench

namespace quantbench {
namespace {

// FAT's recipe in miniature: Adam, no decay, distillation, frozen weights, both weight
// tensors quantized by `fat` at `bits` with its parameters trained.
TrainerOptions FatOptions(int epochs, double lr, const Quantizer* fat, int bits) {
  TrainerOptions o = BaseOptions(epochs);
  o.optimizer.kind = OptimizerSpec::kAdam;
  o.optimizer.weight_decay = 0;
  o.schedule.lr = lr;
  o.distill = true;
  o.freeze_network = true;
  for (const char* name : {"fc1.weight", "fc2.weight"}) {
    QuantizedWeight q{name, fat, bits, SteRule::kIdentity};
    q.train_parameters = true;
    o.quantized_weights.push_back(q);
  }
  return o;
}

// FAT's setting in miniature: weights frozen, only adjustable_threshold's α per filter train,
// by distillation from the fp32 net. The α's move and the distillation loss falls.
TEST(TrainerTest, TrainsQuantizerParametersWithFrozenWeights) {
  const int classes = 4;
  Graph graph = SmallMlp(classes);
  BlobData train(400, classes, 1);
  ParamStore fp32 = *InitGraphParams(graph, 1);
  ASSERT_TRUE(TrainGraph(graph, &fp32, BaseOptions(6), train, nullptr).ok());
  absl::StatusOr<std::unique_ptr<Quantizer>> fat =
      QuantizerRegistry::Global().Create("adjustable_threshold", {});
  ASSERT_TRUE(fat.ok());
  // A small rate: with larger ones the STE's bias lets the α's drift past the optimum after
  // a few epochs (the loss first falls, then rises), which is why FAT anneals and resets.
  TrainerOptions o = FatOptions(6, 5e-5, fat->get(), 3);
  ParamStore student = fp32;
  Teacher teacher{&graph, &fp32};
  absl::StatusOr<TrainingReport> report = TrainGraph(graph, &student, o, train, nullptr, &teacher);
  ASSERT_TRUE(report.ok()) << report.status();
  for (size_t i = 0; i < fp32.size(); ++i) {
    EXPECT_EQ(fp32.parameters()[i].values, student.parameters()[i].values) << "frozen";
  }
  ASSERT_EQ(report->quantizer_parameters.size(), 2u);
  const std::vector<float>& alphas = report->quantizer_parameters.at("fc1.weight");
  ASSERT_EQ(alphas.size(), 16u);  // one α per output filter
  int moved = 0;
  for (float a : alphas) moved += a != 1.0f;
  EXPECT_GT(moved, 0);
  EXPECT_LT(report->epochs.back().train_loss, report->epochs.front().train_loss);
}


// The whole FAT method in miniature: asymmetric trained thresholds on the weights and on both
// activations (the signed input of fc1, the unsigned ReLU output fc2 reads), weights frozen,
// distillation without labels: the loss falls and every hook's parameters are reported.
TEST(TrainerTest, TrainsActivationThresholdsByDistillation) {
  const int classes = 4;
  Graph graph = SmallMlp(classes);
  BlobData train(400, classes, 2);
  ParamStore fp32 = *InitGraphParams(graph, 2);
  ASSERT_TRUE(TrainGraph(graph, &fp32, BaseOptions(6), train, nullptr).ok());
  absl::StatusOr<std::unique_ptr<Quantizer>> fat =
      QuantizerRegistry::Global().Create("adjustable_threshold", {{"thresholds", "asymmetric"}});
  ASSERT_TRUE(fat.ok());
  TrainerOptions o = FatOptions(5, 1e-3, fat->get(), 4);
  // Calibrated ranges, wider than the data (so trimming them pays): fc1 sees signed inputs,
  // fc2 the ReLU output.
  auto input = TrainedActivationThresholds::Create(-4.0f, 4.0f, 3, ThresholdMode::kAsymmetric);
  auto hidden = TrainedActivationThresholds::Create(0.0f, 6.0f, 3, ThresholdMode::kAsymmetric);
  ASSERT_TRUE(input.ok() && hidden.ok());
  o.activation_hooks["fc1"] = input->get();
  o.activation_hooks["fc2"] = hidden->get();
  ParamStore student = fp32;
  Teacher teacher{&graph, &fp32};
  absl::StatusOr<TrainingReport> report = TrainGraph(graph, &student, o, train, nullptr, &teacher);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_LT(report->epochs.back().train_loss, 0.97 * report->epochs.front().train_loss);
  const std::string prefix = kActivationParameterPrefix;
  ASSERT_EQ(report->quantizer_parameters.count(prefix + "fc1"), 1u);
  ASSERT_EQ(report->quantizer_parameters.count(prefix + "fc2"), 1u);
  const std::vector<float>& a = report->quantizer_parameters.at(prefix + "fc1");
  ASSERT_EQ(a.size(), 2u);
  EXPECT_NE(a[1], 1.0f);  // the width moved
  const std::vector<float>& h = report->quantizer_parameters.at(prefix + "fc2");
  EXPECT_EQ(h[0], 0.0f);  // unsigned: no shift
  EXPECT_NE(h[1], 1.0f);
  for (size_t i = 0; i < fp32.size(); ++i) {
    EXPECT_EQ(fp32.parameters()[i].values, student.parameters()[i].values) << "frozen";
  }
}

}  // namespace
}  // namespace quantbench
