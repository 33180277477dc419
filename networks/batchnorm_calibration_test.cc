// RecalibrateBatchNorm on seeded random weights, checked with graph_reference (double
// precision, independent of oneDNN): after re-calibration every BatchNorm's input, normalized
// with the new statistics, has mean 0 and variance 1 per channel over the calibration images,
// with each input computed through the already re-calibrated earlier BatchNorms.
#include "networks/batchnorm_calibration.h"

#include <algorithm>
#include <cmath>
#include <iostream>
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

namespace quantbench {
namespace {

std::vector<float> RandomImages(const Graph& graph, int count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);  // roughly torch-normalized pixels
  std::vector<float> x(static_cast<size_t>(count) * graph.input.NumElements());
  for (float& v : x) v = normal(rng);
  return x;
}

struct Moments {
  double worst_mean = 0.0;       // max |mean| of a normalized channel
  double worst_var_error = 0.0;  // max |var - 1| of a normalized channel
  int batchnorms = 0;
};

// Per BatchNorm and channel: mean and variance over all images and pixels of its input as the
// reference computes it, normalized with the store's running statistics.
Moments NormalizedInputMoments(const Graph& graph, const ParamStore& store,
                               const std::vector<float>& images, int count) {
  std::map<int, std::vector<int>> batchnorms_of_value;
  for (size_t i = 1; i < graph.layers.size(); ++i) {
    if (graph.layers[i].kind == LayerKind::kBatchNorm) {
      batchnorms_of_value[graph.layers[i].inputs[0]].push_back(static_cast<int>(i));
    }
  }
  // value -> per channel: sum, sum of squares, count (of raw values).
  std::map<int, std::vector<double>> sum, squares;
  std::map<int, double> n;
  absl::StatusOr<std::vector<float>> out = ReferenceForward(
      graph, store, images, count, true, [&](int value, int, std::vector<double>* values) {
        if (batchnorms_of_value.count(value) == 0) return;
        const TensorShape& shape = graph.layers[value].shape;
        const size_t pixels = static_cast<size_t>(shape.h) * shape.w;
        sum[value].resize(shape.c, 0.0);
        squares[value].resize(shape.c, 0.0);
        for (int c = 0; c < shape.c; ++c) {
          for (size_t s = 0; s < pixels; ++s) {
            const double v = (*values)[c * pixels + s];
            sum[value][c] += v;
            squares[value][c] += v * v;
          }
        }
        n[value] += static_cast<double>(pixels);
      });
  EXPECT_TRUE(out.ok()) << out.status();
  Moments m;
  for (const auto& [value, bns] : batchnorms_of_value) {
    for (int bn : bns) {
      const Layer& layer = graph.layers[bn];
      const std::vector<float>& mean = store.Find(layer.name + ".running_mean")->values;
      const std::vector<float>& var = store.Find(layer.name + ".running_var")->values;
      for (size_t c = 0; c < mean.size(); ++c) {
        const double raw_mean = sum[value][c] / n[value];
        const double raw_var = squares[value][c] / n[value] - raw_mean * raw_mean;
        const double denom = std::sqrt(static_cast<double>(var[c]) + layer.eps);
        m.worst_mean = std::max(m.worst_mean, std::fabs((raw_mean - mean[c]) / denom));
        // With the new statistics this is var / (var + eps): 1 to within eps / var.
        m.worst_var_error = std::max(m.worst_var_error, std::fabs(raw_var / (denom * denom) - 1.0));
      }
      ++m.batchnorms;
    }
  }
  return m;
}

// Mean over images of the largest class probability (near 1: degenerate, one-hot outputs).
double MeanTopProbability(const Graph& graph, ParamStore* store, const std::vector<float>& images,
                          int count) {
  auto network = GraphNetwork::Create(graph, store, count);
  EXPECT_TRUE(network.ok()) << network.status();
  if (!network.ok()) return 0.0;
  std::vector<float> p(static_cast<size_t>(count) * graph.num_classes);
  EXPECT_TRUE((*network)->Forward(images, count, absl::MakeSpan(p)).ok());
  double total = 0.0;
  for (int i = 0; i < count; ++i) {
    total += *std::max_element(p.begin() + i * graph.num_classes,
                               p.begin() + (i + 1) * graph.num_classes);
  }
  return total / count;
}

TEST(BatchNormCalibrationTest, Resnet18NormalizesEveryBatchNormInput) {
  SetNumThreads(2);
  ArchitectureOptions options;
  options.image_size = 64;
  absl::StatusOr<Graph> graph = ArchitectureRegistry::Global().Build("resnet18", options);
  ASSERT_TRUE(graph.ok()) << graph.status();
  absl::StatusOr<ParamStore> store = InitGraphParams(*graph, 7);
  ASSERT_TRUE(store.ok()) << store.status();
  constexpr int kImages = 6;
  const std::vector<float> images = RandomImages(*graph, kImages, 8);

  const Moments before = NormalizedInputMoments(*graph, *store, images, kImages);
  EXPECT_EQ(before.batchnorms, 20);
  // Seeded statistics (mean 0, var 1) do not describe the real inputs.
  EXPECT_GT(std::max(before.worst_mean, before.worst_var_error), 0.5);
  const double top_before = MeanTopProbability(*graph, &*store, images, kImages);

  const ParamStore untouched = *store;
  ASSERT_TRUE(RecalibrateBatchNorm(*graph, &*store, images, kImages).ok());
  const Moments after = NormalizedInputMoments(*graph, *store, images, kImages);
  EXPECT_EQ(after.batchnorms, 20);
  EXPECT_LE(after.worst_mean, 1e-4);
  EXPECT_LE(after.worst_var_error, 1e-3);
  const double top_after = MeanTopProbability(*graph, &*store, images, kImages);
  std::cout << "resnet18 64x64, " << kImages << " images: normalized BN inputs before: max |mean| "
            << before.worst_mean << ", max |var - 1| " << before.worst_var_error
            << "; after: " << after.worst_mean << ", " << after.worst_var_error
            << "; mean top-1 probability " << top_before << " -> " << top_after << "\n";

  // Only running statistics changed.
  for (const Parameter& p : store->parameters()) {
    const bool statistic = p.name.find(".running_") != std::string::npos;
    if (!statistic) {
      EXPECT_EQ(p.values, untouched.Find(p.name)->values) << p.name;
    }
  }
}

// SyncBatchNorm (what RecalibrateBatchNorm uses between layers) re-reads one BatchNorm, folded
// into its conv or standalone, like a full SyncParams would.
TEST(BatchNormCalibrationTest, SyncBatchNormEqualsAFreshNetwork) {
  GraphBuilder b;
  int x = b.Input(3, 7, 6);
  x = b.ConvBn(x, "c1", "bn1", 5, 3, 1, 1);  // folded
  int y = b.Conv(x, "c2", 4, 1, 1, 0);
  y = b.BatchNorm(b.Relu(y), "bn2");           // after a ReLU: standalone
  y = b.Dense(b.Flatten(y), "fc", 3);
  absl::StatusOr<Graph> graph = b.Finish(y);
  ASSERT_TRUE(graph.ok()) << graph.status();
  absl::StatusOr<ParamStore> store = InitGraphParams(*graph, 2);
  ASSERT_TRUE(store.ok());
  const std::vector<float> images = RandomImages(*graph, 2, 3);
  auto run = [&](GraphNetwork& network) {
    std::vector<float> p(2 * 3);
    EXPECT_TRUE(network.Forward(images, 2, absl::MakeSpan(p)).ok());
    return p;
  };
  auto network = GraphNetwork::Create(*graph, &*store, 2);
  ASSERT_TRUE(network.ok());
  const std::vector<float> before = run(**network);
  for (const std::string bn : {"bn1", "bn2"}) {
    for (float& v : store->Find(bn + ".running_mean")->values) v += 0.25f;
    for (float& v : store->Find(bn + ".running_var")->values) v *= 3.0f;
    ASSERT_TRUE((*network)->SyncBatchNorm(bn).ok());
  }
  auto fresh = GraphNetwork::Create(*graph, &*store, 2);
  ASSERT_TRUE(fresh.ok());
  const std::vector<float> after = run(**network);
  EXPECT_EQ(after, run(**fresh));
  EXPECT_NE(after, before);
  EXPECT_EQ((*network)->SyncBatchNorm("c1").code(), absl::StatusCode::kInvalidArgument);
}

TEST(BatchNormCalibrationTest, Errors) {
  GraphBuilder b;
  int x = b.Input(2, 5, 5);
  x = b.ConvBn(x, "c", "bn", 3, 3, 1, 1);
  x = b.Dense(b.Flatten(b.GlobalAvgPool(x)), "fc", 4);
  absl::StatusOr<Graph> graph = b.Finish(x);
  ASSERT_TRUE(graph.ok());
  absl::StatusOr<ParamStore> store = InitGraphParams(*graph, 1);
  ASSERT_TRUE(store.ok());
  std::vector<float> images(2 * 50, 0.5f);
  EXPECT_EQ(RecalibrateBatchNorm(*graph, &*store, images, 0).code(), absl::StatusCode::kInvalidArgument);
  const absl::Status s = RecalibrateBatchNorm(*graph, &*store, images, 3);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("3 * 50"), std::string::npos) << s;
  EXPECT_TRUE(RecalibrateBatchNorm(*graph, &*store, images, 2).ok());
}

}  // namespace
}  // namespace quantbench
