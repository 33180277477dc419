#include "datasets/image_files.h"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <filesystem>
#include <system_error>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace quantbench {

namespace fs = std::filesystem;

bool IsJpegName(const std::string& name) {
  const size_t dot = name.rfind('.');
  if (dot == std::string::npos) return false;
  const std::string ext = absl::AsciiStrToLower(name.substr(dot));
  return ext == ".jpg" || ext == ".jpeg";
}

absl::StatusOr<std::vector<std::string>> ListDirectory(const std::string& dir,
                                                       bool directories) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat(dir, ": not a directory",
                                            ec ? absl::StrCat(" (", ec.message(), ")") : ""));
  }
  std::vector<std::string> names;
  fs::directory_iterator it(dir, ec);
  if (ec) return absl::ErrnoToStatus(ec.value(), absl::StrCat(dir, ": cannot list"));
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) return absl::ErrnoToStatus(ec.value(), absl::StrCat(dir, ": cannot list"));
    std::error_code type_ec;
    const bool keep = directories ? it->is_directory(type_ec) : it->is_regular_file(type_ec);
    if (keep && !type_ec) names.push_back(it->path().filename().string());
  }
  if (ec) return absl::ErrnoToStatus(ec.value(), absl::StrCat(dir, ": cannot list"));
  std::sort(names.begin(), names.end());
  return names;
}

absl::Status AppendFileIdentities(const std::vector<std::string>& paths, std::string* key) {
  for (const std::string& path : paths) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
      return absl::ErrnoToStatus(errno, absl::StrCat(path, ": cannot stat"));
    }
    std::error_code ec;
    fs::path absolute = fs::absolute(path, ec);
    absl::StrAppend(key, ec ? path : absolute.lexically_normal().string(), "\t",
                    static_cast<int64_t>(st.st_size), "\t", static_cast<int64_t>(st.st_mtim.tv_sec),
                    ".", static_cast<int64_t>(st.st_mtim.tv_nsec), "\n");
  }
  return absl::OkStatus();
}

absl::Status ParallelForEachIndex(int64_t count, int threads,
                                  const std::function<absl::Status(int64_t)>& work) {
  if (count <= 0) return absl::OkStatus();
  std::vector<absl::Status> errors(static_cast<size_t>(count));
  std::atomic<int64_t> next{0};
  std::atomic<bool> failed{false};
  auto run = [&]() {
    while (!failed.load(std::memory_order_relaxed)) {
      const int64_t i = next.fetch_add(1);
      if (i >= count) return;
      absl::Status status = work(i);
      if (!status.ok()) {
        errors[static_cast<size_t>(i)] = std::move(status);
        failed = true;
      }
    }
  };
  const int n = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, count)));
  std::vector<std::thread> workers;
  for (int t = 1; t < n; ++t) workers.emplace_back(run);
  run();
  for (std::thread& worker : workers) worker.join();
  for (const absl::Status& status : errors) {
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

}  // namespace quantbench
