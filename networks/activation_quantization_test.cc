// Activation quantization inside the networks (Network::ActivationSites / ObserveActivations /
// SetActivationQuantization) for GraphNetwork, on the mlp architecture (dense layers only,
// checked against a hand-written MLP) and on convolutional graphs, simulated and packed.
//
// Ground truths:
//   * observation: the input itself (first site), a hand-written MLP forward pass, and
//     graph_reference (double precision) recording every value through its hook;
//   * a 2-bit site: the network "in pieces". The site's tensor as the network computes it
//     (observed), fake-quantized by hand with the scalar twin FakeQuantizeActivationsRef, is
//     fed to the rest of the network (by hand for the MLP; for a graph, a second graph that
//     starts at the site's value: every consumer of the value, residual add included, then
//     reads the quantized tensor). Values are exact up to the last fp32 rounding, so the
//     2-bit codes can not flip between the two sides;
//   * switching off: bit-identical to never having switched on.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "networks/architecture.h"
#include "networks/graph.h"
#include "networks/graph_network.h"
#include "networks/graph_reference.h"
#include "networks/param_store.h"
#include "networks/threads.h"
#include "quantizers/activation_quantizer.h"
#include "networks/test_util.h"
#include "quantizers/quantizer.h"

namespace quantbench {
namespace {

std::vector<float> RunForward(Network& network, const std::vector<float>& input, int batch) {
  std::vector<float> out(static_cast<size_t>(batch) * network.num_classes());
  const absl::Status s = network.Forward(input, batch, absl::MakeSpan(out));
  EXPECT_TRUE(s.ok()) << s;
  return out;
}

double MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double worst = 0.0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    worst = std::max(worst, std::fabs(static_cast<double>(a[i]) - b[i]));
  }
  return worst;
}

// Every site's tensor over the whole batch, in observation order (chunks concatenated).
std::map<std::string, std::vector<float>> Observe(Network& network, const std::vector<float>& input,
                                                  int batch) {
  std::map<std::string, std::vector<float>> seen;
  const absl::Status s = network.ObserveActivations(
      input, batch, [&](const std::string& site, absl::Span<const float> values) {
        seen[site].insert(seen[site].end(), values.begin(), values.end());
      });
  EXPECT_TRUE(s.ok()) << s;
  return seen;
}

// min/max calibration of every observed site at `bits`.
std::map<std::string, ActivationQuantParams> Calibrate(
    const std::map<std::string, std::vector<float>>& seen, int bits) {
  std::map<std::string, ActivationQuantParams> params;
  for (const auto& [site, values] : seen) {
    ActivationObserver observer;
    EXPECT_TRUE(observer.Observe(values).ok()) << site;
    absl::StatusOr<ActivationQuantParams> p = observer.Compute(bits, ActivationCalibration::kMinMax);
    EXPECT_TRUE(p.ok()) << site << ": " << p.status();
    if (p.ok()) params[site] = *p;
  }
  return params;
}

std::vector<float> FakeQuantizedCopy(std::vector<float> values, const ActivationQuantParams& p) {
  FakeQuantizeActivationsRef(absl::MakeSpan(values), p);
  return values;
}

// Per-channel 4-bit uniform weights from the registered `linear` quantizer, written into the
// store (what a sweep cell does) and returned for UsePackedWeights.
std::map<std::string, QuantizedTensor> QuantizeWeights(ParamStore* store, int bits) {
  absl::StatusOr<std::unique_ptr<Quantizer>> quantizer =
      QuantizerRegistry::Global().Create("linear", {{"granularity", "per_channel"}});
  EXPECT_TRUE(quantizer.ok()) << quantizer.status();
  std::map<std::string, QuantizedTensor> out;
  if (!quantizer.ok()) return out;
  for (Parameter& p : store->parameters()) {
    if (p.kind != Parameter::kWeight) continue;
    absl::StatusOr<QuantizedTensor> q = (*quantizer)->Quantize({p.name, p.shape, p.values}, bits);
    EXPECT_TRUE(q.ok()) << q.status();
    if (!q.ok()) continue;
    p.values = q->values;
    out[p.name] = std::move(q).value();
  }
  return out;
}

