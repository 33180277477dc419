// One training step of the CIFAR networks against PyTorch (tools/cifar_torch_reference.py,
// run here with Debian's /usr/bin/python3): on torch's weights and batch, TrainableGraph's
// eval-mode logits, train-mode logits (batch statistics), softmax cross-entropy, the
// gradient of every trainable parameter after one backward, and the BatchNorm running
// statistics after the train-mode forward (momentum 0.1, unbiased batch variance) must equal
// torch's. Both backends: oneDNN and the scalar reference. Skips, naming what is missing,
// without python3-torch.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "networks/graph.h"
#include "networks/param_store.h"
#include "networks/threads.h"
#include "tests/cifar_torch_reference.h"
#include "training/losses.h"
#include "training/param_gradients.h"
#include "training/trainable_graph.h"

namespace quantbench {
namespace {

// max |got - want| / max(1e-12, max |want|) over a tensor.
double RelativeError(const std::vector<float>& got, const std::vector<float>& want) {
  double err = 0.0, scale = 1e-12;
  for (size_t i = 0; i < want.size(); ++i) {
    err = std::max(err, std::fabs(static_cast<double>(got[i]) - want[i]));
    scale = std::max(scale, std::fabs(static_cast<double>(want[i])));
  }
  return err / scale;
}

// Logits compared relative to their range (at least 1).
double LogitError(const std::vector<float>& got, const std::vector<float>& want) {
  const auto [lo, hi] = std::minmax_element(want.begin(), want.end());
  const double range = std::max(1.0, static_cast<double>(*hi - *lo));
  double err = 0.0;
  for (size_t i = 0; i < want.size(); ++i) {
    err = std::max(err, std::fabs(static_cast<double>(got[i]) - want[i]));
  }
  return err / range;
}

struct Case {
  std::string net;
  double width_multiplier;  // <= 0: none
  TrainingBackend backend;
};

class CifarTorchTrainingParityTest : public ::testing::TestWithParam<Case> {};

TEST_P(CifarTorchTrainingParityTest, OneStepMatchesTorch) {
  const std::string unavailable = TorchUnavailable();
  if (!unavailable.empty()) GTEST_SKIP() << unavailable;
  SetNumThreads(2);
  const Case& c = GetParam();
  const std::string label =
      absl::StrCat(c.net, c.backend == TrainingBackend::kOneDnn ? " (oneDNN)" : " (reference)");
  auto ref = MakeCifarTorchReference(c.net, c.width_multiplier);
  ASSERT_TRUE(ref.ok()) << ref.status();
  const Graph* graph = &ref->graph;
  ParamStore* store = &ref->params;

  TrainableGraphOptions train_options;
  train_options.backend = c.backend;
  auto net = TrainableGraph::Create(*graph, train_options);
  ASSERT_TRUE(net.ok()) << net.status();

  auto input = ref->Get("ref.input");
  auto labels_f = ref->Get("ref.labels");
  ASSERT_TRUE(input.ok() && labels_f.ok());
  const int batch = ref->batch, k = graph->num_classes;
  std::vector<int32_t> labels;
  for (float l : (*labels_f)->values) labels.push_back(static_cast<int32_t>(l));

  // Eval mode first: it must not touch the running statistics the train step then updates.
  std::vector<float> logits(static_cast<size_t>(batch) * k);
  absl::Status status = (*net)->Forward(store, (*input)->values, batch, Phase::kEval, absl::MakeSpan(logits));
  ASSERT_TRUE(status.ok()) << status;
  const double eval_err = LogitError(logits, (*ref->Get("ref.eval_logits"))->values);
  EXPECT_LE(eval_err, 1e-4) << label << ": eval-mode logits";

  status = (*net)->Forward(store, (*input)->values, batch, Phase::kTrain, absl::MakeSpan(logits));
  ASSERT_TRUE(status.ok()) << status;
  const double train_err = LogitError(logits, (*ref->Get("ref.train_logits"))->values);
  EXPECT_LE(train_err, 1e-4) << label << ": train-mode logits";

  std::vector<float> dlogits(logits.size());
  auto loss = SoftmaxCrossEntropy(logits, labels, batch, k, absl::MakeSpan(dlogits));
  ASSERT_TRUE(loss.ok()) << loss.status();
  const double torch_loss = (*ref->Get("ref.loss"))->values[0];
  EXPECT_NEAR(*loss, torch_loss, 1e-5 * std::max(1.0, std::fabs(torch_loss))) << label;

  ParamGradients grads = ParamGradients::ZerosLike(*store);
  status = (*net)->Backward(dlogits, &grads);
  ASSERT_TRUE(status.ok()) << status;
  double worst_grad = 0.0, worst_stat = 0.0;
  std::string worst_grad_name;
  int grads_checked = 0, stats_checked = 0;
  for (size_t i = 0; i < store->size(); ++i) {
    const Parameter& p = store->parameters()[i];
    if (IsTrainableParameter(p)) {
      auto want = ref->Get("grad." + p.name);
      ASSERT_TRUE(want.ok()) << want.status();
      ASSERT_EQ(grads.grads[i].size(), (*want)->values.size()) << p.name;
      const double err = RelativeError(grads.grads[i], (*want)->values);
      EXPECT_LE(err, 1e-4) << label << ": gradient of " << p.name;
      if (err > worst_grad) {
        worst_grad = err;
        worst_grad_name = p.name;
      }
      ++grads_checked;
    } else {
      auto want = ref->Get("updated." + p.name);
      ASSERT_TRUE(want.ok()) << want.status();
      const double err = RelativeError(p.values, (*want)->values);
      EXPECT_LE(err, 1e-5) << label << ": " << p.name << " after the train-mode forward";
      worst_stat = std::max(worst_stat, err);
      ++stats_checked;
    }
  }
  EXPECT_GT(grads_checked, 0);
  std::printf(
      "%s: logits eval %.3g / train %.3g of range; loss %.7f vs torch %.7f; %d gradients, worst "
      "%.3g of the tensor's max (%s); %d running statistics, worst %.3g\n",
      label.c_str(), eval_err, train_err, *loss, torch_loss, grads_checked, worst_grad,
      worst_grad_name.c_str(), stats_checked, worst_stat);
}

INSTANTIATE_TEST_SUITE_P(
    Nets, CifarTorchTrainingParityTest,
    ::testing::Values(Case{"cifar_resnet20", 0, TrainingBackend::kOneDnn},
                      Case{"cifar_resnet20", 0, TrainingBackend::kReference},
                      Case{"resiliency_cnn", 1.0, TrainingBackend::kOneDnn},
                      Case{"resiliency_cnn", 0.5, TrainingBackend::kReference}),
    [](const ::testing::TestParamInfo<Case>& info) {
      std::string name = info.param.net;
      if (info.param.width_multiplier > 0) {
        name += absl::StrCat("_x", static_cast<int>(info.param.width_multiplier * 100));
      }
      return name + (info.param.backend == TrainingBackend::kOneDnn ? "_onednn" : "_reference");
    });

}  // namespace
}  // namespace quantbench
