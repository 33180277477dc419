#include "datasets/shared_data_for_tests.h"

#include <cstdlib>
#include <filesystem>
#include <system_error>

namespace quantbench {

namespace fs = std::filesystem;

std::string SharedDataDir() {
  if (const char* env = std::getenv("QUANTBENCH_SHARED_DATA"); env != nullptr && *env != '\0') {
    return env;
  }
  // Tests run inside their runfiles tree; datasets/README.md there is a symlink into the
  // source tree, whose parent of the parent is the workspace.
  std::error_code ec;
  fs::path readme = fs::canonical("datasets/README.md", ec);
  if (ec) {
    if (const char* srcdir = std::getenv("TEST_SRCDIR")) {
      const char* workspace = std::getenv("TEST_WORKSPACE");
      readme = fs::canonical(fs::path(srcdir) / (workspace ? workspace : "quantbench") /
                                 "datasets/README.md",
                             ec);
    }
  }
  if (!ec) {
    const fs::path candidate = readme.parent_path().parent_path().parent_path() / "shared/data";
    if (fs::is_directory(candidate, ec)) return candidate.string();
  }
  return "/work/shared/data";
}

std::string MissingSharedDataMessage(const std::string& path) {
  return path + " is missing (set QUANTBENCH_SHARED_DATA to the shared data folder)";
}

}  // namespace quantbench
