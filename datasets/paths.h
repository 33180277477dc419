// Path joining for config-relative paths, shared by the dataset readers and the experiment code.
#ifndef QUANTBENCH_DATASETS_PATHS_H_
#define QUANTBENCH_DATASETS_PATHS_H_

#include <string>

namespace quantbench {

// `path` inside `dir`; an absolute or empty `path`, or an empty `dir`, is returned unchanged,
// so configs may name files relative to a folder or absolutely.
inline std::string JoinPath(const std::string& dir, const std::string& path) {
  if (path.empty() || path[0] == '/' || dir.empty()) return path;
  return dir.back() == '/' ? dir + path : dir + "/" + path;
}

}  // namespace quantbench

#endif  // QUANTBENCH_DATASETS_PATHS_H_
