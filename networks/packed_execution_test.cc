// Packed execution vs simulated execution: the packed conv against its scalar twin, then whole
// networks (the mlp architecture, small graphs exercising every fusion, squeezenet1_1 and resnet18) run
// once on fp32 weights holding quantized values (simulated) and once on packed 4-bit weights.
//
// Tolerances: with fp32 activations both sides compute the same sums in a different order
// (and BatchNorm folded into fp32 weights vs applied as scale/shift after the packed GEMM),
// so log-probabilities agree to kFloatTolerance of the example's logit range and top-1 is
// identical. With int8 activations every GEMM input row is rounded to 8 bits: the test
// reports the top-1 agreement and checks only the loose kInt8ProbabilityTolerance.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "kernels/packed_gemm.h"
#include "kernels/packed_matrix.h"
#include "networks/architecture.h"
#include "networks/graph.h"
#include "networks/graph_network.h"
#include "networks/pack_quantized.h"
#include "networks/packed_conv.h"
#include "networks/param_store.h"
#include "networks/test_util.h"
#include "networks/threads.h"
#include "quantizers/quantizer.h"

namespace quantbench {
namespace {

constexpr double kFloatTolerance = 1e-4;
constexpr double kInt8ProbabilityTolerance = 0.1;

// Symmetric uniform per-output-channel quantization, written here by hand (not a plugin):
// scale = max|w_row| / (2^(bits-1) - 1), code = round(w / scale) + 2^(bits-1) in
// [0, 2^bits), value = scale * (code - 2^(bits-1)).
QuantizedTensor QuantizeUniformPerChannel(const std::vector<float>& w,
                                          const std::vector<int64_t>& shape, int bits) {
  const int64_t rows = shape[0];
  const int64_t cols = static_cast<int64_t>(w.size()) / rows;
  const int64_t levels = int64_t{1} << bits;
  const int32_t zero = static_cast<int32_t>(levels / 2);
  QuantizedTensor q;
  q.kind = CodeKind::kUniform;
  q.num_tables = rows;
  q.levels_per_table = levels;
  q.codes.resize(w.size());
  q.values.resize(w.size());
  for (int64_t r = 0; r < rows; ++r) {
    float max_abs = 0.0f;
    for (int64_t c = 0; c < cols; ++c) max_abs = std::max(max_abs, std::fabs(w[r * cols + c]));
    const float scale = max_abs > 0.0f ? max_abs / static_cast<float>(zero - 1) : 1.0f;
    q.scale.push_back(scale);
    q.zero_point_x2.push_back(2 * zero);
    for (int64_t k = 0; k < levels; ++k) {
      q.codebook.push_back(scale * static_cast<float>(k - zero));
    }
    for (int64_t c = 0; c < cols; ++c) {
      const int64_t i = r * cols + c;
      const long code = std::lround(w[i] / scale) + zero;
      q.codes[i] = static_cast<int32_t>(std::clamp<long>(code, 0, levels - 1));
      q.values[i] = q.codebook[r * levels + q.codes[i]];
    }
  }
  return q;
}

// Quantizes every weight tensor of the store in place (what a sweep cell does before
// SyncParams) and returns the quantizer outputs, keyed like the store.
std::vector<std::pair<std::string, QuantizedTensor>> QuantizeStore(ParamStore* store, int bits) {
  std::vector<std::pair<std::string, QuantizedTensor>> out;
  for (Parameter& p : store->parameters()) {
    if (p.kind != Parameter::kWeight) continue;
    QuantizedTensor q = QuantizeUniformPerChannel(p.values, p.shape, bits);
    p.values = q.values;
    out.push_back({p.name, std::move(q)});
  }
  return out;
}

std::vector<PackedParam> AsPackedParams(
    const std::vector<std::pair<std::string, QuantizedTensor>>& tensors, int bits) {
  std::vector<PackedParam> params;
  for (const auto& [name, q] : tensors) params.push_back({name, &q, bits});
  return params;
}

std::vector<int> Top1(const std::vector<float>& probabilities, int classes) {
  std::vector<int> top;
  for (size_t b = 0; b * classes < probabilities.size(); ++b) {
    const auto row = probabilities.begin() + b * classes;
    top.push_back(static_cast<int>(std::max_element(row, row + classes) - row));
  }
  return top;
}

struct Comparison {
  double worst_log_prob = 0.0;  // relative to the reference's log-probability range
  double worst_prob = 0.0;
  double top1_agreement = 0.0;
};

Comparison Compare(const std::vector<float>& got, const std::vector<float>& want, int classes) {
  Comparison c;
  const int batch = static_cast<int>(want.size()) / classes;
  for (int b = 0; b < batch; ++b) {
    double lo = 1e300, hi = -1e300;
    for (int k = 0; k < classes; ++k) {
      const double lp = std::log(std::max<double>(want[b * classes + k], 1e-30));
      lo = std::min(lo, lp);
      hi = std::max(hi, lp);
    }
    const double range = std::max(1.0, hi - lo);
    for (int k = 0; k < classes; ++k) {
      const double g = got[b * classes + k], w = want[b * classes + k];
      c.worst_prob = std::max(c.worst_prob, std::fabs(g - w));
      if (w > 1e-20) {
        c.worst_log_prob = std::max(
            c.worst_log_prob, std::fabs(std::log(std::max(g, 1e-37)) - std::log(w)) / range);
      }
    }
  }
  const std::vector<int> a = Top1(got, classes), b = Top1(want, classes);
  int same = 0;
  for (size_t i = 0; i < a.size(); ++i) same += a[i] == b[i];
  c.top1_agreement = a.empty() ? 1.0 : static_cast<double>(same) / a.size();
  return c;
}

std::vector<float> RunForward(Network& network, const std::vector<float>& input, int batch) {
  std::vector<float> out(static_cast<size_t>(batch) * network.num_classes());
  const absl::Status s = network.Forward(input, batch, absl::MakeSpan(out));
  EXPECT_TRUE(s.ok()) << s;
  return out;
}

// Simulated vs packed (fp32, then int8 activations) on an already quantized store.
void ExpectPackedMatchesSimulated(Network& network,
                                  const std::vector<std::pair<std::string, QuantizedTensor>>& tensors,
                                  const std::vector<float>& input, int batch, const std::string& what) {
  const int classes = network.num_classes();
  const std::vector<float> simulated = RunForward(network, input, batch);

  ASSERT_TRUE(network.UsePackedWeights(AsPackedParams(tensors, 4), GemmActivations::kFloat).ok());
  EXPECT_GT(network.packed_weight_bytes(), 0);
  const std::vector<float> packed = RunForward(network, input, batch);
  const Comparison fp32 = Compare(packed, simulated, classes);
  EXPECT_LE(fp32.worst_log_prob, kFloatTolerance) << what;
  EXPECT_EQ(fp32.top1_agreement, 1.0) << what;

  ASSERT_TRUE(network.UsePackedWeights(AsPackedParams(tensors, 4), GemmActivations::kInt8).ok());
  const std::vector<float> packed_int8 = RunForward(network, input, batch);
  const Comparison int8 = Compare(packed_int8, simulated, classes);
  EXPECT_LE(int8.worst_prob, kInt8ProbabilityTolerance) << what;
  std::cout << what << ": fp32 activations: max |dlogp|/range " << fp32.worst_log_prob
            << ", top-1 agreement " << fp32.top1_agreement << "; int8 activations: max |dp| "
            << int8.worst_prob << ", top-1 agreement " << int8.top1_agreement << " over "
            << batch << " examples\n";
  testing::Test::RecordProperty(what + "_int8_top1_agreement", std::to_string(int8.top1_agreement));

  // Back to simulated: exactly the first run again.
  network.UseSimulatedWeights();
  EXPECT_EQ(network.packed_weight_bytes(), 0);
  EXPECT_EQ(RunForward(network, input, batch), simulated) << what;
}

// ---- PackedConv against its scalar twin

TEST(PackedConvTest, MatchesScalarTwinOnRandomGeometries) {
  std::mt19937 rng(11);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int trial = 0; trial < 40; ++trial) {
    ConvGeometry g;
    g.groups = trial % 4 == 3 ? pick(2, 3) : 1;
    g.in_c = g.groups * pick(1, 9);
    g.out_c = g.groups * pick(1, 11);
    g.in_h = pick(1, 9);
    g.in_w = pick(1, 10);
    g.kernel_h = trial % 5 == 0 ? 1 : pick(1, 3);
    g.kernel_w = trial % 5 == 0 ? 1 : pick(1, 3);
    g.stride_h = trial % 5 == 0 ? 1 : pick(1, 2);
    g.stride_w = trial % 5 == 0 ? 1 : pick(1, 2);
    g.dilation = trial % 7 == 6 ? 2 : 1;
    g.pad_t = trial % 5 == 0 ? 0 : pick(0, g.kernel_h - 1);
    g.pad_l = trial % 5 == 0 ? 0 : pick(0, g.kernel_w - 1);
    const int pad_b = g.pad_t, pad_r = g.pad_l;
    g.out_h = (g.in_h + g.pad_t + pad_b - g.dilation * (g.kernel_h - 1) - 1) / g.stride_h + 1;
    g.out_w = (g.in_w + g.pad_l + pad_r - g.dilation * (g.kernel_w - 1) - 1) / g.stride_w + 1;
    if (g.out_h < 1 || g.out_w < 1) continue;
    const int batch = pick(1, 3);

    const std::vector<int64_t> shape = {g.out_c, g.in_c / g.groups, g.kernel_h, g.kernel_w};
    int64_t numel = 1;
    for (int64_t d : shape) numel *= d;
    const QuantizedTensor q = QuantizeUniformPerChannel(RandomVector(numel, trial), shape, 4);
    std::vector<PackedMatrix> weights;
    for (int grp = 0; grp < g.groups; ++grp) {
      absl::StatusOr<PackedMatrix> m = PackQuantizedRows(
          q, {"w", shape, 4, PackColumnOrder::kConvTapsMajor, grp * g.out_per_group(),
              (grp + 1) * g.out_per_group()});
      ASSERT_TRUE(m.ok()) << m.status();
      weights.push_back(std::move(m).value());
    }
    absl::StatusOr<PackedConv> conv = PackedConv::Create(g, std::move(weights));
    ASSERT_TRUE(conv.ok()) << conv.status();

    ConvEpilogue ep;
    if (trial % 2 == 0) ep.out_scale = RandomVector(g.out_c, 100 + trial, 0.5f, 1.5f);
    if (trial % 3 != 0) ep.out_shift = RandomVector(g.out_c, 200 + trial);
    const bool residual = trial % 4 < 2;
    ep.act_before_residual = residual && trial % 8 == 1 ? GemmPostOp::kRelu : GemmPostOp::kNone;
    ep.post_op = std::vector<GemmPostOp>{GemmPostOp::kNone, GemmPostOp::kRelu, GemmPostOp::kRelu6}[trial % 3];

    const std::vector<float> src =
        RandomVector(static_cast<size_t>(batch) * g.in_h * g.in_w * g.in_c, 300 + trial, -3.0f, 3.0f);
    const size_t out_size = static_cast<size_t>(batch) * g.out_h * g.out_w * g.out_c;
    const std::vector<float> res = RandomVector(out_size, 400 + trial, -3.0f, 3.0f);
    std::vector<float> scratch(conv->ScratchFloats());
    std::vector<float> dst(out_size);
    ASSERT_TRUE(conv->Run(src.data(), residual ? res.data() : nullptr, dst.data(), batch, ep,
                          GemmActivations::kFloat, scratch.data())
                    .ok());
    const std::vector<float> want = PackedConvRef(*conv, src, residual ? res.data() : nullptr, batch, ep);
    double magnitude = 1.0;
    for (float v : want) magnitude = std::max(magnitude, static_cast<double>(std::fabs(v)));
    for (size_t i = 0; i < out_size; ++i) {
      ASSERT_NEAR(dst[i], want[i], 1e-5 * magnitude) << "trial " << trial << " element " << i;
    }
  }
}

// ---- The mlp architecture (dense layers over a flat input)

// The registered mlp with `inputs` features, hidden widths `hidden` and `classes` outputs.
Graph MlpGraph(const std::string& inputs, const std::string& hidden, int classes) {
  absl::StatusOr<Graph> g = ArchitectureRegistry::Global().Build(
      "mlp", {classes, 0, {{"inputs", inputs}, {"hidden", hidden}}});
  EXPECT_TRUE(g.ok()) << g.status();
  return g.ok() ? *g : Graph{};
}

TEST(PackedExecutionTest, MlpPackedMatchesSimulated) {
  SetNumThreads(2);
  const Graph graph = MlpGraph("97", "61,33", 10);
  absl::StatusOr<ParamStore> init = InitGraphParams(graph, 5);
  ASSERT_TRUE(init.ok()) << init.status();
  ParamStore store = *std::move(init);
  RandomizeNonWeights(&store, 6);
  const auto tensors = QuantizeStore(&store, 4);
  auto network = GraphNetwork::Create(graph, &store, /*max_batch=*/8);
  ASSERT_TRUE(network.ok()) << network.status();
  const int batch = 19;  // two full chunks and a short one
  const std::vector<float> input = RandomVector(batch * 97, 7, -2.0f, 2.0f);
  ExpectPackedMatchesSimulated(**network, tensors, input, batch, "mlp 97-61-33-10");

  // Only the middle layer packed: oneDNN and packed layers mix.
  const std::vector<float> simulated = RunForward(**network, input, batch);
  std::vector<PackedParam> one = {{"fc2.weight", &tensors[1].second, 4}};
  ASSERT_EQ(tensors[1].first, "fc2.weight");
  ASSERT_TRUE((*network)->UsePackedWeights(one, GemmActivations::kFloat).ok());
  absl::StatusOr<PackedMatrix> fc2 = PackQuantizedRows(tensors[1].second, {"fc2.weight", {33, 61}, 4});
  ASSERT_TRUE(fc2.ok());
  EXPECT_EQ((*network)->packed_weight_bytes(), fc2->StorageBytes());
  EXPECT_LE(Compare(RunForward(**network, input, batch), simulated, 10).worst_log_prob, kFloatTolerance);
}

TEST(PackedExecutionTest, MlpRejectsUnknownParametersAndKeepsItsMode) {
  const Graph graph = MlpGraph("20", "8", 4);
  absl::StatusOr<ParamStore> init = InitGraphParams(graph, 1);
  ASSERT_TRUE(init.ok()) << init.status();
  ParamStore store = *std::move(init);
  const auto tensors = QuantizeStore(&store, 4);
  auto network = GraphNetwork::Create(graph, &store, 2);
  ASSERT_TRUE(network.ok());
  std::vector<PackedParam> params = AsPackedParams(tensors, 4);
  params.push_back({"fc7.weight", &tensors[0].second, 4});
  const absl::Status s = (*network)->UsePackedWeights(params, GemmActivations::kFloat);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("fc7.weight"), std::string::npos) << s;
  EXPECT_EQ((*network)->packed_weight_bytes(), 0) << "still simulated";
}

