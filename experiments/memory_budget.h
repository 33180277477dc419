// Sizes taken from a config (batches, widths, image sizes) are checked against the memory the
// machine has before anything is allocated, so a typo such as eval_batch: 2500000 is an error
// naming the field instead of a std::bad_alloc (or the OOM killer) in the middle of a sweep.
#ifndef QUANTBENCH_EXPERIMENTS_MEMORY_BUDGET_H_
#define QUANTBENCH_EXPERIMENTS_MEMORY_BUDGET_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "experiments/experiment.pb.h"
#include "networks/graph.h"

namespace quantbench {

// MemAvailable from /proc/meminfo (what can be allocated without swapping), else the free
// physical pages (sysconf).
uint64_t AvailableMemoryBytes();

// ResourceExhausted naming `field` when `bytes` exceed `available`: "<field>: <what> needs
// about X GiB but Y GiB are available; lower it".
absl::Status CheckFitsInMemory(uint64_t bytes, uint64_t available, const std::string& field,
                               const std::string& what);

// The config's network against `available` bytes, before its weights exist: the weights
// (the pristine copy, the working copy and the network's own, 3 x 4 bytes per value), one
// evaluation batch of every layer's output (4 bytes each), and for each training recipe its
// batch with gradients and optimizer state (3 x activations, 4 x weights). An estimate from
// below: passing it does not promise the run fits, failing it means it cannot.
absl::Status CheckNetworkFitsInMemory(const Experiment& config, const Graph& graph, uint64_t available);

}  // namespace quantbench

#endif  // QUANTBENCH_EXPERIMENTS_MEMORY_BUDGET_H_
