#include "kernels/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace quantbench {
namespace {

// Distinguishes temporary files of concurrent writers in one process (pid does across them).
std::atomic<uint64_t> temp_counter{0};

absl::Status ErrnoError(int error, const std::string& what, const std::string& path) {
  return absl::ErrnoToStatus(error, absl::StrCat(what, " '", path, "'"));
}

absl::Status WriteAll(int fd, absl::string_view bytes, const std::string& path) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, "cannot write", path);
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteFileAtomically(const std::string& path, std::initializer_list<absl::string_view> pieces) {
  const std::filesystem::path target(path);
  if (target.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(target.parent_path(), ec);
    if (ec) return ErrnoError(ec.value(), "cannot create the directory of", path);
  }
  const std::string temp = absl::StrCat(path, ".tmp.", ::getpid(), ".", temp_counter++);
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError(errno, "cannot create", temp);
  absl::Status status = absl::OkStatus();
  for (absl::string_view piece : pieces) {
    if (status.ok()) status = WriteAll(fd, piece, temp);
  }
  if (status.ok() && ::fsync(fd) != 0) status = ErrnoError(errno, "cannot fsync", temp);
  if (::close(fd) != 0 && status.ok()) status = ErrnoError(errno, "cannot close", temp);
  if (status.ok() && std::rename(temp.c_str(), path.c_str()) != 0) {
    status = ErrnoError(errno, "cannot rename the temporary file to", path);
  }
  if (!status.ok()) ::unlink(temp.c_str());
  return status;
}

}  // namespace quantbench