// ---- Small graphs: every fusion the packed plan has

struct SmallGraph {
  std::string name;
  Graph graph;
};

SmallGraph FusionGraph() {
  GraphBuilder b;
  int x = b.Input(5, 13, 11);
  // Strided, padded conv with bias, kept BN and ReLU6.
  x = b.Conv(x, "c1", 12, 3, 3, 2, 2, 1, 1, 1, 1, /*groups=*/1, /*bias=*/true);
  x = b.Relu6(b.BatchNorm(x, "bn1"));
  // Grouped conv (3 groups) + BN + ReLU.
  int y = b.ConvBn(x, "c2", "bn2", 12, 3, 1, 1, /*groups=*/3);
  // Residual: conv + BN + add + ReLU (fused residual).
  y = b.Relu(b.Add(b.BatchNorm(b.Conv(y, "c3", 12, 1, 1, 0), "bn3"), x));
  // Activation before the add (conv -> ReLU -> add -> ReLU6): the split epilogue.
  int z = b.Relu(b.Conv(y, "c4", 12, 3, 1, 1, 1, /*bias=*/true));
  z = b.Relu6(b.Add(z, y));
  // Depthwise (stays fp32), then a 1x1 with dilation-free asymmetric padding.
  z = b.ConvBn(z, "dw", "dw_bn", 12, 3, 1, 1, /*groups=*/12, GraphBuilder::Act::kRelu6);
  z = b.Conv(z, "c5", 16, 2, 3, 1, 2, 0, 1, 1, 0, 1, true);
  z = b.MaxPool(z, 2, 2, 0, /*ceil_mode=*/true);
  int d = b.Dense(b.Flatten(z), "fc1", 21);  // dense over C x H x W features
  d = b.Relu(d);
  d = b.Dense(d, "fc2", 7);
  absl::StatusOr<Graph> g = b.Finish(d);
  EXPECT_TRUE(g.ok()) << g.status();
  return {"fusion graph", std::move(g).value()};
}

