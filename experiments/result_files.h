// The Markdown view of a sweep's JSON (files are written with kernels/atomic_file.h).
#ifndef QUANTBENCH_EXPERIMENTS_RESULT_FILES_H_
#define QUANTBENCH_EXPERIMENTS_RESULT_FILES_H_

#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"

namespace quantbench {

// The sweep as Markdown: a top-1 table (rows quantizer, columns bits) with the fp32 baseline,
// then the same for weight SQNR and model size, and the command that regenerates it.
std::string SweepMarkdown(const nlohmann::json& sweep);

// A Markdown table of result cells (each with "quantizer" and "bits"): rows = quantizer labels
// in first-seen order, columns = the bit widths present, entries from `cell`, "—" where a
// (quantizer, bits) pair has no cell.
std::string QuantizerBitsTable(const nlohmann::json& cells, const std::string& corner,
                               const std::function<std::string(const nlohmann::json&)>& cell);

// `results/x.json` -> `results/x.md`.
std::string MarkdownPathFor(const std::string& json_path);

}  // namespace quantbench

#endif  // QUANTBENCH_EXPERIMENTS_RESULT_FILES_H_