// The quantized weights of the layers a graph has (UsePackedWeights rejects other names).
std::vector<PackedParam> PackedParamsFor(const Graph& graph,
                                         const std::map<std::string, QuantizedTensor>& tensors,
                                         int bits) {
  std::vector<PackedParam> params;
  for (const Layer& layer : graph.layers) {
    if (layer.kind != LayerKind::kConv && layer.kind != LayerKind::kDense) continue;
    const auto it = tensors.find(layer.name + ".weight");
    if (it != tensors.end()) params.push_back({it->first, &it->second, bits});
  }
  return params;
}

// ---------------------------------------------------------------------------------------------
// MLP

constexpr int kMlpMaxBatch = 3;
constexpr int kMlpBatch = 7;  // chunks of 3, 3 and a zero-padded 1

// The registered mlp at 37-29-17-11 (dense layers fc1..fc3), random biases.
struct MlpFixture {
  Graph graph;
  ParamStore store;
  std::unique_ptr<GraphNetwork> network;
  std::vector<float> input;
};
constexpr int kMlpLayers = 3, kMlpInputs = 37;

MlpFixture MakeMlp() {
  MlpFixture f;
  absl::StatusOr<Graph> graph =
      ArchitectureRegistry::Global().Build("mlp", {11, 0, {{"inputs", "37"}, {"hidden", "29,17"}}});
  EXPECT_TRUE(graph.ok()) << graph.status();
  if (!graph.ok()) return f;
  f.graph = *std::move(graph);
  absl::StatusOr<ParamStore> store = InitGraphParams(f.graph, 5);
  EXPECT_TRUE(store.ok()) << store.status();
  if (!store.ok()) return f;
  f.store = *std::move(store);
  RandomizeNonWeights(&f.store, 6);
  auto network = GraphNetwork::Create(f.graph, &f.store, kMlpMaxBatch);
  EXPECT_TRUE(network.ok()) << network.status();
  if (network.ok()) f.network = std::move(network).value();
  f.input = RandomVector(static_cast<size_t>(kMlpBatch) * kMlpInputs, 7);
  return f;
}

std::string MlpLayerName(int l) { return "fc" + std::to_string(l + 1); }

// Dense layer `l` (0-based: fc(l+1)) of the store in double: y = W x + b (+ ReLU on hidden
// layers).
std::vector<double> DenseByHand(const ParamStore& store, int l, const std::vector<double>& x) {
  const Parameter& weight = *store.Find(MlpLayerName(l) + ".weight");
  const int out = static_cast<int>(weight.shape[0]), in = static_cast<int>(weight.shape[1]);
  const std::vector<float>& w = weight.values;
  const std::vector<float>& b = store.Find(MlpLayerName(l) + ".bias")->values;
  const bool hidden = l + 1 < kMlpLayers;
  std::vector<double> y(out);
  for (int o = 0; o < out; ++o) {
    double acc = b[o];
    for (int i = 0; i < in; ++i) acc += static_cast<double>(w[o * in + i]) * x[i];
    y[o] = hidden ? std::max(acc, 0.0) : acc;
  }
  return y;
}

std::vector<double> Softmax(const std::vector<double>& logits) {
  const double top = *std::max_element(logits.begin(), logits.end());
  std::vector<double> p(logits.size());
  double sum = 0.0;
  for (size_t i = 0; i < p.size(); ++i) sum += (p[i] = std::exp(logits[i] - top));
  for (double& v : p) v /= sum;
  return p;
}

