#include "kernels/file_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace quantbench {
namespace {

absl::StatusOr<int> Lock(const std::string& path, bool wait) {
  const std::filesystem::path target(path);
  if (target.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(target.parent_path(), ec);
    if (ec) return absl::ErrnoToStatus(ec.value(), absl::StrCat("cannot create the directory of lock '", path, "'"));
  }
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("cannot open lock '", path, "'"));
  int rc;
  do {
    rc = ::flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB));
  } while (rc != 0 && errno == EINTR && wait);
  if (rc != 0) {
    const int error = errno;
    ::close(fd);
    if (error == EWOULDBLOCK) return absl::FailedPreconditionError(absl::StrCat("lock '", path, "' is held"));
    return absl::ErrnoToStatus(error, absl::StrCat("cannot lock '", path, "'"));
  }
  return fd;
}

}  // namespace

absl::StatusOr<FileLock> FileLock::Acquire(const std::string& path) {
  absl::StatusOr<int> fd = Lock(path, /*wait=*/true);
  if (!fd.ok()) return fd.status();
  return FileLock(*fd);
}

absl::StatusOr<FileLock> FileLock::TryAcquire(const std::string& path) {
  absl::StatusOr<int> fd = Lock(path, /*wait=*/false);
  if (!fd.ok()) return fd.status();
  return FileLock(*fd);
}

FileLock& FileLock::operator=(FileLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the flock
}

}  // namespace quantbench
