// DWS rescaling: on the calibration images the network's outputs are unchanged (1e-5
// relative, float rounding of the rescaled weights), ReLU6 channels at >= 5.9 are locked,
// the others get filters of equal range (up to the 6/x_k cap), and bad maxima are errors.
#include "networks/dws_rescaling.h"

#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "networks/graph_reference.h"

namespace quantbench {
namespace {

struct Net {
  Graph graph;
  int relu6_after_dw = -1;  // the value `pw` reads
  int dw2 = -1;             // the value `pw2` reads (no activation)
};

Net SmallDwsNet() {
  Net net;
  GraphBuilder b;
  int x = b.Input(3, 9, 7);
  x = b.Relu6(b.Conv(x, "c1", 6, 3, 1, 1, 1, true));
  x = b.Relu6(b.Conv(x, "dw", 6, 3, 1, 1, /*groups=*/6, true));
  net.relu6_after_dw = x;
  x = b.Relu(b.Conv(x, "pw", 5, 1, 1, 0, 1, true));
  x = b.Conv(x, "dw2", 5, 3, 2, 1, /*groups=*/5, true);
  net.dw2 = x;
  x = b.Conv(x, "pw2", 4, 1, 1, 0, 1, true);
  x = b.Dense(b.Flatten(b.GlobalAvgPool(x)), "fc", 3);
  absl::StatusOr<Graph> g = b.Finish(x);
  EXPECT_TRUE(g.ok()) << g.status();
  net.graph = *g;
  return net;
}

// Per-channel maxima of `value` over a batch, from the reference forward pass.
std::vector<float> ChannelMax(const Graph& graph, const ParamStore& params, const std::vector<float>& input, int batch,
                              int value) {
  const TensorShape shape = graph.layers[value].shape;
  std::vector<float> max(shape.c, -INFINITY);
  auto hook = [&](int v, int, std::vector<double>* values) {
    if (v != value) return;
    const int64_t plane = static_cast<int64_t>(shape.h) * shape.w;
    for (int c = 0; c < shape.c; ++c) {
      for (int64_t i = 0; i < plane; ++i) max[c] = std::max(max[c], static_cast<float>((*values)[c * plane + i]));
    }
  };
  EXPECT_TRUE(ReferenceForward(graph, params, input, batch, false, hook).ok());
  return max;
}

TEST(DwsRescalingTest, FindsThePairs) {
  const Net net = SmallDwsNet();
  const std::vector<DepthwiseSeparablePair> pairs = FindDepthwiseSeparablePairs(net.graph);
  ASSERT_EQ(pairs.size(), 2u);
  EXPECT_EQ(pairs[0].depthwise, "dw");
  EXPECT_EQ(pairs[0].next, "pw");
  EXPECT_EQ(pairs[0].activation, DwsActivation::kRelu6);
  EXPECT_EQ(pairs[1].depthwise, "dw2");
  EXPECT_EQ(pairs[1].next, "pw2");
  EXPECT_EQ(pairs[1].activation, DwsActivation::kNone);
}

TEST(DwsRescalingTest, OutputsAreUnchangedAndFiltersEqualized) {
  const Net net = SmallDwsNet();
  ParamStore params = *InitGraphParams(net.graph, 5);
  // Large first-layer weights saturate some ReLU6 channels; depthwise filters of very different
  // ranges (the case scalar quantization fails on).
  for (float& v : params.Find("c1.weight")->values) v *= 4.0f;
  Parameter* dw = params.Find("dw.weight");
  for (int k = 0; k < 6; ++k) {
    for (int j = 0; j < 9; ++j) dw->values[k * 9 + j] *= (k % 2 == 0 ? 6.0f : 0.05f * (k + 1));
  }
  Parameter* dw2 = params.Find("dw2.weight");
  for (int k = 0; k < 5; ++k) {
    for (int j = 0; j < 9; ++j) dw2->values[k * 9 + j] *= 0.1f * (k + 1) * (k + 1);
  }
  const int batch = 4;
  std::vector<float> input(batch * 3 * 9 * 7);
  std::mt19937 rng(9);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (float& v : input) v = normal(rng);
  auto before = ReferenceForward(net.graph, params, input, batch, false);
  ASSERT_TRUE(before.ok());
  std::map<std::string, std::vector<float>> maxima = {
      {"pw", ChannelMax(net.graph, params, input, batch, net.relu6_after_dw)},
      {"pw2", ChannelMax(net.graph, params, input, batch, net.dw2)}};
  ParamStore rescaled = params;
  auto report = RescaleDepthwiseSeparable(net.graph, &rescaled, maxima);
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->pairs.size(), 2u);
  EXPECT_GT(report->pairs[0].locked, 0);
  EXPECT_LT(report->pairs[0].locked, 6);
  EXPECT_EQ(report->pairs[1].locked, 0);
  auto after = ReferenceForward(net.graph, rescaled, input, batch, false);
  ASSERT_TRUE(after.ok());
  double scale = 0.0;
  for (float v : *before) scale = std::max(scale, std::fabs(double{v}));
  for (size_t i = 0; i < before->size(); ++i) {
    EXPECT_NEAR((*after)[i], (*before)[i], 1e-5 * scale) << i;
  }
  // Without locking every filter of dw2 now has the range of the largest one.
  const Parameter* w2 = rescaled.Find("dw2.weight");
  for (int k = 0; k < 5; ++k) {
    double m = 0.0;
    for (int j = 0; j < 9; ++j) m = std::max(m, std::fabs(double{w2->values[k * 9 + j]}));
    EXPECT_NEAR(m, report->pairs[1].threshold, 1e-5 * m) << k;
  }
  // dw: unlocked filters reach T_a or their cap 6/x_k, locked ones are untouched.
  const Parameter* w1 = rescaled.Find("dw.weight");
  const std::vector<float>& x = maxima.at("pw");
  for (int k = 0; k < 6; ++k) {
    double m0 = 0.0, m = 0.0;
    for (int j = 0; j < 9; ++j) {
      m0 = std::max(m0, std::fabs(double{dw->values[k * 9 + j]}));
      m = std::max(m, std::fabs(double{w1->values[k * 9 + j]}));
    }
    if (x[k] >= 5.9f) {
      EXPECT_EQ(m, m0) << k;
    } else if (x[k] > 0.0f) {
      EXPECT_NEAR(m, std::min(report->pairs[0].threshold, m0 * 6.0 / x[k]), 1e-5 * m) << k;
    }
  }
}

TEST(DwsRescalingTest, MissingOrBadMaximaAreErrors) {
  const Net net = SmallDwsNet();
  ParamStore params = *InitGraphParams(net.graph, 5);
  EXPECT_EQ(RescaleDepthwiseSeparable(net.graph, &params, {}).status().code(), absl::StatusCode::kInvalidArgument);
  std::map<std::string, std::vector<float>> bad = {{"pw", std::vector<float>(6, 1.0f)},
                                                   {"pw2", std::vector<float>(4, 1.0f)}};
  EXPECT_EQ(RescaleDepthwiseSeparable(net.graph, &params, bad).status().code(), absl::StatusCode::kInvalidArgument);
  bad["pw2"] = std::vector<float>(5, NAN);
  EXPECT_EQ(RescaleDepthwiseSeparable(net.graph, &params, bad).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace quantbench
