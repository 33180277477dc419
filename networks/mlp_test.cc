#include "networks/mlp.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "networks/param_store.h"
#include "networks/threads.h"

namespace quantbench {
namespace {

// Plain scalar reference: double accumulation, ReLU on hidden layers, stable softmax.
std::vector<float> ReferenceForward(const MlpSpec& spec, const ParamStore& params,
                                    const std::vector<float>& input, int batch) {
  std::vector<float> out(static_cast<size_t>(batch) * spec.num_classes);
  for (int r = 0; r < batch; ++r) {
    std::vector<double> act(input.begin() + static_cast<size_t>(r) * spec.input_size,
                            input.begin() + static_cast<size_t>(r + 1) * spec.input_size);
    for (int l = 0; l < MlpNumLayers(spec); ++l) {
      const auto [in, outs] = MlpLayerDims(spec, l);
      const Parameter* w = params.Find(MlpLayerName(l) + ".weight");
      const Parameter* b = params.Find(MlpLayerName(l) + ".bias");
      std::vector<double> next(outs);
      for (int o = 0; o < outs; ++o) {
        double sum = b->values[o];
        for (int i = 0; i < in; ++i) sum += static_cast<double>(w->values[o * in + i]) * act[i];
        next[o] = (l + 1 < MlpNumLayers(spec)) ? std::max(sum, 0.0) : sum;
      }
      act = std::move(next);
    }
    const double max_logit = *std::max_element(act.begin(), act.end());
    double total = 0;
    for (double& v : act) total += (v = std::exp(v - max_logit));
    for (int c = 0; c < spec.num_classes; ++c) {
      out[static_cast<size_t>(r) * spec.num_classes + c] = static_cast<float>(act[c] / total);
    }
  }
  return out;
}

std::vector<float> RandomVector(size_t n, uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937_64 engine(seed);
  std::vector<float> v(n);
  for (float& x : v) {
    x = lo + (hi - lo) * static_cast<float>(static_cast<double>(engine() >> 11) * 0x1.0p-53);
  }
  return v;
}

void RandomizeBiases(ParamStore& params, uint64_t seed) {
  for (Parameter& p : params.parameters()) {
    if (p.kind == Parameter::kBias) p.values = RandomVector(p.values.size(), seed++, -0.5f, 0.5f);
  }
}

float MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff = std::max(diff, std::abs(a[i] - b[i]));
  return diff;
}

std::vector<float> RunForward(MlpNetwork& net, const std::vector<float>& input, int batch) {
  std::vector<float> probabilities(static_cast<size_t>(batch) * net.spec().num_classes, -1.0f);
  absl::Status status = net.Forward(input, batch, absl::MakeSpan(probabilities));
  EXPECT_TRUE(status.ok()) << status;
  return probabilities;
}

MlpSpec OddSpec() {
  MlpSpec spec;
  spec.input_size = 37;
  spec.hidden = {29, 17};
  spec.num_classes = 10;
  return spec;
}

TEST(MlpSpecTest, NamesDimsAndValidation) {
  MlpSpec spec;
  spec.hidden = {256, 128};
  EXPECT_EQ(MlpSpecToString(spec), "784-256-128-10");
  EXPECT_EQ(MlpNumLayers(spec), 3);
  EXPECT_EQ(MlpLayerName(0), "fc1");
  EXPECT_EQ(MlpLayerDims(spec, 0), std::make_pair(784, 256));
  EXPECT_EQ(MlpLayerDims(spec, 2), std::make_pair(128, 10));
  EXPECT_TRUE(ValidateMlpSpec(spec).ok());
  spec.hidden = {256, 0};
  absl::Status bad = ValidateMlpSpec(spec);
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("hidden[1]"), std::string::npos) << bad;

  MlpSpec no_hidden;  // plain softmax regression is a valid MLP
  EXPECT_TRUE(ValidateMlpSpec(no_hidden).ok());
  EXPECT_EQ(MlpNumLayers(no_hidden), 1);
}

