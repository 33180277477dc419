// Every registered architecture: builds, has torchvision's parameter names, shapes and count,
// and runs one image through GraphNetwork.
#include <algorithm>
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
// mlp's (784-256-256-256-10) is 784*256 + 256 + 2 * (256*256 + 256) + 256*10 + 10.
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

// The mlp's parameter layout is a contract: weights cached, exported to ONNX or trained by
// earlier versions bind by these names and shapes (fc1.weight [h1, inputs] row-major, ...,
// fcL the output layer), and InitGraphParams gives it He-normal weights and zero biases.
TEST(MlpArchitectureTest, ParameterLayoutAndHeInitialisation) {
  ArchitectureOptions options = TenClasses();
  options.variant = {{"hidden", "256, 128"}};
  auto g = ArchitectureRegistry::Global().Build("mlp", options);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->input_shape(), (std::vector<int64_t>{784, 1, 1}));
  auto params = InitGraphParams(*g, 42);
  ASSERT_TRUE(params.ok()) << params.status();
  ASSERT_EQ(params->size(), 6u);
  const char* names[] = {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"};
  const std::vector<std::vector<int64_t>> shapes = {{256, 784}, {256}, {128, 256}, {128}, {10, 128}, {10}};
  for (size_t i = 0; i < 6; ++i) {
    const Parameter& p = params->parameters()[i];
    EXPECT_EQ(p.name, names[i]);
    EXPECT_EQ(p.layer, "fc" + std::to_string(i / 2 + 1));
    EXPECT_EQ(p.layer_type, "dense");
    EXPECT_EQ(p.kind, i % 2 == 0 ? Parameter::kWeight : Parameter::kBias);
    EXPECT_EQ(p.shape, shapes[i]) << p.name;
  }
  for (const char* name : {"fc1.weight", "fc2.weight"}) {
    const Parameter& w = *params->Find(name);
    double sum = 0, sum_sq = 0;
    for (float v : w.values) {
      sum += v;
      sum_sq += static_cast<double>(v) * v;
    }
    const double mean = sum / w.values.size();
    const double var = sum_sq / w.values.size() - mean * mean;
    const double he = 2.0 / static_cast<double>(w.shape[1]);
    EXPECT_NEAR(mean, 0.0, 0.1 * std::sqrt(he)) << name;
    EXPECT_NEAR(var, he, 0.05 * he) << name;
  }
  for (float v : params->Find("fc2.bias")->values) EXPECT_EQ(v, 0.0f);
  // Deterministic for a seed, different across seeds.
  EXPECT_EQ(InitGraphParams(*g, 42)->Find("fc2.weight")->values, params->Find("fc2.weight")->values);
  EXPECT_NE(InitGraphParams(*g, 43)->Find("fc2.weight")->values, params->Find("fc2.weight")->values);

  // A store of another width is refused, naming the parameter and both shapes.
  Parameter* w = params->Find("fc2.weight");
  w->shape = {128, 255};
  w->values.resize(128 * 255);
  const absl::Status bad = CheckGraphParams(*g, *params);
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("'fc2.weight': expected shape [128, 256], found [128, 255]"),
            std::string::npos)
      << bad;
}

// A plain scalar MLP written here (double accumulation, ReLU on hidden layers, stable softmax),
// independent of graph_reference: input rows of `inputs` floats, fcK.weight [out, in].
std::vector<double> ScalarMlp(const ParamStore& params, int layers, const std::vector<float>& input,
                              int batch) {
  std::vector<double> out;
  const int inputs = static_cast<int>(input.size()) / batch;
  for (int r = 0; r < batch; ++r) {
    std::vector<double> act(input.begin() + r * inputs, input.begin() + (r + 1) * inputs);
    for (int l = 1; l <= layers; ++l) {
      const Parameter& w = *params.Find("fc" + std::to_string(l) + ".weight");
      const Parameter& b = *params.Find("fc" + std::to_string(l) + ".bias");
      const int outs = static_cast<int>(w.shape[0]), in = static_cast<int>(w.shape[1]);
      std::vector<double> next(outs);
      for (int o = 0; o < outs; ++o) {
        double sum = b.values[o];
        for (int i = 0; i < in; ++i) sum += static_cast<double>(w.values[o * in + i]) * act[i];
        next[o] = l < layers ? std::max(sum, 0.0) : sum;
      }
      act = std::move(next);
    }
    const double top = *std::max_element(act.begin(), act.end());
    double total = 0;
    for (double& v : act) total += (v = std::exp(v - top));
    for (double v : act) out.push_back(v / total);
  }
  return out;
}

// GraphNetwork runs the mlp as the scalar MLP does, at odd widths, for batches of 1, odd, one
// chunk exactly, several chunks with a short last one; a row does not depend on its batch.
TEST(MlpArchitectureTest, GraphNetworkMatchesAScalarMlp) {
  ArchitectureOptions options = TenClasses();
  options.variant = {{"hidden", "29,17"}, {"inputs", "37"}};
  auto g = ArchitectureRegistry::Global().Build("mlp", options);
  ASSERT_TRUE(g.ok()) << g.status();
  auto params = InitGraphParams(*g, 7);
  ASSERT_TRUE(params.ok());
  RandomizeNonWeights(&*params, 8);  // non-zero biases
  constexpr int kMaxBatch = 16;
  auto net = GraphNetwork::Create(*g, &*params, kMaxBatch);
  ASSERT_TRUE(net.ok()) << net.status();
  EXPECT_EQ((*net)->ActivationSites(), (std::vector<std::string>{"fc1", "fc2", "fc3"}));
  std::vector<float> first_row;
  for (int batch : {1, 7, kMaxBatch, 37, 3}) {
    SCOPED_TRACE(batch);
    const std::vector<float> input = RandomVector(batch * 37, 1000 + batch, -2.0f, 2.0f);
    std::vector<float> got(batch * 10);
    ASSERT_TRUE((*net)->Forward(input, batch, absl::MakeSpan(got)).ok());
    const std::vector<double> want = ScalarMlp(*params, 3, input, batch);
    for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5) << i;
  }
  const std::vector<float> input = RandomVector(9 * 37, 5);
  std::vector<float> all(9 * 10), single(10);
  ASSERT_TRUE((*net)->Forward(input, 9, absl::MakeSpan(all)).ok());
  ASSERT_TRUE((*net)->Forward(absl::MakeConstSpan(input.data(), 37), 1, absl::MakeSpan(single)).ok());
  for (int c = 0; c < 10; ++c) EXPECT_NEAR(single[c], all[c], 1e-6) << c;
}

TEST(MlpArchitectureTest, Variants) {
  ArchitectureOptions options = TenClasses();
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
