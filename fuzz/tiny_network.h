// The small network the weight-format fuzz targets bind into, and their seed generator
// writes: the registry's mlp with 12 inputs, one hidden layer of 6 and 3 classes (117
// values), so each fuzz run copies little and binding, shape checks and transposes are reached.
#ifndef QUANTBENCH_FUZZ_TINY_NETWORK_H_
#define QUANTBENCH_FUZZ_TINY_NETWORK_H_

#include "networks/architecture.h"
#include "networks/graph.h"
#include "networks/param_store.h"

namespace quantbench {

struct TinyNetwork {
  Graph graph;
  ParamStore params;  // seeded initial values in the graph's native layout
};

// Aborts if the registry cannot build it: every fuzz run needs it.
const TinyNetwork& FuzzTinyNetwork();

}  // namespace quantbench

#endif  // QUANTBENCH_FUZZ_TINY_NETWORK_H_
