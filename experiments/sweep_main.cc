// bazel run //experiments:sweep -- --config=fashion_mnist_mlp.pbtxt [--threads=N] [--output=PATH]
//
// Runs one experiment config end to end and writes results/<name>.json and .md. Every
// finished cell is kept in the sweep's work directory (experiments/cell_store.h): rerunning
// the same command after a kill resumes, --shard=i/N computes one shard, --merge assembles
// the results, --slurm submits the shards as a SLURM job array plus a merge job, --status
// reports a work directory. Any error is one line on stderr naming the file and field at
// fault, and a non-zero exit; results are written only when every cell is there.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "experiments/cache_directory.h"
#include "experiments/cell_store.h"
#include "experiments/config.h"
#include "experiments/result_files.h"
#include "experiments/runner.h"
#include "experiments/slurm.h"

ABSL_FLAG(std::string, config, "",
          "experiment config (.pbtxt): a bare name is looked up in configs/, a relative path in the directory "
          "you ran bazel from");
ABSL_FLAG(std::string, weights, "",
          "weights file replacing the config's onnx path or weights_file (default: $QUANTBENCH_WEIGHTS)");
ABSL_FLAG(std::string, data, "", "dataset folder replacing the config's dataset.dir (default: $QUANTBENCH_DATA)");
ABSL_FLAG(int, threads, -1, "threads for oneDNN and our loops (default: the config's, else all cores; 0 = all)");
ABSL_FLAG(std::string, output, "", "result JSON path (default: the config's, else results/<name>.json)");
ABSL_FLAG(std::string, cache_dir, "",
          "trained-weight cache (default: $QUANTBENCH_CACHE_DIR, $XDG_CACHE_HOME/quantbench or ~/.cache/quantbench)");
ABSL_FLAG(std::string, work_dir, "",
          "the sweep's work directory (finished cells); default <cache_dir>/sweeps/<experiment>-<config hash>; "
          "on a cluster, a directory on shared storage");
ABSL_FLAG(std::string, shard, "", "i/N: compute only shard i of N (cells with index % N == i), no result files");
ABSL_FLAG(bool, merge, false, "only merge the work directory's cells into the result files (all must be there)");
ABSL_FLAG(bool, allow_mixed_versions, false, "merge (and keep) cells computed by another build of the sweep");
ABSL_FLAG(std::string, status, "", "print how far the work directory WORKDIR is (done, running, failed cells)");
ABSL_FLAG(int, local_shards, 0, "run K shard processes side by side on this machine, then merge");
ABSL_FLAG(bool, slurm, false, "submit the shards as a SLURM job array plus a dependent merge job");
ABSL_FLAG(int, shards, 0, "number of shards for --slurm / --shard planning (default: one per cell)");
ABSL_FLAG(std::string, slurm_partition, "", "SLURM partition (default: the cluster's default)");
ABSL_FLAG(std::string, slurm_time, "", "SLURM time limit per array task, e.g. 02:00:00");
ABSL_FLAG(std::vector<std::string>, slurm_sbatch_args, {}, "extra sbatch arguments, comma-separated");
ABSL_FLAG(bool, slurm_dry_run, false, "print the sbatch scripts instead of submitting them");
ABSL_FLAG(int, slurm_cpus, 0,
          "CPUs per array task (--cpus-per-task); default: the config's threads. Required when threads is 0 "
          "(all cores): the cores of a node that has not been allocated yet are unknown");