TEST(MlpActivationQuantizationTest, SitesAndObservation) {
  MlpFixture f = MakeMlp();
  ASSERT_NE(f.network, nullptr);
  EXPECT_EQ(f.network->ActivationSites(), (std::vector<std::string>{"fc1", "fc2", "fc3"}));
  const auto seen = Observe(*f.network, f.input, kMlpBatch);
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen.at("fc1"), f.input) << "the first site is the input itself, real rows only";

  // fc2 reads ReLU(fc1 x), fc3 reads ReLU(fc2 ...): compare with a forward pass by hand.
  for (int b = 0; b < kMlpBatch; ++b) {
    std::vector<double> x(f.input.begin() + b * kMlpInputs, f.input.begin() + (b + 1) * kMlpInputs);
    for (int l = 1; l < kMlpLayers; ++l) {
      x = DenseByHand(f.store, l - 1, x);
      const std::vector<float>& got = seen.at(MlpLayerName(l));
      ASSERT_EQ(got.size(), static_cast<size_t>(kMlpBatch) * x.size());
      for (size_t i = 0; i < x.size(); ++i) {
        EXPECT_NEAR(got[b * x.size() + i], x[i], 1e-5 * (1.0 + std::fabs(x[i])))
            << MlpLayerName(l) << " example " << b << " index " << i;
      }
    }
  }
  // Observation leaves the network as it was.
  const std::vector<float> before = RunForward(*f.network, f.input, kMlpBatch);
  Observe(*f.network, f.input, kMlpBatch);
  EXPECT_EQ(RunForward(*f.network, f.input, kMlpBatch), before);
}

// Checks that the network with `site` quantized to `params` equals the pieces reference, and
// that switching off gives back `fp32` bit for bit. Works in the network's current mode.
void ExpectMlpTwoBitSiteMatchesPieces(MlpFixture& f, const std::string& site, int site_layer,
                                      const std::vector<float>& fp32, double tolerance) {
  const auto seen = Observe(*f.network, f.input, kMlpBatch);
  const ActivationQuantParams p = Calibrate(seen, 2).at(site);
  ASSERT_TRUE(f.network->SetActivationQuantization({{site, p}}).ok());
  const std::vector<float> got = RunForward(*f.network, f.input, kMlpBatch);

  const std::vector<float> quantized = FakeQuantizedCopy(seen.at(site), p);
  const int in = static_cast<int>(f.store.Find(MlpLayerName(site_layer) + ".weight")->shape[1]);
  std::vector<float> want;
  for (int b = 0; b < kMlpBatch; ++b) {
    std::vector<double> x(quantized.begin() + b * in, quantized.begin() + (b + 1) * in);
    for (int l = site_layer; l < kMlpLayers; ++l) x = DenseByHand(f.store, l, x);
    for (double v : Softmax(x)) want.push_back(static_cast<float>(v));
  }
  EXPECT_LE(MaxAbsDiff(got, want), tolerance) << site;
  EXPECT_GT(MaxAbsDiff(got, fp32), 1e-3) << site << ": 2 bits should visibly change the output";

  ASSERT_TRUE(f.network->SetActivationQuantization({}).ok());
  EXPECT_EQ(RunForward(*f.network, f.input, kMlpBatch), fp32) << "switched off: bit-exact";
}

TEST(MlpActivationQuantizationTest, TwoBitSiteEqualsPiecesAndOffRestores) {
  MlpFixture f = MakeMlp();
  ASSERT_NE(f.network, nullptr);
  const std::vector<float> fp32 = RunForward(*f.network, f.input, kMlpBatch);
  ExpectMlpTwoBitSiteMatchesPieces(f, "fc1", 0, fp32, 2e-6);
  ExpectMlpTwoBitSiteMatchesPieces(f, "fc2", 1, fp32, 2e-6);
}

TEST(MlpActivationQuantizationTest, SixteenBitsBarelyChangeTheOutput) {
  MlpFixture f = MakeMlp();
  ASSERT_NE(f.network, nullptr);
  const std::vector<float> fp32 = RunForward(*f.network, f.input, kMlpBatch);
  ASSERT_TRUE(f.network->SetActivationQuantization(Calibrate(Observe(*f.network, f.input, kMlpBatch), 16)).ok());
  const std::vector<float> q16 = RunForward(*f.network, f.input, kMlpBatch);
  EXPECT_LE(MaxAbsDiff(q16, fp32), 1e-4);
  EXPECT_NE(q16, fp32) << "quantization is really applied";
}

