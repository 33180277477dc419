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
#include "networks/architecture.h"
#include "networks/graph.h"
#include "networks/graph_network.h"
#include "networks/onnx_import.h"
#include "networks/param_store.h"
#include "networks/threads.h"
#include "tests/cifar_torch_reference.h"

namespace quantbench {
namespace {

std::string TempDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

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
  auto ref = MakeCifarTorchReference(c.net, c.width_multiplier, TempDir());
  ASSERT_TRUE(ref.ok()) << ref.status();

  ArchitectureOptions options;
  options.num_classes = 10;
  if (c.width_multiplier > 0) options.variant["width_multiplier"] = absl::StrCat(c.width_multiplier);
  auto graph = ArchitectureRegistry::Global().Build(c.net, options);
  ASSERT_TRUE(graph.ok()) << graph.status();
  EXPECT_EQ(graph->NumTrainableParameters(), ref->torch_parameters);

  // By name: every native parameter must be a torch state_dict entry of the same shape.
  auto store = InitGraphParams(*graph, 99);
  ASSERT_TRUE(store.ok()) << store.status();
  auto report = ImportOnnxWeights(ref->onnx_path, OnnxBindingRule::kByName, &*store);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->tensors.size(), store->size());

  auto input = ref->Get("ref.input");
  auto logits = ref->Get("ref.eval_logits");
  ASSERT_TRUE(input.ok() && logits.ok());
  const int batch = ref->batch;
  const int k = graph->num_classes;
  ASSERT_EQ((*logits)->values.size(), static_cast<size_t>(batch) * k);
  // max_batch 4 < batch: two chunks, the second zero-padded.
  auto network = GraphNetwork::Create(*graph, &*store, 4);
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
  std::printf("%s%s: %d examples, max |dlogit| / range = %.3g, %lld parameters\n", c.net.c_str(),
              c.width_multiplier > 0 ? absl::StrCat(" x", c.width_multiplier).c_str() : "", batch,
              worst, static_cast<long long>(ref->torch_parameters));
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
