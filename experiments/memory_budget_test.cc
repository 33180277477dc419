#include "experiments/memory_budget.h"

#include <cstdint>

#include "absl/strings/match.h"
#include "experiments/config.h"
#include "experiments/model_loader.h"
#include "gtest/gtest.h"

namespace quantbench {
namespace {

constexpr uint64_t kGiB = uint64_t{1} << 30;

Experiment MlpConfig(const std::string& network_extra) {
  RunDirectories dirs{"/nonexistent", "/nonexistent"};
  auto config = ParseExperiment(
      "name: 'm' network { architecture: 'mlp' mlp { hidden: [256] } random_init { seed: 1 } " + network_extra +
          " } quantizers { name: 'linear' } bits: [4]",
      "m.pbtxt", dirs);
  EXPECT_TRUE(config.ok()) << config.status();
  return *config;
}

TEST(MemoryBudgetTest, AvailableMemoryIsPositive) { EXPECT_GT(AvailableMemoryBytes(), 0u); }

TEST(MemoryBudgetTest, DefaultMlpFitsInOneGiB) {
  const Experiment config = MlpConfig("");
  auto graph = BuildConfiguredGraph(config.network());
  ASSERT_TRUE(graph.ok()) << graph.status();
  EXPECT_TRUE(CheckNetworkFitsInMemory(config, *graph, kGiB).ok());
}

TEST(MemoryBudgetTest, HugeEvalBatchNamesTheField) {
  const Experiment config = MlpConfig("eval_batch: 2000000000");
  auto graph = BuildConfiguredGraph(config.network());
  ASSERT_TRUE(graph.ok()) << graph.status();
  absl::Status status = CheckNetworkFitsInMemory(config, *graph, 64 * kGiB);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(absl::StartsWith(status.message(), "network.eval_batch: a batch of 2000000000")) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "lower it")) << status;
}

TEST(MemoryBudgetTest, HugeHiddenWidthIsCaughtAsWeights) {
  // 784 x 1,000,000 weights: 3.1 GB of floats, three times over, against 4 GiB.
  const Experiment config = MlpConfig("");
  Experiment wide = config;
  wide.mutable_network()->mutable_mlp()->set_hidden(0, 1000000);
  auto graph = BuildConfiguredGraph(wide.network());
  ASSERT_TRUE(graph.ok()) << graph.status();
  absl::Status status = CheckNetworkFitsInMemory(wide, *graph, 4 * kGiB);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(absl::StartsWith(status.message(), "network: the weights")) << status;
}

TEST(MemoryBudgetTest, SaturatesInsteadOfWrapping) {
  EXPECT_EQ(CheckFitsInMemory(UINT64_MAX, UINT64_MAX - 1, "f", "x").code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(CheckFitsInMemory(10, 10, "f", "x").ok());
}

}  // namespace
}  // namespace quantbench
