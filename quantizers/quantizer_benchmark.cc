// Time to quantize one 25M-weight tensor (the size of a large dense layer), per quantizer.
//   bazel run //quantizers:quantizer_benchmark
// On a VM where first-touching memory is slow (a Firecracker VM here: about 3 ms per MB), the
// fresh output and sort buffers dominate; to time the computation alone, keep freed memory:
//   MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=100000000000 bazel-bin/quantizers/quantizer_benchmark
#include <map>
#include <random>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "quantizers/quantizer.h"

namespace quantbench {
namespace {

const std::vector<float>& Weights() {
  static const std::vector<float>* weights = [] {
    auto* w = new std::vector<float>(25'000'000);
    std::mt19937 rng(1);
    std::normal_distribution<float> dist(0.0f, 0.02f);
    for (float& v : *w) v = dist(rng);
    return w;
  }();
  return *weights;
}

void BM_Quantize(benchmark::State& state, const std::string& name,
                 std::map<std::string, std::string> params) {
  auto quantizer = QuantizerRegistry::Global().Create(name, params);
  if (!quantizer.ok()) {
    state.SkipWithError(std::string(quantizer.status().message()).c_str());
    return;
  }
  const WeightView view{"bench", {5000, 5000}, Weights()};
  const int bits = static_cast<int>(state.range(0));
  for (auto _ : state) {
    auto q = (*quantizer)->Quantize(view, bits);
    if (!q.ok()) state.SkipWithError(std::string(q.status().message()).c_str());
    benchmark::DoNotOptimize(q);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(Weights().size()));
}

BENCHMARK_CAPTURE(BM_Quantize, linear, "linear", {})->Arg(4)->Arg(8)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Quantize, linear_per_channel, "linear", {{"granularity", "per_channel"}})
    ->Arg(8)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Quantize, exponential_searched, "exponential", {})
    ->Arg(4)
    ->Arg(8)
    ->Arg(12)
    ->Arg(16)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Quantize, exponential_fixed, "exponential", {{"base", "0.5"}})
    ->Arg(8)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Quantize, ternary_twn, "ternary", {})->Arg(2)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Quantize, ternary_mse, "ternary", {{"method", "mse"}})
    ->Arg(2)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Quantize, binary, "binary", {})->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Quantize, power_of_two, "power_of_two", {})
    ->Arg(4)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Quantize, kmeans, "kmeans", {})->Arg(4)->Arg(8)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace quantbench
