#include "experiments/plots.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "experiments/result_files.h"
#include "kernels/atomic_file.h"
#include "kernels/status_macros.h"

extern char** environ;

namespace quantbench {
namespace {

using Json = nlohmann::json;

// "imagenet_val_1300 (1300 images)": the data folder's name (its parent too when the folder is
// a generic "images" / "val" / "test"), and how many examples were evaluated.
std::string DatasetLabel(const Json& sweep) {
  const Json& dataset = sweep.value("dataset", Json::object());
  std::string dir = dataset.value("dir", "");
  if (dir.empty()) {  // idx files: the folder of the images file
    const std::string images = dataset.value("images", "");
    dir = images.substr(0, images.find_last_of('/') == std::string::npos ? 0 : images.find_last_of('/'));
  }
  while (!dir.empty() && dir.back() == '/') dir.pop_back();
  std::vector<std::string> parts = absl::StrSplit(dir, '/', absl::SkipEmpty());
  std::string name = parts.empty() ? dataset.value("kind", "data") : parts.back();
  if (parts.size() >= 2 && (name == "images" || name == "val" || name == "test" || name == "train")) {
    name = absl::StrCat(parts[parts.size() - 2], "/", name);
  }
  if (dataset.contains("examples") && dataset["examples"].is_number()) {
    absl::StrAppend(&name, " (", dataset["examples"].get<int64_t>(), " images)");
  }
  return name;
}

bool Labeled(const Json& sweep) {
  return sweep.contains("fp32") && sweep["fp32"].contains("top1") && sweep["fp32"]["top1"].is_number();
}

// A figure with one series per quantizer label (first-seen order) and y = value(cell), x = x(cell);
// cells where either returns false are left out; points sorted by x.
PlotFigure PerQuantizer(const Json& sweep, const std::string& name, const std::string& caption,
                        const std::string& xlabel, const std::string& ylabel,
                        const std::function<bool(const Json&, double*)>& x,
                        const std::function<bool(const Json&, double*)>& y) {
  PlotFigure figure;
  figure.name = name;
  figure.caption = caption;
  figure.title = absl::StrCat(sweep.value("experiment", "sweep"), " — ", DatasetLabel(sweep), "\n", caption);
  figure.xlabel = xlabel;
  figure.ylabel = ylabel;
  std::map<std::string, size_t> index;
  for (const Json& cell : sweep.value("cells", Json::array())) {
    double xv, yv;
    if (!cell.contains("quantizer") || !x(cell, &xv) || !y(cell, &yv)) continue;
    const std::string label = cell["quantizer"].get<std::string>();
    auto it = index.find(label);
    if (it == index.end()) {
      it = index.emplace(label, figure.series.size()).first;
      figure.series.push_back(PlotSeries{label, {}});
    }
    figure.series[it->second].points.emplace_back(xv, yv);
  }
  for (PlotSeries& s : figure.series) std::sort(s.points.begin(), s.points.end());
  return figure;
}

// Reads a number at `keys` (nested) into *out, scaled; false when absent or not a number.
std::function<bool(const Json&, double*)> Number(std::vector<std::string> keys, double scale = 1.0) {
  return [keys, scale](const Json& cell, double* out) {
    const Json* j = &cell;
    for (const std::string& k : keys) {
      if (!j->is_object() || !j->contains(k)) return false;
      j = &(*j)[k];
    }
    if (!j->is_number()) return false;
    *out = scale * j->get<double>();
    return true;
  };
}

PlotSeries Horizontal(const std::string& title, double level) {
  PlotSeries s;
  s.title = title;
  s.horizontal = true;
  s.level = level;
  return s;
}

// The runs trained here: the fp32 weights (when trained) and every quantization-aware cell.
std::vector<std::pair<std::string, const Json*>> TrainingRuns(const Json& sweep) {
  std::vector<std::pair<std::string, const Json*>> runs;
  const Json* weights = sweep.contains("fp32") ? &sweep["fp32"]["weights"] : nullptr;
  if (weights != nullptr && weights->is_object() && weights->contains("epochs") && (*weights)["epochs"].is_array() &&
      !(*weights)["epochs"].empty()) {
    runs.emplace_back("fp32", weights);
  }
  if (!sweep.contains("cells") || !sweep["cells"].is_array()) return runs;
  // By reference: the pointers kept must outlive the loop.
  for (const Json& cell : sweep["cells"]) {
    if (!cell.contains("training") || !cell["training"].contains("epochs") || cell["training"]["epochs"].empty()) {
      continue;
    }
    runs.emplace_back(absl::StrFormat("%s, %d bits", cell["quantizer"].get<std::string>(), cell["bits"].get<int>()),
                      &cell["training"]);
  }
  return runs;
}

PlotFigure TrainingFigure(const Json& sweep, const std::string& name, const std::string& caption,
                          const std::string& ylabel) {
  PlotFigure figure;
  figure.name = name;
  figure.caption = caption;
  figure.title = absl::StrCat(sweep.value("experiment", "sweep"), " — ", DatasetLabel(sweep), "\n", caption);
  figure.xlabel = "epoch";
  figure.ylabel = ylabel;
  figure.integer_x = true;
  return figure;
}

// Epoch curve of `key` (scaled) in `run`; empty when no epoch has it.
PlotSeries EpochSeries(const std::string& title, const Json& run, const std::string& key, double scale) {
  PlotSeries s;
  s.title = title;
  for (const Json& e : run["epochs"]) {
    if (e.contains(key) && e[key].is_number() && e.contains("epoch")) {
      s.points.emplace_back(e["epoch"].get<double>(), scale * e[key].get<double>());
    }
  }
  return s;
}

void AddIfPlotted(PlotFigure figure, std::vector<PlotFigure>* out) {
  bool any = false;
  for (const PlotSeries& s : figure.series) any |= !s.horizontal && !s.points.empty();
  if (!any) return;
  figure.series.erase(std::remove_if(figure.series.begin(), figure.series.end(),
                                     [](const PlotSeries& s) { return !s.horizontal && s.points.empty(); }),
                      figure.series.end());
  out->push_back(std::move(figure));
}

}  // namespace

std::vector<PlotFigure> SweepFigures(const Json& sweep) {
  std::vector<PlotFigure> figures;
  const auto bits = Number({"bits"});
  const std::string bits_label = "weight bits (code width)";
  const bool labeled = Labeled(sweep);
  if (labeled) {
    PlotFigure f = PerQuantizer(sweep, "top1_vs_bits", "top-1 accuracy vs weight bits", bits_label,
                                "top-1 accuracy (%)", bits, Number({"top1"}, 100.0));
    f.integer_x = true;
    f.series.push_back(Horizontal(absl::StrFormat("fp32 (%.2f %%)", 100.0 * sweep["fp32"]["top1"].get<double>()),
                                  100.0 * sweep["fp32"]["top1"].get<double>()));
    AddIfPlotted(std::move(f), &figures);
  }
  {
    PlotFigure f = PerQuantizer(sweep, "agreement_vs_bits", "top-1 agreement with fp32 vs weight bits", bits_label,
                                "top-1 agreement with fp32 (%)", bits, Number({"top1_agreement_with_fp32"}, 100.0));
    f.integer_x = true;
    AddIfPlotted(std::move(f), &figures);
  }
  {
    PlotFigure f = PerQuantizer(sweep, "sqnr_vs_bits", "weight SQNR vs weight bits", bits_label,
                                "weight SQNR (dB)", bits, Number({"sqnr_db"}));
    f.integer_x = true;
    AddIfPlotted(std::move(f), &figures);
  }
  {
    // Storage on the x axis: methods with scales, tables or several terms per weight are
    // compared at what they really cost.
    const std::string quality = labeled ? "top-1 accuracy (%)" : "top-1 agreement with fp32 (%)";
    const auto positive_bits = [](const Json& cell, double* out) {
      return Number({"effective_bits_per_weight"})(cell, out) && *out > 0.0;
    };
    PlotFigure f = PerQuantizer(sweep, "accuracy_vs_size",
                                labeled ? "top-1 accuracy vs storage per weight"
                                        : "top-1 agreement with fp32 vs storage per weight",
                                "effective bits per quantized weight (codes + scales / tables; log scale)", quality,
                                positive_bits, Number({labeled ? "top1" : "top1_agreement_with_fp32"}, 100.0));
    f.log_x = true;
    if (labeled) {
      f.series.push_back(Horizontal(absl::StrFormat("fp32 (%.2f %%, 32 bits)", 100.0 * sweep["fp32"]["top1"].get<double>()),
                                    100.0 * sweep["fp32"]["top1"].get<double>()));
    }
    AddIfPlotted(std::move(f), &figures);
  }
  {
    PlotFigure f = PerQuantizer(sweep, "latency_vs_bits", "packed forward latency vs weight bits", bits_label,
                                "latency (ms per image)", bits, Number({"packed", "ms_per_image"}));
    f.integer_x = true;
    const Json& fp32 = sweep.value("fp32", Json::object());
    const Json& dataset = sweep.value("dataset", Json::object());
    if (fp32.contains("eval_seconds") && fp32["eval_seconds"].is_number() && dataset.contains("examples") &&
        dataset["examples"].is_number() && dataset["examples"].get<double>() > 0) {
      const double ms = 1e3 * fp32["eval_seconds"].get<double>() / dataset["examples"].get<double>();
      f.series.push_back(Horizontal(absl::StrFormat("fp32 oneDNN (%.3f ms)", ms), ms));
    }
    AddIfPlotted(std::move(f), &figures);
  }
  const auto runs = TrainingRuns(sweep);
  if (!runs.empty()) {
    PlotFigure loss = TrainingFigure(sweep, "training_loss", "training loss per epoch", "training loss (mean over the epoch)");
    PlotFigure accuracy = TrainingFigure(sweep, "training_accuracy", "accuracy per epoch", "top-1 accuracy (%)");
    for (const auto& [title, run] : runs) {
      loss.series.push_back(EpochSeries(title, *run, "train_loss", 1.0));
      accuracy.series.push_back(EpochSeries(title + ": test", *run, "test_top1", 100.0));
      accuracy.series.push_back(EpochSeries(title + ": train (running, over the epoch)", *run, "train_top1", 100.0));
    }
    AddIfPlotted(std::move(loss), &figures);
    AddIfPlotted(std::move(accuracy), &figures);
  }
  return figures;
}

namespace {

// A gnuplot double-quoted string: backslash and quote escaped, newlines kept as "\n".
std::string Quoted(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// Line styles: colour and dash pattern change at different periods (9 and 5), so the first
// 45 series differ in both; the point type changes too.
constexpr const char* kColours[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                    "#8c564b", "#e377c2", "#17becf", "#7f7f7f"};

std::string Style(size_t i) {
  return absl::StrFormat("lc rgb '%s' dt %d pt %d lw 2 ps 1.1", kColours[i % 9], static_cast<int>(i % 5) + 1,
                         static_cast<int>(i % 12) + 1);
}

}  // namespace

std::string PlotDataFile(const PlotFigure& figure) {
  std::string out;
  int block = 0;
  for (const PlotSeries& s : figure.series) {
    if (s.horizontal) continue;
    absl::StrAppend(&out, "# ", block++, ": ", absl::StrReplaceAll(s.title, {{"\n", " "}}), "\n");
    for (const auto& [x, y] : s.points) absl::StrAppendFormat(&out, "%.10g %.10g\n", x, y);
    absl::StrAppend(&out, "\n\n");  // two blank lines end a gnuplot index block
  }
  return out;
}

std::string PlotScript(const PlotFigure& figure, const std::string& data_path, const std::string& svg_path,
                       const std::string& png_path) {
  std::string s;
  // Enhanced text would turn "_" in names into subscripts.
  absl::StrAppend(&s, "set terminal svg size 1100,600 dynamic noenhanced font 'sans,13' background rgb 'white'\n");
  absl::StrAppend(&s, "set output ", Quoted(svg_path), "\n");
  absl::StrAppend(&s, "set title ", Quoted(figure.title), "\n");
  absl::StrAppend(&s, "set xlabel ", Quoted(figure.xlabel), "\nset ylabel ", Quoted(figure.ylabel), "\n");
  // The legend sits right of the plot area, never over the curves.
  absl::StrAppend(&s, "set key outside right top vertical Left reverse box samplen 4 spacing 1.1\n");
  absl::StrAppend(&s, "set grid lc rgb '#dddddd'\nset border 3\nset tics nomirror\n");
  if (figure.log_x) {
    absl::StrAppend(&s, "set logscale x 2\nset xtics (1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 32)\nset autoscale xfix\nset offsets graph 0.03, graph 0.03, 0, 0\n");
  } else if (figure.integer_x) {
    absl::StrAppend(&s, "set xtics 1\nset autoscale xfix\nset offsets 0.3, 0.3, 0, 0\n");
  }
  std::vector<std::string> items;
  size_t block = 0, style = 0;
  for (const PlotSeries& series : figure.series) {
    if (series.horizontal) {
      items.push_back(absl::StrFormat("%.10g with lines lc rgb 'black' dt (12,6,3,6) lw 2 title %s", series.level,
                                      Quoted(series.title)));
    } else {
      items.push_back(absl::StrFormat("%s index %d using 1:2 with linespoints %s title %s", Quoted(data_path), block++,
                                      Style(style++), Quoted(series.title)));
    }
  }
  absl::StrAppend(&s, "plot ", absl::StrJoin(items, ", \\\n     "), "\n");
  if (!png_path.empty()) {
    absl::StrAppend(&s, "set terminal pngcairo size 1400,760 noenhanced font 'sans,12' background rgb 'white'\n");
    absl::StrAppend(&s, "set output ", Quoted(png_path), "\nreplot\n");
  }
  absl::StrAppend(&s, "unset output\n");
  return s;
}

std::string FindExecutable(const std::string& name) {
  if (name.empty()) return "";
  if (name.find('/') != std::string::npos) return access(name.c_str(), X_OK) == 0 ? name : "";
  const char* path = std::getenv("PATH");
  if (path == nullptr) return "";
  for (absl::string_view dir : absl::StrSplit(path, ':', absl::SkipEmpty())) {
    std::string candidate = absl::StrCat(dir, "/", name);
    if (access(candidate.c_str(), X_OK) == 0 && !std::filesystem::is_directory(candidate)) return candidate;
  }
  return "";
}

std::string FigurePathFor(const std::string& json_path, const std::string& figure_name, const std::string& ext) {
  std::string stem = absl::EndsWith(json_path, ".json") ? json_path.substr(0, json_path.size() - 5) : json_path;
  return absl::StrCat(stem, ".", figure_name, ".", ext);
}

namespace {

// A temporary directory removed with everything in it when this goes out of scope.
class TempDir {
 public:
  static absl::StatusOr<TempDir> Make() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = absl::StrCat(base != nullptr && *base != '\0' ? base : "/tmp", "/quantbench_plots_XXXXXX");
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    if (mkdtemp(buffer.data()) == nullptr) {
      return absl::InternalError(absl::StrCat(pattern, ": cannot create a temporary directory: ", std::strerror(errno)));
    }
    return TempDir(buffer.data());
  }
  TempDir(TempDir&& other) noexcept : path_(std::move(other.path_)) { other.path_.clear(); }
  TempDir(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  explicit TempDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

absl::StatusOr<std::string> ReadWhole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": not written"));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Runs `gnuplot script` with stdout and stderr into `log_path`; the log's tail on failure.
absl::Status RunGnuplot(const std::string& gnuplot, const std::string& script, const std::string& log_path) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<char*> argv = {const_cast<char*>(gnuplot.c_str()), const_cast<char*>(script.c_str()), nullptr};
  pid_t pid;
  const int spawned = posix_spawn(&pid, gnuplot.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) return absl::InternalError(absl::StrCat(gnuplot, ": cannot run: ", std::strerror(spawned)));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return absl::InternalError(absl::StrCat(gnuplot, ": waitpid: ", std::strerror(errno)));
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return absl::OkStatus();
  std::string log = ReadWhole(log_path).value_or("");
  if (log.size() > 600) log = "..." + log.substr(log.size() - 600);
  return absl::InternalError(absl::StrCat(gnuplot, " failed on ", script, ": ", log));
}

}  // namespace

