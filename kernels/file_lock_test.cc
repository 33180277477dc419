#include "kernels/file_lock.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace quantbench {
namespace {

std::string TestDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir ? dir : "/tmp";
}

// flock locks belong to the open file description, so a second open in this process
// conflicts like another process would.
TEST(FileLock, SecondHolderIsRefusedUntilTheFirstReleases) {
  const std::string path = TestDir() + "/sub/dir/a.lock";
  auto first = FileLock::Acquire(path);
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = FileLock::TryAcquire(path);
  ASSERT_FALSE(second.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(second.status())) << second.status();
  { FileLock released = std::move(*first); }
  auto third = FileLock::TryAcquire(path);
  EXPECT_TRUE(third.ok()) << third.status();
}

TEST(FileLock, KilledHolderLeavesNoStaleLock) {
  const std::string path = TestDir() + "/killed.lock";
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto lock = FileLock::Acquire(path);
    char byte = lock.ok() ? 1 : 0;
    (void)!write(ready[1], &byte, 1);
    pause();
    _exit(0);
  }
  char byte = 0;
  ASSERT_EQ(read(ready[0], &byte, 1), 1);
  ASSERT_EQ(byte, 1);
  EXPECT_FALSE(FileLock::TryAcquire(path).ok()) << "the child holds it";
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  EXPECT_TRUE(FileLock::TryAcquire(path).ok());
}

TEST(FileLock, UnopenablePathIsAnError) {
  auto lock = FileLock::TryAcquire("/proc/no/such/dir/x.lock");
  EXPECT_FALSE(lock.ok());
  EXPECT_NE(std::string(lock.status().message()).find("x.lock"), std::string::npos) << lock.status();
}

}  // namespace
}  // namespace quantbench
