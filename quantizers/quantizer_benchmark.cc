// Time to quantize a whole 25.5M-weight model with ResNet-50's layer shapes (torchvision
// layout: every conv and the fc), per quantizer at its typical width, and the weight SQNR.
//   bazel run //quantizers:quantizer_benchmark            (or: -- --threads=1)
// Not a test: nothing here asserts on time.
//
// Each quantizer is single-threaded on one tensor; a model's layers are independent, so the
// "2 threads" column quantizes two layers at a time (what a sweep can do), and the "1 thread"
// column one after another. Weights are N(0, 2/fan_in) (He init) with a fixed seed. Times are
// the best of `--repeats` runs (default 3) after one warm-up run; first-touch page faults of
// fresh output buffers are included (they are part of quantizing a model).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "quantizers/quantizer.h"

namespace quantbench {
namespace {

struct Layer {
  std::string name;
  std::vector<int64_t> shape;  // [out, in, kh, kw] or [out, in]
  std::vector<float> values;
};

// ResNet-50 (v1.5, torchvision): stem 7×7, four stages of bottlenecks (1×1, 3×3, 1×1 ×4
// expansion) with 3, 4, 6, 3 blocks and widths 64..512, a 1×1 downsample in each stage's first
// block, and the 1000-way fc.
std::vector<Layer> ResNet50Layers() {
  std::vector<Layer> layers;
  auto add = [&](std::string name, std::vector<int64_t> shape) {
    layers.push_back({std::move(name), std::move(shape), {}});
  };
  add("conv1", {64, 3, 7, 7});
  const int blocks[] = {3, 4, 6, 3};
  int64_t in = 64;
  for (int stage = 0; stage < 4; ++stage) {
    const int64_t width = int64_t{64} << stage;
    const int64_t out = 4 * width;
    for (int b = 0; b < blocks[stage]; ++b) {
      const std::string prefix = "layer" + std::to_string(stage + 1) + "." + std::to_string(b);
      add(prefix + ".conv1", {width, in, 1, 1});
      add(prefix + ".conv2", {width, width, 3, 3});
      add(prefix + ".conv3", {out, width, 1, 1});
      if (b == 0) add(prefix + ".downsample", {out, in, 1, 1});
      in = out;
    }
  }
  add("fc", {1000, 2048});
  std::mt19937 rng(1);
  for (Layer& layer : layers) {
    int64_t count = 1;
    for (int64_t d : layer.shape) count *= d;
    const double fan_in = static_cast<double>(count / layer.shape[0]);
    std::normal_distribution<float> dist(0.0f, static_cast<float>(std::sqrt(2.0 / fan_in)));
    layer.values.resize(count);
    for (float& v : layer.values) v = dist(rng);
  }
  return layers;
}

struct Config {
  std::string quantizer;
  std::map<std::string, std::string> params;
  int bits;
};

struct Timing {
  double seconds = 0.0;
  double sqnr_db = 0.0;
  std::string error;
};

// Quantizes every layer on `threads` threads; returns the wall time and the model's SQNR.
Timing QuantizeModel(const Quantizer& quantizer, const std::vector<Layer>& layers, int bits,
                     int threads) {
  std::atomic<size_t> next{0};
  std::vector<double> signal(layers.size(), 0.0);
  std::vector<double> noise(layers.size(), 0.0);
  std::vector<std::string> errors(layers.size());
  auto work = [&] {
    for (size_t i = next++; i < layers.size(); i = next++) {
      const Layer& layer = layers[i];
      auto q = quantizer.Quantize(WeightView{layer.name, layer.shape, layer.values}, bits);
      if (!q.ok()) {
        errors[i] = std::string(q.status().message());
        continue;
      }
      for (size_t j = 0; j < layer.values.size(); ++j) {
        const double w = layer.values[j];
        const double d = w - q->values[j];
        signal[i] += w * w;
        noise[i] += d * d;
      }
    }
  };
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
  Timing timing;
  timing.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  double s = 0.0;
  double n = 0.0;
  for (size_t i = 0; i < layers.size(); ++i) {
    if (!errors[i].empty() && timing.error.empty()) timing.error = errors[i];
    s += signal[i];
    n += noise[i];
  }
  timing.sqnr_db = n == 0.0 ? INFINITY : 10.0 * std::log10(s / n);
  return timing;
}

std::string Describe(const Config& config) {
  std::string text = config.quantizer;
  for (const auto& [key, value] : config.params) text += " " + key + "=" + value;
  return text;
}

int Main(int argc, char** argv) {
  int repeats = 3;
  std::vector<int> thread_counts = {1, 2};
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--repeats=", 10) == 0) {
      repeats = std::max(1, std::atoi(argv[i] + 10));
    } else if (std::strncmp(argv[i], "--threads=", 10) == 0) {
      thread_counts = {std::max(1, std::atoi(argv[i] + 10))};
    } else {
      std::fprintf(stderr, "usage: quantizer_benchmark [--repeats=N] [--threads=N]\n");
      return 2;
    }
  }
  const std::vector<Layer> layers = ResNet50Layers();
  int64_t weights = 0;
  for (const Layer& layer : layers) weights += static_cast<int64_t>(layer.values.size());
  std::printf("ResNet-50 shapes: %zu layers, %.2f M weights; best of %d runs after a warm-up\n\n",
              layers.size(), weights / 1e6, repeats);