SmallGraph PooledGraph() {
  GraphBuilder b;
  int x = b.Input(3, 17, 17);
  x = b.ConvBn(x, "stem", "stem_bn", 8, 7, 2, 3);
  x = b.MaxPool(x, 3, 2, 1);
  int a = b.Conv(x, "a", 6, 1, 1, 0, 1, true);
  int c = b.Conv(x, "c", 10, 3, 1, 1, 1, true);
  x = b.Relu(b.Concat({a, c}));
  x = b.Dense(b.Flatten(b.GlobalAvgPool(x)), "fc", 5);
  absl::StatusOr<Graph> g = b.Finish(x);
  EXPECT_TRUE(g.ok()) << g.status();
  return {"pooled graph", std::move(g).value()};
}

// Option-A shortcuts (stride-2 1x1 max pool + PadChannels) between packed convs.
SmallGraph ShortcutGraph() {
  GraphBuilder b;
  int x = b.Input(5, 11, 9);
  x = b.ConvBn(x, "stem", "stem_bn", 6, 3, 1, 1);
  int y = b.ConvBn(x, "c1", "bn1", 10, 3, 2, 1);
  y = b.BatchNorm(b.Conv(y, "c2", 10, 3, 1, 1), "bn2");
  x = b.Relu(b.Add(y, b.PadChannels(b.MaxPool(x, 1, 2, 0), 2, 2)));
  x = b.PadChannels(x, 0, 3);
  x = b.Dense(b.Flatten(b.GlobalAvgPool(x)), "fc", 5);
  absl::StatusOr<Graph> g = b.Finish(x);
  EXPECT_TRUE(g.ok()) << g.status();
  return {"shortcut graph", std::move(g).value()};
}

