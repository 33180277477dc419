// Writing a file so that readers see the old contents or the new, never a partial file:
// result tables, trained-weight caches and image-tensor caches all go through this.
#ifndef QUANTBENCH_KERNELS_ATOMIC_FILE_H_
#define QUANTBENCH_KERNELS_ATOMIC_FILE_H_

#include <initializer_list>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace quantbench {

// Writes the concatenation of `pieces` to a uniquely named temporary file beside `path`
// (`<path>.tmp.<host>.<pid>.<n>`; such files of dead writers on this host are removed first),
// fsyncs and closes it, then renames it over `path`. Creates missing parent directories. On
// any error the temporary file is removed and `path` is untouched; the error's code comes from
// errno and its message names the file. Pieces avoid copying large payloads into one buffer.
absl::Status WriteFileAtomically(const std::string& path, std::initializer_list<absl::string_view> pieces);

inline absl::Status WriteFileAtomically(const std::string& path, absl::string_view content) {
  return WriteFileAtomically(path, {content});
}

}  // namespace quantbench

#endif  // QUANTBENCH_KERNELS_ATOMIC_FILE_H_
