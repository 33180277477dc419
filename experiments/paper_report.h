// Paper reports: a paper's reported numbers (a data file per paper, experiments/papers/*.json,
// every number with its source tag from ../shared/papers/*.md) next to ours, read from the
// committed sweep results, with a verdict per claim. `bazel run //experiments:report` writes
// results/papers/<paper>.md and results/papers/README.md.
//
// Paper file (JSON):
//   {"paper": id, "title": ..., "summary": "../shared/papers/x.md",
//    "tables": [{"caption", "source", "unit", "tolerance", "rows": [
//        {"label", "paper": number, "source": tag,
//         "ours": {"result": "results/x.json", "quantizer": label or "fp32", "bits": b,
//                  "metric": "top1" | "top5" | "delta_top1" | ... (fractions, shown x100)},
//         "setup": where our setup differs, "command": what produces the result}]}],
//    "claims": [{"text": quoted claim, "source": tag, "check": {...}}],
//    "figures": ["x.top1_vs_bits.svg", ...]}   (names under results/)
// Checks: {"kind": "row", "table": i, "row": j}: the row within the table's tolerance (or,
// with "expect_outside_tolerance": true, outside it; with "at_least" / "at_most": our value
// within that bound, for claims that are bounds);
// {"kind": "bits_saving", "result", "better": name, "baseline": name, "metric", "within",
//  "min_saving", "max_saving", "command"}: fewest bits to come within `within` points of fp32,
// best variant of each quantizer name; {"kind": "gap_vs_size", "results": [...] smallest
// first, "quantizer", "bits", "metric", "command"}: the fp32 - quantized gap shrinks with size;
// {"kind": "untestable", "needs", "command"}.
// A result file that is not there makes a row or check "not run" with its command.
#ifndef QUANTBENCH_EXPERIMENTS_PAPER_REPORT_H_
#define QUANTBENCH_EXPERIMENTS_PAPER_REPORT_H_

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace quantbench {

// The fewest bits whose accuracy is at least reference - within (all in the same unit);
// nullopt when no point of the curve gets there. The curve need not be sorted.
std::optional<int> FewestBitsWithin(const std::vector<std::pair<int, double>>& curve, double reference,
                                    double within);

// A sweep's (bits, metric) curve for one quantizer label, metric a cell key holding a
// fraction ("top1", "top5"); cells without it are left out.
std::vector<std::pair<int, double>> QuantizerCurve(const nlohmann::json& sweep, const std::string& label,
                                                   const std::string& metric);

// Result files by the path the paper file names ("results/x.json"); nullptr when absent.
using ResultLookup = std::function<const nlohmann::json*(const std::string& path)>;

struct ClaimVerdict {
  std::string claim;
  std::string verdict;  // "holds", "does not hold", "not run", "cannot be tested here"
  std::string detail;   // the numbers behind it, or what a user must supply
};

struct PaperReport {
  std::string markdown;
  std::vector<ClaimVerdict> verdicts;
};

// `figure_exists` says whether results/<name> is there (only existing figures are linked).
PaperReport RenderPaperReport(const nlohmann::json& paper, const ResultLookup& results,
                              const std::function<bool(const std::string&)>& figure_exists);

// For every labelled sweep (path, document): per quantizer, the fewest bits within 1 and 5
// points of fp32 top-1 and top-5, and per sweep the linear - exponential difference (default
// configuration of each, see BestBits in the .cc). Sweeps of random weights are skipped.
std::string BitsToReachMarkdown(const std::vector<std::pair<std::string, nlohmann::json>>& sweeps);

// results/papers/README.md: the verdict table of every paper, linking the reports, then the
// bits-to-reach table.
std::string PapersIndexMarkdown(const std::vector<std::pair<nlohmann::json, PaperReport>>& papers,
                                const std::string& bits_to_reach);

}  // namespace quantbench

#endif  // QUANTBENCH_EXPERIMENTS_PAPER_REPORT_H_
