// What a result file records about where it was produced: git commit, CPU, libraries.
#ifndef QUANTBENCH_EXPERIMENTS_ENVIRONMENT_H_
#define QUANTBENCH_EXPERIMENTS_ENVIRONMENT_H_

#include <string>

#include <nlohmann/json.hpp>

namespace quantbench {

// {"git": {...}, "host": {...}, "libraries": {...}}. Git facts come from running git in
// `workspace`; where git is unavailable they read "unknown".
nlohmann::json DescribeEnvironment(const std::string& workspace, int threads);

// The current UTC time as ISO 8601.
std::string UtcTimestamp();

}  // namespace quantbench

#endif  // QUANTBENCH_EXPERIMENTS_ENVIRONMENT_H_
