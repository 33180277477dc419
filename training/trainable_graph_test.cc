// TrainableGraph: the oneDNN backend against the scalar reference backend (forward in both
// phases, running statistics, every gradient) per layer type and on a small graph with every
// layer kind; the reference backend against float finite differences on that graph; kEval
// against GraphNetwork inference; activation hooks; overrides; errors.
#include "training/trainable_graph.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "networks/graph.h"
#include "networks/graph_network.h"
#include "networks/param_store.h"
#include "networks/test_util.h"
#include "networks/threads.h"
#include "training/param_gradients.h"

namespace quantbench {
namespace {

constexpr int kBatch = 3;

std::unique_ptr<TrainableGraph> MakeGraph(const Graph& graph, TrainingBackend backend) {
  TrainableGraphOptions options;
  options.backend = backend;
  absl::StatusOr<std::unique_ptr<TrainableGraph>> g = TrainableGraph::Create(graph, options);
  EXPECT_TRUE(g.ok()) << g.status();
  return g.ok() ? std::move(*g) : nullptr;
}

ParamStore MakeParams(const Graph& graph, uint32_t seed) {
  absl::StatusOr<ParamStore> store = InitGraphParams(graph, seed);
  EXPECT_TRUE(store.ok()) << store.status();
  RandomizeNonWeights(&*store, seed + 1);
  return std::move(*store);
}

// max |a - b| <= tol * max(1, max |b|).
void ExpectClose(const std::vector<float>& a, const std::vector<float>& b, double tol,
                 const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  double scale = 1.0, worst = 0.0;
  size_t where = 0;
  for (size_t i = 0; i < b.size(); ++i) scale = std::max(scale, std::fabs(double{b[i]}));
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = std::fabs(double{a[i]} - b[i]);
    ASSERT_FALSE(std::isnan(a[i])) << what << " element " << i;
    if (d > worst) worst = d, where = i;
  }
  EXPECT_LE(worst, tol * scale) << what << ": element " << where << " is " << a[where]
                                << ", expected " << b[where];
}

// One training step's observable results.
struct StepResult {
  std::vector<float> train_logits, eval_logits, dinput;
  ParamGradients grads;
  ParamStore store_after;  // running statistics updated by the kTrain forward
};

StepResult RunStep(const Graph& graph, TrainingBackend backend, const ParamStore& params,
                   const std::vector<float>& input, const std::vector<float>& dlogits,
                   const ParamOverrides& overrides = {}, ActivationHook* hook = nullptr,
                   const std::string& hook_site = "") {
  StepResult r;
  r.store_after = params;
  std::unique_ptr<TrainableGraph> g = MakeGraph(graph, backend);
  if (g == nullptr) return r;
  if (hook) {
    EXPECT_TRUE(g->SetActivationHook(hook_site, hook).ok());
  }
  const size_t out = static_cast<size_t>(kBatch) * graph.num_classes;
  r.train_logits.resize(out);
  r.eval_logits.resize(out);
  r.dinput.resize(input.size());
  r.grads = ParamGradients::ZerosLike(r.store_after);
  absl::Status s = g->Forward(&r.store_after, input, kBatch, Phase::kTrain,
                              absl::MakeSpan(r.train_logits), overrides);
  EXPECT_TRUE(s.ok()) << s;
  s = g->Backward(dlogits, &r.grads, absl::MakeSpan(r.dinput));
  EXPECT_TRUE(s.ok()) << s;
  ParamStore eval_store = r.store_after;
  s = g->Forward(&eval_store, input, kBatch, Phase::kEval, absl::MakeSpan(r.eval_logits),
                 overrides);
  EXPECT_TRUE(s.ok()) << s;
  return r;
}

void ExpectSameStep(const StepResult& a, const StepResult& b, double tol, const std::string& what) {
  ExpectClose(a.train_logits, b.train_logits, tol, what + " train logits");
  ExpectClose(a.eval_logits, b.eval_logits, tol, what + " eval logits");
  ExpectClose(a.dinput, b.dinput, tol, what + " dinput");
  ASSERT_EQ(a.grads.grads.size(), b.grads.grads.size());
  for (size_t i = 0; i < a.grads.grads.size(); ++i) {
    const std::string& name = b.store_after.parameters()[i].name;
    ExpectClose(a.grads.grads[i], b.grads.grads[i], tol, what + " d" + name);
    ExpectClose(a.store_after.parameters()[i].values, b.store_after.parameters()[i].values, tol,
                what + " " + name + " after the step");
  }
}

// oneDNN vs reference on one graph, random parameters, input and dlogits.
void CompareBackends(const Graph& graph, const std::string& what, float input_range = 1.0f) {
  const ParamStore params = MakeParams(graph, 7);
  const std::vector<float> input =
      RandomVector(kBatch * graph.input.NumElements(), 11, -input_range, input_range);
  const std::vector<float> dlogits = RandomVector(kBatch * graph.num_classes, 12);
  const StepResult ref = RunStep(graph, TrainingBackend::kReference, params, input, dlogits);
  const StepResult dnn = RunStep(graph, TrainingBackend::kOneDnn, params, input, dlogits);
  ExpectSameStep(dnn, ref, 2e-4, what);
}

// Input 3 x 5 x 7 -> layer(s) -> Flatten (unless already flat).
Graph OneLayerGraph(const std::function<int(GraphBuilder&, int)>& add, int c = 3, int h = 5,
                    int w = 7) {
  GraphBuilder b;
  const int x = b.Input(c, h, w);
  int y = add(b, x);
  if (!b.shape(y).flat) y = b.Flatten(y);
  absl::StatusOr<Graph> g = b.Finish(y);
  EXPECT_TRUE(g.ok()) << g.status();
  return *g;
}

TEST(TrainableGraphBackendsTest, Conv) {
  CompareBackends(OneLayerGraph([](GraphBuilder& b, int x) { return b.Conv(x, "c", 5, 3, 1, 1); }),
                  "conv");
}

TEST(TrainableGraphBackendsTest, ConvStridedDilatedAsymmetricPaddingBias) {
  CompareBackends(OneLayerGraph([](GraphBuilder& b, int x) {
                    return b.Conv(x, "c", 4, 3, 2, 2, 1, 1, 0, 2, 1, 1, true, 2);
                  }),
                  "strided dilated conv");
}

TEST(TrainableGraphBackendsTest, GroupedConv) {
  CompareBackends(
      OneLayerGraph([](GraphBuilder& b, int x) { return b.Conv(x, "c", 9, 3, 1, 1, 3, true); },
                    6, 5, 7),
      "grouped conv");
}

TEST(TrainableGraphBackendsTest, DepthwiseConv) {
  CompareBackends(
      OneLayerGraph([](GraphBuilder& b, int x) { return b.Conv(x, "c", 5, 3, 2, 1, 5); }, 5, 7, 5),
      "depthwise conv");
}

TEST(TrainableGraphBackendsTest, BatchNorm) {
  CompareBackends(OneLayerGraph([](GraphBuilder& b, int x) { return b.BatchNorm(x, "bn"); }),
                  "batch_norm");
}

TEST(TrainableGraphBackendsTest, ReluAndRelu6) {
  CompareBackends(OneLayerGraph([](GraphBuilder& b, int x) { return b.Relu(x); }), "relu");
  CompareBackends(OneLayerGraph([](GraphBuilder& b, int x) { return b.Relu6(x); }), "relu6",
                  9.0f);
}

TEST(TrainableGraphBackendsTest, Add) {
  CompareBackends(OneLayerGraph([](GraphBuilder& b, int x) {
                    return b.Add(b.Conv(x, "c", 3, 3, 1, 1), x);
                  }),
                  "add");
}

TEST(TrainableGraphBackendsTest, Pooling) {
  CompareBackends(OneLayerGraph([](GraphBuilder& b, int x) { return b.MaxPool(x, 3, 2, 1, true); }),
                  "max_pool ceil_mode");
  CompareBackends(OneLayerGraph([](GraphBuilder& b, int x) {
                    return b.MaxPool(x, 2, 3, 2, 1, 0, 1, 1, 0, false);
                  }),
                  "max_pool asymmetric");
  CompareBackends(
      OneLayerGraph([](GraphBuilder& b, int x) { return b.AvgPool(x, 3, 2, 1, true, false); }),
      "avg_pool include pad");
  CompareBackends(
      OneLayerGraph([](GraphBuilder& b, int x) { return b.AvgPool(x, 3, 2, 1, false, true); }),
      "avg_pool exclude pad ceil_mode");
  CompareBackends(
      OneLayerGraph([](GraphBuilder& b, int x) { return b.AvgPool(x, 2, 2, 0, true, true); }),
      "avg_pool ceil_mode without padding");
  CompareBackends(OneLayerGraph([](GraphBuilder& b, int x) { return b.GlobalAvgPool(x); }),
                  "global_avg_pool");
}

TEST(TrainableGraphBackendsTest, ConcatPadChannelsFlattenDense) {
  CompareBackends(OneLayerGraph([](GraphBuilder& b, int x) {
                    return b.Concat({b.Conv(x, "c", 5, 1, 1, 0), x, b.Relu(x)});
                  }),
                  "concat");
  CompareBackends(OneLayerGraph([](GraphBuilder& b, int x) { return b.PadChannels(x, 2, 1); }),
                  "pad_channels");
  CompareBackends(
      OneLayerGraph([](GraphBuilder& b, int x) { return b.Dense(b.Flatten(x), "fc", 7); }),
      "dense");
}

TEST(TrainableGraphBackendsTest, AddThenReluWithPaddedAndUnpaddedChannelBlocks) {
  // 8 channels sit padded in oneDNN's 16-channel blocks, 16 fill them, 3 stay plain: the
  // Add + ReLU fusion must give the same numbers in every case.
  for (int ch : {8, 16, 3}) {
    CompareBackends(OneLayerGraph([ch](GraphBuilder& b, int x) {
                      return b.Relu(b.Add(b.Conv(x, "c", ch, 3, 1, 1), b.Conv(x, "d", ch, 3, 1, 1)));
                    }),
                    "conv + conv -> relu, channels " + std::to_string(ch));
    CompareBackends(OneLayerGraph([ch](GraphBuilder& b, int x) {
                      return b.Relu6(b.Add(b.BatchNorm(b.Conv(x, "c", ch, 3, 1, 1), "bn"),
                                           b.Conv(x, "d", ch, 3, 1, 1)));
                    }),
                    "bn + conv -> relu6, channels " + std::to_string(ch), 4.0f);
  }
}

// The resiliency CNN's small-channel convs (x0.25: 3 -> 8 -> 8 -> 16 maps, 5x5 'same', bias,
// ReLU, 2x2 max pool) on an odd 11 x 13 input: the convs whose backward primitives choose
// layouts other than the forward's (nChw16c backward-data, nChw8c backward-weights, with src /
// diff_dst reordered into them) against the scalar reference, dinput included.
TEST(TrainableGraphBackendsTest, SmallChannelConvStackInBackwardLayouts) {
  CompareBackends(OneLayerGraph(
                      [](GraphBuilder& b, int x) {
                        int y = b.MaxPool(b.Relu(b.Conv(x, "conv1", 8, 5, 1, 2, 1, true)), 2, 2, 0);
                        y = b.MaxPool(b.Relu(b.Conv(y, "conv2", 8, 5, 1, 2, 1, true)), 2, 2, 0);
                        y = b.Relu(b.Conv(y, "conv3", 16, 5, 1, 2, 1, true));
                        return b.Dense(b.Flatten(y), "fc", 10);
                      },
                      3, 11, 13),
                  "3 -> 8 -> 8 -> 16 conv stack");
}

// Every layer kind: residual add, depthwise conv, pooling, option-A shortcut (subsampling
// max pool + PadChannels), concat, dense, ReLU and ReLU6, BatchNorm everywhere.
Graph SmallGraph() {
  GraphBuilder b;
  using Act = GraphBuilder::Act;
  const int x = b.Input(3, 9, 9);
  const int c1 = b.ConvBn(x, "conv1", "bn1", 8, 3, 1, 1);
  const int dw = b.ConvBn(c1, "dw", "bn_dw", 8, 3, 1, 1, 8, Act::kRelu6);
  const int pw = b.ConvBn(dw, "pw", "bn_pw", 8, 1, 1, 0, 1, Act::kNone);
  const int r1 = b.Relu(b.Add(pw, c1));
  const int mp = b.MaxPool(r1, 3, 2, 1);  // 8 x 5 x 5
  const int shortcut = b.PadChannels(b.MaxPool(r1, 1, 2, 0), 3, 5);  // 16 x 5 x 5
  const int c2 = b.ConvBn(mp, "conv2", "bn2", 16, 3, 1, 1, 1, Act::kNone);
  const int r2 = b.Relu(b.Add(c2, shortcut));
  const int ap = b.AvgPool(r2, 3, 2, 1, false, true);  // 3 x 3
  const int branch = b.Conv(ap, "branch", 5, 1, 1, 0, 1, true);
  const int cat = b.Concat({ap, branch});
  const int fc = b.Dense(b.Flatten(b.GlobalAvgPool(cat)), "fc", 10);
  absl::StatusOr<Graph> g = b.Finish(fc);
  EXPECT_TRUE(g.ok()) << g.status();
  return *g;
}

TEST(TrainableGraphBackendsTest, SmallGraphWithEveryLayerKind) {
  CompareBackends(SmallGraph(), "small graph");
}

TEST(TrainableGraphReferenceTest, SmallGraphGradientsMatchFiniteDifferences) {
  // Float central differences on the reference backend: the graph plumbing (fan-out, hooks
  // of nothing, parameter routing) on top of the per-layer double-precision checks.
  const Graph graph = SmallGraph();
  const ParamStore params = MakeParams(graph, 21);
  const std::vector<float> input = RandomVector(kBatch * graph.input.NumElements(), 22);
  const std::vector<float> dlogits = RandomVector(kBatch * graph.num_classes, 23);
  const StepResult step = RunStep(graph, TrainingBackend::kReference, params, input, dlogits);
  std::unique_ptr<TrainableGraph> g = MakeGraph(graph, TrainingBackend::kReference);
  std::vector<float> logits(kBatch * graph.num_classes);
  auto loss = [&](ParamStore* store, const std::vector<float>& in) {
    EXPECT_TRUE(g->Forward(store, in, kBatch, Phase::kTrain, absl::MakeSpan(logits)).ok());
    double l = 0.0;
    for (size_t i = 0; i < logits.size(); ++i) l += double{logits[i]} * dlogits[i];
    return l;
  };
  const float h = 2e-4f;
  int checked = 0;
  for (size_t pi = 0; pi < params.size(); ++pi) {
    if (step.grads.grads[pi].empty()) continue;
    for (size_t e = 0; e < params.parameters()[pi].values.size(); e += 7) {
      ParamStore plus = params, minus = params;
      plus.parameters()[pi].values[e] += h;
      minus.parameters()[pi].values[e] -= h;
      const double numeric = (loss(&plus, input) - loss(&minus, input)) / (2 * h);
      EXPECT_NEAR(step.grads.grads[pi][e], numeric, 2e-2 * (1.0 + std::fabs(numeric)))
          << params.parameters()[pi].name << "[" << e << "]";
      ++checked;
    }
  }
  for (size_t e = 0; e < input.size(); e += 11) {
    std::vector<float> plus = input, minus = input;
    plus[e] += h;
    minus[e] -= h;
    ParamStore s1 = params, s2 = params;
    const double numeric = (loss(&s1, plus) - loss(&s2, minus)) / (2 * h);
    EXPECT_NEAR(step.dinput[e], numeric, 2e-2 * (1.0 + std::fabs(numeric))) << "input " << e;
    ++checked;
  }
  EXPECT_GT(checked, 100);
}

TEST(TrainableGraphTest, EvalForwardMatchesGraphNetworkInference) {
  const Graph graph = SmallGraph();
  ParamStore params = MakeParams(graph, 31);
  const std::vector<float> input = RandomVector(kBatch * graph.input.NumElements(), 32);
  absl::StatusOr<std::unique_ptr<GraphNetwork>> net = GraphNetwork::Create(graph, &params, kBatch);
  ASSERT_TRUE(net.ok()) << net.status();
  std::vector<float> probabilities(kBatch * graph.num_classes);
  ASSERT_TRUE((*net)->Forward(input, kBatch, absl::MakeSpan(probabilities)).ok());
  for (TrainingBackend backend : {TrainingBackend::kOneDnn, TrainingBackend::kReference}) {
    std::unique_ptr<TrainableGraph> g = MakeGraph(graph, backend);
    std::vector<float> logits(probabilities.size());
    ASSERT_TRUE(g->Forward(&params, input, kBatch, Phase::kEval, absl::MakeSpan(logits)).ok());
    std::vector<float> softmax(logits.size());
    for (int n = 0; n < kBatch; ++n) {
      const float* row = logits.data() + n * graph.num_classes;
      const double top = *std::max_element(row, row + graph.num_classes);
      double sum = 0.0;
      for (int c = 0; c < graph.num_classes; ++c) sum += std::exp(row[c] - top);
      for (int c = 0; c < graph.num_classes; ++c) {
        softmax[n * graph.num_classes + c] = static_cast<float>(std::exp(row[c] - top) / sum);
      }
    }
    ExpectClose(softmax, probabilities, 1e-5, "softmax(kEval logits) vs GraphNetwork");
  }
}

// y = scale * x; counts its calls.
class ScaleHook : public ActivationHook {
 public:
  explicit ScaleHook(float scale) : scale_(scale) {}
  absl::Status Forward(absl::Span<const float> x, absl::Span<float> y) override {
    ++forwards;
    for (size_t i = 0; i < x.size(); ++i) y[i] = scale_ * x[i];
    return absl::OkStatus();
  }
  absl::Status Backward(absl::Span<const float> dy, absl::Span<float> dx) override {
    ++backwards;
    for (size_t i = 0; i < dy.size(); ++i) dx[i] = scale_ * dy[i];
    return absl::OkStatus();
  }
  int forwards = 0, backwards = 0;

