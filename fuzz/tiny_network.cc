#include "fuzz/tiny_network.h"

#include <cstdio>
#include <cstdlib>

namespace quantbench {

const TinyNetwork& FuzzTinyNetwork() {
  static const TinyNetwork* network = [] {
    ArchitectureOptions options;
    options.num_classes = 3;
    options.variant = {{"inputs", "12"}, {"hidden", "6"}};
    auto graph = ArchitectureRegistry::Global().Build("mlp", options);
    if (!graph.ok()) {
      std::fprintf(stderr, "fuzz: %s\n", std::string(graph.status().message()).c_str());
      std::abort();
    }
    auto params = InitGraphParams(*graph, /*seed=*/7);
    if (!params.ok()) std::abort();
    return new TinyNetwork{*std::move(graph), *std::move(params)};
  }();
  return *network;
}

}  // namespace quantbench
