// Figures of a sweep's result JSON, drawn by gnuplot (Debian gnuplot-nox) into SVG (and, when
// asked, PNG) files beside the .json: results/x.json -> results/x.top1_vs_bits.svg, ...
//
// The figures are described first as data (SweepFigures: pure, testable), then rendered: the
// data file and the gnuplot script go to a temporary directory, gnuplot runs there, and each
// output is moved into place with WriteFileAtomically, so a reader never sees half a figure.
// No gnuplot on the machine is not an error: the result says plots were skipped and why.
//
// To add a figure: build one more PlotFigure in SweepFigures (plots.cc) from the sweep's keys;
// the renderer, file naming and the Markdown "Figures" list pick it up.
#ifndef QUANTBENCH_EXPERIMENTS_PLOTS_H_
#define QUANTBENCH_EXPERIMENTS_PLOTS_H_

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace quantbench {

// One line of a figure: (x, y) points in drawing order, or a constant (a horizontal line
// across the plot, e.g. the fp32 baseline).
struct PlotSeries {
  std::string title;
  std::vector<std::pair<double, double>> points;
  bool horizontal = false;
  double level = 0.0;  // y of a horizontal line
};

struct PlotFigure {
  std::string name;     // file-name part: results/x.<name>.svg
  std::string caption;  // what is plotted, e.g. "top-1 accuracy vs weight bits"
  std::string title;    // the experiment, the data set and the caption
  std::string xlabel, ylabel;  // with units
  bool log_x = false;
  bool integer_x = false;  // bit widths: one tic per integer
  std::vector<PlotSeries> series;
};

// Every figure the sweep's keys support: top-1 vs bits (labelled data), top-1 agreement with
// fp32 vs bits, weight SQNR vs bits, accuracy (or agreement) vs effective bits per weight on a
// log axis, packed latency vs bits when packed cells exist, and for runs trained here (fp32
// weights and quantization-aware cells) training loss and accuracy per epoch. One series per
// quantizer label in first-seen order; figures with no points are left out.
std::vector<PlotFigure> SweepFigures(const nlohmann::json& sweep);

// The gnuplot script drawing `figure` from `data_path` (one index block per series, as
// PlotDataFile writes it) into `svg_path`, and into `png_path` when it is not empty.
std::string PlotScript(const PlotFigure& figure, const std::string& data_path, const std::string& svg_path,
                       const std::string& png_path);
std::string PlotDataFile(const PlotFigure& figure);

struct PlotOptions {
  // gnuplot's name (looked up on $PATH) or a path to it; tests name a missing one.
  std::string gnuplot = "gnuplot";
  // PNGs too (for a README or a quick look); SVG is always written. Off by default: results/
  // keeps the SVGs, and PNGs only where a README shows them.
  bool png = false;
};

struct PlotFiles {
  bool skipped = false;
  std::string skipped_because;     // one line for the log when skipped
  std::vector<std::string> files;  // written paths, SVG then PNG per figure
  std::vector<std::string> svgs;   // the SVG paths alone (the Markdown links them)
  std::vector<std::string> captions;  // one per SVG
};

// The executable `name` resolves to: itself if it contains '/', else the first match on $PATH;
// "" when there is none.
std::string FindExecutable(const std::string& name);

// Renders SweepFigures(sweep) beside `json_path`. Errors are gnuplot failures and unwritable
// outputs; a missing gnuplot gives skipped = true instead.
absl::StatusOr<PlotFiles> WriteSweepPlots(const nlohmann::json& sweep, const std::string& json_path,
                                          const PlotOptions& options = {});

// The figures, then the Markdown beside `json_path` with a "Figures" list of those written.
// A missing gnuplot logs one line to `log` and the Markdown is written without figures; a
// gnuplot failure is returned, after the Markdown has been written.
absl::Status WriteMarkdownAndFigures(const nlohmann::json& sweep, const std::string& json_path,
                                     const PlotOptions& options, std::FILE* log);

// `results/x.json` + figure name -> `results/x.<name>.svg` (ext without the dot).
std::string FigurePathFor(const std::string& json_path, const std::string& figure_name, const std::string& ext);

}  // namespace quantbench

#endif  // QUANTBENCH_EXPERIMENTS_PLOTS_H_
