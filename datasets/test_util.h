// Helpers shared by the datasets tests: a fresh folder under TEST_TMPDIR, writing bytes, and
// checking an error's code and the words its message must contain.
#ifndef QUANTBENCH_DATASETS_TEST_UTIL_H_
#define QUANTBENCH_DATASETS_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace quantbench {

// TEST_TMPDIR/<name>, emptied.
inline std::string FreshTestDir(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  const std::string path = std::string(dir ? dir : "/tmp") + "/" + name;
  std::filesystem::remove_all(path);
  std::filesystem::create_directories(path);
  return path;
}

inline void WriteFileBytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

inline void ExpectStatus(const absl::Status& status, absl::StatusCode code,
                         const std::vector<std::string>& fragments) {
  EXPECT_EQ(status.code(), code) << status;
  for (const std::string& fragment : fragments) {
    EXPECT_NE(status.message().find(fragment), std::string::npos)
        << "\"" << fragment << "\" not in: " << status;
  }
}

}  // namespace quantbench

#endif  // QUANTBENCH_DATASETS_TEST_UTIL_H_
