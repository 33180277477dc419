#include "experiments/ecr.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "experiments/result_files.h"

namespace quantbench {

absl::StatusOr<FloatSize> FloatSizeForAccuracy(std::vector<FloatPoint> curve, double accuracy) {
  if (curve.empty()) return absl::InvalidArgumentError("the float accuracy-vs-size curve has no points");
  std::sort(curve.begin(), curve.end(),
            [](const FloatPoint& a, const FloatPoint& b) { return a.parameters < b.parameters; });
  for (size_t i = 1; i < curve.size(); ++i) curve[i].accuracy = std::max(curve[i].accuracy, curve[i - 1].accuracy);
  if (accuracy <= curve.front().accuracy) {
    return FloatSize{curve.front().parameters, accuracy < curve.front().accuracy ? "upper" : "exact"};
  }
  if (accuracy > curve.back().accuracy) return FloatSize{curve.back().parameters, "lower"};
  for (size_t i = 1; i < curve.size(); ++i) {
    const FloatPoint &a = curve[i - 1], &b = curve[i];
    if (accuracy > b.accuracy) continue;
    // a.accuracy < accuracy <= b.accuracy, so the segment rises and t is well defined.
    const double t = (accuracy - a.accuracy) / (b.accuracy - a.accuracy);
    const double log_p = std::log(a.parameters) + t * (std::log(b.parameters) - std::log(a.parameters));
    return FloatSize{std::exp(log_p), "exact"};
  }
  return FloatSize{curve.back().parameters, "exact"};
}

namespace {

absl::Status Missing(const std::string& name, const std::string& field) {
  return absl::InvalidArgumentError(absl::StrCat(name, ": missing or null field '", field,
                                                 "' (ECR needs labelled sweeps written by this version of the runner)"));
}

}  // namespace

absl::StatusOr<nlohmann::json> EffectiveCompression(const std::vector<nlohmann::json>& sweeps,
                                                    const std::vector<std::string>& names) {
  if (sweeps.size() < 2) {
    return absl::InvalidArgumentError("ECR needs sweeps of at least two network sizes (the float curve)");
  }
  std::vector<FloatPoint> curve;
  for (size_t s = 0; s < sweeps.size(); ++s) {
    const nlohmann::json& fp32 = sweeps[s].value("fp32", nlohmann::json());
    if (!fp32.is_object() || !fp32.contains("top1") || fp32["top1"].is_null()) return Missing(names[s], "fp32.top1");
    if (!fp32.contains("parameters")) return Missing(names[s], "fp32.parameters");
    curve.push_back({fp32["parameters"].get<double>(), fp32["top1"].get<double>()});
  }
  nlohmann::json report;
  report["definition"] = "ECR = 32 * P_f / (bits * P_q): P_f = float parameters reaching the same top-1 on the "
                         "float curve (monotone, linear in log size)";
  nlohmann::json points = nlohmann::json::array();
  for (size_t s = 0; s < sweeps.size(); ++s) {
    points.push_back({{"sweep", names[s]}, {"parameters", curve[s].parameters}, {"top1", curve[s].accuracy}});
  }
  report["float_curve"] = points;
  nlohmann::json rows = nlohmann::json::array();
  for (size_t s = 0; s < sweeps.size(); ++s) {
    const double parameters = curve[s].parameters;
    for (const nlohmann::json& cell : sweeps[s].value("cells", nlohmann::json::array())) {
      if (!cell.contains("top1") || cell["top1"].is_null()) return Missing(names[s], "cells[].top1");
      if (!cell.contains("model_bytes")) return Missing(names[s], "cells[].model_bytes");
      // Nominal bits: per layer when recorded (overrides may differ), else the cell's width.
      double nominal_bits = 0, quantized = 0;
      if (cell.contains("layers")) {
        for (const nlohmann::json& layer : cell["layers"]) {
          nominal_bits += layer["bits"].get<double>() * layer["weights"].get<double>();
          quantized += layer["weights"].get<double>();
        }
      } else if (cell.contains("quantized_weights")) {
        quantized = cell["quantized_weights"].get<double>();
        nominal_bits = cell["bits"].get<double>() * quantized;
      } else {
        return Missing(names[s], "cells[].layers or cells[].quantized_weights");
      }
      nominal_bits += 32.0 * (parameters - quantized);
      auto size = FloatSizeForAccuracy(curve, cell["top1"].get<double>());
      if (!size.ok()) return size.status();
      const double float_bits = 32.0 * size->parameters;
      rows.push_back({{"sweep", names[s]},
                      {"parameters", parameters},
                      {"quantizer", cell["quantizer"]},
                      {"bits", cell["bits"]},
                      {"top1", cell["top1"]},
                      {"float_parameters_same_accuracy", size->parameters},
                      {"bound", size->bound},
                      {"ecr_nominal", float_bits / nominal_bits},
                      {"ecr_storage", float_bits / (8.0 * cell["model_bytes"].get<double>())},
                      {"plain_ratio", 32.0 * parameters / nominal_bits}});
    }
  }
  report["cells"] = rows;
  return report;
}

std::string EffectiveCompressionMarkdown(const nlohmann::json& report) {
  std::string out = "# Effective compression ratio (resiliency paper)\n\n";
  absl::StrAppend(&out, report["definition"].get<std::string>(),
                  ". `<` / `>`: the accuracy lies below / above the float curve, so the value is an upper / lower "
                  "bound.\n\n## Float curve\n\n| sweep | parameters | top-1 (%) |\n|---|---:|---:|\n");
  for (const auto& p : report["float_curve"]) {
    absl::StrAppendFormat(&out, "| %s | %.0f | %.2f |\n", p["sweep"].get<std::string>(), p["parameters"].get<double>(),
                          100 * p["top1"].get<double>());
  }
  // One table per sweep, in input order: rows quantizer, columns bits, "ECR nominal (storage)".
  std::vector<std::string> sweeps;
  for (const auto& c : report["cells"]) {
    if (std::find(sweeps.begin(), sweeps.end(), c["sweep"].get<std::string>()) == sweeps.end()) {
      sweeps.push_back(c["sweep"]);
    }
  }
  for (const std::string& sweep : sweeps) {
    nlohmann::json cells = nlohmann::json::array();
    for (const auto& c : report["cells"]) {
      if (c["sweep"] == sweep) cells.push_back(c);
    }
    absl::StrAppendFormat(&out, "\n## %s (%.0f parameters): ECR nominal (storage)\n\n", sweep,
                          cells[0]["parameters"].get<double>());
    absl::StrAppend(&out, QuantizerBitsTable(cells, "quantizer \\ bits", [](const nlohmann::json& c) {
      const std::string bound = c["bound"] == "upper" ? "<" : c["bound"] == "lower" ? ">" : "";
      return absl::StrFormat("%s%.2f (%.2f)", bound, c["ecr_nominal"].get<double>(), c["ecr_storage"].get<double>());
    }));
  }
  return out;
}

}  // namespace quantbench