absl::StatusOr<PlotFiles> WriteSweepPlots(const Json& sweep, const std::string& json_path, const PlotOptions& options) {
  PlotFiles result;
  const std::string gnuplot = FindExecutable(options.gnuplot);
  if (gnuplot.empty()) {
    result.skipped = true;
    result.skipped_because = absl::StrCat("plots skipped: no '", options.gnuplot,
                                          "' on PATH (Debian's gnuplot-nox package gives them; tools/setup.sh installs it)");
    return result;
  }
  QB_ASSIGN_OR_RETURN(TempDir dir, TempDir::Make());
  for (const PlotFigure& figure : SweepFigures(sweep)) {
    const std::string base = absl::StrCat(dir.path(), "/", figure.name);
    const std::string svg = base + ".svg", png = options.png ? base + ".png" : "";
    QB_RETURN_IF_ERROR(WriteFileAtomically(base + ".dat", PlotDataFile(figure)));
    QB_RETURN_IF_ERROR(WriteFileAtomically(base + ".gp", PlotScript(figure, base + ".dat", svg, png)));
    QB_RETURN_IF_ERROR(RunGnuplot(gnuplot, base + ".gp", base + ".log"));
    std::vector<std::pair<std::string, std::string>> outputs = {{svg, "svg"}};
    if (!png.empty()) outputs.emplace_back(png, "png");
    for (const auto& [made, ext] : outputs) {
      QB_ASSIGN_OR_RETURN(std::string bytes, ReadWhole(made));
      const std::string target = FigurePathFor(json_path, figure.name, ext);
      QB_RETURN_IF_ERROR(WriteFileAtomically(target, bytes));
      result.files.push_back(target);
      if (ext == "svg") {
        result.svgs.push_back(target);
        result.captions.push_back(figure.caption);
      }
    }
  }
  return result;
}

absl::Status WriteMarkdownAndFigures(const Json& sweep, const std::string& json_path, const PlotOptions& options,
                                     std::FILE* log) {
  absl::StatusOr<PlotFiles> plots = WriteSweepPlots(sweep, json_path, options);
  std::vector<std::pair<std::string, std::string>> figures;  // caption, link relative to the .md
  if (plots.ok() && plots->skipped) {
    if (log != nullptr) std::fprintf(log, "%s\n", plots->skipped_because.c_str());
  } else if (plots.ok()) {
    for (size_t i = 0; i < plots->svgs.size(); ++i) {
      figures.emplace_back(plots->captions[i], std::filesystem::path(plots->svgs[i]).filename().string());
    }
  }
  QB_RETURN_IF_ERROR(WriteFileAtomically(MarkdownPathFor(json_path), SweepMarkdown(sweep, figures)));
  return plots.status();
}

}  // namespace quantbench
