#include "networks/graph_network.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "networks/fold_batchnorm.h"
#include "networks/graph.h"
#include "networks/graph_reference.h"
#include "networks/param_store.h"
#include "networks/threads.h"

namespace quantbench {
namespace {

// Random non-trivial parameters: He weights (InitGraphParams), random biases and BN stats.
ParamStore RandomParams(const Graph& graph, uint64_t seed) {
  absl::StatusOr<ParamStore> store = InitGraphParams(graph, seed);
  EXPECT_TRUE(store.ok()) << store.status();
  std::mt19937 rng(static_cast<uint32_t>(seed));
  std::uniform_real_distribution<float> u(-0.5f, 0.5f);
  for (Parameter& p : store->parameters()) {
    const auto ends = [&](const std::string& s) {
      return p.name.size() >= s.size() && p.name.compare(p.name.size() - s.size(), s.size(), s) == 0;
    };
    if (p.kind == Parameter::kBias) {
      for (float& v : p.values) v = u(rng);
    } else if (p.kind == Parameter::kNormalization) {
      for (float& v : p.values) {
        if (ends(".running_var")) {
          v = 0.5f + 2.0f * (u(rng) + 0.5f);
        } else if (ends(".weight")) {
          v = 1.0f + u(rng);
        } else {
          v = u(rng);
        }
      }
    }
  }
  return std::move(store).value();
}

std::vector<float> RandomInput(const Graph& graph, int batch, uint64_t seed) {
  std::mt19937 rng(static_cast<uint32_t>(seed));
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(batch) * graph.input.NumElements());
  for (float& v : x) v = u(rng);
  return x;
}

// Compares probabilities, and log-probabilities (i.e. logits up to a constant) relative to
// the reference's logit range.
void ExpectClose(const std::vector<float>& got, const std::vector<float>& want, int classes,
                 const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  const int batch = static_cast<int>(want.size()) / classes;
  double worst = 0.0;
  for (int b = 0; b < batch; ++b) {
    double lo = 1e300, hi = -1e300;
    for (int c = 0; c < classes; ++c) {
      const double lp = std::log(std::max<double>(want[b * classes + c], 1e-30));
      lo = std::min(lo, lp);
      hi = std::max(hi, lp);
    }
    const double range = std::max(1.0, hi - lo);
    double sum = 0.0;
    for (int c = 0; c < classes; ++c) {
      const double g = got[b * classes + c], w = want[b * classes + c];
      sum += g;
      EXPECT_NEAR(g, w, 1e-5) << what << " example " << b << " class " << c;
      if (w > 1e-20) {
        const double diff = std::abs(std::log(std::max(g, 1e-37)) - std::log(w)) / range;
        worst = std::max(worst, diff);
      }
    }
    EXPECT_NEAR(sum, 1.0, 1e-5) << what;
  }
  EXPECT_LE(worst, 1e-4) << what << ": max log-probability difference relative to the range";
}

std::vector<float> RunNetwork(const Graph& graph, ParamStore* params, int max_batch,
                              const std::vector<float>& input, int batch,
                              std::vector<std::string>* plan = nullptr) {
  auto network = GraphNetwork::Create(graph, params, max_batch);
  EXPECT_TRUE(network.ok()) << network.status();
  if (!network.ok()) return {};
  std::vector<float> out(static_cast<size_t>(batch) * graph.num_classes);
  absl::Status s = (*network)->Forward(input, batch, absl::MakeSpan(out));
  EXPECT_TRUE(s.ok()) << s;
  if (plan != nullptr) *plan = (*network)->DescribePlan();
  return out;
}

void CheckAgainstReference(const Graph& graph, uint64_t seed, int max_batch, int batch,
                           std::vector<std::string>* plan = nullptr) {
  ParamStore params = RandomParams(graph, seed);
  const std::vector<float> input = RandomInput(graph, batch, seed + 100);
  auto want = ReferenceForward(graph, params, input, batch, /*softmax=*/true);
  ASSERT_TRUE(want.ok()) << want.status();
  const std::vector<float> got = RunNetwork(graph, &params, max_batch, input, batch, plan);
  ExpectClose(got, *want, graph.num_classes, "network vs reference");
}

std::string Joined(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += l + "\n";
  return s;
}

// Every layer kind with odd sizes: asymmetric padding, stride 2, dilation, depthwise and
// grouped convs, BN folding, residual adds (fused, in place and copied), concat of odd channel
// counts, ceil_mode pooling, average pooling with and without padding counted, flatten of a
// spatial map into a dense layer.
Graph KitchenSink() {
  GraphBuilder b;
  int x = b.Input(3, 23, 19);
  int a = b.Conv(x, "stem", 5, 3, 3, 2, 2, 1, 0, 2, 1, 1, true);  // bias, asymmetric pad
  a = b.BatchNorm(a, "stem_bn");
  a = b.Relu(a);                                                  // 5 x 12 x 10
  int dw = b.Conv(a, "dw", 5, 3, 3, 1, 1, 2, 2, 2, 2, 5, false, 2);  // depthwise, dilation 2
  dw = b.BatchNorm(dw, "dw_bn", 1e-3f);
  dw = b.Relu6(dw);
  int pw = b.Conv(dw, "pw", 5, 1, 1, 1, 1, 0, 0, 0, 0, 1, false);
  pw = b.BatchNorm(pw, "pw_bn");
  int res = b.Add(pw, a);  // mobilenet-style residual onto the block input
  int sc = b.Conv(res, "shortcut", 7, 1, 1, 1, 1, 0, 0, 0, 0, 1, false);
  sc = b.BatchNorm(sc, "shortcut_bn");
  int m = b.Conv(res, "main", 7, 3, 1, 1, 1, 1, 0, 1, 0, 1, true);
  m = b.BatchNorm(m, "main_bn");
  int y = b.Add(m, sc);  // resnet-style: add then relu
  y = b.Relu(y);         // 7 x 12 x 10
  int p1 = b.MaxPool(y, 3, 3, 2, 2, 0, 0, 0, 0, true);              // ceil mode: 6 x 5
  int p2 = b.AvgPool(p1, 3, 3, 1, 1, 1, 1, 1, 1, true, false);      // count pad
  int p3 = b.AvgPool(p2, 3, 2, 2, 2, 1, 1, 1, 1, false, true);      // exclude pad, ceil
  int g1 = b.Conv(p3, "g1", 6, 2, 2, 1, 1, 1, 1, 0, 0, 1, true);    // 6 x ...
  int g2 = b.Conv(p3, "g2", 3, 1, 1, 1, 1, 0, 0, 0, 0, 1, false);   // 3
  g2 = b.Relu(g2);
  int cat = b.Concat({g1, g2, p3});                                 // 6 + 3 + 7 = 16
  cat = b.BatchNorm(cat, "cat_bn");                                 // standalone BN
  int grouped = b.Conv(cat, "grouped", 8, 3, 3, 1, 1, 1, 1, 1, 1, 4, true);
  grouped = b.Relu(grouped);
  int f = b.Flatten(grouped);
  int d = b.Dense(f, "fc1", 11);
  d = b.Relu(d);
  d = b.Dense(d, "fc2", 9);
  absl::StatusOr<Graph> g = b.Finish(d);
  EXPECT_TRUE(g.ok()) << g.status();
  return *g;
}

TEST(GraphNetworkTest, KitchenSinkMatchesReference) {
  SetNumThreads(2);
  Graph graph = KitchenSink();
  std::vector<std::string> plan;
  CheckAgainstReference(graph, 1, 3, 5, &plan);  // 2 chunks, the second padded
  const std::string text = Joined(plan);
  EXPECT_NE(text.find("conv 'stem' +bn 'stem_bn' +relu"), std::string::npos) << text;
  EXPECT_NE(text.find("conv 'pw' +bn 'pw_bn' +sum(in place)"), std::string::npos) << text;
  EXPECT_NE(text.find("conv 'shortcut' +bn 'shortcut_bn' +sum(in place) +relu"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("batch_norm 'cat_bn'"), std::string::npos) << text;
}

TEST(GraphNetworkTest, BatchOneAndZero) {
  Graph graph = KitchenSink();
  CheckAgainstReference(graph, 2, 1, 1);
  ParamStore params = RandomParams(graph, 3);
  auto network = GraphNetwork::Create(graph, &params, 2);
  ASSERT_TRUE(network.ok()) << network.status();
  std::vector<float> none;
  EXPECT_TRUE((*network)->Forward(none, 0, absl::MakeSpan(none)).ok());
  std::vector<float> wrong(5);
  EXPECT_FALSE((*network)->Forward(wrong, 1, absl::MakeSpan(none)).ok());
}

// Residual operand that is still needed after the add (no in-place), a conv output read by a
// BN and by another layer (no folding), an add of two non-conv values, squeezenet-style head.
TEST(GraphNetworkTest, UnfusablePatterns) {
  GraphBuilder b;
  int x = b.Input(4, 9, 9);
  int c = b.Conv(x, "c0", 6, 3, 1, 1);
  int bn = b.BatchNorm(c, "bn0");                          // c also feeds the add below
  int s = b.Add(bn, c);
  s = b.Relu6(s);
  int c1 = b.Conv(s, "c1", 6, 3, 1, 1, 1, true);
  int r = b.Add(c1, s);                                    // s is read again by the concat
  int cat = b.Concat({r, s});
  int pool = b.MaxPool(cat, 2, 2, 0, false);
  int head = b.Conv(pool, "head", 10, 1, 1, 0, 1, true);
  head = b.Relu(head);
  head = b.GlobalAvgPool(head);
  head = b.Flatten(head);
  absl::StatusOr<Graph> g = b.Finish(head);
  ASSERT_TRUE(g.ok()) << g.status();
  std::vector<std::string> plan;
  CheckAgainstReference(*g, 4, 2, 3, &plan);
  EXPECT_NE(Joined(plan).find("+sum(copied)"), std::string::npos) << Joined(plan);
}

// The output is a 1x1 conv (no flatten) with a dilated conv before it; input used twice.
TEST(GraphNetworkTest, ConvOutputAndInputReuse) {
  GraphBuilder b;
  int x = b.Input(3, 15, 15);
  int a = b.Conv(x, "a", 8, 3, 3, 1, 1, 2, 2, 2, 2, 1, true, 2);
  int p = b.AvgPool(x, 3, 2, 0, true, true);   // no padding, ceil: include == exclude
  int q = b.Conv(p, "q", 8, 3, 3, 2, 2, 2, 2, 2, 2, 1, false);
  a = b.MaxPool(a, 5, 4, 2, true);
  int s = b.Add(a, q);
  int out = b.GlobalAvgPool(s);
  out = b.Conv(out, "cls", 5, 1, 1, 0, 1, true);
  absl::StatusOr<Graph> g = b.Finish(out);
  ASSERT_TRUE(g.ok()) << g.status();
  CheckAgainstReference(*g, 5, 4, 4);
}

// PadChannels (the CIFAR ResNets' option-A shortcut and other uses) on odd shapes: after a
// stride-2 1x1 max pool into a fused residual add, on the network input (plain NCHW), with
// zeros on one side only, feeding a concat and a standalone BatchNorm, and two pads in a row.
Graph PadChannelsGraph() {
  GraphBuilder b;
  int x = b.Input(3, 13, 11);
  int in_pad = b.PadChannels(x, 1, 0);                                // 4 channels
  int a = b.ConvBn(in_pad, "stem", "stem_bn", 6, 3, 1, 1);            // 6 x 13 x 11
  int y = b.ConvBn(a, "b.conv1", "b.bn1", 10, 3, 2, 1);               // 10 x 7 x 6
  y = b.Conv(y, "b.conv2", 10, 3, 1, 1);
  y = b.BatchNorm(y, "b.bn2");
  int shortcut = b.PadChannels(b.MaxPool(a, 1, 2, 0), 2, 2);          // 10 x 7 x 6
  y = b.Relu(b.Add(y, shortcut));
  int only_after = b.PadChannels(y, 0, 3);                            // 13
  int twice = b.PadChannels(b.PadChannels(shortcut, 1, 0), 0, 2);     // 13
  int cat = b.Concat({only_after, twice});                            // 26
  cat = b.BatchNorm(cat, "cat_bn");
  int out = b.Dense(b.Flatten(b.GlobalAvgPool(cat)), "fc", 7);
  absl::StatusOr<Graph> g = b.Finish(out);
  EXPECT_TRUE(g.ok()) << g.status();
  return *g;
}

TEST(GraphNetworkTest, PadChannelsMatchesReference) {
  SetNumThreads(2);
  const Graph graph = PadChannelsGraph();
  std::vector<std::string> plan;
  CheckAgainstReference(graph, 11, 3, 5, &plan);  // 2 chunks, the second padded
  CheckAgainstReference(graph, 12, 1, 1);
  const std::string text = Joined(plan);
  EXPECT_NE(text.find("pad_channels '' 2+6+2"), std::string::npos) << text;
  EXPECT_NE(text.find("pad_channels '' 1+3+0"), std::string::npos) << text;
  EXPECT_NE(text.find("conv 'b.conv2' +bn 'b.bn2' +sum"), std::string::npos) << text;
}

TEST(GraphNetworkTest, FoldBatchNormGivesSameOutputs) {
  Graph graph = KitchenSink();
  ParamStore params = RandomParams(graph, 7);
  const int batch = 3;
  const std::vector<float> input = RandomInput(graph, batch, 8);
  const std::vector<float> unfolded = RunNetwork(graph, &params, batch, input, batch);
  auto want = ReferenceForward(graph, params, input, batch, true);
  ASSERT_TRUE(want.ok());

  Graph folded = graph;
  ASSERT_TRUE(FoldBatchNormIntoConvs(&folded, &params).ok());
  EXPECT_TRUE(CheckGraphParams(folded, params).ok());
  // Conv-following BNs are gone (stem, dw, pw, shortcut, main), cat_bn stays.
  int num_bn = 0;
  for (const Layer& l : folded.layers) num_bn += l.kind == LayerKind::kBatchNorm;
  EXPECT_EQ(num_bn, 1);
  EXPECT_EQ(params.Find("stem_bn.weight"), nullptr);
  EXPECT_NE(params.Find("cat_bn.running_var"), nullptr);
  ASSERT_NE(params.Find("dw.bias"), nullptr);
  EXPECT_EQ(params.Find("dw.bias")->kind, Parameter::kBias);
  EXPECT_EQ(params.Find("dw.bias")->layer_type, "depthwise_conv");
  // The new bias sits right after its weight, in the store and in the graph's list.
  for (size_t i = 0; i < params.size(); ++i) {
    if (params.parameters()[i].name == "dw.weight") {
      EXPECT_EQ(params.parameters()[i + 1].name, "dw.bias");
    }
  }
  ASSERT_EQ(folded.params.size(), params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    EXPECT_EQ(folded.params[i].name, params.parameters()[i].name);
  }
  const std::vector<float> folded_out = RunNetwork(folded, &params, batch, input, batch);
  ExpectClose(folded_out, unfolded, graph.num_classes, "folded vs unfolded");
  auto folded_ref = ReferenceForward(folded, params, input, batch, true);
  ASSERT_TRUE(folded_ref.ok());
  ExpectClose(*folded_ref, *want, graph.num_classes, "folded reference vs reference");
}

TEST(GraphNetworkTest, SyncParamsPicksUpRewrittenWeights) {
  Graph graph = KitchenSink();
  ParamStore params = RandomParams(graph, 9);
  const int batch = 2;
  const std::vector<float> input = RandomInput(graph, batch, 10);
  auto network = GraphNetwork::Create(graph, &params, batch);
  ASSERT_TRUE(network.ok()) << network.status();
  std::vector<float> before(batch * graph.num_classes), after(before.size());
  ASSERT_TRUE((*network)->Forward(input, batch, absl::MakeSpan(before)).ok());

  // Rewrite a folded conv's weights, a BN's statistics and a dense weight in place.
  for (float& v : params.Find("main.weight")->values) v = std::round(v * 4.0f) / 4.0f;
  for (float& v : params.Find("main_bn.running_mean")->values) v += 0.25f;
  for (float& v : params.Find("cat_bn.weight")->values) v *= 1.5f;
  for (float& v : params.Find("fc1.weight")->values) v = -v;
  std::vector<float> stale(before.size());
  ASSERT_TRUE((*network)->Forward(input, batch, absl::MakeSpan(stale)).ok());
  EXPECT_EQ(stale, before);  // Forward never reads the store
  ASSERT_TRUE((*network)->SyncParams().ok());
  ASSERT_TRUE((*network)->Forward(input, batch, absl::MakeSpan(after)).ok());
  auto want = ReferenceForward(graph, params, input, batch, true);
  ASSERT_TRUE(want.ok());
  ExpectClose(after, *want, graph.num_classes, "after SyncParams");
  EXPECT_NE(after, before);

  // A shape change is refused and names the parameter.
  params.Find("fc2.weight")->shape = {9, 10};
  absl::Status s = (*network)->SyncParams();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("fc2.weight"), std::string::npos) << s;
}

TEST(GraphNetworkTest, CreateRejectsBadParams) {
  Graph graph = KitchenSink();
  ParamStore empty;
  auto network = GraphNetwork::Create(graph, &empty, 1);
  EXPECT_EQ(network.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(network.status().message().find("stem.weight"), std::string::npos);
  ParamStore params = RandomParams(graph, 1);
  EXPECT_FALSE(GraphNetwork::Create(graph, &params, 0).ok());
}

}  // namespace
}  // namespace quantbench
