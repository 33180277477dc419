// Every registered architecture: builds, has torchvision's parameter names, shapes and count,
// and runs one image through GraphNetwork.
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "networks/architecture.h"
#include "networks/graph.h"
#include "networks/graph_network.h"
#include "networks/graph_reference.h"
#include "networks/mlp.h"
#include "networks/param_store.h"
#include "networks/test_util.h"

namespace quantbench {
namespace {

// torchvision 0.14 sum(p.numel() for p in model.parameters()) (weights=None; inception_v3
// with aux_logits=True), verified with /usr/bin/python3; Keras Applications' trainable counts
// for mobilenet_v1 and xception.
const std::map<std::string, int64_t>& ExpectedCounts() {
  static const auto* counts = new std::map<std::string, int64_t>{
      {"resnet18", 11689512},     {"resnet50", 25557032},     {"mobilenet_v2", 3504872},
      {"squeezenet1_1", 1235496}, {"squeezenet1_0", 1248424}, {"vgg16", 138357544},
      {"alexnet", 61100840},      {"mnasnet1_0", 4383312},    {"inception_v3", 27161264},
      {"mobilenet_v1", 4231976},  {"xception", 22855952},
  };
  return *counts;
}

// The small-image networks at 10 classes: sum(p.numel() for p in model.parameters()) of
// tools/cifar_torch_reference.py's PyTorch definitions (/usr/bin/python3, torch 1.13); the
// mlp's is MlpSpec{784, {256, 256, 256}, 10}'s weights and biases.
const std::map<std::string, int64_t>& SmallImageCounts() {
  static const auto* counts = new std::map<std::string, int64_t>{
      {"cifar_resnet20", 269722}, {"cifar_resnet32", 464154}, {"cifar_resnet44", 658586},
      {"cifar_resnet56", 853018}, {"resiliency_cnn", 89578},  {"mlp", 335114},
  };
  return *counts;
}

ArchitectureOptions TenClasses() {
  ArchitectureOptions options;
  options.num_classes = 10;
  return options;
}

std::string TestdataPath(const std::string& name) {
  std::string path = "networks/testdata/torchvision_params/" + name + ".txt";
  if (const char* srcdir = std::getenv("TEST_SRCDIR")) {
    const char* ws = std::getenv("TEST_WORKSPACE");
    return std::string(srcdir) + "/" + (ws ? ws : "quantbench") + "/" + path;
  }
  return path;
}

class ArchitectureTest : public ::testing::TestWithParam<std::string> {};

TEST(ArchitectureRegistryTest, AllRegistered) {
  const std::vector<std::string> names = ArchitectureRegistry::Global().Names();
  for (const auto& [name, count] : ExpectedCounts()) {
    EXPECT_NE(ArchitectureRegistry::Global().Find(name), nullptr) << name;
  }
  for (const auto& [name, count] : SmallImageCounts()) {
    EXPECT_NE(ArchitectureRegistry::Global().Find(name), nullptr) << name;
  }
  EXPECT_EQ(names.size(), ExpectedCounts().size() + SmallImageCounts().size());
  EXPECT_EQ(ArchitectureRegistry::Global().Find("nope"), nullptr);
  auto missing = ArchitectureRegistry::Global().Build("nope", {});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  ArchitectureOptions bad;
  bad.variant["colour"] = "blue";
  EXPECT_EQ(ArchitectureRegistry::Global().Build("resnet18", bad).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(ArchitectureTest, ParametersMatchTorchvision) {
  const std::string name = GetParam();
  auto graph = ArchitectureRegistry::Global().Build(name, {});
  ASSERT_TRUE(graph.ok()) << graph.status();
  EXPECT_EQ(graph->NumTrainableParameters(), ExpectedCounts().at(name)) << name;
  EXPECT_EQ(graph->num_classes, 1000);
  for (const ParamSpec& p : graph->params) {
    if (p.kind == Parameter::kWeight) {
      EXPECT_TRUE(p.layer_type == "conv" || p.layer_type == "depthwise_conv" ||
                  p.layer_type == "dense")
          << p.name << " " << p.layer_type;
    }
  }

  std::ifstream file(TestdataPath(name));
  if (!file) {
    EXPECT_TRUE(name == "mobilenet_v1" || name == "xception") << "no torchvision list for " << name;
    return;
  }
  std::vector<std::pair<std::string, std::vector<int64_t>>> want;
  std::string line;
  while (std::getline(file, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> parts = absl::StrSplit(line, ' ');
    ASSERT_EQ(parts.size(), 2u) << line;
    std::vector<int64_t> dims;
    for (absl::string_view d : absl::StrSplit(parts[1], ',', absl::SkipEmpty())) {
      dims.push_back(std::stoll(std::string(d)));
    }
    want.push_back({parts[0], dims});
  }
  ASSERT_EQ(graph->params.size(), want.size()) << name;
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(graph->params[i].name, want[i].first) << name << " #" << i;
    EXPECT_EQ(graph->params[i].shape, want[i].second) << graph->params[i].name;
  }
}

TEST_P(ArchitectureTest, ForwardOneImage) {
  const std::string name = GetParam();
  auto graph = ArchitectureRegistry::Global().Build(name, {});
  ASSERT_TRUE(graph.ok()) << graph.status();
  auto params = InitGraphParams(*graph, 1);
  ASSERT_TRUE(params.ok()) << params.status();
  ASSERT_TRUE(CheckGraphParams(*graph, *params).ok());
  auto network = GraphNetwork::Create(*graph, &*params, 1);
  ASSERT_TRUE(network.ok()) << network.status();
  EXPECT_EQ((*network)->input_shape(), graph->input_shape());
  const int64_t in = graph->input.NumElements();
  std::vector<float> image(in);
  for (int64_t i = 0; i < in; ++i) image[i] = std::sin(0.001f * i);
  std::vector<float> probabilities(graph->num_classes);
  ASSERT_TRUE((*network)->Forward(image, 1, absl::MakeSpan(probabilities)).ok());
  double sum = 0.0;
  for (float p : probabilities) {
    ASSERT_TRUE(std::isfinite(p));
    ASSERT_GE(p, 0.0f);
    sum += p;
  }
  EXPECT_NEAR(sum, 1.0, 1e-4) << name;
  // oneDNN's reference (non-JIT) kernels would mean a silently slow network.
  for (const std::string& line : (*network)->DescribePlan()) {
    if (line.rfind("conv", 0) == 0) EXPECT_EQ(line.find("ref:"), std::string::npos) << line;
  }
}

INSTANTIATE_TEST_SUITE_P(All, ArchitectureTest,
                         ::testing::Values("resnet18", "resnet50", "mobilenet_v2",
                                           "squeezenet1_1", "squeezenet1_0", "vgg16", "alexnet",
                                           "mnasnet1_0", "inception_v3", "mobilenet_v1",
                                           "xception"));

// Keras' ResNet50: torchvision's parameters (names, shapes, order) plus a bias after every
// conv weight, BatchNorm eps 1.001e-5, and the stride on the first 1x1 of a downsampling block.
TEST(ArchitectureVariantTest, KerasResNet50) {
  ArchitectureOptions keras;
  keras.variant["style"] = "keras";
  auto k = ArchitectureRegistry::Global().Build("resnet50", keras);
  auto t = ArchitectureRegistry::Global().Build("resnet50", {});
  ASSERT_TRUE(k.ok()) << k.status();
  ASSERT_TRUE(t.ok());
  size_t ki = 0;
  for (const ParamSpec& tp : t->params) {
    ASSERT_LT(ki, k->params.size());
    EXPECT_EQ(k->params[ki].name, tp.name);
    EXPECT_EQ(k->params[ki].shape, tp.shape);
    ++ki;
    if (tp.layer_type == "conv" && tp.kind == Parameter::kWeight) {
      ASSERT_LT(ki, k->params.size());
      EXPECT_EQ(k->params[ki].name, tp.layer + ".bias");
      EXPECT_EQ(k->params[ki].shape, std::vector<int64_t>{tp.shape[0]});
      ++ki;
    }
  }
  EXPECT_EQ(ki, k->params.size());
  // Keras' model.summary(): 25,636,712 total minus 53,120 BatchNorm moving statistics.
  EXPECT_EQ(k->NumTrainableParameters(), 25583592);
  auto layer = [](const Graph& g, const std::string& name) -> const Layer* {
    for (const Layer& l : g.layers) {
      if (l.name == name) return &l;
    }
    return nullptr;
  };
  for (const char* name : {"layer2.0.conv1", "layer2.0.conv2", "layer1.0.conv1", "bn1"}) {
    ASSERT_NE(layer(*t, name), nullptr) << name;
    ASSERT_NE(layer(*k, name), nullptr) << name;
  }
  EXPECT_EQ(layer(*t, "layer2.0.conv1")->stride_h, 1);
  EXPECT_EQ(layer(*t, "layer2.0.conv2")->stride_h, 2);
  EXPECT_EQ(layer(*k, "layer2.0.conv1")->stride_h, 2);
  EXPECT_EQ(layer(*k, "layer2.0.conv2")->stride_h, 1);
  EXPECT_EQ(layer(*k, "layer1.0.conv1")->stride_h, 1);
  EXPECT_FLOAT_EQ(layer(*t, "bn1")->eps, 1e-5f);
  EXPECT_FLOAT_EQ(layer(*k, "bn1")->eps, 1.001e-5f);
  keras.variant["style"] = "caffe";
  EXPECT_FALSE(ArchitectureRegistry::Global().Build("resnet50", keras).ok());
}

TEST(ArchitectureVariantTest, ImageSizeAndClasses) {
  ArchitectureOptions options;
  options.num_classes = 10;
  options.image_size = 160;
  auto g = ArchitectureRegistry::Global().Build("mobilenet_v2", options);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->num_classes, 10);
  EXPECT_EQ(g->input_shape(), (std::vector<int64_t>{3, 160, 160}));
  // VGG's adaptive 7x7 pool: 448 gives a 14x14 map (pooled 2x2); 300 does not divide.
  options.image_size = 448;
  EXPECT_TRUE(ArchitectureRegistry::Global().Build("vgg16", options).ok());
  options.image_size = 300;
  EXPECT_FALSE(ArchitectureRegistry::Global().Build("vgg16", options).ok());
}

TEST(ArchitectureVariantTest, InceptionAuxParamsAreUnused) {
  auto g = ArchitectureRegistry::Global().Build("inception_v3", {});
  ASSERT_TRUE(g.ok());
  int unused = 0;
  for (const ParamSpec& p : g->params) {
    const bool aux = p.name.rfind("AuxLogits.", 0) == 0;
    EXPECT_EQ(p.used, !aux) << p.name;
    unused += !p.used;
  }
  EXPECT_EQ(unused, 12);  // 2 x (conv + 4 BN) + fc weight + bias
  for (const Layer& l : g->layers) EXPECT_EQ(l.name.rfind("AuxLogits.", 0), std::string::npos);
  // A store without them binds.
  auto params = InitGraphParams(*g, 1);
  ASSERT_TRUE(params.ok());
  ParamStore without;
  for (Parameter& p : params->parameters()) {
    if (p.name.rfind("AuxLogits.", 0) != 0) ASSERT_TRUE(without.Add(p).ok());
  }
  EXPECT_TRUE(CheckGraphParams(*g, without).ok());
}

// ---- The small-image networks (networks/arch_cifar.cc)

class SmallImageArchitectureTest : public ::testing::TestWithParam<std::string> {};

TEST_P(SmallImageArchitectureTest, CountAndForwardMatchesReference) {
  const std::string name = GetParam();
  auto graph = ArchitectureRegistry::Global().Build(name, TenClasses());
  ASSERT_TRUE(graph.ok()) << graph.status();
  EXPECT_EQ(graph->NumTrainableParameters(), SmallImageCounts().at(name));
  EXPECT_EQ(graph->num_classes, 10);
  auto params = InitGraphParams(*graph, 3);
  ASSERT_TRUE(params.ok()) << params.status();
  RandomizeNonWeights(&*params, 4);
  const int batch = 3;
  const std::vector<float> input = RandomVector(batch * graph->input.NumElements(), 5);
  auto network = GraphNetwork::Create(*graph, &*params, 2);
  ASSERT_TRUE(network.ok()) << network.status();
  std::vector<float> got(batch * 10);
  ASSERT_TRUE((*network)->Forward(input, batch, absl::MakeSpan(got)).ok());
  auto want = ReferenceForward(*graph, *params, input, batch, /*softmax=*/false);
  ASSERT_TRUE(want.ok()) << want.status();
  for (int b = 0; b < batch; ++b) {
    // log p = logit - logsumexp: compare up to the per-example constant, relative to the range.
    double lse = 0.0, lo = 1e300, hi = -1e300, max_logit = -1e300;
    for (int c = 0; c < 10; ++c) max_logit = std::max<double>(max_logit, (*want)[b * 10 + c]);
    for (int c = 0; c < 10; ++c) lse += std::exp((*want)[b * 10 + c] - max_logit);
    lse = max_logit + std::log(lse);
    for (int c = 0; c < 10; ++c) {
      lo = std::min<double>(lo, (*want)[b * 10 + c]);
      hi = std::max<double>(hi, (*want)[b * 10 + c]);
    }
    const double range = std::max(1.0, hi - lo);
    for (int c = 0; c < 10; ++c) {
      const double want_logp = (*want)[b * 10 + c] - lse;
      const double got_logp = std::log(std::max(static_cast<double>(got[b * 10 + c]), 1e-300));
      if (want_logp > -60.0) {
        EXPECT_NEAR(got_logp, want_logp, 1e-4 * range) << name << " example " << b << " class " << c;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(All, SmallImageArchitectureTest,
                         ::testing::Values("cifar_resnet20", "cifar_resnet32", "cifar_resnet44",
                                           "cifar_resnet56", "resiliency_cnn", "mlp"));

const Layer* FindLayer(const Graph& g, const std::string& name) {
  for (const Layer& l : g.layers) {
    if (l.name == name) return &l;
  }
  return nullptr;
}

// The option-A shortcuts: two per net (stage 2 and 3 entries), 1x1 / stride-2 max pool, then
// planes/4 zero channels on each side; no shortcut weights; the torch names.
TEST(CifarResNetTest, StructureAndNames) {
  auto g = ArchitectureRegistry::Global().Build("cifar_resnet20", TenClasses());
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->input_shape(), (std::vector<int64_t>{3, 32, 32}));
  std::vector<std::pair<int, int>> pads;
  int convs = 0;
  for (const Layer& l : g->layers) {
    convs += l.kind == LayerKind::kConv;
    if (l.kind != LayerKind::kPadChannels) continue;
    pads.push_back({l.pad_channels_before, l.pad_channels_after});
    const Layer& pool = g->layers[l.inputs[0]];
    EXPECT_EQ(pool.kind, LayerKind::kMaxPool);
    EXPECT_EQ(pool.kernel_h, 1);
    EXPECT_EQ(pool.stride_h, 2);
  }
  EXPECT_EQ(pads, (std::vector<std::pair<int, int>>{{8, 8}, {16, 16}}));
  EXPECT_EQ(convs, 19);
  for (const char* name : {"conv1", "bn1", "layer1.0.conv1", "layer1.2.bn2", "layer2.0.conv1",
                           "layer3.2.conv2", "linear"}) {
    EXPECT_NE(FindLayer(*g, name), nullptr) << name;
  }
  EXPECT_EQ(FindLayer(*g, "layer2.0.conv1")->stride_h, 2);
  EXPECT_EQ(FindLayer(*g, "layer2.1.conv1")->stride_h, 1);
  EXPECT_EQ(FindLayer(*g, "layer3.0.conv1")->shape, (TensorShape{64, 8, 8, false}));
  EXPECT_EQ(g->params.front().name, "conv1.weight");
  EXPECT_EQ(g->params.back().name, "linear.bias");
  EXPECT_EQ(g->params.back().shape, std::vector<int64_t>{10});
  ArchitectureOptions bad = TenClasses();
  bad.variant["depth"] = "20";
  EXPECT_FALSE(ArchitectureRegistry::Global().Build("cifar_resnet20", bad).ok());
}

TEST(ResiliencyCnnTest, WidthMultiplier) {
  ArchitectureOptions options = TenClasses();
  options.variant["width_multiplier"] = "0.25";
  auto g = ArchitectureRegistry::Global().Build("resiliency_cnn", options);
  ASSERT_TRUE(g.ok()) << g.status();
  // tools/cifar_torch_reference.py --net resiliency_cnn --width_multiplier 0.25
  EXPECT_EQ(g->NumTrainableParameters(), 8002);
  EXPECT_EQ(FindLayer(*g, "conv1")->shape, (TensorShape{8, 32, 32, false}));
  EXPECT_EQ(FindLayer(*g, "conv3")->shape, (TensorShape{16, 8, 8, false}));
  EXPECT_EQ(FindLayer(*g, "fc")->inputs.size(), 1u);
  std::vector<std::string> names;
  for (const ParamSpec& p : g->params) names.push_back(p.name);
  EXPECT_EQ(names, (std::vector<std::string>{"conv1.weight", "conv1.bias", "conv2.weight",
                                             "conv2.bias", "conv3.weight", "conv3.bias",
                                             "fc.weight", "fc.bias"}));
  EXPECT_EQ(g->params[6].shape, (std::vector<int64_t>{10, 16 * 4 * 4}));
  options.variant["width_multiplier"] = "2";
  g = ArchitectureRegistry::Global().Build("resiliency_cnn", options);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(FindLayer(*g, "conv2")->out_channels, 64);
  for (const char* bad : {"0", "-1", "abc", "", "nan"}) {
    options.variant["width_multiplier"] = bad;
    auto b = ArchitectureRegistry::Global().Build("resiliency_cnn", options);
    EXPECT_EQ(b.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(b.status().message().find("width_multiplier"), std::string::npos) << b.status();
  }
}

// The mlp graph is MlpNetwork's network: same parameters (InitGraphParams gives
// InitMlpParams' values bit for bit), same outputs.
TEST(MlpArchitectureTest, SameParametersAndOutputsAsMlpNetwork) {
  ArchitectureOptions options = TenClasses();
  options.variant["hidden"] = "37, 19";
  options.variant["inputs"] = "23";
  auto g = ArchitectureRegistry::Global().Build("mlp", options);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->input_shape(), (std::vector<int64_t>{23, 1, 1}));
  const MlpSpec spec{23, {37, 19}, 10};
  const ParamStore mlp_params = InitMlpParams(spec, 7);
  auto graph_params = InitGraphParams(*g, 7);
  ASSERT_TRUE(graph_params.ok());
  ASSERT_EQ(graph_params->size(), mlp_params.size());
  for (size_t i = 0; i < mlp_params.size(); ++i) {
    const Parameter& a = mlp_params.parameters()[i];
    const Parameter& b = graph_params->parameters()[i];
    EXPECT_EQ(b.name, a.name);
    EXPECT_EQ(b.layer, a.layer);
    EXPECT_EQ(b.layer_type, a.layer_type);
    EXPECT_EQ(b.kind, a.kind);
    EXPECT_EQ(b.shape, a.shape);
    EXPECT_EQ(b.values, a.values) << a.name;
  }
  ParamStore shared = mlp_params;
  RandomizeNonWeights(&shared, 8);  // non-zero biases
  const int batch = 5;
  const std::vector<float> input = RandomVector(batch * 23, 9, -2.0f, 2.0f);
  auto mlp = MlpNetwork::Create(spec, &shared, 2);
  auto graph_net = GraphNetwork::Create(*g, &shared, 3);
  ASSERT_TRUE(mlp.ok()) << mlp.status();
  ASSERT_TRUE(graph_net.ok()) << graph_net.status();
  std::vector<float> a(batch * 10), b(batch * 10);
  ASSERT_TRUE((*mlp)->Forward(input, batch, absl::MakeSpan(a)).ok());
  ASSERT_TRUE((*graph_net)->Forward(input, batch, absl::MakeSpan(b)).ok());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(b[i], a[i], 1e-6) << i;
  EXPECT_EQ((*graph_net)->ActivationSites(), (std::vector<std::string>{"fc1", "fc2", "fc3"}));

  // Defaults: 784-256-256-256-10, as configs/fashion_mnist_mlp.pbtxt.
  auto d = ArchitectureRegistry::Global().Build("mlp", TenClasses());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->input_shape(), (std::vector<int64_t>{784, 1, 1}));
  EXPECT_EQ(d->params.size(), 8u);
  EXPECT_EQ(d->params[6].shape, (std::vector<int64_t>{10, 256}));
  options.variant["hidden"] = "";
  d = ArchitectureRegistry::Global().Build("mlp", options);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->params.size(), 2u);  // softmax regression: fc1 only
  for (const char* bad : {"256,0", "256,,x", "-3"}) {
    options.variant["hidden"] = bad;
    auto e = ArchitectureRegistry::Global().Build("mlp", options);
    EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  options.variant.erase("hidden");
  options.image_size = 28;
  EXPECT_FALSE(ArchitectureRegistry::Global().Build("mlp", options).ok());
}

}  // namespace
}  // namespace quantbench
