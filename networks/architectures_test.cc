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
#include "networks/param_store.h"

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
  EXPECT_EQ(names.size(), ExpectedCounts().size());
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

}  // namespace
}  // namespace quantbench
