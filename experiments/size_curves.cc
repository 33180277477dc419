#include "experiments/size_curves.h"

#include <cmath>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "experiments/result_files.h"

namespace quantbench {

std::string RepeatGroup(const std::string& label) {
  const std::string marker = ", seed ";
  const size_t at = label.rfind(marker);
  if (at == std::string::npos || at + marker.size() == label.size()) return label;
  for (size_t i = at + marker.size(); i < label.size(); ++i) {
    if (label[i] < '0' || label[i] > '9') return label;
  }
  return label.substr(0, at);
}

absl::StatusOr<nlohmann::json> SizeCurves(const std::vector<nlohmann::json>& sweeps,
                                          const std::vector<std::string>& names) {
  auto missing = [&](size_t s, const std::string& field) {
    return absl::InvalidArgumentError(
        absl::StrCat(names[s], ": missing or null field '", field, "' (size curves need labelled sweeps)"));
  };
  nlohmann::json rows = nlohmann::json::array();
  for (size_t s = 0; s < sweeps.size(); ++s) {
    const nlohmann::json fp32 = sweeps[s].value("fp32", nlohmann::json());
    if (!fp32.is_object() || !fp32.contains("top1") || fp32["top1"].is_null()) return missing(s, "fp32.top1");
    if (!fp32.contains("parameters")) return missing(s, "fp32.parameters");
    // (group, bits) -> top-1 of every run, in first-appearance order of the groups.
    std::vector<std::pair<std::string, int>> order;
    std::map<std::pair<std::string, int>, std::vector<double>> runs;
    for (const nlohmann::json& cell : sweeps[s].value("cells", nlohmann::json::array())) {
      if (!cell.contains("top1") || cell["top1"].is_null()) return missing(s, "cells[].top1");
      if (!cell.contains("quantizer") || !cell.contains("bits")) return missing(s, "cells[].quantizer / bits");
      const std::pair<std::string, int> key{RepeatGroup(cell["quantizer"].get<std::string>()),
                                            cell["bits"].get<int>()};
      if (runs.count(key) == 0) order.push_back(key);
      runs[key].push_back(cell["top1"].get<double>());
    }
    const double fp32_top1 = fp32["top1"].get<double>();
    for (const auto& key : order) {
      const std::vector<double>& top1 = runs[key];
      double sum = 0.0;
      for (double v : top1) sum += v;
      const double mean = sum / static_cast<double>(top1.size());
      double squares = 0.0;
      for (double v : top1) squares += (v - mean) * (v - mean);
      const double std = top1.size() > 1 ? std::sqrt(squares / static_cast<double>(top1.size() - 1)) : 0.0;
      rows.push_back({{"sweep", names[s]},
                      {"parameters", fp32["parameters"]},
                      {"fp32_top1", fp32_top1},
                      {"group", key.first},
                      {"bits", key.second},
                      {"n", top1.size()},
                      {"mean_top1", mean},
                      {"std_top1", std},
                      {"gap_to_fp32", fp32_top1 - mean},
                      {"runs", top1}});
    }
  }
  return nlohmann::json{{"rows", rows}};
}

std::string SizeCurvesMarkdown(const nlohmann::json& curves) {
  std::string out =
      "## Accuracy vs network size\n\nTop-1 (%) as mean ± sample std over the runs of a group (labels "
      "differing only by \", seed N\"; n runs in the table title), and in brackets the gap to fp32 "
      "(points, > 0 = below fp32).\n";
  std::vector<std::string> groups;
  std::map<std::string, size_t> max_n;
  for (const auto& r : curves["rows"]) {
    const std::string group = r["group"];
    if (max_n.count(group) == 0) groups.push_back(group);
    max_n[group] = std::max(max_n[group], r["n"].get<size_t>());
  }
  for (const std::string& group : groups) {
    nlohmann::json cells = nlohmann::json::array();
    for (const auto& r : curves["rows"]) {
      if (r["group"] != group) continue;
      nlohmann::json cell = r;
      // QuantizerBitsTable's row key: the sweep, its size and its fp32 accuracy.
      cell["quantizer"] = absl::StrFormat("%s (%.0f params, fp32 %.2f)", r["sweep"].get<std::string>(),
                                          r["parameters"].get<double>(), 100 * r["fp32_top1"].get<double>());
      cells.push_back(cell);
    }
    absl::StrAppendFormat(&out, "\n### %s (n = %d)\n\n", group, max_n[group]);
    absl::StrAppend(&out, QuantizerBitsTable(cells, "sweep \\ bits", [](const nlohmann::json& c) {
      return c["n"].get<size_t>() > 1
                 ? absl::StrFormat("%.2f ± %.2f (%+.2f)", 100 * c["mean_top1"].get<double>(),
                                   100 * c["std_top1"].get<double>(), 100 * c["gap_to_fp32"].get<double>())
                 : absl::StrFormat("%.2f (%+.2f)", 100 * c["mean_top1"].get<double>(),
                                   100 * c["gap_to_fp32"].get<double>());
    }));
  }
  return out;
}

}  // namespace quantbench
