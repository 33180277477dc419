// What every folder-of-JPEGs reader shares: listing a folder in a fixed order, recognising
// JPEG names, the file-identity part of an image cache key, and decoding a list of files on
// several threads with a result that does not depend on the thread count.
#ifndef QUANTBENCH_DATASETS_IMAGE_FILES_H_
#define QUANTBENCH_DATASETS_IMAGE_FILES_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace quantbench {

// *.jpg / *.jpeg, any case.
bool IsJpegName(const std::string& name);

// Names of the regular files (after following symlinks), or of the directories, directly in
// `dir`, sorted by byte order (never directory order, so the same files give the same
// tensor). NotFound when `dir` is not a directory.
absl::StatusOr<std::vector<std::string>> ListDirectory(const std::string& dir, bool directories);

// Appends one line per path, in order: absolute path, size and mtime (ns), so a cache key
// built on it changes whenever any file is replaced, touched, added or removed. An error
// names the first file that cannot be stat'ed.
absl::Status AppendFileIdentities(const std::vector<std::string>& paths, std::string* key);

// Runs work(i) for i in [0, count) on up to `threads` std::threads (the caller's included).
// Each i must write only its own output slot. Stops handing out new indices after the first
// failure and returns the error of the lowest failing index: indices are claimed in order
// and a claimed one always finishes, so every index below a failure ran. Hence the result and
// the error are the same for every thread count.
absl::Status ParallelForEachIndex(int64_t count, int threads,
                                  const std::function<absl::Status(int64_t)>& work);

}  // namespace quantbench

#endif  // QUANTBENCH_DATASETS_IMAGE_FILES_H_