void CheckGraph(const Graph& graph, const std::string& what, int max_batch, int batch, uint32_t seed) {
  SetNumThreads(2);
  absl::StatusOr<ParamStore> init = InitGraphParams(graph, seed);
  ASSERT_TRUE(init.ok()) << init.status();
  ParamStore store = std::move(init).value();
  RandomizeNonWeights(&store, seed + 1);
  const auto tensors = QuantizeStore(&store, 4);
  auto network = GraphNetwork::Create(graph, &store, max_batch);
  ASSERT_TRUE(network.ok()) << network.status();
  const std::vector<float> input =
      RandomVector(static_cast<size_t>(batch) * graph.input.NumElements(), seed + 2);
  ExpectPackedMatchesSimulated(**network, tensors, input, batch, what);
}

TEST(PackedExecutionTest, SmallGraphsPackedMatchSimulated) {
  for (const SmallGraph& g : {FusionGraph(), PooledGraph(), ShortcutGraph()}) {
    CheckGraph(g.graph, g.name, /*max_batch=*/2, /*batch=*/5, 21);
  }
}

TEST(PackedExecutionTest, PlanNamesPackedLayersAndDepthwiseFallback) {
  const SmallGraph g = FusionGraph();
  absl::StatusOr<ParamStore> init = InitGraphParams(g.graph, 3);
  ASSERT_TRUE(init.ok());
  ParamStore store = std::move(init).value();
  const auto tensors = QuantizeStore(&store, 4);
  auto network = GraphNetwork::Create(g.graph, &store, 1);
  ASSERT_TRUE(network.ok());
  ASSERT_TRUE((*network)->UsePackedWeights(AsPackedParams(tensors, 4), GemmActivations::kInt8).ok());
  int packed = 0, depthwise = 0;
  for (const std::string& line : (*network)->DescribePlan()) {
    packed += line.find("[packed uniform 4-bit") != std::string::npos;
    depthwise += line.find("depthwise runs fp32") != std::string::npos;
    if (line.find("'c2'") != std::string::npos) {
      EXPECT_NE(line.find("3 groups"), std::string::npos) << line;
    }
  }
  EXPECT_EQ(packed, 7) << "c1 c2 c3 c4 c5 fc1 fc2";
  EXPECT_EQ(depthwise, 1);
  int64_t bytes = 0;
  for (const auto& [name, q] : tensors) {
    const Parameter* p = store.Find(name);
    const bool conv = p->shape.size() == 4;
    const int groups = name == "c2.weight" ? 3 : 1;
    for (int grp = 0; grp < groups; ++grp) {
      const int64_t rows = p->shape[0] / groups;
      absl::StatusOr<PackedMatrix> m = PackQuantizedRows(
          q, {name, p->shape, 4,
              conv ? PackColumnOrder::kConvTapsMajor : PackColumnOrder::kAsStored, grp * rows,
              (grp + 1) * rows});
      ASSERT_TRUE(m.ok()) << m.status();
      bytes += m->StorageBytes();
    }
  }
  EXPECT_EQ((*network)->packed_weight_bytes(), bytes);

  // A name that is no weight of this graph: InvalidArgument, and the network stays as it was.
  std::vector<PackedParam> wrong = {{"bn1.weight", &tensors[0].second, 4}};
  const absl::Status s = (*network)->UsePackedWeights(wrong, GemmActivations::kFloat);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("bn1.weight"), std::string::npos) << s;
  EXPECT_EQ((*network)->packed_weight_bytes(), bytes);
}

// ---- Real architectures, random weights

void CheckArchitecture(const std::string& arch, int image_size) {
  ArchitectureOptions options;
  options.image_size = image_size;
  absl::StatusOr<Graph> graph = ArchitectureRegistry::Global().Build(arch, options);
  ASSERT_TRUE(graph.ok()) << graph.status();
  CheckGraph(*graph, arch, /*max_batch=*/2, /*batch=*/3, 31);
}

TEST(PackedExecutionTest, Squeezenet11PackedMatchesSimulated) { CheckArchitecture("squeezenet1_1", 224); }

TEST(PackedExecutionTest, Resnet18PackedMatchesSimulated) { CheckArchitecture("resnet18", 224); }

}  // namespace
}  // namespace quantbench