namespace {

constexpr char kUsage[] =
    "usage: bazel run //experiments:sweep -- --config=FILE [--weights=PATH] [--data=DIR] [--threads=N]\n"
    "                                         [--output=PATH] [--cache_dir=DIR] [--work_dir=DIR]\n"
    "       ... --config=FILE --shard=i/N | --merge | --local_shards=K\n"
    "       ... --config=FILE --slurm [--shards=N] [--slurm_partition=P] [--slurm_time=HH:MM:SS] [--slurm_dry_run]\n"
    "       ... --status=WORKDIR\n"
    "Rerunning an interrupted sweep resumes from its work directory. --helpfull lists every flag.\n";

int Fail(const std::string& message) {
  std::fprintf(stderr, "sweep: error: %s\n", message.c_str());
  return 1;
}

// First SIGINT/SIGTERM: finish the running cell, then stop (the work directory stays
// consistent: cells are whole files). Second: leave now (still consistent, the running cell
// is lost).
std::atomic<bool> stop_requested{false};

void OnSignal(int) {
  if (stop_requested.exchange(true)) _exit(130);
  constexpr char kMessage[] = "\nsweep: stopping after the current cell (signal again to stop now)\n";
  (void)!write(STDERR_FILENO, kMessage, sizeof(kMessage) - 1);
}

void InstallSignalHandlers() {
  struct sigaction action = {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

std::string SelfExecutable() {
  std::vector<char> buffer(PATH_MAX + 1, '\0');
  const ssize_t n = readlink("/proc/self/exe", buffer.data(), PATH_MAX);
  return n > 0 ? std::string(buffer.data(), n) : std::string("sweep");
}

int PrintStatus(const std::string& dir) {
  auto store = quantbench::CellStore::OpenExisting(dir);
  if (!store.ok()) return Fail(std::string(store.status().message()));
  auto status = quantbench::ReadSweepStatus(*store);
  if (!status.ok()) return Fail(std::string(status.status().message()));
  std::printf("%s: %s\n", dir.c_str(), status->Summary().c_str());
  for (const std::string& line : status->lines) std::printf("  %s\n", line.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
  }
  absl::SetProgramUsageMessage(kUsage);
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() > 1) {
    std::fputs(kUsage, stderr);
    return Fail(absl::StrCat("unexpected argument '", positional[1], "' (flags are --name=value)"));
  }
  if (!absl::GetFlag(FLAGS_status).empty()) return PrintStatus(absl::GetFlag(FLAGS_status));

  const std::string config_arg = absl::GetFlag(FLAGS_config);
  if (config_arg.empty()) {
    std::fputs(kUsage, stderr);
    return Fail("--config is required");
  }
  const int threads = absl::GetFlag(FLAGS_threads);
  if (threads < -1) return Fail(absl::StrCat("--threads=", threads, ": expected a non-negative integer (0 = all cores)"));
  std::string cache_dir = absl::GetFlag(FLAGS_cache_dir);
  if (cache_dir.empty()) cache_dir = quantbench::DefaultCacheDirectory();

  quantbench::ConfigOverrides overrides;
  overrides.weights = absl::GetFlag(FLAGS_weights);
  overrides.data = absl::GetFlag(FLAGS_data);
  if (const char* env = std::getenv("QUANTBENCH_WEIGHTS"); overrides.weights.empty() && env && *env) overrides.weights = env;
  if (const char* env = std::getenv("QUANTBENCH_DATA"); overrides.data.empty() && env && *env) overrides.data = env;

  quantbench::RunDirectories dirs = quantbench::RunDirectories::FromEnvironment();
  auto path = quantbench::ResolveConfigPath(config_arg, dirs);
  if (!path.ok()) return Fail(std::string(path.status().message()));
  // Relative paths on the command line are the user's: resolve them where `bazel run` was started.
  auto absolute = [&](const std::string& p) { return p.empty() || p[0] == '/' ? p : absl::StrCat(dirs.working, "/", p); };
  overrides.weights = absolute(overrides.weights);
  overrides.data = absolute(overrides.data);
  cache_dir = absolute(cache_dir);
  auto config = quantbench::LoadExperiment(*path, dirs, overrides);
  if (!config.ok()) return Fail(std::string(config.status().message()));
  if (threads >= 0) config->set_threads(threads);
  const bool slurm = absl::GetFlag(FLAGS_slurm) || absl::GetFlag(FLAGS_slurm_dry_run);
  const int slurm_cpus = absl::GetFlag(FLAGS_slurm_cpus);
  if (slurm_cpus < 0) return Fail(absl::StrCat("--slurm_cpus=", slurm_cpus, ": expected a positive number of CPUs"));
  if (slurm) {
    // "All cores" inside a task would be the whole node's cores on an allocation of a few: ask
    // SLURM for what the shards will use, and make the shards use exactly that.
    if (config->threads() == 0 && slurm_cpus == 0) {
      return Fail(absl::StrCat(*path, ": threads is 0 (all cores), which has no meaning for a SLURM task; pass "
                               "--slurm_cpus=N (CPUs per task) or --threads=N"));
    }
    if (slurm_cpus > 0) config->set_threads(slurm_cpus);
  }

  if (!absl::GetFlag(FLAGS_output).empty()) config->set_output(absolute(absl::GetFlag(FLAGS_output)));

  quantbench::SweepOptions options;
  options.config_path = *path;
  options.dirs = dirs;
  options.cache_dir = cache_dir;
  options.work_dir = absolute(absl::GetFlag(FLAGS_work_dir));
  if (options.work_dir.empty()) options.work_dir = quantbench::WorkDirectoryFor(*config, cache_dir + "/sweeps");
  options.allow_mixed_versions = absl::GetFlag(FLAGS_allow_mixed_versions);
  options.stop = &stop_requested;
  options.command = absl::StrCat("bazel run //experiments:sweep -- --config=", config_arg);
  if (!absl::GetFlag(FLAGS_weights).empty()) absl::StrAppend(&options.command, " --weights=", absl::GetFlag(FLAGS_weights));
  if (!absl::GetFlag(FLAGS_data).empty()) absl::StrAppend(&options.command, " --data=", absl::GetFlag(FLAGS_data));

  // The command a shard process (local or a SLURM task) runs: everything resolved, absolute.
  std::vector<std::string> shard_command = {SelfExecutable(), absl::StrCat("--config=", *path),
                                            absl::StrCat("--output=", config->output()),
                                            absl::StrCat("--cache_dir=", cache_dir),
                                            absl::StrCat("--work_dir=", options.work_dir),
                                            absl::StrCat("--threads=", config->threads())};
  if (!overrides.weights.empty()) shard_command.push_back(absl::StrCat("--weights=", overrides.weights));
  if (!overrides.data.empty()) shard_command.push_back(absl::StrCat("--data=", overrides.data));
  if (options.allow_mixed_versions) shard_command.push_back("--allow_mixed_versions");

  const int cell_count = quantbench::CellCount(*config);
  int shards = absl::GetFlag(FLAGS_shards);
  if (shards < 0) return Fail(absl::StrCat("--shards=", shards, ": expected a positive number of shards"));
  if (shards == 0) shards = std::max(1, cell_count);

  if (slurm) {
    auto store = quantbench::CellStore::Open(options.work_dir, *config);
    if (!store.ok()) return Fail(std::string(store.status().message()));
    quantbench::SlurmSubmission job;
    job.job_name = absl::StrCat("qb-", config->name());
    job.partition = absl::GetFlag(FLAGS_slurm_partition);
    job.time_limit = absl::GetFlag(FLAGS_slurm_time);
    job.cpus_per_task = config->threads();
    job.sbatch_args = absl::GetFlag(FLAGS_slurm_sbatch_args);
    job.work_dir = options.work_dir;
    job.workspace = dirs.workspace;
    job.sweep_command = shard_command;
    job.shards = shards;
    // A resubmission runs only the shards that still miss cells.
    for (const quantbench::SweepCell& cell : quantbench::SweepCells(*config)) {
      auto done = store->ReadCell(cell.key);
      if (!done.ok()) return Fail(std::string(done.status().message()));
      const int shard = cell.index % shards;
      if (!done->has_value() && (job.shards_to_run.empty() || job.shards_to_run.back() != shard)) {
        job.shards_to_run.push_back(shard);
      }
    }
    std::sort(job.shards_to_run.begin(), job.shards_to_run.end());
    job.shards_to_run.erase(std::unique(job.shards_to_run.begin(), job.shards_to_run.end()), job.shards_to_run.end());
    if (job.shards_to_run.empty()) job.shards_to_run.push_back(0);  // everything done: one task, then the merge
    if (absl::GetFlag(FLAGS_slurm_dry_run)) {
      std::printf("# %s/slurm/array.sh\n%s\n# %s/slurm/merge.sh (sbatch --dependency=afterok:<array job>)\n%s",
                  options.work_dir.c_str(), quantbench::ArrayScript(job).c_str(), options.work_dir.c_str(),
                  quantbench::MergeScript(job).c_str());
      return 0;
    }
    auto jobs = quantbench::SubmitToSlurm(job);
    if (!jobs.ok()) return Fail(std::string(jobs.status().message()));
    std::printf("submitted array job %s (shards %s of %d) and merge job %s; work directory %s\n",
                jobs->array_job_id.c_str(), quantbench::ArraySpec(job.shards_to_run).c_str(), shards,
                jobs->merge_job_id.c_str(), options.work_dir.c_str());
    std::printf("progress: %s --status=%s\n", SelfExecutable().c_str(), options.work_dir.c_str());
    return 0;
  }

  InstallSignalHandlers();
  if (!absl::GetFlag(FLAGS_shard).empty()) {
    auto shard = quantbench::ParseShard(absl::GetFlag(FLAGS_shard));
    if (!shard.ok()) return Fail(std::string(shard.status().message()));
    options.shard = *shard;
    auto outcome = quantbench::RunSweepCells(*config, options);
    if (!outcome.ok()) return Fail(std::string(outcome.status().message()));
    std::fprintf(stderr, "shard %d/%d: %d cells, %d already done, %d computed; work directory %s\n", shard->index,
                 shard->count, outcome->cells_in_shard, outcome->already_done, outcome->computed,
                 outcome->work_dir.c_str());
    if (outcome->stopped) return Fail("stopped by a signal; rerun the same command to resume");
    return 0;
  }

  if (const int k = absl::GetFlag(FLAGS_local_shards); k > 0) {
    // K processes of this binary on shards i/K, side by side, then the merge below.
    std::vector<pid_t> children;
    for (int i = 0; i < k; ++i) {
      std::vector<std::string> words = shard_command;
      words.push_back(absl::StrCat("--shard=", i, "/", k));
      const pid_t pid = fork();
      if (pid < 0) return Fail("cannot fork a shard process");
      if (pid == 0) {
        std::vector<char*> args;
        for (std::string& w : words) args.push_back(w.data());
        args.push_back(nullptr);
        execv(args[0], args.data());
        _exit(127);
      }
      children.push_back(pid);
    }
    int failed = 0;
    for (pid_t pid : children) {
      int status = 0;
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      failed += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    if (failed > 0) return Fail(absl::StrCat(failed, " of ", k, " shard processes failed; rerun to resume"));
  }

  absl::StatusOr<nlohmann::json> sweep;
  if (absl::GetFlag(FLAGS_merge) || absl::GetFlag(FLAGS_local_shards) > 0) {
    auto store = quantbench::CellStore::Open(options.work_dir, *config);
    if (!store.ok()) return Fail(std::string(store.status().message()));
    sweep = quantbench::MergeCells(*store, quantbench::CodeVersion(), options.allow_mixed_versions);
  } else {
    sweep = quantbench::RunSweep(*config, options);
  }
  if (!sweep.ok()) return Fail(std::string(sweep.status().message()));
  (*sweep)["command"] = options.command;
  absl::Status written = quantbench::WriteSweepResults(*sweep, config->output());
  if (!written.ok()) return Fail(std::string(written.message()));
  std::fputs(quantbench::SweepMarkdown(*sweep).c_str(), stdout);
  std::fprintf(stderr, "wrote %s and %s\n", config->output().c_str(),
               quantbench::MarkdownPathFor(config->output()).c_str());
  return 0;
}
