// Submitting a sweep to SLURM through its documented command-line tools: one job array (a
// task per shard, each the same sweep binary with --shard=$SLURM_ARRAY_TASK_ID/N writing into
// the shared work directory) and a merge job that depends on it (--dependency=afterok) and
// writes results/<experiment>.json and .md as one process would.
#ifndef QUANTBENCH_EXPERIMENTS_SLURM_H_
#define QUANTBENCH_EXPERIMENTS_SLURM_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace quantbench {

struct SlurmSubmission {
  std::string job_name;
  std::string partition;           // empty = the cluster's default
  std::string time_limit;          // "02:00:00"; empty = the partition's default
  int cpus_per_task = 1;
  std::vector<std::string> sbatch_args;  // passed to both sbatch calls as they are
  std::string work_dir;            // shared storage: scripts and logs go to <work_dir>/slurm/
  std::string workspace;           // exported as BUILD_WORKSPACE_DIRECTORY (configs/, results/)
  // The sweep command without --shard / --merge (absolute binary and paths).
  std::vector<std::string> sweep_command;
  int shards = 1;
  std::vector<int> shards_to_run;  // shards with missing cells (a resubmission runs only those)
};

// "0-7", or "1,4,6" when only some shards run.
std::string ArraySpec(const std::vector<int>& shards);

// The two batch scripts (array and merge), as sbatch reads them.
std::string ArrayScript(const SlurmSubmission& s);
std::string MergeScript(const SlurmSubmission& s);

struct SubmittedJobs {
  std::string array_job_id;
  std::string merge_job_id;
};

// Writes the scripts under <work_dir>/slurm/ and submits them with `sbatch --parsable`.
// An sbatch that is missing or refuses is an error with its own message.
absl::StatusOr<SubmittedJobs> SubmitToSlurm(const SlurmSubmission& s);

// A word quoted for /bin/sh.
std::string ShellQuote(const std::string& word);

}  // namespace quantbench

#endif  // QUANTBENCH_EXPERIMENTS_SLURM_H_
