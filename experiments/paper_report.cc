#include "experiments/paper_report.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace quantbench {
namespace {

using Json = nlohmann::json;

std::string Number(double v) { return absl::StrFormat("%.2f", v); }

// Escapes the table separator in free text.
std::string Cell(const std::string& text) {
  std::string out;
  for (char c : text) out += c == '|' ? std::string("\\|") : std::string(1, c);
  return out;
}

// Our value for a row's "ours" spec, in the paper's unit (percent points); nullopt with the
// reason when the result or the cell is missing.
std::optional<double> Ours(const Json& ours, const ResultLookup& results, std::string* why) {
  const std::string path = ours.value("result", "");
  const Json* sweep = results(path);
  if (sweep == nullptr) {
    *why = "not run";
    return std::nullopt;
  }
  const std::string metric = ours.value("metric", "top1");
  const std::string quantizer = ours.value("quantizer", "fp32");
  const Json* holder = nullptr;
  if (quantizer == "fp32") {
    holder = &(*sweep)["fp32"];
  } else {
    for (const Json& c : (*sweep)["cells"]) {
      if (c.value("quantizer", "") == quantizer && c.value("bits", -1) == ours.value("bits", -2)) holder = &c;
    }
  }
  if (holder == nullptr || !holder->contains(metric) || !(*holder)[metric].is_number()) {
    *why = absl::StrFormat("no %s cell \"%s\" at %d bits in %s", metric, quantizer, ours.value("bits", 0), path);
    return std::nullopt;
  }
  return 100.0 * (*holder)[metric].get<double>();
}

struct RowOutcome {
  std::optional<double> ours;
  std::string verdict, detail;
};

RowOutcome JudgeRow(const Json& table, const Json& row, const ResultLookup& results) {
  RowOutcome out;
  std::string why;
  out.ours = row.contains("ours") ? Ours(row["ours"], results, &why) : std::nullopt;
  const double paper = row["paper"].get<double>();
  if (!out.ours) {
    out.verdict = row.contains("ours") ? "not run" : "cannot be tested here";
    out.detail = row.contains("ours") ? absl::StrCat(why == "not run" ? "" : why + "; ", "run `",
                                                     row.value("command", "?"), "`")
                                      : row.value("needs", "");
    return out;
  }
  const double tolerance = table.value("tolerance", 0.0);
  const double diff = *out.ours - paper;
  out.verdict = std::fabs(diff) <= tolerance ? "holds" : "does not hold";
  out.detail = absl::StrFormat("ours %s vs paper %s (%s), difference %+.2f, tolerance ±%s", Number(*out.ours),
                               Number(paper), row.value("source", ""), diff, Number(tolerance));
  if (row.contains("setup")) absl::StrAppend(&out.detail, "; our setup: ", row["setup"].get<std::string>());
  return out;
}

// Fewest bits of quantizer `name` in its default configuration (cells with no params: for
// linear, per-tensor max-abs mid-tread; for exponential, the MSE base with a zero level), so
// that exponential-vs-linear compares levels, not granularity or clipping; over all such
// variants when several have no params.
std::optional<int> BestBits(const Json& sweep, const std::string& name, const std::string& metric, double within) {
  if (!sweep["fp32"].contains(metric) || !sweep["fp32"][metric].is_number()) return std::nullopt;
  const double reference = 100.0 * sweep["fp32"][metric].get<double>();
  std::set<std::string> labels;
  for (const Json& c : sweep["cells"]) {
    const bool default_params = !c.contains("params") || c["params"].empty();
    if (c.value("name", "") == name && default_params) labels.insert(c["quantizer"].get<std::string>());
  }
  std::optional<int> best;
  for (const std::string& label : labels) {
    std::vector<std::pair<int, double>> curve = QuantizerCurve(sweep, label, metric);
    for (auto& p : curve) p.second *= 100.0;
    std::optional<int> b = FewestBitsWithin(curve, reference, within);
    if (b && (!best || *b < *best)) best = b;
  }
  return best;
}

std::string BitsText(const std::optional<int>& b) { return b ? absl::StrCat(*b) : std::string("never"); }

ClaimVerdict JudgeClaim(const Json& paper, const Json& claim, const ResultLookup& results) {
  ClaimVerdict v;
  v.claim = absl::StrCat("\"", claim.value("text", ""), "\" ", claim.value("source", ""));
  const Json& check = claim.value("check", Json::object());
  const std::string kind = check.value("kind", "untestable");
  if (kind == "row") {
    const Json& table = paper["tables"][check["table"].get<size_t>()];
    RowOutcome row = JudgeRow(table, table["rows"][check["row"].get<size_t>()], results);
    v.verdict = row.verdict;
    v.detail = row.detail;
    // A claim that is a bound ("drop <= 0.5 pp", "collapses below 30 %"), not a value.
    if (row.ours && (check.contains("at_least") || check.contains("at_most"))) {
      const bool low_ok = !check.contains("at_least") || *row.ours >= check["at_least"].get<double>();
      const bool high_ok = !check.contains("at_most") || *row.ours <= check["at_most"].get<double>();
      v.verdict = low_ok && high_ok ? "holds" : "does not hold";
      const std::string setup = table["rows"][check["row"].get<size_t>()].value("setup", "");
      v.detail = absl::StrFormat("ours %s; the claim needs %s%s", Number(*row.ours),
                                 check.contains("at_least") ? absl::StrCat("≥ ", Number(check["at_least"].get<double>()))
                                                            : absl::StrCat("≤ ", Number(check["at_most"].get<double>())),
                                 setup.empty() ? "" : absl::StrCat("; our setup: ", setup));
    }
    // A claim that our number is far from the row's value ("direct quantization is poor").
    if (check.value("expect_outside_tolerance", false) && row.ours) {
      v.verdict = row.verdict == "holds" ? "does not hold" : "holds";
      absl::StrAppend(&v.detail, "; the claim is that it lies outside the tolerance");
    }
  } else if (kind == "bits_saving") {
    const Json* sweep = results(check.value("result", ""));
    if (sweep == nullptr) {
      v.verdict = "not run";
      v.detail = absl::StrCat("run `", check.value("command", "?"), "`");
      return v;
    }
    const std::string metric = check.value("metric", "top1");
    const double within = check.value("within", 1.0);
    const std::optional<int> better = BestBits(*sweep, check.value("better", ""), metric, within);
    const std::optional<int> baseline = BestBits(*sweep, check.value("baseline", ""), metric, within);
    v.detail = absl::StrFormat("fewest bits within %s points of fp32 %s in %s: %s %s, %s %s", Number(within), metric,
                               check.value("result", ""), check.value("better", ""), BitsText(better),
                               check.value("baseline", ""), BitsText(baseline));
    if (!better) {
      v.verdict = "does not hold";
      absl::StrAppend(&v.detail, "; ", check.value("better", ""), " never gets there");
    } else {
      // A baseline that never gets there needs more than the sweep's widest bit width.
      int widest = 0;
      for (const Json& c : (*sweep)["cells"]) widest = std::max(widest, c.value("bits", 0));
      const int saving = (baseline ? *baseline : widest + 1) - *better;
      const bool holds = saving >= check.value("min_saving", 1) && (!baseline || saving <= check.value("max_saving", 99));
      v.verdict = holds ? "holds" : "does not hold";
      absl::StrAppendFormat(&v.detail, "; saving %s%d bit(s)", baseline ? "" : "at least ", saving);
    }
  } else if (kind == "gap_vs_size") {
    std::vector<std::string> gaps, names;
    std::vector<double> values;
    for (const Json& path : check["results"]) {
      const Json* sweep = results(path.get<std::string>());
      if (sweep == nullptr) {
        v.verdict = "not run";
        v.detail = absl::StrCat(path.get<std::string>(), " missing; run `", check.value("command", "?"), "`");
        return v;
      }
      std::string why;
      Json ours = {{"result", path}, {"quantizer", check["quantizer"]}, {"bits", check["bits"]},
                   {"metric", check.value("metric", "top1")}};
      std::optional<double> q = Ours(ours, results, &why);
      if (!q) {
        v.verdict = "not run";
        v.detail = why;
        return v;
      }
      const double gap = 100.0 * (*sweep)["fp32"][check.value("metric", "top1")].get<double>() - *q;
      values.push_back(gap);
      names.push_back((*sweep)["experiment"].get<std::string>());
      gaps.push_back(absl::StrFormat("%s %.2f", names.back(), gap));
    }
    // "Shrinks" is judged end to end; a gap that grows again between two sizes is named, so a
    // noisy or undertrained size cannot hide behind the first-vs-last comparison.
    const bool shrinks = values.size() >= 2 && values.back() < values.front();
    std::vector<std::string> rises;
    for (size_t i = 1; i < values.size(); ++i) {
      if (values[i] > values[i - 1]) {
        rises.push_back(absl::StrFormat("%s -> %s (+%.2f)", names[i - 1], names[i], values[i] - values[i - 1]));
      }
    }
    v.verdict = !shrinks ? "does not hold" : rises.empty() ? "holds" : "holds end to end, not monotonically";
    v.detail = absl::StrCat("fp32 minus ", check["quantizer"].get<std::string>(), " (", check["bits"].get<int>(),
                            " bits), points, smallest to largest: ", absl::StrJoin(gaps, ", "));
    if (!rises.empty()) absl::StrAppend(&v.detail, "; the gap grows at ", absl::StrJoin(rises, ", "));
  } else {
    v.verdict = "cannot be tested here";
    v.detail = absl::StrCat("needs ", check.value("needs", "?"),
                            check.contains("command") ? absl::StrCat(": `", check["command"].get<std::string>(), "`") : "");
  }
  return v;
}

}  // namespace

