// The CIFAR networks of networks/arch_cifar.cc against plain PyTorch definitions of the same
// networks (tools/cifar_torch_reference.py, run here with Debian's /usr/bin/python3): same
// parameter names, shapes and count, and GraphNetwork's eval-mode forward on torch's weights
// equals torch's eval-mode logits. Skips, naming what is missing, without python3-torch.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "networks/graph.h"
#include "networks/graph_network.h"
#include "networks/onnx_export.h"
#include "networks/param_store.h"
#include "networks/threads.h"
#include "tests/cifar_torch_reference.h"

namespace quantbench {
namespace {

struct Case {
  std::string net;
  double width_multiplier;  // <= 0: none (the ResNets)
};

class CifarTorchParityTest : public ::testing::TestWithParam<Case> {};

TEST_P(CifarTorchParityTest, EvalForwardMatchesTorch) {
  const std::string unavailable = TorchUnavailable();
  if (!unavailable.empty()) GTEST_SKIP() << unavailable;
  SetNumThreads(2);
  const Case& c = GetParam();
  auto ref = MakeCifarTorchReference(c.net, c.width_multiplier);
  ASSERT_TRUE(ref.ok()) << ref.status();
  const Graph* graph = &ref->graph;
  ParamStore* store = &ref->params;
  EXPECT_EQ(graph->NumTrainableParameters(), ref->torch_parameters);
  EXPECT_EQ(ref->bound_tensors, store->size());

  auto input = ref->Get("ref.input");
  auto logits = ref->Get("ref.eval_logits");
  ASSERT_TRUE(input.ok() && logits.ok());
  const int batch = ref->batch;
  const int k = graph->num_classes;
  ASSERT_EQ((*logits)->values.size(), static_cast<size_t>(batch) * k);
  // max_batch 4 < batch: two chunks, the second zero-padded.
  auto network = GraphNetwork::Create(*graph, store, 4);
  ASSERT_TRUE(network.ok()) << network.status();
  std::vector<float> probabilities(static_cast<size_t>(batch) * k);
  ASSERT_TRUE((*network)->Forward((*input)->values, batch, absl::MakeSpan(probabilities)).ok());

  // log p is the logits up to a per-example constant: compare both centred, relative to the
  // logit range; and the predicted class.
  double worst = 0.0;
  for (int b = 0; b < batch; ++b) {
    const float* z = &(*logits)->values[b * k];
    const float* p = &probabilities[b * k];
    double z_mean = 0.0, lp_mean = 0.0;
    for (int j = 0; j < k; ++j) {
      z_mean += z[j];
      lp_mean += std::log(std::max(static_cast<double>(p[j]), 1e-300));
    }
    z_mean /= k;
    lp_mean /= k;
    const double range = std::max(1.0, static_cast<double>(*std::max_element(z, z + k) -
                                                           *std::min_element(z, z + k)));
    for (int j = 0; j < k; ++j) {
      const double diff = std::fabs((std::log(std::max(static_cast<double>(p[j]), 1e-300)) - lp_mean) -
                                    (z[j] - z_mean)) / range;
      worst = std::max(worst, diff);
    }
    EXPECT_EQ(std::max_element(p, p + k) - p, std::max_element(z, z + k) - z) << "example " << b;
  }
  EXPECT_LE(worst, 1e-4) << c.net << ": centred log p vs torch's centred logits, / logit range";

  // Our ONNX export of the same network, evaluated by PyTorch ops (tools/onnx_torch_eval.py),
  // gives torch's logits too: the exported operators (Pad on the channel axis included) mean
  // what GraphNetwork computes.
  OnnxExportOptions export_options;
  export_options.softmax = false;
  auto model = GraphToOnnx(*graph, *store, export_options);
  ASSERT_TRUE(model.ok()) << model.status();
  const std::string exported = absl::StrCat(ref->onnx_path, ".ours.onnx");
  ASSERT_TRUE(WriteOnnxModel(*model, exported).ok());
  auto onnx_logits = EvalOnnxWithTorch(exported, ref->onnx_path, "ref.input");
  ASSERT_TRUE(onnx_logits.ok()) << onnx_logits.status();
  ASSERT_EQ(onnx_logits->size(), (*logits)->values.size());
  double onnx_worst = 0.0;
  for (int b = 0; b < batch; ++b) {
    const float* z = &(*logits)->values[b * k];
    const double range = std::max(1.0, static_cast<double>(*std::max_element(z, z + k) -
                                                           *std::min_element(z, z + k)));
    for (int j = 0; j < k; ++j) {
      onnx_worst = std::max(onnx_worst, std::fabs((*onnx_logits)[b * k + j] - z[j]) / range);
    }
  }
  EXPECT_LE(onnx_worst, 1e-4) << c.net << ": our ONNX export run by torch ops vs torch";
  std::printf("%s%s: %d examples, max |dlogit| / range = %.3g (GraphNetwork), %.3g (our ONNX "
              "export in torch ops), %lld parameters\n",
              c.net.c_str(), c.width_multiplier > 0 ? absl::StrCat(" x", c.width_multiplier).c_str() : "",
              batch, worst, onnx_worst, static_cast<long long>(ref->torch_parameters));
}

INSTANTIATE_TEST_SUITE_P(Nets, CifarTorchParityTest,
                         ::testing::Values(Case{"cifar_resnet20", 0}, Case{"cifar_resnet32", 0},
                                           Case{"resiliency_cnn", 1.0},
                                           Case{"resiliency_cnn", 0.5}),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           std::string name = info.param.net;
                           if (info.param.width_multiplier > 0) {
                             name += absl::StrCat("_x", static_cast<int>(info.param.width_multiplier * 100));
                           }
                           return name;
                         });

}  // namespace
}  // namespace quantbench