 private:
  float scale_;
};

class TrainableGraphBothBackendsTest : public ::testing::TestWithParam<TrainingBackend> {};

TEST_P(TrainableGraphBothBackendsTest, HookScalingTheInputByTwoDoublesInputGradients) {
  const Graph graph = SmallGraph();
  const ParamStore params = MakeParams(graph, 41);
  const std::vector<float> input = RandomVector(kBatch * graph.input.NumElements(), 42);
  std::vector<float> doubled = input;
  for (float& v : doubled) v *= 2.0f;
  const std::vector<float> dlogits = RandomVector(kBatch * graph.num_classes, 43);
  ScaleHook hook(2.0f);
  // conv1 is the only reader of the input: hooking it is feeding 2x the input.
  const StepResult hooked = RunStep(graph, GetParam(), params, input, dlogits, {}, &hook, "conv1");
  const StepResult plain = RunStep(graph, GetParam(), params, doubled, dlogits);
  EXPECT_EQ(hook.forwards, 2);  // the train and the eval forward
  EXPECT_EQ(hook.backwards, 1);
  ExpectClose(hooked.train_logits, plain.train_logits, 1e-6, "hooked logits");
  ExpectClose(hooked.eval_logits, plain.eval_logits, 1e-6, "hooked eval logits");
  std::vector<float> twice = plain.dinput;
  for (float& v : twice) v *= 2.0f;
  ExpectClose(hooked.dinput, twice, 1e-6, "hooked dinput");
  for (size_t i = 0; i < params.size(); ++i) {
    ExpectClose(hooked.grads.grads[i], plain.grads.grads[i], 1e-6,
                "d" + params.parameters()[i].name);
  }
}

TEST_P(TrainableGraphBothBackendsTest, HookOnlyChangesWhatTheSiteReads) {
  // x feeds conv "a" and conv "b" and a ReLU; the hook of "b" is used by both sites (the
  // first site with a hook decides for the value) but not by the ReLU.
  GraphBuilder b;
  const int x = b.Input(3, 5, 7);
  const int cat = b.Concat({b.Conv(x, "a", 2, 3, 1, 1), b.Conv(x, "b", 3, 1, 1, 0), b.Relu(x)});
  absl::StatusOr<Graph> graph = b.Finish(b.Flatten(cat));
  ASSERT_TRUE(graph.ok());
  const ParamStore params = MakeParams(*graph, 51);
  const std::vector<float> input = RandomVector(kBatch * graph->input.NumElements(), 52);
  const std::vector<float> dlogits = RandomVector(kBatch * graph->num_classes, 53);
  ScaleHook hook(-3.0f);
  const StepResult hooked = RunStep(*graph, GetParam(), params, input, dlogits, {}, &hook, "b");
  std::unique_ptr<TrainableGraph> g = MakeGraph(*graph, GetParam());
  EXPECT_EQ(g->ActivationSites(), (std::vector<std::string>{"a", "b"}));
  // Expected: conv outputs on -3 x, ReLU on x.
  std::vector<float> scaled = input;
  for (float& v : scaled) v *= -3.0f;
  const StepResult on_scaled = RunStep(*graph, GetParam(), params, scaled, dlogits);
  const StepResult on_plain = RunStep(*graph, GetParam(), params, input, dlogits);
  const int per_example = graph->num_classes;
  const int conv_part = (2 + 3) * 5 * 7;
  for (int n = 0; n < kBatch; ++n) {
    for (int j = 0; j < per_example; ++j) {
      const float want = j < conv_part ? on_scaled.train_logits[n * per_example + j]
                                       : on_plain.train_logits[n * per_example + j];
      EXPECT_NEAR(hooked.train_logits[n * per_example + j], want, 1e-5) << n << " " << j;
    }
  }
  EXPECT_EQ(hook.backwards, 1);
  EXPECT_TRUE(g->SetActivationHook("nope", &hook).code() == absl::StatusCode::kInvalidArgument);
}

TEST_P(TrainableGraphBothBackendsTest, OverridesAreUsedAndDifferentiated) {
  const Graph graph = SmallGraph();
  const ParamStore params = MakeParams(graph, 61);
  const std::vector<float> input = RandomVector(kBatch * graph.input.NumElements(), 62);
  const std::vector<float> dlogits = RandomVector(kBatch * graph.num_classes, 63);
  ParamStore replaced = params;
  ParamOverrides overrides;
  std::vector<std::vector<float>> values;
  values.reserve(2);
  for (const char* name : {"dw.weight", "fc.weight"}) {
    int index = -1;
    for (size_t i = 0; i < params.size(); ++i) {
      if (params.parameters()[i].name == name) index = static_cast<int>(i);
    }
    ASSERT_GE(index, 0);
    values.push_back(RandomVector(params.parameters()[index].values.size(), 64 + index));
    overrides[index] = &values.back();
    replaced.parameters()[index].values = values.back();
  }
  const StepResult over = RunStep(graph, GetParam(), params, input, dlogits, overrides);
  const StepResult direct = RunStep(graph, GetParam(), replaced, input, dlogits);
  ExpectClose(over.train_logits, direct.train_logits, 1e-6, "overridden logits");
  ExpectClose(over.eval_logits, direct.eval_logits, 1e-6, "overridden eval logits");
  ExpectClose(over.dinput, direct.dinput, 1e-6, "overridden dinput");
  for (size_t i = 0; i < params.size(); ++i) {
    ExpectClose(over.grads.grads[i], direct.grads.grads[i], 1e-6,
                "d" + params.parameters()[i].name);
  }
  // The store keeps the latent weights.
  for (const auto& [index, unused] : overrides) {
    EXPECT_EQ(over.store_after.parameters()[index].values, params.parameters()[index].values);
  }
}

TEST_P(TrainableGraphBothBackendsTest, Errors) {
  const Graph graph = SmallGraph();
  ParamStore params = MakeParams(graph, 71);
  std::unique_ptr<TrainableGraph> g = MakeGraph(graph, GetParam());
  const std::vector<float> input = RandomVector(kBatch * graph.input.NumElements(), 72);
  std::vector<float> logits(kBatch * graph.num_classes), dlogits(logits.size(), 1.0f);
  ParamGradients grads = ParamGradients::ZerosLike(params);
  EXPECT_EQ(g->Backward(dlogits, &grads).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(g->Forward(&params, input, kBatch, Phase::kEval, absl::MakeSpan(logits)).ok());
  EXPECT_EQ(g->Backward(dlogits, &grads).code(), absl::StatusCode::kFailedPrecondition);

  const std::vector<float> short_input(input.begin(), input.end() - 1);
  EXPECT_EQ(g->Forward(&params, short_input, kBatch, Phase::kTrain, absl::MakeSpan(logits)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(g->Forward(&params, input, kBatch, Phase::kTrain, absl::MakeSpan(logits).subspan(1))
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(g->Forward(&params, input, 0, Phase::kTrain, absl::MakeSpan(logits)).code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<float> wrong(3);
  EXPECT_EQ(g->Forward(&params, input, kBatch, Phase::kTrain, absl::MakeSpan(logits),
                       {{0, &wrong}})
                .code(),
            absl::StatusCode::kInvalidArgument);
  ParamStore other;
  EXPECT_EQ(g->Forward(&other, input, kBatch, Phase::kTrain, absl::MakeSpan(logits)).code(),
            absl::StatusCode::kInvalidArgument);

  ASSERT_TRUE(g->Forward(&params, input, kBatch, Phase::kTrain, absl::MakeSpan(logits)).ok());
  EXPECT_EQ(g->Backward(absl::MakeConstSpan(dlogits).subspan(1), &grads).code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<float> short_dinput(input.size() - 1);
  EXPECT_EQ(g->Backward(dlogits, &grads, absl::MakeSpan(short_dinput)).code(),
            absl::StatusCode::kInvalidArgument);
  ParamGradients bad;
  EXPECT_EQ(g->Backward(dlogits, &bad).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(g->Backward(dlogits, &grads).ok());
  // Gradients without dinput equal those with it.
  std::vector<float> dinput(input.size());
  ParamGradients grads2 = ParamGradients::ZerosLike(params);
  EXPECT_TRUE(g->Backward(dlogits, &grads2, absl::MakeSpan(dinput)).ok());
  for (size_t i = 0; i < grads.grads.size(); ++i) EXPECT_EQ(grads.grads[i], grads2.grads[i]);

  // Batch statistics of one value per channel are undefined (PyTorch refuses too).
  GraphBuilder b;
  const int x = b.Input(2, 1, 1);
  absl::StatusOr<Graph> bn_graph = b.Finish(b.Flatten(b.BatchNorm(x, "bn")));
  ASSERT_TRUE(bn_graph.ok());
  ParamStore bn_params = MakeParams(*bn_graph, 73);
  std::unique_ptr<TrainableGraph> bn = MakeGraph(*bn_graph, GetParam());
  std::vector<float> one(2), out(2);
  EXPECT_EQ(bn->Forward(&bn_params, one, 1, Phase::kTrain, absl::MakeSpan(out)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(bn->Forward(&bn_params, one, 1, Phase::kEval, absl::MakeSpan(out)).ok());
}

INSTANTIATE_TEST_SUITE_P(Backends, TrainableGraphBothBackendsTest,
                         ::testing::Values(TrainingBackend::kOneDnn, TrainingBackend::kReference),
                         [](const ::testing::TestParamInfo<TrainingBackend>& info) {
                           return info.param == TrainingBackend::kOneDnn ? "OneDnn" : "Reference";
                         });

TEST(TrainableGraphTest, CreateRejectsWhatItCanNotTrain) {
  Graph graph = SmallGraph();
  graph.layers[3].shape.c += 1;  // a declared shape that disagrees with its inputs
  TrainableGraphOptions options;
  EXPECT_EQ(TrainableGraph::Create(graph, options).status().code(),
            absl::StatusCode::kInvalidArgument);
  // PyTorch's include-pad divisor with a ceil_mode extension has no oneDNN equivalent.
  const Graph pool = OneLayerGraph(
      [](GraphBuilder& b, int x) { return b.AvgPool(x, 3, 2, 1, true, true); }, 3, 6, 6);
  EXPECT_EQ(TrainableGraph::Create(pool, options).status().code(),
            absl::StatusCode::kUnimplemented);
  options.backend = TrainingBackend::kReference;
  EXPECT_TRUE(TrainableGraph::Create(pool, options).ok());
}

}  // namespace
}  // namespace quantbench
