#include "experiments/slurm.h"

#include <gtest/gtest.h>

#include <string>

namespace quantbench {
namespace {

SlurmSubmission Job() {
  SlurmSubmission s;
  s.job_name = "qb-x";
  s.partition = "gpu";
  s.time_limit = "02:00:00";
  s.cpus_per_task = 2;
  s.work_dir = "/shared/work/x-0123";
  s.workspace = "/home/me/quantbench";
  s.sweep_command = {"/home/me/bin/sweep", "--config=/home/me/it's.pbtxt", "--work_dir=/shared/work/x-0123"};
  s.shards = 8;
  s.shards_to_run = {0, 1, 2, 3, 4, 5, 6, 7};
  return s;
}

TEST(Slurm, ArraySpecIsARangeOrAList) {
  EXPECT_EQ(ArraySpec({0, 1, 2, 3}), "0-3");
  EXPECT_EQ(ArraySpec({3}), "3");
  EXPECT_EQ(ArraySpec({1, 4, 6}), "1,4,6");
}

TEST(Slurm, ArrayScriptHasEveryDirectiveBeforeTheFirstCommand) {
  const std::string script = ArrayScript(Job());
  EXPECT_EQ(script.rfind("#!/bin/sh\n", 0), 0u);
  const size_t first_command = script.find("\nexport ");
  ASSERT_NE(first_command, std::string::npos);
  EXPECT_EQ(script.find("#SBATCH", first_command), std::string::npos) << "sbatch ignores directives after a command:\n"
                                                                      << script;
  for (const char* directive : {"#SBATCH --array=0-7\n", "#SBATCH --partition=gpu\n", "#SBATCH --time=02:00:00\n",
                                "#SBATCH --cpus-per-task=2\n", "#SBATCH --output=/shared/work/x-0123/slurm/shard-%A_%a.log\n"}) {
    EXPECT_NE(script.find(directive), std::string::npos) << directive << " in\n" << script;
  }
  EXPECT_NE(script.find("'--config=/home/me/it'\\''s.pbtxt'"), std::string::npos) << script;
  EXPECT_NE(script.find("--shard=\"$SLURM_ARRAY_TASK_ID/8\""), std::string::npos) << script;
  EXPECT_NE(script.find("export BUILD_WORKSPACE_DIRECTORY='/home/me/quantbench'"), std::string::npos);
}

TEST(Slurm, MergeScriptMergesOnly) {
  const std::string script = MergeScript(Job());
  EXPECT_NE(script.find("#SBATCH --job-name=qb-x-merge\n"), std::string::npos);
  EXPECT_EQ(script.find("--array"), std::string::npos);
  EXPECT_NE(script.find(" --merge\n"), std::string::npos) << script;
}

}  // namespace
}  // namespace quantbench