  // Each quantizer at the width it is typically swept at.
  const std::vector<Config> configs = {
      {"linear", {}, 8},
      {"linear", {{"granularity", "per_channel"}}, 8},
      {"linear", {{"symmetric", "false"}}, 8},
      {"linear", {{"clip", "percentile"}}, 8},
      {"linear", {{"clip", "mse"}}, 4},
      {"linear", {{"clip", "mse"}, {"granularity", "per_channel"}}, 4},
      {"exponential", {}, 4},
      {"exponential", {{"base", "0.5"}}, 4},
      {"power_of_two", {}, 4},
      {"apot", {}, 4},
      {"kmeans", {}, 4},
      {"ternary", {}, 2},
      {"ternary", {{"method", "mse"}}, 2},
      {"binary", {}, 1},
      {"residual_expansion", {}, 4},
      {"adjustable_threshold", {}, 8},
  };
  std::printf("| quantizer | bits |");
  for (int t : thread_counts) std::printf(" %d thread%s (s) |", t, t == 1 ? "" : "s");
  std::printf(" weight SQNR (dB) |\n|---|---:|");
  for (size_t t = 0; t < thread_counts.size(); ++t) std::printf("---:|");
  std::printf("---:|\n");
  for (const Config& config : configs) {
    auto quantizer = QuantizerRegistry::Global().Create(config.quantizer, config.params);
    if (!quantizer.ok()) {
      std::fprintf(stderr, "%s: %s\n", Describe(config).c_str(),
                   std::string(quantizer.status().message()).c_str());
      return 1;
    }
    std::printf("| %s | %d |", Describe(config).c_str(), config.bits);
    double sqnr = 0.0;
    for (int threads : thread_counts) {
      Timing best = QuantizeModel(**quantizer, layers, config.bits, threads);  // warm-up
      if (!best.error.empty()) {
        std::fprintf(stderr, "%s: %s\n", Describe(config).c_str(), best.error.c_str());
        return 1;
      }
      best.seconds = INFINITY;
      for (int r = 0; r < repeats; ++r) {
        const Timing timing = QuantizeModel(**quantizer, layers, config.bits, threads);
        if (timing.seconds < best.seconds) best = timing;
      }
      sqnr = best.sqnr_db;
      std::printf(" %.3f |", best.seconds);
    }
    std::printf(" %.2f |\n", sqnr);
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace
}  // namespace quantbench

int main(int argc, char** argv) { return quantbench::Main(argc, argv); }