TEST(InitMlpParamsTest, LayoutNamesAndHeStatistics) {
  MlpSpec spec;
  spec.hidden = {256, 128};
  ParamStore params = InitMlpParams(spec, 42);
  ASSERT_EQ(params.size(), 6u);
  const char* names[] = {"fc1.weight", "fc1.bias", "fc2.weight",
                         "fc2.bias",   "fc3.weight", "fc3.bias"};
  for (size_t i = 0; i < 6; ++i) {
    const Parameter& p = params.parameters()[i];
    EXPECT_EQ(p.name, names[i]);
    EXPECT_EQ(p.layer, "fc" + std::to_string(i / 2 + 1));
    EXPECT_EQ(p.layer_type, "dense");
    EXPECT_EQ(p.kind, i % 2 == 0 ? Parameter::kWeight : Parameter::kBias);
  }
  EXPECT_EQ(params.Find("fc1.weight")->shape, std::vector<int64_t>({256, 784}));
  EXPECT_EQ(params.Find("fc3.weight")->shape, std::vector<int64_t>({10, 128}));
  EXPECT_TRUE(CheckMlpParams(spec, params).ok());

  const Parameter& w = *params.Find("fc1.weight");
  double sum = 0, sum_sq = 0;
  for (float v : w.values) {
    sum += v;
    sum_sq += static_cast<double>(v) * v;
  }
  const double mean = sum / w.values.size();
  const double var = sum_sq / w.values.size() - mean * mean;
  EXPECT_NEAR(mean, 0.0, 0.002);
  EXPECT_NEAR(var, 2.0 / 784, 0.02 * 2.0 / 784);
  for (float v : params.Find("fc2.bias")->values) EXPECT_EQ(v, 0.0f);

  // Deterministic for a seed, different across seeds.
  ParamStore again = InitMlpParams(spec, 42);
  ParamStore other = InitMlpParams(spec, 43);
  EXPECT_EQ(again.Find("fc2.weight")->values, params.Find("fc2.weight")->values);
  EXPECT_NE(other.Find("fc2.weight")->values, params.Find("fc2.weight")->values);

  MlpSpec invalid;
  invalid.input_size = 0;
  EXPECT_EQ(InitMlpParams(invalid, 1).size(), 0u);
}

TEST(MlpNetworkTest, MatchesScalarReferenceForOddBatchSizes) {
  const MlpSpec spec = OddSpec();
  ParamStore params = InitMlpParams(spec, 7);
  RandomizeBiases(params, 100);
  constexpr int kMaxBatch = 16;
  auto net = MlpNetwork::Create(spec, &params, kMaxBatch);
  ASSERT_TRUE(net.ok()) << net.status();
  EXPECT_EQ((*net)->max_batch(), kMaxBatch);

  // 1, odd, exactly max, several chunks with a short last one, and repeated short calls.
  for (int batch : {1, 7, kMaxBatch, 37, 3, kMaxBatch - 1}) {
    SCOPED_TRACE(batch);
    const std::vector<float> input =
        RandomVector(static_cast<size_t>(batch) * spec.input_size, 1000 + batch, -2.0f, 2.0f);
    const std::vector<float> got = RunForward(**net, input, batch);
    const std::vector<float> want = ReferenceForward(spec, params, input, batch);
    EXPECT_LE(MaxAbsDiff(got, want), 1e-4f);
    for (int r = 0; r < batch; ++r) {
      double row_sum = 0;
      for (int c = 0; c < spec.num_classes; ++c) row_sum += got[r * spec.num_classes + c];
      EXPECT_NEAR(row_sum, 1.0, 1e-5);
    }
  }

  // A row's output does not depend on the batch it is in.
  const std::vector<float> input = RandomVector(9 * spec.input_size, 5);
  const std::vector<float> all = RunForward(**net, input, 9);
  const std::vector<float> first(input.begin(), input.begin() + spec.input_size);
  const std::vector<float> single = RunForward(**net, first, 1);
  EXPECT_LE(MaxAbsDiff(single, std::vector<float>(all.begin(), all.begin() + 10)), 1e-6f);

  // batch 0 is a no-op.
  EXPECT_TRUE((*net)->Forward({}, 0, {}).ok());
}

TEST(MlpNetworkTest, FashionMnistSizedNetworkMatchesReference) {
  MlpSpec spec;
  spec.hidden = {256, 256};
  ParamStore params = InitMlpParams(spec, 3);
  RandomizeBiases(params, 200);
  auto net = MlpNetwork::Create(spec, &params, 64);
  ASSERT_TRUE(net.ok()) << net.status();
  for (int batch : {64, 100}) {
    const std::vector<float> input = RandomVector(static_cast<size_t>(batch) * 784, batch, 0, 1);
    EXPECT_LE(MaxAbsDiff(RunForward(**net, input, batch),
                         ReferenceForward(spec, params, input, batch)),
              1e-4f);
  }
}

