#include "experiments/cache_directory.h"

#include <cstdlib>

#include "datasets/paths.h"

namespace quantbench {

std::string DefaultCacheDirectory() {
  if (const char* dir = std::getenv("QUANTBENCH_CACHE_DIR"); dir && *dir) return dir;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return JoinPath(xdg, "quantbench");
  if (const char* home = std::getenv("HOME"); home && *home) return JoinPath(home, ".cache/quantbench");
  return "/tmp/quantbench-cache";
}

}  // namespace quantbench
