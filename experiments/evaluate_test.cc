#include "experiments/evaluate.h"

#include <gtest/gtest.h>

#include <memory>
#include <utility>
#include <vector>

namespace quantbench {
namespace {

// A network whose scores are a fixed table per example: evaluation logic without oneDNN.
class TableNetwork : public Network {
 public:
  explicit TableNetwork(std::vector<std::vector<float>> rows) : rows_(std::move(rows)) {}
  absl::Status SyncParams() override { return absl::OkStatus(); }
  absl::Status Forward(absl::Span<const float> input, int batch, absl::Span<float> scores) override {
    for (int i = 0; i < batch; ++i) {
      const auto& row = rows_[static_cast<size_t>(input[i])];  // the input holds the example index
      std::copy(row.begin(), row.end(), scores.begin() + i * num_classes());
    }
    return absl::OkStatus();
  }
  std::vector<int64_t> input_shape() const override { return {1}; }
  int num_classes() const override { return static_cast<int>(rows_[0].size()); }

 private:
  std::vector<std::vector<float>> rows_;
};

LabeledImages Examples(std::vector<int32_t> labels) {
  LabeledImages data;
  data.count = static_cast<int64_t>(labels.size());
  data.example_shape = {1};
  for (size_t i = 0; i < labels.size(); ++i) data.pixels.push_back(static_cast<float>(i));
  data.labels = std::move(labels);
  return data;
}

TEST(Evaluate, TopOneAndTopFive) {
  TableNetwork net({{0.1f, 0.5f, 0.2f, 0.05f, 0.05f, 0.04f, 0.03f, 0.03f},
                    {0.1f, 0.5f, 0.2f, 0.05f, 0.05f, 0.04f, 0.03f, 0.03f}});
  auto eval = Evaluate(net, Examples({1, 7}), 2);
  ASSERT_TRUE(eval.ok()) << eval.status();
  EXPECT_DOUBLE_EQ(eval->top1, 0.5);  // example 0 right, example 1 wrong
  EXPECT_DOUBLE_EQ(eval->top5, 0.5);  // class 7 ranks last
  EXPECT_EQ(eval->predictions, std::vector<int32_t>({1, 1}));
}

TEST(Evaluate, TiesAtZeroDoNotCountForTheLabel) {
  // A saturated softmax: one class takes everything, the rest are exactly 0.
  std::vector<float> one_hot(10, 0.0f);
  one_hot[3] = 1.0f;
  TableNetwork net({one_hot, one_hot, one_hot});
  auto eval = Evaluate(net, Examples({3, 0, 9}), 3);
  ASSERT_TRUE(eval.ok()) << eval.status();
  EXPECT_DOUBLE_EQ(eval->top1, 1.0 / 3);
  // Ties break by class index: the order is 3, 0, 1, 2, 4, ...: class 0 is 2nd, class 9 last.
  EXPECT_DOUBLE_EQ(eval->top5, 2.0 / 3);
}

TEST(Evaluate, AgreementAndUnlabeledExamples) {
  TableNetwork net({{0.7f, 0.2f, 0.1f}, {0.2f, 0.3f, 0.5f}});
  std::vector<int32_t> reference = {0, 1};
  auto eval = Evaluate(net, Examples({-1, -1}), 1, &reference);
  ASSERT_TRUE(eval.ok()) << eval.status();
  EXPECT_EQ(eval->labeled, 0);
  EXPECT_DOUBLE_EQ(eval->agreement_top1, 0.5);
  EXPECT_DOUBLE_EQ(eval->agreement_top5, 1.0);
}

// Streams example i as the value i, and records every range it is asked for.
class CountingSource : public ExampleSource {
 public:
  absl::Status Read(int64_t first, int64_t n, float* out) const override {
    reads.push_back({first, n});
    for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(first + i);
    return absl::OkStatus();
  }
  mutable std::vector<std::pair<int64_t, int64_t>> reads;
};

class FailingSource : public ExampleSource {
 public:
  absl::Status Read(int64_t, int64_t, float*) const override {
    return absl::DataLossError("/cache/images-x.qbimg: truncated");
  }
};

TEST(Evaluate, StreamedSetIsReadOneBatchAtATimeAndScoresLikeInMemory) {
  std::vector<std::vector<float>> rows;
  std::vector<int32_t> labels;
  for (int i = 0; i < 11; ++i) {  // odd count: the last batch is partial
    std::vector<float> row(6, 0.0f);
    row[i % 6] = 1.0f;
    row[(i * 5 + 1) % 6] += 0.5f;
    rows.push_back(row);
    labels.push_back((i * 7) % 6);
  }
  TableNetwork net(rows);
  const LabeledImages in_memory = Examples(labels);
  LabeledImages streamed = Examples(labels);
  streamed.pixels.clear();
  auto source = std::make_shared<CountingSource>();
  streamed.source = source;
  std::vector<int32_t> reference(11, 2);
  auto a = Evaluate(net, in_memory, 4, &reference);
  auto b = Evaluate(net, streamed, 4, &reference);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(b->predictions, a->predictions);
  EXPECT_EQ(b->top1, a->top1);
  EXPECT_EQ(b->top5, a->top5);
  EXPECT_EQ(b->agreement_top1, a->agreement_top1);
  EXPECT_EQ(b->agreement_top5, a->agreement_top5);
  EXPECT_EQ(source->reads, (std::vector<std::pair<int64_t, int64_t>>{{0, 4}, {4, 4}, {8, 3}}));
}

TEST(Evaluate, StreamErrorsPropagate) {
  TableNetwork net({{1.0f, 0.0f}});
  LabeledImages streamed = Examples({0});
  streamed.pixels.clear();
  streamed.source = std::make_shared<FailingSource>();
  auto eval = Evaluate(net, streamed, 1);
  EXPECT_EQ(eval.status().code(), absl::StatusCode::kDataLoss) << eval.status();
}

}  // namespace
}  // namespace quantbench
