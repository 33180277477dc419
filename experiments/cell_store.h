// The sweep's work directory: one small, atomically written file per finished cell.
//
// One mechanism serves a single-machine sweep that resumes after kill -9 and a sweep split
// into shards (local processes or SLURM array tasks) that a merge step assembles:
//
//   <work root>/<experiment>-<config hash>/
//     manifest.json            experiment, config hash, the config, the ordered cell keys
//     header.json              everything of the result but the cells (fp32 baseline, dataset,
//                              activations, environment), written by the first process to get there
//     cells/<key>.json         one finished cell: {config_hash, code_version, index, key, cell}
//     failed/<key>.txt         the error line of a cell that failed (removed when it succeeds)
//     running/<key>.lock       flock'ed while a process computes the cell (a stale file is free)
//
// The config hash covers every field of the validated config except `output` (where the
// result goes does not change it), so a changed config never mixes with old cells. The cell
// list, its order and the shard assignment come from the config alone (SweepCells, InShard).
#ifndef QUANTBENCH_EXPERIMENTS_CELL_STORE_H_
#define QUANTBENCH_EXPERIMENTS_CELL_STORE_H_

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "experiments/experiment.pb.h"

namespace quantbench {

// One (quantizer, bits) cell in sweep order (quantizers as listed, each one's bits as listed).
struct SweepCell {
  int index = 0;            // position in the sweep
  int quantizer_index = 0;  // into config.quantizers()
  int bits = 0;
  std::string key;          // file name: "<index, 4 digits>-q<quantizer index>-b<bits>"
};
std::vector<SweepCell> SweepCells(const Experiment& config);

// Shard i of N ("i/N" on the command line) owns cells whose index % N == i: every cell in
// exactly one shard, shards balanced within one cell, neighbours (same quantizer) spread.
struct ShardSpec {
  int index = 0;
  int count = 1;
};
absl::StatusOr<ShardSpec> ParseShard(const std::string& text);  // "3/8"
inline bool InShard(const SweepCell& cell, const ShardSpec& shard) { return cell.index % shard.count == shard.index; }

// 16 hex digits of FNV-1a over the config's deterministic binary serialization, `output` cleared.
std::string ConfigHash(const Experiment& config);

// The code that computes cells: size and CRC-32 of the running executable, so cells of a
// rebuilt binary are told apart from the current ones (merge refuses to mix them).
std::string CodeVersion();

// <work_root>/<experiment>-<config hash>.
std::string WorkDirectoryFor(const Experiment& config, const std::string& work_root);

class CellStore {
 public:
  // Creates the directory and manifest, or checks an existing manifest's config hash.
  static absl::StatusOr<CellStore> Open(const std::string& dir, const Experiment& config);
  // An existing work directory, for merge and status (its manifest says what it holds).
  static absl::StatusOr<CellStore> OpenExisting(const std::string& dir);

  const std::string& dir() const { return dir_; }
  const nlohmann::json& manifest() const { return manifest_; }
  const std::string& config_hash() const { return config_hash_; }
  // The manifest's cell keys in sweep order.
  std::vector<std::string> CellKeys() const;

  // A finished cell's file as written ({config_hash, code_version, index, key, cell}), or
  // nullopt if there is none. A file that does not parse is an error naming it.
  absl::StatusOr<std::optional<nlohmann::json>> ReadCell(const std::string& key) const;
  absl::Status WriteCell(const SweepCell& cell, const std::string& code_version, const nlohmann::json& result);
  absl::Status WriteFailure(const std::string& key, const std::string& message);
  std::string RunningLockPath(const std::string& key) const;

  absl::StatusOr<std::optional<nlohmann::json>> ReadHeader() const;
  // Keeps an existing header of the same code version (the first process's; the content is
  // the same apart from timings), replaces one of another version.
  absl::Status WriteHeader(const nlohmann::json& header, const std::string& code_version);

 private:
  CellStore(std::string dir, nlohmann::json manifest);
  std::string dir_;
  nlohmann::json manifest_;
  std::string config_hash_;
};

// Assembles the result document exactly as one uninterrupted process writes it: the header,
// then every cell in sweep order. Refuses, listing them, when cells are missing, come from
// another config hash, or (without `allow_mixed_versions`) from another code version.
absl::StatusOr<nlohmann::json> MergeCells(const CellStore& store, const std::string& code_version,
                                          bool allow_mixed_versions);

// How far a work directory is: cells done, running (lock held now), failed (with their error
// lines), pending; one line per failed or running cell.
struct SweepStatus {
  int total = 0, done = 0, running = 0, failed = 0, pending = 0;
  std::vector<std::string> lines;
  std::string Summary() const;
};
absl::StatusOr<SweepStatus> ReadSweepStatus(const CellStore& store);

}  // namespace quantbench

#endif  // QUANTBENCH_EXPERIMENTS_CELL_STORE_H_
