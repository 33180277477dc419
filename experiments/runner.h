// The sweep: fp32 baseline first, then every (quantizer, bits) cell on a fresh copy of the
// fp32 weights, each evaluated on the whole test set and written at once to the sweep's work
// directory (experiments/cell_store.h), so a killed or interrupted sweep resumes where it
// stopped and shards of one sweep can run in separate processes or on separate machines.
#ifndef QUANTBENCH_EXPERIMENTS_RUNNER_H_
#define QUANTBENCH_EXPERIMENTS_RUNNER_H_

#include <atomic>
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "experiments/cell_store.h"
#include "experiments/config.h"
#include "experiments/experiment.pb.h"

namespace quantbench {

struct SweepOptions {
  std::string config_path;  // as resolved, recorded in the results
  RunDirectories dirs;
  std::string cache_dir;    // trained-weight cache
  std::string command;      // the command line that regenerates the results
  std::FILE* progress = stderr;
  // The work directory; empty = <cache_dir>/sweeps/<experiment>-<config hash>.
  std::string work_dir;
  ShardSpec shard;           // the cells this process computes (all by default)
  // Checked before each cell: when set, the sweep stops with the finished cells kept.
  const std::atomic<bool>* stop = nullptr;
  // Cells written by another build of the sweep count as done (and merge) instead of being recomputed.
  bool allow_mixed_versions = false;
};

// What one process did to its shard of the work directory.
struct ShardOutcome {
  std::string work_dir;
  int cells_in_shard = 0;
  int already_done = 0;  // found finished in the work directory
  int computed = 0;      // computed and written by this process
  bool stopped = false;  // options.stop was seen before the shard was complete
};

// Computes the shard's cells that are not yet in the work directory (and the result header,
// if absent). Returns without loading anything when there is nothing left to do.
absl::StatusOr<ShardOutcome> RunSweepCells(const Experiment& config, const SweepOptions& options);

// The whole sweep in this process (resuming from the work directory) and the merged,
// self-describing result document. CancelledError, naming the work directory, when stopped.
absl::StatusOr<nlohmann::json> RunSweep(const Experiment& config, const SweepOptions& options);

// Writes results/<name>.json and the Markdown beside it, each atomically.
absl::Status WriteSweepResults(const nlohmann::json& sweep, const std::string& json_path);

}  // namespace quantbench

#endif  // QUANTBENCH_EXPERIMENTS_RUNNER_H_
