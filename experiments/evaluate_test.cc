#include "experiments/evaluate.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace quantbench
