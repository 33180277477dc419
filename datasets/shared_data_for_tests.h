// Where tests find the machine's shared data (../shared/data next to the workspace), so every
// real-data test looks in the same places and skips with the same hint when it is absent.
#ifndef QUANTBENCH_DATASETS_SHARED_DATA_FOR_TESTS_H_
#define QUANTBENCH_DATASETS_SHARED_DATA_FOR_TESTS_H_

#include <string>

namespace quantbench {

// $QUANTBENCH_SHARED_DATA when set; else <workspace>/../shared/data, the workspace found
// through the real path of a runfile that links back into the source tree; else
// "/work/shared/data". The folder may not exist: callers check their own files and skip.
std::string SharedDataDir();

// What a test prints when it skips because `path` is missing.
std::string MissingSharedDataMessage(const std::string& path);

}  // namespace quantbench

#endif  // QUANTBENCH_DATASETS_SHARED_DATA_FOR_TESTS_H_
