#include "kernels/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <signal.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <system_error>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

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

std::string HostName() {
  char name[256] = {0};
  if (::gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return "host";
  std::string host(name);
  for (char& c : host) {
    if (c == '.' || c == '/') c = '_';  // the temp name is split at dots
  }
  return host;
}

// Temporaries of `path` left by writers on this host that no longer run (kill -9, power cut):
// removed before the next write of the same path, so they never accumulate beside results and
// caches. Other hosts' temporaries (shared storage) are left alone: their pids mean nothing here.
void RemoveStaleTemporaries(const std::filesystem::path& target, const std::string& host) {
  const std::string prefix = absl::StrCat(target.filename().string(), ".tmp.", host, ".");
  std::error_code ec;
  const std::filesystem::path dir = target.has_parent_path() ? target.parent_path() : ".";
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    std::vector<std::string> rest = absl::StrSplit(name.substr(prefix.size()), '.');
    int pid = 0;
    if (rest.size() != 2 || !absl::SimpleAtoi(rest[0], &pid) || pid <= 0) continue;
    if (::kill(pid, 0) != 0 && errno == ESRCH) {
      std::error_code ignored;
      std::filesystem::remove(entry.path(), ignored);
    }
  }
}

}  // namespace

absl::Status WriteFileAtomically(const std::string& path, std::initializer_list<absl::string_view> pieces) {
  const std::filesystem::path target(path);
  if (target.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(target.parent_path(), ec);
    if (ec) return ErrnoError(ec.value(), "cannot create the directory of", path);
  }
  static const std::string host = HostName();
  RemoveStaleTemporaries(target, host);
  const std::string temp = absl::StrCat(path, ".tmp.", host, ".", ::getpid(), ".", temp_counter++);
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