std::optional<int> FewestBitsWithin(const std::vector<std::pair<int, double>>& curve, double reference,
                                    double within) {
  std::optional<int> best;
  for (const auto& [bits, value] : curve) {
    if (value >= reference - within && (!best || bits < *best)) best = bits;
  }
  return best;
}

std::vector<std::pair<int, double>> QuantizerCurve(const Json& sweep, const std::string& label,
                                                   const std::string& metric) {
  std::vector<std::pair<int, double>> curve;
  for (const Json& c : sweep["cells"]) {
    if (c.value("quantizer", "") == label && c.contains(metric) && c[metric].is_number()) {
      curve.emplace_back(c["bits"].get<int>(), c[metric].get<double>());
    }
  }
  std::sort(curve.begin(), curve.end());
  return curve;
}

PaperReport RenderPaperReport(const Json& paper, const ResultLookup& results,
                              const std::function<bool(const std::string&)>& figure_exists) {
  PaperReport report;
  std::string& md = report.markdown;
  absl::StrAppend(&md, "# ", paper.value("title", paper.value("paper", "")), "\n\n");
  absl::StrAppend(&md, "Generated by `bazel run //experiments:report` from `experiments/papers/",
                  paper.value("paper", ""), ".json` (numbers and source tags from `", paper.value("summary", ""),
                  "`) and the result files named below. Our numbers are top-1 / top-5 in %; \"not run\" rows give the "
                  "command that produces them.\n\n");
  absl::StrAppend(&md, "## Claims and verdicts\n\n| claim | verdict | evidence |\n|---|---|---|\n");
  for (const Json& claim : paper.value("claims", Json::array())) {
    ClaimVerdict v = JudgeClaim(paper, claim, results);
    absl::StrAppend(&md, "| ", Cell(v.claim), " | **", v.verdict, "** | ", Cell(v.detail), " |\n");
    report.verdicts.push_back(std::move(v));
  }
  for (const Json& table : paper.value("tables", Json::array())) {
    absl::StrAppend(&md, "\n## ", table.value("caption", ""), " ", table.value("source", ""), "\n\n");
    absl::StrAppendFormat(&md, "%s; tolerance ±%s points.\n\n", table.value("unit", ""),
                          Number(table.value("tolerance", 0.0)));
    absl::StrAppend(&md, "| row | paper | ours | difference | our setup where it differs |\n|---|---:|---:|---:|---|\n");
    for (const Json& row : table["rows"]) {
      RowOutcome o = JudgeRow(table, row, results);
      const std::string paper_value = absl::StrCat(Number(row["paper"].get<double>()), " ", row.value("source", ""));
      std::string ours, diff;
      if (o.ours) {
        ours = Number(*o.ours);
        diff = absl::StrFormat("%+.2f", *o.ours - row["paper"].get<double>());
      } else {
        ours = o.verdict;
        diff = "—";
      }
      std::string setup = row.value("setup", "");
      if (o.ours) {
        absl::StrAppend(&setup, setup.empty() ? "" : "; ", "from `", row["ours"].value("result", ""), "`");
      } else {
        absl::StrAppend(&setup, setup.empty() ? "" : "; ", o.detail);
      }
      absl::StrAppend(&md, "| ", Cell(row.value("label", "")), " | ", Cell(paper_value), " | ", ours, " | ", diff, " | ",
                      Cell(setup), " |\n");
    }
  }
  std::vector<std::string> figures;
  for (const Json& f : paper.value("figures", Json::array())) {
    if (figure_exists(f.get<std::string>())) figures.push_back(f.get<std::string>());
  }
  if (!figures.empty()) {
    absl::StrAppend(&md, "\n## Figures\n\n");
    for (const std::string& f : figures) absl::StrAppend(&md, "![", f, "](../", f, ")\n\n");
  }
  return report;
}