TEST(MlpActivationQuantizationTest, ErrorsChangeNothing) {
  MlpFixture f = MakeMlp();
  ASSERT_NE(f.network, nullptr);
  const auto params = Calibrate(Observe(*f.network, f.input, kMlpBatch), 3);
  ASSERT_TRUE(f.network->SetActivationQuantization({{"fc2", params.at("fc2")}}).ok());
  const std::vector<float> quantized = RunForward(*f.network, f.input, kMlpBatch);

  absl::Status s = f.network->SetActivationQuantization({{"fc9", params.at("fc2")}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("'fc9'"), std::string::npos) << s;
  ActivationQuantParams bad = params.at("fc1");
  bad.zero_point = 8;  // off the 3-bit grid [0, 7]
  s = f.network->SetActivationQuantization({{"fc1", bad}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("zero_point"), std::string::npos) << s;
  bad = params.at("fc1");
  bad.scale = std::nanf("");
  EXPECT_EQ(f.network->SetActivationQuantization({{"fc1", bad}}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RunForward(*f.network, f.input, kMlpBatch), quantized) << "the old setting holds";

  std::vector<float> wrong(5);
  EXPECT_EQ(f.network->ObserveActivations(wrong, 1, [](const std::string&, absl::Span<const float>) {}).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(MlpActivationQuantizationTest, PackedMode) {
  MlpFixture f = MakeMlp();
  ASSERT_NE(f.network, nullptr);
  const std::map<std::string, QuantizedTensor> tensors = QuantizeWeights(&f.store, 4);
  ASSERT_TRUE(f.network->SyncParams().ok());
  std::vector<PackedParam> packed;
  for (const auto& [name, q] : tensors) packed.push_back({name, &q, 4});
  ASSERT_TRUE(f.network->UsePackedWeights(packed, GemmActivations::kFloat).ok());
  const std::vector<float> fp32 = RunForward(*f.network, f.input, kMlpBatch);
  // Packed fp32 activations sum in another order than the hand-written double reference.
  ExpectMlpTwoBitSiteMatchesPieces(f, "fc2", 1, fp32, 1e-5);
  ExpectMlpTwoBitSiteMatchesPieces(f, "fc3", 2, fp32, 1e-5);
}

// ---------------------------------------------------------------------------------------------
// GraphNetwork

// A residual block whose input `a` feeds both a conv (site 'c1') and the add, then a head.
// Built from the input (full graph) or from `a` (the tail: its Input stands for `a`), with the
// same layer names, so one store serves both.
int ResidualTail(GraphBuilder& b, int a) {
  int y = b.BatchNorm(b.Conv(a, "c1", 8, 3, 3, 1, 1, 1, 0, 1, 2, 1, false), "c1_bn");
  y = b.Relu(b.Add(y, a));
  y = b.Relu(b.Conv(y, "c2", 6, 1, 1, 0, 1, true));
  y = b.MaxPool(y, 2, 2, 0, /*ceil_mode=*/true);
  return b.Dense(b.Flatten(y), "fc", 5);
}

constexpr int kStemChannels = 8, kImageH = 11, kImageW = 9;

Graph ResidualGraph() {
  GraphBuilder b;
  int x = b.Input(3, kImageH, kImageW);
  int a = b.ConvBn(x, "stem", "stem_bn", kStemChannels, 3, 1, 1);
  absl::StatusOr<Graph> g = b.Finish(ResidualTail(b, a));
  EXPECT_TRUE(g.ok()) << g.status();
  return *g;
}

Graph ResidualGraphTail() {
  GraphBuilder b;
  int a = b.Input(kStemChannels, kImageH, kImageW);
  absl::StatusOr<Graph> g = b.Finish(ResidualTail(b, a));
  EXPECT_TRUE(g.ok()) << g.status();
  return *g;
}

// Inception-like sharing (three convs read one value), a concat whose 13 channels pad a
// blocked layout, a strided depthwise conv, a standalone BatchNorm, global pooling, two dense
// layers (the first behind a Flatten).
Graph BranchyGraph() {
  GraphBuilder b;
  int x = b.Input(3, 15, 13);
  x = b.ConvBn(x, "stem", "stem_bn", 12, 3, 2, 1);
  int b1 = b.Conv(x, "b1", 5, 1, 1, 0, 1, true);
  int b2 = b.ConvBn(x, "b2", "b2_bn", 4, 3, 1, 1);
  int b3 = b.Conv(x, "b3", 4, 3, 3, 1, 1, 2, 0, 0, 2, 1, false);
  b3 = b.Relu6(b3);
  int cat = b.Concat({b1, b2, b3});  // 13 channels
  cat = b.BatchNorm(cat, "cat_bn");
  int dw = b.ConvBn(cat, "dw", "dw_bn", 13, 3, 2, 1, /*groups=*/13, GraphBuilder::Act::kRelu6);
  int d = b.Dense(b.Flatten(b.GlobalAvgPool(dw)), "fc1", 9);
  d = b.Dense(b.Relu(d), "fc2", 7);
  absl::StatusOr<Graph> g = b.Finish(d);
  EXPECT_TRUE(g.ok()) << g.status();
  return *g;
}

struct GraphFixture {
  Graph graph;
  ParamStore store;
  std::unique_ptr<GraphNetwork> network;
  std::vector<float> input;
  int batch = 0;
};

GraphFixture MakeGraph(Graph graph, int max_batch, int batch, uint32_t seed) {
  GraphFixture f;
  f.graph = std::move(graph);
  absl::StatusOr<ParamStore> store = InitGraphParams(f.graph, seed);
  EXPECT_TRUE(store.ok()) << store.status();
  f.store = std::move(store).value();
  RandomizeNonWeights(&f.store, seed + 1);
  auto network = GraphNetwork::Create(f.graph, &f.store, max_batch);
  EXPECT_TRUE(network.ok()) << network.status();
  if (network.ok()) f.network = std::move(network).value();
  f.batch = batch;
  f.input = RandomVector(static_cast<size_t>(batch) * f.graph.input.NumElements(), seed + 2);
  return f;
}

TEST(GraphActivationQuantizationTest, ObservationMatchesReference) {
  SetNumThreads(2);
  GraphFixture f = MakeGraph(BranchyGraph(), /*max_batch=*/2, /*batch=*/5, 11);
  ASSERT_NE(f.network, nullptr);
  const std::vector<std::string> sites = f.network->ActivationSites();
  EXPECT_EQ(sites, (std::vector<std::string>{"stem", "b1", "b2", "b3", "dw", "fc1", "fc2"}));
  // Dense after Flatten reads the stored tensor the Flatten views: the pooled value.
  absl::StatusOr<int> fc1 = f.network->ActivationSiteValue("fc1");
  ASSERT_TRUE(fc1.ok());
  EXPECT_EQ(f.graph.layers[*fc1].kind, LayerKind::kGlobalAvgPool);
  EXPECT_EQ(*f.network->ActivationSiteValue("b1"), *f.network->ActivationSiteValue("b3"));
  EXPECT_EQ(f.network->ActivationSiteValue("nope").status().code(), absl::StatusCode::kNotFound);

  // The reference's value of every site, per example, in C, H, W order.
  std::map<int, std::vector<double>> reference;
  std::vector<int> site_values;
  for (const std::string& site : sites) site_values.push_back(*f.network->ActivationSiteValue(site));
  auto want = ReferenceForward(f.graph, f.store, f.input, f.batch, true,
                               [&](int value, int, std::vector<double>* values) {
                                 if (std::count(site_values.begin(), site_values.end(), value) == 0) return;
                                 reference[value].insert(reference[value].end(), values->begin(),
                                                         values->end());
                               });
  ASSERT_TRUE(want.ok()) << want.status();
  const auto seen = Observe(*f.network, f.input, f.batch);
  ASSERT_EQ(seen.size(), sites.size());
  for (size_t k = 0; k < sites.size(); ++k) {
    const std::vector<float>& got = seen.at(sites[k]);
    const std::vector<double>& ref = reference.at(site_values[k]);
    ASSERT_EQ(got.size(), ref.size()) << sites[k];
    double scale = 1.0;
    for (double v : ref) scale = std::max(scale, std::fabs(v));
    double worst = 0.0;
    for (size_t i = 0; i < ref.size(); ++i) worst = std::max(worst, std::fabs(got[i] - ref[i]));
    EXPECT_LE(worst, 1e-5 * scale) << sites[k];
  }
  EXPECT_EQ(seen.at("stem"), f.input);
}

TEST(GraphActivationQuantizationTest, InputSiteEqualsQuantizingTheInputByHand) {
  SetNumThreads(2);
  GraphFixture f = MakeGraph(ResidualGraph(), 2, 3, 21);
  ASSERT_NE(f.network, nullptr);
  const std::vector<float> fp32 = RunForward(*f.network, f.input, f.batch);
  const ActivationQuantParams p = Calibrate(Observe(*f.network, f.input, f.batch), 3).at("stem");
  ASSERT_TRUE(f.network->SetActivationQuantization({{"stem", p}}).ok());
  const std::vector<float> got = RunForward(*f.network, f.input, f.batch);
  ASSERT_TRUE(f.network->SetActivationQuantization({}).ok());
  // Same primitives, same input numbers: bit-identical.
  EXPECT_EQ(got, RunForward(*f.network, FakeQuantizedCopy(f.input, p), f.batch));
  EXPECT_EQ(RunForward(*f.network, f.input, f.batch), fp32) << "switched off: bit-exact";
}

// The residual block's input 'a' at 2 bits: the full network vs the tail network run on the
// observed, hand-quantized 'a'. If only the conv (and not the residual add) saw the quantized
// tensor, the two would differ by far more than the tolerance.
void ExpectTwoBitResidualSiteMatchesTail(bool packed) {
  SetNumThreads(2);
  GraphFixture f = MakeGraph(ResidualGraph(), /*max_batch=*/2, /*batch=*/5, 31);
  ASSERT_NE(f.network, nullptr);
  const Graph tail_graph = ResidualGraphTail();
  auto tail = GraphNetwork::Create(tail_graph, &f.store, 3);
  ASSERT_TRUE(tail.ok()) << tail.status();
  std::map<std::string, QuantizedTensor> tensors;
  if (packed) {
    tensors = QuantizeWeights(&f.store, 4);
    ASSERT_TRUE(f.network->SyncParams().ok());
    ASSERT_TRUE((*tail)->SyncParams().ok());
    ASSERT_TRUE(f.network->UsePackedWeights(PackedParamsFor(f.graph, tensors, 4), GemmActivations::kFloat).ok());
    ASSERT_TRUE((*tail)->UsePackedWeights(PackedParamsFor(tail_graph, tensors, 4), GemmActivations::kFloat).ok());
  }
  const std::vector<float> fp32 = RunForward(*f.network, f.input, f.batch);
  const auto seen = Observe(*f.network, f.input, f.batch);
  const ActivationQuantParams p = Calibrate(seen, 2).at("c1");
  ASSERT_TRUE(f.network->SetActivationQuantization({{"c1", p}}).ok());
  const std::vector<float> got = RunForward(*f.network, f.input, f.batch);
  const std::vector<float> want = RunForward(**tail, FakeQuantizedCopy(seen.at("c1"), p), f.batch);
  EXPECT_LE(MaxAbsDiff(got, want), 1e-5);
  EXPECT_GT(MaxAbsDiff(got, fp32), 1e-3) << "2 bits should visibly change the output";

  // The same, but asking for it through a site of the tail network: its input.
  ASSERT_TRUE((*tail)->SetActivationQuantization({{"c1", p}}).ok());
  EXPECT_LE(MaxAbsDiff(got, RunForward(**tail, seen.at("c1"), f.batch)), 1e-5);

  ASSERT_TRUE(f.network->SetActivationQuantization({}).ok());
  EXPECT_EQ(RunForward(*f.network, f.input, f.batch), fp32) << "switched off: bit-exact";
}

TEST(GraphActivationQuantizationTest, TwoBitResidualSiteEqualsTailSimulated) {
  ExpectTwoBitResidualSiteMatchesTail(false);
}

TEST(GraphActivationQuantizationTest, TwoBitResidualSiteEqualsTailPacked) {
  ExpectTwoBitResidualSiteMatchesTail(true);
}

// 16 bits on every site: a tiny change, in both plans; off again: bit-exact in both.
TEST(GraphActivationQuantizationTest, SixteenBitsEverywhereBothModes) {
  SetNumThreads(2);
  GraphFixture f = MakeGraph(BranchyGraph(), 2, 5, 41);
  ASSERT_NE(f.network, nullptr);
  const std::map<std::string, QuantizedTensor> tensors = QuantizeWeights(&f.store, 4);
  ASSERT_TRUE(f.network->SyncParams().ok());
  for (bool packed : {false, true}) {
    if (packed) {
      ASSERT_TRUE(f.network->UsePackedWeights(PackedParamsFor(f.graph, tensors, 4),
                                              GemmActivations::kFloat).ok());
    }
    const std::vector<float> fp32 = RunForward(*f.network, f.input, f.batch);
    ASSERT_TRUE(f.network->SetActivationQuantization(Calibrate(Observe(*f.network, f.input, f.batch), 16)).ok());
    const std::vector<float> q16 = RunForward(*f.network, f.input, f.batch);
    EXPECT_LE(MaxAbsDiff(q16, fp32), 1e-4) << (packed ? "packed" : "simulated");
    EXPECT_NE(q16, fp32) << "quantization is really applied";
    ASSERT_TRUE(f.network->SetActivationQuantization({}).ok());
    EXPECT_EQ(RunForward(*f.network, f.input, f.batch), fp32);
  }
}

// A site that reads a PadChannels value (the zero channels are part of the tensor it
// observes and quantizes), simulated and packed: the network equals graph_reference with the
// pad's value fake-quantized in the reference's hook.
TEST(GraphActivationQuantizationTest, SiteReadingPadChannels) {
  SetNumThreads(2);
  GraphBuilder b;
  int x = b.Input(3, 9, 7);
  x = b.ConvBn(x, "stem", "stem_bn", 5, 3, 1, 1);
  const int pad = b.PadChannels(x, 2, 1);
  int y = b.Relu(b.Conv(pad, "after_pad", 6, 3, 1, 1, 1, /*bias=*/true));
  y = b.Dense(b.Flatten(b.GlobalAvgPool(y)), "fc", 4);
  absl::StatusOr<Graph> graph = b.Finish(y);
  ASSERT_TRUE(graph.ok()) << graph.status();
  GraphFixture f = MakeGraph(*graph, 2, 5, 41);
  ASSERT_NE(f.network, nullptr);
  ASSERT_EQ(*f.network->ActivationSiteValue("after_pad"), pad);
  const auto seen = Observe(*f.network, f.input, f.batch);
  // The observed tensor has the zero channels: 2 before and 1 after the stem's 5.
  const std::vector<float>& padded = seen.at("after_pad");
  ASSERT_EQ(padded.size(), static_cast<size_t>(f.batch) * 8 * 9 * 7);
  for (int e = 0; e < f.batch; ++e) {
    for (int c : {0, 1, 7}) {
      for (int s = 0; s < 9 * 7; ++s) ASSERT_EQ(padded[(e * 8 + c) * 63 + s], 0.0f);
    }
  }
  const ActivationQuantParams p = Calibrate(seen, 2).at("after_pad");
  const ReferenceValueHook quantize_pad = [&](int value, int, std::vector<double>* values) {
    if (value != pad) return;
    const std::vector<float> v = FakeQuantizedCopy({values->begin(), values->end()}, p);
    values->assign(v.begin(), v.end());
  };
  auto want = ReferenceForward(f.graph, f.store, f.input, f.batch, true, quantize_pad);
  ASSERT_TRUE(want.ok()) << want.status();
  const std::vector<float> fp32 = RunForward(*f.network, f.input, f.batch);
  EXPECT_GT(MaxAbsDiff(fp32, *want), 1e-3) << "2 bits must change the output";
  ASSERT_TRUE(f.network->SetActivationQuantization({{"after_pad", p}}).ok());
  EXPECT_LE(MaxAbsDiff(RunForward(*f.network, f.input, f.batch), *want), 1e-5);
  const auto tensors = QuantizeWeights(&f.store, 8);
  auto reference = ReferenceForward(f.graph, f.store, f.input, f.batch, true, quantize_pad);
  ASSERT_TRUE(reference.ok());
  ASSERT_TRUE(f.network->SyncParams().ok());
  ASSERT_TRUE(f.network->UsePackedWeights(PackedParamsFor(f.graph, tensors, 8), GemmActivations::kFloat).ok());
  EXPECT_LE(MaxAbsDiff(RunForward(*f.network, f.input, f.batch), *reference), 1e-5) << "packed";
}

TEST(GraphActivationQuantizationTest, ErrorsChangeNothing) {
  GraphFixture f = MakeGraph(BranchyGraph(), 2, 3, 51);
  ASSERT_NE(f.network, nullptr);
  const auto params = Calibrate(Observe(*f.network, f.input, f.batch), 4);
  ASSERT_TRUE(f.network->SetActivationQuantization({{"dw", params.at("dw")}}).ok());
  const std::vector<float> quantized = RunForward(*f.network, f.input, f.batch);

  absl::Status s = f.network->SetActivationQuantization({{"cat_bn", params.at("dw")}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("'cat_bn'"), std::string::npos) << s;
  // b1 and b3 read the same tensor: one quantization for both, or an error naming them.
  ActivationQuantParams other = params.at("b1");
  other.bits = 3;
  other.zero_point = 0;
  s = f.network->SetActivationQuantization({{"b1", params.at("b1")}, {"b3", other}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("'b1'"), std::string::npos) << s;
  EXPECT_NE(s.message().find("'b3'"), std::string::npos) << s;
  ActivationQuantParams bad = params.at("fc1");
  bad.bits = 17;
  EXPECT_EQ(f.network->SetActivationQuantization({{"fc1", bad}}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RunForward(*f.network, f.input, f.batch), quantized) << "the old setting holds";

  // Same parameters on sites sharing a tensor are fine (a calibration gives them that).
  EXPECT_TRUE(f.network->SetActivationQuantization({{"b1", params.at("b1")}, {"b3", params.at("b3")}}).ok());
}

TEST(GraphActivationQuantizationTest, TapsRejectValuesThePlanDoesNotStore) {
  GraphFixture f = MakeGraph(ResidualGraph(), 2, 2, 61);
  ASSERT_NE(f.network, nullptr);
  const GraphNetwork::ValueTap tap = [](int, absl::Span<const float>) { return absl::OkStatus(); };
  int conv = -1, flatten = -1;
  for (size_t i = 0; i < f.graph.layers.size(); ++i) {
    if (f.graph.layers[i].name == "stem") conv = static_cast<int>(i);
    if (f.graph.layers[i].kind == LayerKind::kFlatten) flatten = static_cast<int>(i);
  }
  // The stem conv's raw output is folded into its BatchNorm and ReLU.
  absl::Status s = f.network->ForwardWithTaps(f.input, f.batch, {conv}, tap, {});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("fuse_batchnorm"), std::string::npos) << s;
  EXPECT_EQ(f.network->ForwardWithTaps(f.input, f.batch, {flatten}, tap, {}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(f.network->ForwardWithTaps(f.input, f.batch, {999}, tap, {}).code(),
            absl::StatusCode::kInvalidArgument);

  // Unfused, the conv's output is stored and equals the reference's.
  GraphNetworkOptions options;
  options.fuse_batchnorm = false;
  auto unfused = GraphNetwork::Create(f.graph, &f.store, 2, options);
  ASSERT_TRUE(unfused.ok()) << unfused.status();
  std::vector<float> got;
  std::vector<float> probabilities(static_cast<size_t>(f.batch) * f.graph.num_classes);
  ASSERT_TRUE((*unfused)->ForwardWithTaps(f.input, f.batch, {conv},
                                          [&](int value, absl::Span<const float> values) {
                                            EXPECT_EQ(value, conv);
                                            got.insert(got.end(), values.begin(), values.end());
                                            return absl::OkStatus();
                                          },
                                          absl::MakeSpan(probabilities)).ok());
  std::vector<double> want;
  ASSERT_TRUE(ReferenceForward(f.graph, f.store, f.input, f.batch, true,
                               [&](int value, int, std::vector<double>* values) {
                                 if (value == conv) want.insert(want.end(), values->begin(), values->end());
                               }).ok());
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5 * (1 + std::fabs(want[i])));
  EXPECT_LE(MaxAbsDiff(probabilities, RunForward(*f.network, f.input, f.batch)), 1e-5)
      << "unfused and fused plans compute the same network";
  // A failing tap stops the pass with its status.
  EXPECT_EQ((*unfused)->ForwardWithTaps(f.input, f.batch, {conv},
                                        [](int, absl::Span<const float>) {
                                          return absl::DataLossError("stop");
                                        },
                                        {}).code(),
            absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace quantbench
