// Load and augmentation timings of a class-folder split (benchmark, not a test):
//   bazel run -c opt //datasets:bench -- --root=/work/shared/data/cifar10_jpeg --split=train
// Flags: --root=DIR (default ../shared/data/cifar10_jpeg of the workspace), --split=NAME
// (train), --threads=N (2), --batch=N (128), --batches=N (200). The cold load decodes into a
// fresh cache folder under $TMPDIR (removed afterwards), the warm load reads that cache; then
// AugmentBatch and AugmentBatchRef time CIFAR augmentation (crop 4 + flip + normalise) of
// `batches` random batches. Prints a Markdown table.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "datasets/augmentation.h"
#include "datasets/class_folder_dataset.h"

namespace {

using Clock = std::chrono::steady_clock;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  std::string root;
  if (const char* workspace = std::getenv("BUILD_WORKSPACE_DIRECTORY")) {
    root = std::string(workspace) + "/../shared/data/cifar10_jpeg";
  }
  std::string split = "train";
  int threads = 2, batch = 128, batches = 200;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto take = [&](const char* name, auto* out) {
      const std::string prefix = std::string(name) + "=";
      if (!absl::StartsWith(arg, prefix)) return false;
      const std::string value = arg.substr(prefix.size());
      if constexpr (std::is_same_v<std::remove_pointer_t<decltype(out)>, std::string>) {
        *out = value;
        return true;
      } else {
        return absl::SimpleAtoi(value, out) && *out > 0;
      }
    };
    if (!(take("--root", &root) || take("--split", &split) || take("--threads", &threads) ||
          take("--batch", &batch) || take("--batches", &batches))) {
      std::fprintf(stderr, "bench: unknown or bad flag %s (see datasets/bench.cc)\n", argv[i]);
      return 2;
    }
  }
  const char* tmp = std::getenv("TMPDIR");
  const fs::path cache =
      fs::path(tmp && *tmp ? tmp : "/tmp") / ("quantbench_datasets_bench_" + std::to_string(::getpid()));
  quantbench::ClassFolderOptions options;
  options.threads = threads;
  options.cache_dir = cache.string();

  quantbench::ClassFolderLoadInfo cold, warm;
  auto set = quantbench::LoadClassFolderSplit(root, split, options, &cold);
  if (!set.ok()) {
    std::fprintf(stderr, "bench: %s\n", std::string(set.status().message()).c_str());
    return 1;
  }
  auto again = quantbench::LoadClassFolderSplit(root, split, options, &warm);
  std::error_code ec;
  fs::remove_all(cache, ec);
  if (!again.ok() || !warm.cache_hit || again->pixels != set->pixels) {
    std::fprintf(stderr, "bench: warm load did not round-trip (%s)\n", warm.cache_note.c_str());
    return 1;
  }

  const quantbench::AugmentationOptions augmentation = quantbench::CifarTrainAugmentation(1);
  std::mt19937_64 rng(7);
  std::vector<int64_t> indices(static_cast<size_t>(batch));
  std::vector<float> x(static_cast<size_t>(batch * set->image_size()));
  std::vector<int32_t> labels(static_cast<size_t>(batch));
  std::vector<double> fast, ref;
  for (int b = 0; b < batches; ++b) {
    for (int64_t& index : indices) index = static_cast<int64_t>(rng() % set->count);
    for (int version = 0; version < 2; ++version) {
      const auto start = Clock::now();
      const absl::Status status =
          version == 0 ? AugmentBatch(*set, indices, b, augmentation, absl::MakeSpan(x),
                                      absl::MakeSpan(labels))
                       : AugmentBatchRef(*set, indices, b, augmentation, absl::MakeSpan(x),
                                         absl::MakeSpan(labels));
      const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
      if (!status.ok()) {
        std::fprintf(stderr, "bench: %s\n", std::string(status.message()).c_str());
        return 1;
      }
      (version == 0 ? fast : ref).push_back(ms);
    }
  }

  std::printf("%s/%s: %lld images of %dx%dx%d, %.1f MB of uint8, %d decode threads\n\n",
              root.c_str(), split.c_str(), static_cast<long long>(set->count), set->channels,
              set->height, set->width, set->pixels.size() / 1e6, threads);
  std::vector<double> mean, std;
  quantbench::ChannelMeanStd(*set, &mean, &std);
  std::printf("per-channel mean of x/255:");
  for (double m : mean) std::printf(" %.4f", m);
  std::printf(", std:");
  for (double s : std) std::printf(" %.4f", s);
  std::printf("\n\n| step | wall time |\n|---|---:|\n");
  std::printf("| load, cold (decode + write cache) | %.2f s |\n", cold.seconds);
  std::printf("| load, warm (cache hit, CRC checked) | %.2f s |\n", warm.seconds);
  std::printf("| AugmentBatch, %d images (median of %d) | %.3f ms |\n", batch, batches, Median(fast));
  std::printf("| AugmentBatchRef, %d images (median of %d) | %.3f ms |\n", batch, batches,
              Median(ref));
  return 0;
}
