// Writing result files: atomically, and the Markdown view of a sweep's JSON.
#ifndef QUANTBENCH_EXPERIMENTS_RESULT_FILES_H_
#define QUANTBENCH_EXPERIMENTS_RESULT_FILES_H_

#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"

namespace quantbench {

// Writes `content` to a temporary file beside `path`, flushes it, then renames it over
// `path`: readers see the old file or the new one, never a partial one. Creates the parent
// directory if needed.
absl::Status WriteFileAtomically(const std::string& path, const std::string& content);

// The sweep as Markdown: a top-1 table (rows quantizer, columns bits) with the fp32 baseline,
// then the same for weight SQNR and model size, and the command that regenerates it.
std::string SweepMarkdown(const nlohmann::json& sweep);

// `results/x.json` -> `results/x.md`.
std::string MarkdownPathFor(const std::string& json_path);

}  // namespace quantbench

#endif  // QUANTBENCH_EXPERIMENTS_RESULT_FILES_H_
