// The Markdown view of a sweep's JSON (files are written with kernels/atomic_file.h).
#ifndef QUANTBENCH_EXPERIMENTS_RESULT_FILES_H_
#define QUANTBENCH_EXPERIMENTS_RESULT_FILES_H_

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace quantbench {

// The sweep as Markdown: a top-1 table (rows quantizer, columns bits) with the fp32 baseline,
// then the same for weight SQNR and model size, and the command that regenerates it. `figures`
// (caption, link relative to the Markdown file) become a "Figures" list (experiments/plots.h).
std::string SweepMarkdown(const nlohmann::json& sweep,
                          const std::vector<std::pair<std::string, std::string>>& figures = {});

// A Markdown table of result cells (each with "quantizer" and "bits"): rows = quantizer labels
// in first-seen order, columns = the bit widths present, entries from `cell`, "—" where a
// (quantizer, bits) pair has no cell.
std::string QuantizerBitsTable(const nlohmann::json& cells, const std::string& corner,
                               const std::function<std::string(const nlohmann::json&)>& cell);

// Reads a result file written by a sweep (schema quantbench.sweep/1); errors name the file.
absl::StatusOr<nlohmann::json> ReadSweepFile(const std::string& path);

// nlohmann's dump without its exceptions: a string that is not valid UTF-8 (a description or
// a quantizer label) is an InvalidArgumentError naming `what` and the JSON path of the
// offending field (e.g. "/cells/3/quantizer"), never an uncaught type_error 316.
absl::StatusOr<std::string> DumpJson(const nlohmann::json& value, int indent, const std::string& what);

// `results/x.json` -> `results/x.md`.
std::string MarkdownPathFor(const std::string& json_path);

}  // namespace quantbench

#endif  // QUANTBENCH_EXPERIMENTS_RESULT_FILES_H_
