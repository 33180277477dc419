// Manual check of the architectures against torchvision itself (needs PyTorch, so not a
// bazel test): networks/testdata/torchvision_params/export_reference.py writes, per
// architecture, every state_dict tensor as <dir>/<arch>/<name>.f32 (raw float32), an input
// batch input.f32 (2 x 3 x S x S) and torchvision's softmax output expected.f32; this binary
// loads them into a ParamStore by name, runs GraphNetwork and prints the differences.
//   bazel run //networks:torchvision_compare -- /tmp/qb/tv resnet18 resnet50 ...
// QB_PRINT_PLAN=1 also prints each network's primitives (fusions, oneDNN implementations).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "networks/architecture.h"
#include "networks/graph.h"
#include "networks/graph_network.h"
#include "networks/param_store.h"

namespace {

bool ReadFloats(const std::string& path, std::vector<float>* out) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) return false;
  const std::streamsize bytes = f.tellg();
  f.seekg(0);
  out->resize(static_cast<size_t>(bytes) / sizeof(float));
  return static_cast<bool>(f.read(reinterpret_cast<char*>(out->data()), bytes));
}

}  // namespace

int main(int argc, char** argv) {
  using namespace quantbench;
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s DIR ARCH...\n", argv[0]);
    return 2;
  }
  int failures = 0;
  for (int a = 2; a < argc; ++a) {
    const std::string name = argv[a];
    const std::string dir = std::string(argv[1]) + "/" + name + "/";
    auto graph = ArchitectureRegistry::Global().Build(name, {});
    if (!graph.ok()) {
      std::fprintf(stderr, "%s: %s\n", name.c_str(), graph.status().ToString().c_str());
      ++failures;
      continue;
    }
    ParamStore store;
    bool ok = true;
    for (const ParamSpec& spec : graph->params) {
      Parameter p = spec.EmptyParameter();
      if (!ReadFloats(dir + spec.name + ".f32", &p.values)) {
        std::fprintf(stderr, "%s: missing %s\n", name.c_str(), spec.name.c_str());
        ok = false;
        break;
      }
      absl::Status s = store.Add(std::move(p));
      if (!s.ok()) {
        std::fprintf(stderr, "%s: %s\n", name.c_str(), s.ToString().c_str());
        ok = false;
        break;
      }
    }
    std::vector<float> input, expected;
    if (!ok || !ReadFloats(dir + "input.f32", &input) || !ReadFloats(dir + "expected.f32", &expected)) {
      ++failures;
      continue;
    }
    const int batch = static_cast<int>(expected.size()) / graph->num_classes;
    auto network = GraphNetwork::Create(*graph, &store, batch);
    if (!network.ok()) {
      std::fprintf(stderr, "%s: %s\n", name.c_str(), network.status().ToString().c_str());
      ++failures;
      continue;
    }
    if (std::getenv("QB_PRINT_PLAN") != nullptr) {
      for (const std::string& line : (*network)->DescribePlan()) std::printf("  %s\n", line.c_str());
      std::printf("  activation buffers: %.1f MiB\n", (*network)->activation_bytes() / 1048576.0);
    }
    std::vector<float> got(expected.size());
    absl::Status s = (*network)->Forward(input, batch, absl::MakeSpan(got));
    if (!s.ok()) {
      std::fprintf(stderr, "%s: %s\n", name.c_str(), s.ToString().c_str());
      ++failures;
      continue;
    }
    // Log-probabilities are the logits up to a per-example constant.
    const int k = graph->num_classes;
    double worst_rel = 0.0, worst_p = 0.0;
    int top1_agree = 0;
    for (int b = 0; b < batch; ++b) {
      double mean_diff = 0.0, lo = 1e300, hi = -1e300;
      int arg_got = 0, arg_want = 0;
      for (int c = 0; c < k; ++c) {
        const double lw = std::log(expected[b * k + c]);
        mean_diff += std::log(got[b * k + c]) - lw;
        lo = std::min(lo, lw);
        hi = std::max(hi, lw);
        if (got[b * k + c] > got[b * k + arg_got]) arg_got = c;
        if (expected[b * k + c] > expected[b * k + arg_want]) arg_want = c;
        worst_p = std::max(worst_p, std::abs(static_cast<double>(got[b * k + c]) - expected[b * k + c]));
      }
      mean_diff /= k;
      for (int c = 0; c < k; ++c) {
        const double d = std::log(got[b * k + c]) - std::log(expected[b * k + c]) - mean_diff;
        worst_rel = std::max(worst_rel, std::abs(d) / (hi - lo));
      }
      top1_agree += arg_got == arg_want;
    }
    const bool pass = worst_rel < 1e-3;
    failures += !pass;
    std::printf("%-14s %s  max |dlogit| / logit range = %.2e  max |dp| = %.2e  top-1 agree %d/%d\n",
                name.c_str(), pass ? "OK  " : "FAIL", worst_rel, worst_p, top1_agree, batch);
  }
  return failures == 0 ? 0 : 1;
}
