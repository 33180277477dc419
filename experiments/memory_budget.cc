#include "experiments/memory_budget.h"

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "kernels/status_macros.h"

namespace quantbench {
namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

// a * b, saturating: sizes here come from user text and must not wrap around to small.
uint64_t Times(uint64_t a, uint64_t b) {
  if (a != 0 && b > UINT64_MAX / a) return UINT64_MAX;
  return a * b;
}

uint64_t Plus(uint64_t a, uint64_t b) { return b > UINT64_MAX - a ? UINT64_MAX : a + b; }

}  // namespace

uint64_t AvailableMemoryBytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string line;
  while (std::getline(meminfo, line)) {
    std::istringstream fields(line);
    std::string key;
    uint64_t kib = 0;
    if (fields >> key >> kib && key == "MemAvailable:") return kib * 1024;
  }
  const long pages = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) : UINT64_MAX;
}

absl::Status CheckFitsInMemory(uint64_t bytes, uint64_t available, const std::string& field,
                               const std::string& what) {
  if (bytes <= available) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrFormat("%s: %s needs about %.1f GiB but %.1f GiB are available; lower it",
                                                      field, what, bytes / kGiB, available / kGiB));
}

absl::Status CheckNetworkFitsInMemory(const Experiment& config, const Graph& graph, uint64_t available) {
  uint64_t weights = 0, activations = 0;  // values
  for (const ParamSpec& p : graph.params) {
    uint64_t n = 1;
    for (int64_t d : p.shape) n = Times(n, static_cast<uint64_t>(std::max<int64_t>(d, 0)));
    weights = Plus(weights, n);
  }
  for (const Layer& layer : graph.layers) {
    activations = Plus(activations, static_cast<uint64_t>(std::max<int64_t>(layer.shape.NumElements(), 0)));
  }
  const uint64_t weight_bytes = Times(weights, 3 * sizeof(float));
  QB_RETURN_IF_ERROR(CheckFitsInMemory(weight_bytes, available, "network",
                                       absl::StrCat("the weights (", weights, " values, 3 copies)")));
  const NetworkSpec& spec = config.network();
  auto batch_check = [&](int64_t batch, uint64_t activation_copies, uint64_t weight_copies, const std::string& field) {
    const uint64_t bytes = Plus(Times(Times(static_cast<uint64_t>(std::max<int64_t>(batch, 0)), activations),
                                      activation_copies * sizeof(float)),
                                Times(weights, weight_copies * sizeof(float)));
    return CheckFitsInMemory(bytes, available, field,
                             absl::StrCat("a batch of ", batch, " (", activations, " activation values per example)"));
  };
  QB_RETURN_IF_ERROR(batch_check(spec.eval_batch(), 1, 3, "network.eval_batch"));
  if (spec.has_train()) QB_RETURN_IF_ERROR(batch_check(spec.train().batch_size(), 3, 4, "network.train.batch_size"));
  for (int q = 0; q < config.quantizers_size(); ++q) {
    if (!config.quantizers(q).has_qat()) continue;
    QB_RETURN_IF_ERROR(batch_check(config.quantizers(q).qat().train().batch_size(), 3, 4,
                                   absl::StrCat("quantizers[", q, "].qat.train.batch_size")));
  }
  return absl::OkStatus();
}

}  // namespace quantbench
