// An advisory exclusive lock on a file (flock), so that concurrent processes (shards of one
// sweep on one machine or on a cluster's shared storage) never do the same expensive work
// twice: the first trains and writes the cache, the others wait and then read it. The kernel
// drops the lock when its holder exits, however it exits (kill -9 included), so a crashed
// holder never leaves a stale lock behind.
#ifndef QUANTBENCH_KERNELS_FILE_LOCK_H_
#define QUANTBENCH_KERNELS_FILE_LOCK_H_

#include <string>

#include "absl/status/statusor.h"

namespace quantbench {

class FileLock {
 public:
  // Blocks until `path` (created, with missing parent directories, if needed) is locked.
  static absl::StatusOr<FileLock> Acquire(const std::string& path);
  // Returns the lock if it is free now, FailedPreconditionError ("held") if another process
  // holds it; other errors for files that cannot be opened.
  static absl::StatusOr<FileLock> TryAcquire(const std::string& path);

  FileLock(FileLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  FileLock& operator=(FileLock&& other) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace quantbench

#endif  // QUANTBENCH_KERNELS_FILE_LOCK_H_
