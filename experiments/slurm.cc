#include "experiments/slurm.h"

#include <sys/wait.h>

#include <array>
#include <cstdio>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kernels/atomic_file.h"
#include "kernels/status_macros.h"

namespace quantbench {
namespace {

std::string CommandLine(const std::vector<std::string>& words) {
  std::vector<std::string> quoted;
  for (const std::string& w : words) quoted.push_back(ShellQuote(w));
  return absl::StrJoin(quoted, " ");
}

std::string Preamble(const SlurmSubmission& s, const std::string& name, const std::string& log) {
  std::string out = "#!/bin/sh\n";
  absl::StrAppend(&out, "#SBATCH --job-name=", name, "\n");
  if (!s.partition.empty()) absl::StrAppend(&out, "#SBATCH --partition=", s.partition, "\n");
  if (!s.time_limit.empty()) absl::StrAppend(&out, "#SBATCH --time=", s.time_limit, "\n");
  absl::StrAppend(&out, "#SBATCH --output=", s.work_dir, "/slurm/", log, "\n");
  return out;
}

// After the last #SBATCH line (sbatch stops reading directives at the first command).
std::string Environment(const SlurmSubmission& s) {
  return absl::StrCat("export BUILD_WORKSPACE_DIRECTORY=", ShellQuote(s.workspace), "\n",
                      "export BUILD_WORKING_DIRECTORY=", ShellQuote(s.workspace), "\n");
}

// Runs `command` through /bin/sh, returning its stdout; a non-zero exit is an error with it.
absl::StatusOr<std::string> Run(const std::string& command) {
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return absl::InternalError(absl::StrCat("cannot run ", command));
  std::string output;
  std::array<char, 4096> buffer;
  while (std::fgets(buffer.data(), buffer.size(), pipe) != nullptr) output += buffer.data();
  const int status = ::pclose(pipe);
  if (status != 0) {
    return absl::UnavailableError(absl::StrCat(command, " failed (exit ", WEXITSTATUS(status), "): ",
                                               absl::StripAsciiWhitespace(output)));
  }
  return std::string(absl::StripAsciiWhitespace(output));
}

// `sbatch --parsable` ends with "jobid" or "jobid;cluster" (warnings may come before it).
std::string ParsableJobId(const std::string& output) {
  const size_t line = output.rfind('\n');
  const std::string last = line == std::string::npos ? output : output.substr(line + 1);
  return last.substr(0, last.find(';'));
}

}  // namespace

std::string ShellQuote(const std::string& word) {
  std::string out = "'";
  for (char c : word) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string ArraySpec(const std::vector<int>& shards) {
  bool contiguous = !shards.empty();
  for (size_t i = 1; i < shards.size(); ++i) contiguous &= shards[i] == shards[i - 1] + 1;
  if (contiguous && shards.size() == 1) return absl::StrCat(shards.front());
  if (contiguous) return absl::StrCat(shards.front(), "-", shards.back());
  return absl::StrJoin(shards, ",");
}

std::string ArrayScript(const SlurmSubmission& s) {
  std::string out = Preamble(s, s.job_name, "shard-%A_%a.log");
  absl::StrAppend(&out, "#SBATCH --array=", ArraySpec(s.shards_to_run), "\n");
  absl::StrAppend(&out, "#SBATCH --cpus-per-task=", s.cpus_per_task, "\n");
  absl::StrAppend(&out, Environment(s));
  absl::StrAppend(&out, "# Shard i of ", s.shards, " computes the cells whose index % ", s.shards,
                  " == i and skips those already in the work directory.\n");
  absl::StrAppend(&out, "exec ", CommandLine(s.sweep_command), " --shard=\"$SLURM_ARRAY_TASK_ID/", s.shards, "\"\n");
  return out;
}

std::string MergeScript(const SlurmSubmission& s) {
  std::string out = Preamble(s, s.job_name + "-merge", "merge-%j.log");
  absl::StrAppend(&out, "#SBATCH --cpus-per-task=1\n", Environment(s));
  absl::StrAppend(&out, "exec ", CommandLine(s.sweep_command), " --merge\n");
  return out;
}

absl::StatusOr<SubmittedJobs> SubmitToSlurm(const SlurmSubmission& s) {
  const std::string array_path = s.work_dir + "/slurm/array.sh";
  const std::string merge_path = s.work_dir + "/slurm/merge.sh";
  QB_RETURN_IF_ERROR(WriteFileAtomically(array_path, ArrayScript(s)));
  QB_RETURN_IF_ERROR(WriteFileAtomically(merge_path, MergeScript(s)));
  std::vector<std::string> extra;
  for (const std::string& a : s.sbatch_args) extra.push_back(ShellQuote(a));
  const std::string sbatch = absl::StrCat("sbatch --parsable ", absl::StrJoin(extra, " "), " ");
  SubmittedJobs jobs;
  QB_ASSIGN_OR_RETURN(std::string array_out, Run(sbatch + ShellQuote(array_path)));
  jobs.array_job_id = ParsableJobId(array_out);
  QB_ASSIGN_OR_RETURN(std::string merge_out, Run(absl::StrCat(sbatch, "--dependency=afterok:", jobs.array_job_id,
                                                              " ", ShellQuote(merge_path))));
  jobs.merge_job_id = ParsableJobId(merge_out);
  return jobs;
}

}  // namespace quantbench