std::string BitsToReachMarkdown(const std::vector<std::pair<std::string, Json>>& sweeps) {
  std::string md =
      "Fewest weight bits at which a quantizer comes within 1 (and 5) points of the sweep's fp32 accuracy "
      "(\"never\": no bit width of the sweep gets there), for every labelled sweep in results/. The last "
      "row of each sweep: linear minus exponential, both in their default configuration (linear: per "
      "tensor, max-abs, mid-tread; exponential: MSE base with a zero level; positive = exponential needs fewer "
      "bits). Sweeps of seeded random weights are left out.\n\n"
      "| sweep | quantizer | top-1 within 1 | top-1 within 5 | top-5 within 1 | top-5 within 5 |\n"
      "|---|---|---:|---:|---:|---:|\n";
  for (const auto& [path, sweep] : sweeps) {
    if (!sweep["fp32"].contains("top1") || !sweep["fp32"]["top1"].is_number()) continue;
    // Seeded random weights: accuracy is meaningless there.
    if (sweep["fp32"].contains("weights") && sweep["fp32"]["weights"].value("source", "") == "random_init") continue;
    std::vector<std::string> labels;
    for (const Json& c : sweep["cells"]) {
      const std::string l = c["quantizer"].get<std::string>();
      if (std::find(labels.begin(), labels.end(), l) == labels.end()) labels.push_back(l);
    }
    for (const std::string& label : labels) {
      absl::StrAppend(&md, "| `", path, "` | ", Cell(label), " |");
      for (const char* metric : {"top1", "top5"}) {
        if (!sweep["fp32"].contains(metric) || !sweep["fp32"][metric].is_number()) {
          absl::StrAppend(&md, " — | — |");
          continue;
        }
        std::vector<std::pair<int, double>> curve = QuantizerCurve(sweep, label, metric);
        for (auto& p : curve) p.second *= 100.0;
        for (double within : {1.0, 5.0}) {
          absl::StrAppend(&md, " ", BitsText(FewestBitsWithin(curve, 100.0 * sweep["fp32"][metric].get<double>(), within)),
                          " |");
        }
      }
      absl::StrAppend(&md, "\n");
    }
    bool has_linear = false, has_exp = false;
    for (const Json& c : sweep["cells"]) {
      if (c.contains("params") && !c["params"].empty()) continue;  // default configurations only
      has_linear |= c.value("name", "") == "linear";
      has_exp |= c.value("name", "") == "exponential";
    }
    if (!has_linear || !has_exp) continue;
    absl::StrAppend(&md, "| `", path, "` | **linear − exponential (bits)** |");
    for (const char* metric : {"top1", "top5"}) {
      for (double within : {1.0, 5.0}) {
        std::optional<int> lin = BestBits(sweep, "linear", metric, within);
        std::optional<int> exp = BestBits(sweep, "exponential", metric, within);
        absl::StrAppend(&md, " ", lin && exp ? absl::StrFormat("%+d", *lin - *exp) : std::string("—"), " |");
      }
    }
    absl::StrAppend(&md, "\n");
  }
  return md;
}

std::string PapersIndexMarkdown(const std::vector<std::pair<Json, PaperReport>>& papers,
                                const std::string& bits_to_reach) {
  std::string md =
      "# Paper reproductions\n\nGenerated by `bazel run //experiments:report` from the paper data files in "
      "`experiments/papers/` and the committed results; rerun it after a sweep.\n\n"
      "| paper | claim | verdict | evidence |\n|---|---|---|---|\n";
  for (const auto& [paper, report] : papers) {
    for (const ClaimVerdict& v : report.verdicts) {
      absl::StrAppend(&md, "| [", Cell(paper.value("short", paper.value("paper", ""))), "](", paper.value("paper", ""),
                      ".md) | ", Cell(v.claim), " | **", v.verdict, "** | ", Cell(v.detail), " |\n");
    }
  }
  absl::StrAppend(&md, "\n## Bits to reach fp32, every sweep\n\n", bits_to_reach);
  return md;
}

}  // namespace quantbench