TEST(MlpNetworkTest, SyncParamsPicksUpRewrittenWeights) {
  const MlpSpec spec = OddSpec();
  ParamStore params = InitMlpParams(spec, 11);
  RandomizeBiases(params, 300);
  auto created = MlpNetwork::Create(spec, &params, 8);
  ASSERT_TRUE(created.ok()) << created.status();
  MlpNetwork& net = **created;
  const int batch = 11;
  const std::vector<float> input = RandomVector(batch * spec.input_size, 77);
  const std::vector<float> before = RunForward(net, input, batch);
  const ParamStore original = params;

  // A quantizer-like rewrite: ternarize every weight to {-d, 0, +d}, shift the biases.
  for (Parameter& p : params.parameters()) {
    if (p.kind == Parameter::kWeight) {
      for (float& v : p.values) v = std::abs(v) < 0.2f ? 0.0f : (v > 0 ? 0.3f : -0.3f);
    } else {
      for (float& v : p.values) v += 0.25f;
    }
  }
  // Not yet synced: still the old weights.
  EXPECT_LE(MaxAbsDiff(RunForward(net, input, batch), before), 0.0f);

  ASSERT_TRUE(net.SyncParams().ok());
  const std::vector<float> after = RunForward(net, input, batch);
  EXPECT_GT(MaxAbsDiff(after, before), 1e-2f);
  EXPECT_LE(MaxAbsDiff(after, ReferenceForward(spec, params, input, batch)), 1e-4f);

  // Replacing the value vectors (new buffers) works as well, and restores the old outputs.
  for (size_t i = 0; i < params.size(); ++i) {
    params.parameters()[i].values = original.parameters()[i].values;
  }
  ASSERT_TRUE(net.SyncParams().ok());
  EXPECT_LE(MaxAbsDiff(RunForward(net, input, batch), before), 1e-6f);
}

TEST(MlpNetworkTest, WrongShapeIsAnErrorNamingTheParameter) {
  const MlpSpec spec = OddSpec();
  ParamStore params = InitMlpParams(spec, 1);
  auto created = MlpNetwork::Create(spec, &params, 4);
  ASSERT_TRUE(created.ok()) << created.status();
  const std::vector<float> input = RandomVector(2 * spec.input_size, 9);
  const std::vector<float> before = RunForward(**created, input, 2);

  Parameter* w = params.Find("fc2.weight");
  w->shape = {17, 28};
  w->values.resize(17 * 28);
  absl::Status status = (*created)->SyncParams();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("'fc2.weight'"), std::string::npos) << status;
  EXPECT_NE(status.message().find("expected shape [17, 29], found [17, 28]"), std::string::npos)
      << status;
  // A failed sync leaves the network as it was.
  EXPECT_LE(MaxAbsDiff(RunForward(**created, input, 2), before), 0.0f);

  auto bad_create = MlpNetwork::Create(spec, &params, 4);
  EXPECT_EQ(bad_create.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad_create.status().message().find("fc2.weight"), std::string::npos);

  ParamStore missing;
  auto no_params = MlpNetwork::Create(spec, &missing, 4);
  EXPECT_EQ(no_params.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(no_params.status().message().find("'fc1.weight'"), std::string::npos)
      << no_params.status();

  ParamStore bias_wrong = InitMlpParams(spec, 1);
  bias_wrong.Find("fc3.bias")->shape = {10, 1};
  absl::Status bias_status = CheckMlpParams(spec, bias_wrong);
  EXPECT_NE(bias_status.message().find("'fc3.bias': expected shape [10], found [10, 1]"),
            std::string::npos)
      << bias_status;
}

TEST(MlpNetworkTest, RejectsBadArguments) {
  const MlpSpec spec = OddSpec();
  ParamStore params = InitMlpParams(spec, 1);
  EXPECT_EQ(MlpNetwork::Create(spec, &params, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MlpNetwork::Create(spec, nullptr, 4).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto net = MlpNetwork::Create(spec, &params, 4);
  ASSERT_TRUE(net.ok());
  std::vector<float> input(3 * spec.input_size), probabilities(3 * spec.num_classes);
  absl::Status short_input =
      (*net)->Forward(absl::MakeConstSpan(input.data() + 1, input.size() - 1), 3,
                      absl::MakeSpan(probabilities));
  EXPECT_EQ(short_input.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(short_input.message().find("input has 110 floats"), std::string::npos)
      << short_input;
  EXPECT_EQ((*net)->Forward(input, 3, absl::MakeSpan(probabilities.data(), 29)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*net)->Forward(input, -1, absl::MakeSpan(probabilities)).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ThreadsTest, ReportsOneDnnRuntimeAndSetsThreads) {
  const std::string runtime = DnnlCpuRuntimeName();
  std::printf("oneDNN CPU runtime: %s, threads: %d\n", runtime.c_str(), GetNumThreads());
  EXPECT_FALSE(runtime.empty());
  if (runtime == "OpenMP") {
    SetNumThreads(1);
    EXPECT_EQ(GetNumThreads(), 1);
    SetNumThreads(2);
    EXPECT_EQ(GetNumThreads(), 2);
    SetNumThreads(0);  // ignored
    EXPECT_EQ(GetNumThreads(), 2);
  }
}

}  // namespace
}  // namespace quantbench
