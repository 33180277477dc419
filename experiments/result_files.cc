#include "experiments/result_files.h"

#include <algorithm>
#include <fstream>
#include <functional>
#include <sstream>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/match.h"

namespace quantbench {

absl::StatusOr<nlohmann::json> ReadSweepFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json sweep = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (sweep.is_discarded() || !sweep.is_object() || sweep.value("schema", "") != "quantbench.sweep/1") {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a quantbench.sweep/1 result file"));
  }
  return sweep;
}

namespace {

// Whether nlohmann can dump this string (it validates UTF-8 the same way).
bool DumpsAsUtf8(const std::string& text) {
  try {
    (void)nlohmann::json(text).dump();
    return true;
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

// The JSON pointer of the first string (key or value) that is not valid UTF-8.
std::string FirstInvalidUtf8(const nlohmann::json& value, const std::string& path) {
  if (value.is_string()) return DumpsAsUtf8(value.get_ref<const std::string&>()) ? "" : (path.empty() ? "/" : path);
  if (value.is_array()) {
    for (size_t i = 0; i < value.size(); ++i) {
      std::string found = FirstInvalidUtf8(value[i], absl::StrCat(path, "/", i));
      if (!found.empty()) return found;
    }
  } else if (value.is_object()) {
    for (const auto& [key, item] : value.items()) {
      if (!DumpsAsUtf8(key)) return absl::StrCat(path, "/<a key that is not UTF-8>");
      std::string found = FirstInvalidUtf8(item, absl::StrCat(path, "/", key));
      if (!found.empty()) return found;
    }
  }
  return "";
}

}  // namespace

absl::StatusOr<std::string> DumpJson(const nlohmann::json& value, int indent, const std::string& what) {
  try {
    return value.dump(indent);
  } catch (const nlohmann::json::exception& e) {
    std::string field = FirstInvalidUtf8(value, "");
    return absl::InvalidArgumentError(
        field.empty() ? absl::StrCat(what, ": cannot write JSON (", e.what(), ")")
                      : absl::StrCat(what, ": field ", field, " is not valid UTF-8; fix that text in the config"));
  }
}

std::string MarkdownPathFor(const std::string& json_path) {
  if (absl::EndsWith(json_path, ".json")) return json_path.substr(0, json_path.size() - 5) + ".md";
  return json_path + ".md";
}

std::string QuantizerBitsTable(const nlohmann::json& cells, const std::string& corner,
                               const std::function<std::string(const nlohmann::json&)>& cell) {
  std::vector<std::string> rows;
  std::set<int> bits;
  std::map<std::pair<std::string, int>, const nlohmann::json*> by_key;
  for (const auto& c : cells) {
    std::string label = c["quantizer"];
    if (std::find(rows.begin(), rows.end(), label) == rows.end()) rows.push_back(label);
    bits.insert(c["bits"].get<int>());
    by_key[{label, c["bits"].get<int>()}] = &c;
  }
  std::string out = absl::StrCat("| ", corner, " |");
  std::string rule = "|---|";
  for (int b : bits) {
    absl::StrAppend(&out, " ", b, " |");
    rule += "---:|";
  }
  absl::StrAppend(&out, "\n", rule, "\n");
  for (const std::string& row : rows) {
    absl::StrAppend(&out, "| ", row, " |");
    for (int b : bits) {
      auto it = by_key.find({row, b});
      absl::StrAppend(&out, " ", it == by_key.end() ? std::string("—") : cell(*it->second), " |");
    }
    absl::StrAppend(&out, "\n");
  }
  return out;
}

namespace {

// Per-layer sparsity of the ternary cells (the TTN paper's computation-reduction figure): rows
// are layers, columns the cells of the ternary and residual_expansion quantizers.
std::string PerLayerSparsityTable(const nlohmann::json& sweep) {
  std::vector<const nlohmann::json*> cells;
  for (const auto& c : sweep["cells"]) {
    const std::string name = c.value("name", "");
    if ((name == "ternary" || name == "residual_expansion") && c.contains("layers")) cells.push_back(&c);
  }
  if (cells.empty()) return "";
  std::string out = "\n### Per-layer weight sparsity (%), ternary cells\n\n| layer |";
  std::string rule = "|---|";
  for (const nlohmann::json* c : cells) {
    absl::StrAppend(&out, " ", (*c)["quantizer"].get<std::string>(), " |");
    rule += "---:|";
  }
  absl::StrAppend(&out, "\n", rule, "\n");
  const nlohmann::json& first = (*cells[0])["layers"];
  for (size_t i = 0; i < first.size(); ++i) {
    absl::StrAppend(&out, "| ", first[i]["layer"].get<std::string>(), " |");
    for (const nlohmann::json* c : cells) {
      const nlohmann::json& layers = (*c)["layers"];
      const bool has = i < layers.size() && layers[i].contains("sparsity");
      absl::StrAppend(&out, " ", has ? absl::StrFormat("%.2f", 100 * layers[i]["sparsity"].get<double>()) : "—", " |");
    }
    absl::StrAppend(&out, "\n");
  }
  return out;
}

// The sweep's cells as a quantizer x bits table.
std::string Table(const nlohmann::json& sweep, const std::string& corner,
                  const std::function<std::string(const nlohmann::json&)>& cell) {
  return QuantizerBitsTable(sweep["cells"], corner, cell);
}

}  // namespace

namespace {

// One training run's recipe in a line and its per-epoch curve as a table.
void AppendTrainingRun(const nlohmann::json& run, std::string* out) {
  if (run.contains("recipe") && run["recipe"].is_object()) {
    const nlohmann::json& r = run["recipe"];
    const nlohmann::json& opt = r.value("optimizer", nlohmann::json::object());
    const nlohmann::json& sched = r.value("schedule", nlohmann::json::object());
    const nlohmann::json& aug = r.value("augmentation", nlohmann::json::object());
    absl::StrAppendFormat(out, "Recipe: %d epochs, batch %d, %s%s, learning rate %g (%s), weight decay %g",
                          r.value("epochs", 0), r.value("batch_size", 0), opt.value("kind", "SGD"),
                          opt.value("nesterov", false) ? " (Nesterov)" : "", r.value("learning_rate", 0.0),
                          sched.value("kind", "COSINE"), r.value("weight_decay", 0.0));
    if (aug.value("random_crop_padding", 0) > 0 || aug.value("horizontal_flip", false)) {
      absl::StrAppendFormat(out, ", random crop (pad %d)%s", aug.value("random_crop_padding", 0),
                            aug.value("horizontal_flip", false) ? " + flip" : "");
    }
    absl::StrAppend(out, ".");
  }
  if (run.contains("ste")) absl::StrAppend(out, " STE: ", run["ste"].get<std::string>(), ";");
  if (run.contains("loss")) absl::StrAppend(out, " loss: ", run["loss"].get<std::string>(), ".");
  if (run.value("from_cache", false)) absl::StrAppend(out, " (loaded from the trained-weight cache)");
  absl::StrAppendFormat(out, " Training wall time %.0f s.\n\n", run.value("train_seconds", 0.0));
  if (!run.contains("epochs") || run["epochs"].empty()) return;
  absl::StrAppend(out, "| epoch | lr | train loss | train top-1 (%) | test top-1 (%) | img/s |\n|---:|---:|---:|---:|---:|---:|\n");
  for (const nlohmann::json& e : run["epochs"]) {
    auto pct = [&](const char* key) {
      return e.contains(key) ? absl::StrFormat("%.2f", 100.0 * e[key].get<double>()) : std::string("—");
    };
    absl::StrAppendFormat(out, "| %d | %.4g | %.4f | %s | %s | %.0f |\n", e["epoch"].get<int>(),
                          e["learning_rate"].get<double>(), e["train_loss"].get<double>(), pct("train_top1"),
                          pct("test_top1"), e["images_per_second"].get<double>());
  }
}

void AppendTraining(const nlohmann::json& sweep, std::string* out) {
  const nlohmann::json& weights = sweep["fp32"]["weights"];
  if (weights.value("source", "") == "trained") {
    absl::StrAppend(out, "\n## fp32 training\n\n");
    AppendTrainingRun(weights, out);
  }
  for (const nlohmann::json& c : sweep["cells"]) {
    if (!c.contains("training")) continue;
    absl::StrAppendFormat(out, "\n## Quantization-aware training: %s, %d bits\n\n", c["quantizer"].get<std::string>(),
                          c["bits"].get<int>());
    AppendTrainingRun(c["training"], out);
  }
}

}  // namespace

std::string SweepMarkdown(const nlohmann::json& sweep,
                          const std::vector<std::pair<std::string, std::string>>& figures) {
  const nlohmann::json& fp32 = sweep["fp32"];
  const bool labeled = !fp32["top1"].is_null();
  auto percent = [](const nlohmann::json& value) {
    return value.is_null() ? std::string("—") : absl::StrFormat("%.2f", 100.0 * value.get<double>());
  };
  std::string out = absl::StrCat("# ", sweep["experiment"].get<std::string>(), "\n\n");
  if (sweep.contains("description") && !sweep["description"].get<std::string>().empty()) {
    absl::StrAppend(&out, sweep["description"].get<std::string>(), "\n\n");
  }
  const nlohmann::json& weights = fp32["weights"];
  std::string source = weights["source"].get<std::string>();
  if (weights.contains("note")) absl::StrAppend(&source, " (", weights["note"].get<std::string>(), ")");
  if (labeled) {
    absl::StrAppendFormat(&out, "fp32 baseline: **%s %%** top-1, %s %% top-5 on %d images; %s weights, %.1f KiB.\n\n",
                          percent(fp32["top1"]), percent(fp32["top5"]), sweep["dataset"]["examples"].get<int64_t>(),
                          source, fp32["model_bytes"].get<double>() / 1024.0);
    if (sweep.contains("activations")) {
      const nlohmann::json& a = sweep["activations"];
      absl::StrAppendFormat(&out,
                            "Activations: %d-bit uniform per tensor on the inputs of %d conv/dense layers (%s "
                            "calibration on %d images) in every cell below; with fp32 weights they alone give **%s %%** "
                            "top-1.\n\n",
                            a["bits"].get<int>(), a["quantized_sites"].get<int>(), a["calibration"].get<std::string>(),
                            a["calibration_images"].get<int>(), percent(a["fp32_weights"]["top1"]));
    }
    absl::StrAppend(&out, "## Top-1 accuracy (%) vs weight bits\n\n",
                    Table(sweep, "quantizer \\ bits", [&](const nlohmann::json& c) { return percent(c["top1"]); }));
    bool any_trained = false;
    for (const nlohmann::json& c : sweep["cells"]) any_trained |= c.contains("before_training");
    if (any_trained) {
      absl::StrAppend(&out, "\n## Before and after training (top-1 %)\n\n",
                      "| quantizer | bits | before training (calibration only) | trained | fp32 | training wall time (s) |\n",
                      "|---|---:|---:|---:|---:|---:|\n");
      for (const nlohmann::json& c : sweep["cells"]) {
        if (!c.contains("before_training")) continue;
        absl::StrAppendFormat(&out, "| %s | %d | %s | %s | %s | %.0f |\n", c["quantizer"].get<std::string>(),
                              c["bits"].get<int>(), percent(c["before_training"]["top1"]), percent(c["top1"]),
                              percent(fp32["top1"]), c["training"].value("train_seconds", 0.0));
      }
    }
    if (sweep.contains("dws_rescaling")) {
      const nlohmann::json& d = sweep["dws_rescaling"];
      absl::StrAppendFormat(&out,
                            "\nDWS rescaling (before any quantization): %d depthwise -> conv pairs, %d of %d channels "
                            "locked (ReLU6 maximum >= %.2f on %d calibration images), %d capped at 6/x_k; fp32 top-1 "
                            "after rescaling %s %%, agreement with the original fp32 %s %%.\n",
                            d["pairs"].get<int>(), d["locked_channels"].get<int>(), d["channels"].get<int>(),
                            d["lock_threshold"].get<double>(), d["calibration_images"].get<int>(),
                            d["capped_channels"].get<int>(), percent(d["fp32_after_rescaling"]["top1"]),
                            percent(d["fp32_after_rescaling"]["top1_agreement_with_fp32"]));
    }
    if (fp32.contains("top5") && !fp32["top5"].is_null()) {
      absl::StrAppend(&out, "\n## Top-5 accuracy (%)\n\n",
                      Table(sweep, "quantizer \\ bits", [&](const nlohmann::json& c) {
                        return c.contains("top5") ? percent(c["top5"]) : std::string("—");
                      }));
    }
  } else {
    absl::StrAppendFormat(&out, "No labels: %d images, quality measured as agreement with the fp32 model; %s weights, %.1f KiB.\n\n",
                          sweep["dataset"]["examples"].get<int64_t>(), source, fp32["model_bytes"].get<double>() / 1024.0);
  }
  absl::StrAppend(&out, "\n## Top-1 agreement with fp32 (%)\n\n",
                  Table(sweep, "quantizer \\ bits", [&](const nlohmann::json& c) { return percent(c["top1_agreement_with_fp32"]); }));
  absl::StrAppend(&out, "\n## Weight SQNR (dB)\n\n", Table(sweep, "quantizer \\ bits", [](const nlohmann::json& c) {
                    return c.contains("sqnr_db") ? absl::StrFormat("%.1f", c["sqnr_db"].get<double>()) : std::string("—");
                  }));
  absl::StrAppend(&out, "\n## Model size (KiB)\n\n", Table(sweep, "quantizer \\ bits", [](const nlohmann::json& c) {
                    return c.contains("model_bytes") ? absl::StrFormat("%.1f", c["model_bytes"].get<double>() / 1024.0)
                                                     : std::string("—");
                  }));
  bool any_effective_bits = false;  // result files older than the metric have none
  for (const auto& c : sweep["cells"]) any_effective_bits |= c.contains("effective_bits_per_weight");
  if (any_effective_bits) {
    absl::StrAppend(&out, "\n## Effective bits per quantized weight (codes + scales / tables)\n\n",
                    Table(sweep, "quantizer \\ bits", [](const nlohmann::json& c) {
                      return c.contains("effective_bits_per_weight")
                                 ? absl::StrFormat("%.3f", c["effective_bits_per_weight"].get<double>())
                                 : std::string("—");
                    }));
  }
  bool any_sparsity = false;  // result files older than the metric have none
  for (const auto& c : sweep["cells"]) any_sparsity |= c.contains("weight_sparsity");
  if (any_sparsity) {
    absl::StrAppend(&out, "\n## Weight sparsity (% of quantized weights that are exactly 0)\n\n",
                    Table(sweep, "quantizer \\ bits", [](const nlohmann::json& c) {
                      return c.contains("weight_sparsity")
                                 ? absl::StrFormat("%.2f", 100 * c["weight_sparsity"].get<double>())
                                 : std::string("—");
                    }));
    absl::StrAppend(&out, PerLayerSparsityTable(sweep));
  }
  bool any_packed = false;
  for (const auto& c : sweep["cells"]) any_packed |= c.contains("packed");
  if (any_packed) {
    auto packed = [](const nlohmann::json& c, const std::function<std::string(const nlohmann::json&)>& f) {
      return c.contains("packed") ? f(c["packed"]) : std::string("—");
    };
    absl::StrAppend(&out, "\n## Packed execution (real low-bit kernels)\n\n");
    if (labeled) {
      absl::StrAppend(&out, "Top-1 accuracy (%), packed:\n\n", Table(sweep, "quantizer \\ bits", [&](const nlohmann::json& c) {
                        return packed(c, [&](const nlohmann::json& p) { return percent(p["top1"]); });
                      }));
    }
    absl::StrAppend(&out, "\nTop-1 agreement of packed with simulated (%):\n\n",
                    Table(sweep, "quantizer \\ bits", [&](const nlohmann::json& c) {
                      return packed(c, [&](const nlohmann::json& p) { return percent(p["top1_agreement_with_simulated"]); });
                    }));
    absl::StrAppend(&out, "\nForward latency, packed (ms per image at the eval batch; fp32 oneDNN: ",
                    absl::StrFormat("%.3f", 1e3 * sweep["fp32"]["eval_seconds"].get<double>() /
                                                std::max(1.0, sweep["dataset"]["examples"].get<double>())),
                    " ms):\n\n", Table(sweep, "quantizer \\ bits", [&](const nlohmann::json& c) {
                      return packed(c, [](const nlohmann::json& p) { return absl::StrFormat("%.3f", p["ms_per_image"].get<double>()); });
                    }));
    absl::StrAppend(&out, "\nModel size as stored packed (KiB):\n\n", Table(sweep, "quantizer \\ bits", [&](const nlohmann::json& c) {
                      return packed(c, [](const nlohmann::json& p) {
                        return absl::StrFormat("%.1f", p["model_bytes"].get<double>() / 1024.0);
                      });
                    }));
  }
  AppendTraining(sweep, &out);
  if (!figures.empty()) {
    absl::StrAppend(&out, "\n## Figures\n\n");
    for (const auto& [caption, link] : figures) absl::StrAppend(&out, "- [", caption, "](", link, ")\n");
  }
  absl::StrAppendFormat(&out, "\nGit %s, %s, %d threads, %s. Sweep wall time %.1f s.\n",
                        sweep["environment"]["git"]["commit"].get<std::string>().substr(0, 12),
                        sweep["environment"]["host"]["cpu"].get<std::string>(),
                        sweep["environment"]["host"]["threads"].get<int>(), sweep["timestamp"].get<std::string>(),
                        sweep["wall_seconds"].get<double>());
  absl::StrAppend(&out, "Regenerate: `", sweep["command"].get<std::string>(), "`\n");
  return out;
}

}  // namespace quantbench
