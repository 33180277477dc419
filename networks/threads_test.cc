#include "networks/threads.h"

#include <cstdio>
#include <string>

#include "gtest/gtest.h"

namespace quantbench {
namespace {

TEST(ThreadsTest, ReportsOneDnnRuntimeAndSetsThreads) {
  const std::string runtime = DnnlCpuRuntimeName();
  std::printf("oneDNN CPU runtime: %s, threads: %d\n", runtime.c_str(), GetNumThreads());
  EXPECT_FALSE(runtime.empty());
  if (runtime == "OpenMP") {
    SetNumThreads(1);
    EXPECT_EQ(GetNumThreads(), 1);
    SetNumThreads(2);
    EXPECT_EQ(GetNumThreads(), 2);
    SetNumThreads(0);  // ignored
    EXPECT_EQ(GetNumThreads(), 2);
  }
}

}  // namespace
}  // namespace quantbench
