#include "training/layer_grams.h"

#include <gtest/gtest.h>

#include <random>

#include "networks/graph_network.h"
#include "networks/test_util.h"

namespace quantbench {
namespace {

// Input 3x9x9 -> conv c1 (4 out, 3x3, stride 2, pad 1, bias) -> depthwise dw (3x3, pad 1, bias)
// -> flatten -> dense fc (5). No activations, so each layer's output is read at the next site.
struct Net {
  Graph graph;
  ParamStore store;
  std::unique_ptr<GraphNetwork> network;
  LabeledImages data;
};

Net MakeNet() {
  Net n;
  GraphBuilder b;
  int x = b.Input(3, 9, 9);
  x = b.Conv(x, "c1", 4, 3, 3, 2, 2, 1, 1, 1, 1, /*groups=*/1, /*bias=*/true);
  x = b.Conv(x, "dw", 4, 3, 3, 1, 1, 1, 1, 1, 1, /*groups=*/4, /*bias=*/true);
  x = b.Dense(b.Flatten(x), "fc", 5);
  absl::StatusOr<Graph> g = b.Finish(x);
  EXPECT_TRUE(g.ok()) << g.status();
  n.graph = *g;
  n.store = *InitGraphParams(n.graph, 3);
  RandomizeNonWeights(&n.store, 4);
  n.network = *GraphNetwork::Create(n.graph, &n.store, 4);
  n.data.count = 7;
  n.data.example_shape = {3, 9, 9};
  n.data.pixels = RandomVector(7 * 3 * 81, 5);
  n.data.labels.assign(7, -1);
  return n;
}

// The site's input values (the previous layer's output) for all 7 images.
std::vector<float> Observe(Net& n, const std::string& site) {
  std::vector<float> out;
  EXPECT_TRUE(n.network->ObserveActivations(n.data.pixels, 7, [&](const std::string& s, absl::Span<const float> v) {
    if (s == site) out.insert(out.end(), v.begin(), v.end());
  }).ok());
  return out;
}

// tr(D G Dᵀ) must equal the mean over output pixels of ||ΔY||² when `layer`'s weights change
// by D: the definition the learned rounding relies on (bias and padding included).
double QuadraticForm(const LayerGram& g, const std::vector<float>& d) {
  const int64_t rows = static_cast<int64_t>(d.size()) / g.cols, per = rows / g.groups;
  double q = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const float* m = g.gram.data() + (r / per) * g.cols * g.cols;
    for (int64_t i = 0; i < g.cols; ++i) {
      for (int64_t j = 0; j < g.cols; ++j) q += d[r * g.cols + i] * m[i * g.cols + j] * d[r * g.cols + j];
    }
  }
  return q;
}

TEST(LayerGrams, QuadraticFormIsTheOutputError) {
  Net n = MakeNet();
  absl::StatusOr<std::map<std::string, LayerGram>> grams =
      CollectLayerGrams(*n.network, n.graph, n.data, 7, /*batch=*/3, {});
  ASSERT_TRUE(grams.ok()) << grams.status();
  ASSERT_EQ(grams->size(), 3u);
  EXPECT_EQ(grams->at("c1").cols, 27);
  EXPECT_EQ(grams->at("c1").columns, 7 * 25);
  EXPECT_EQ(grams->at("dw").groups, 4);
  EXPECT_EQ(grams->at("dw").cols, 9);
  EXPECT_EQ(grams->at("fc").cols, 100);
  EXPECT_EQ(grams->at("fc").columns, 7);
  for (const auto& [layer, next, pixels] : {std::make_tuple("c1", "dw", 25), std::make_tuple("dw", "fc", 25)}) {
    const std::vector<float> before = Observe(n, next);
    Parameter* w = n.store.Find(std::string(layer) + ".weight");
    const std::vector<float> original = w->values;
    const std::vector<float> d = RandomVector(original.size(), 9, -0.1f, 0.1f);
    for (size_t i = 0; i < d.size(); ++i) w->values[i] += d[i];
    ASSERT_TRUE(n.network->SyncParams().ok());
    const std::vector<float> after = Observe(n, next);
    w->values = original;
    ASSERT_TRUE(n.network->SyncParams().ok());
    double err = 0;
    for (size_t i = 0; i < before.size(); ++i) err += (after[i] - before[i]) * (after[i] - before[i]);
    err /= 7.0 * pixels;
    EXPECT_NEAR(QuadraticForm(grams->at(layer), d), err, 1e-4 * err) << layer;
  }
}

TEST(LayerGrams, UnknownLayerIsNamed) {
  Net n = MakeNet();
  absl::StatusOr<std::map<std::string, LayerGram>> grams =
      CollectLayerGrams(*n.network, n.graph, n.data, 7, 3, {"nope"});
  EXPECT_EQ(grams.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(grams.status().message().find("nope"), std::string::npos);
}

}  // namespace
}  // namespace quantbench
