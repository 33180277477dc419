#include "experiments/plots.h"

#include <expat.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "datasets/test_util.h"
#include "gtest/gtest.h"

namespace quantbench {
namespace {

using Json = nlohmann::json;

Json Cell(const std::string& quantizer, int bits, double top1, double agreement, double sqnr, double effective_bits) {
  return {{"quantizer", quantizer},     {"name", "x"},
          {"bits", bits},               {"top1", top1},
          {"top5", top1},               {"top1_agreement_with_fp32", agreement},
          {"sqnr_db", sqnr},            {"model_bytes", 1000 * bits},
          {"effective_bits_per_weight", effective_bits}};
}

Json Epochs(int n, double first_loss) {
  Json epochs = Json::array();
  for (int e = 1; e <= n; ++e) {
    epochs.push_back({{"epoch", e},
                      {"learning_rate", 0.1 / e},
                      {"train_loss", first_loss / e},
                      {"train_top1", 0.5 + 0.1 * e},
                      {"test_top1", 0.45 + 0.1 * e},
                      {"images_per_second", 100.0},
                      {"seconds", 1.0}});
  }
  return epochs;
}

// A complete (tiny) sweep document as RunSweep writes it: two quantizers at 2-4 bits, one with
// a quote and a backslash in its label, a packed cell, a trained fp32 and one QAT cell.
Json SyntheticSweep(bool labeled) {
  Json cells = Json::array();
  for (int bits = 2; bits <= 4; ++bits) {
    cells.push_back(Cell("linear \"mid\\tread\"", bits, 0.2 * bits, 0.22 * bits, 6.0 * bits, bits + 0.01));
    cells.push_back(Cell("exponential", bits, 0.21 * bits, 0.23 * bits, 5.5 * bits, bits + 0.02));
  }
  cells[0]["packed"] = {{"ms_per_image", 0.5}, {"top1", 0.4}, {"top1_agreement_with_simulated", 1.0},
                        {"model_bytes", 900}};
  cells[2]["packed"] = {{"ms_per_image", 0.6}, {"top1", 0.6}, {"top1_agreement_with_simulated", 1.0},
                        {"model_bytes", 1200}};
  cells[5]["training"] = {{"epochs", Epochs(2, 1.0)}, {"train_seconds", 2.0}};
  Json sweep = {{"schema", "quantbench.sweep/1"},
                {"experiment", "toy_sweep"},
                {"cells", cells},
                {"dataset", {{"dir", "/data/toy_set/images"}, {"examples", 64}, {"kind", "IMAGENET_VAL"}}},
                {"fp32",
                 {{"top1", labeled ? Json(0.9) : Json(nullptr)},
                  {"top5", labeled ? Json(0.99) : Json(nullptr)},
                  {"model_bytes", 32000},
                  {"eval_seconds", 0.032},
                  {"weights", {{"source", "trained"}, {"epochs", Epochs(3, 2.0)}}}}},
                {"environment", {{"git", {{"commit", "0123456789abcdef"}}}, {"host", {{"cpu", "toy"}, {"threads", 2}}}}},
                {"timestamp", "2026-12-03T00:00:00Z"},
                {"wall_seconds", 1.0},
                {"command", "bazel run //experiments:sweep -- --config=toy.pbtxt"}};
  return sweep;
}

const PlotFigure* Find(const std::vector<PlotFigure>& figures, const std::string& name) {
  for (const PlotFigure& f : figures) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

std::vector<std::string> Titles(const PlotFigure& f) {
  std::vector<std::string> out;
  for (const PlotSeries& s : f.series) out.push_back(s.title);
  return out;
}

TEST(SweepFigures, OneSeriesPerQuantizerPlusBaselines) {
  const std::vector<PlotFigure> figures = SweepFigures(SyntheticSweep(/*labeled=*/true));
  std::vector<std::string> names;
  for (const PlotFigure& f : figures) names.push_back(f.name);
  EXPECT_EQ(names, (std::vector<std::string>{"top1_vs_bits", "agreement_vs_bits", "sqnr_vs_bits", "accuracy_vs_size",
                                             "latency_vs_bits", "training_loss", "training_accuracy"}));
  const PlotFigure* top1 = Find(figures, "top1_vs_bits");
  ASSERT_NE(top1, nullptr);
  EXPECT_EQ(Titles(*top1), (std::vector<std::string>{"linear \"mid\\tread\"", "exponential", "fp32 (90.00 %)"}));
  EXPECT_TRUE(top1->series[2].horizontal);
  EXPECT_DOUBLE_EQ(top1->series[2].level, 90.0);
  ASSERT_EQ(top1->series[1].points.size(), 3u);
  EXPECT_DOUBLE_EQ(top1->series[1].points[2].first, 4.0);
  EXPECT_DOUBLE_EQ(top1->series[1].points[2].second, 100.0 * 0.21 * 4);
  EXPECT_NE(top1->title.find("toy_sweep"), std::string::npos);
  EXPECT_NE(top1->title.find("toy_set/images (64 images)"), std::string::npos);
  const PlotFigure* size = Find(figures, "accuracy_vs_size");
  EXPECT_TRUE(size->log_x);
  EXPECT_DOUBLE_EQ(size->series[0].points[0].first, 2.01);
  // Only the quantizer with packed cells, and the fp32 oneDNN line (0.032 s / 64 images).
  const PlotFigure* latency = Find(figures, "latency_vs_bits");
  ASSERT_EQ(latency->series.size(), 2u);
  EXPECT_EQ(latency->series[0].points.size(), 2u);
  EXPECT_DOUBLE_EQ(latency->series[1].level, 0.5);
  const PlotFigure* loss = Find(figures, "training_loss");
  EXPECT_EQ(Titles(*loss), (std::vector<std::string>{"fp32", "exponential, 4 bits"}));
  EXPECT_EQ(loss->series[0].points.size(), 3u);
  EXPECT_DOUBLE_EQ(loss->series[0].points[1].second, 1.0);
  EXPECT_EQ(Find(figures, "training_accuracy")->series.size(), 4u);  // test and train per run
}

TEST(SweepFigures, UnlabeledDataPlotsAgreementAndNoBaseline) {
  Json sweep = SyntheticSweep(/*labeled=*/false);
  sweep["fp32"]["weights"] = {{"source", "onnx"}};
  for (Json& c : sweep["cells"]) {
    c.erase("packed");
    c.erase("training");
  }
  const std::vector<PlotFigure> figures = SweepFigures(sweep);
  EXPECT_EQ(Find(figures, "top1_vs_bits"), nullptr);
  EXPECT_EQ(Find(figures, "latency_vs_bits"), nullptr);
  EXPECT_EQ(Find(figures, "training_loss"), nullptr);
  const PlotFigure* size = Find(figures, "accuracy_vs_size");
  ASSERT_NE(size, nullptr);
  EXPECT_EQ(size->series.size(), 2u);
  EXPECT_NE(size->ylabel.find("agreement"), std::string::npos);
  EXPECT_DOUBLE_EQ(size->series[0].points[0].second, 100.0 * 0.44);
}

TEST(PlotDataFile, OneIndexBlockPerDrawnSeries) {
  const PlotFigure* top1 = nullptr;
  const std::vector<PlotFigure> figures = SweepFigures(SyntheticSweep(true));
  top1 = Find(figures, "top1_vs_bits");
  const std::string data = PlotDataFile(*top1);
  // Two drawn series (the fp32 line is a constant in the script): two blocks of three rows.
  EXPECT_EQ(std::count(data.begin(), data.end(), '#'), 2);
  EXPECT_NE(data.find("2 40\n3 60\n4 80\n"), std::string::npos) << data;
}

// What the SVG holds: whether expat accepted it, its root element, and the plotted series
// (gnuplot writes each as <g id="gnuplot_plot_N">, holding its legend <text> and its <path>).
struct SvgSummary {
  bool well_formed = false;
  std::string root;
  std::vector<std::string> series;  // legend text of each plot group
  int drawn = 0;                    // plot groups holding a path
};

struct SvgParse {
  SvgSummary summary;
  int depth = 0;
  int plot_depth = -1;       // depth of the open gnuplot_plot group, -1 outside one
  bool plot_has_title = false, plot_has_path = false;
  bool in_legend_text = false;
};

SvgSummary ParseSvg(const std::string& text) {
  SvgParse state;
  XML_Parser parser = XML_ParserCreate("UTF-8");
  XML_SetUserData(parser, &state);
  XML_SetElementHandler(
      parser,
      [](void* data, const XML_Char* name, const XML_Char** attributes) {
        auto* s = static_cast<SvgParse*>(data);
        const std::string element = name;
        if (s->depth++ == 0) s->summary.root = element;
        if (s->plot_depth >= 0) {
          if (element == "text" && !s->plot_has_title) {
            s->plot_has_title = s->in_legend_text = true;
            s->summary.series.emplace_back();
          }
          if (element == "path" && !s->plot_has_path) {
            s->plot_has_path = true;
            ++s->summary.drawn;
          }
          return;
        }
        if (element != "g") return;
        for (int i = 0; attributes[i] != nullptr; i += 2) {
          if (std::string(attributes[i]) == "id" && absl::StartsWith(attributes[i + 1], "gnuplot_plot_")) {
            s->plot_depth = s->depth;
            s->plot_has_title = s->plot_has_path = false;
          }
        }
      },
      [](void* data, const XML_Char*) {
        auto* s = static_cast<SvgParse*>(data);
        if (s->depth == s->plot_depth) s->plot_depth = -1;
        --s->depth;
        s->in_legend_text = false;
      });
  XML_SetCharacterDataHandler(parser, [](void* data, const XML_Char* chars, int length) {
    auto* s = static_cast<SvgParse*>(data);
    if (s->in_legend_text) s->summary.series.back().append(chars, length);
  });
  state.summary.well_formed = XML_Parse(parser, text.data(), static_cast<int>(text.size()), /*isFinal=*/1) == XML_STATUS_OK;
  XML_ParserFree(parser);
  return state.summary;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(WriteSweepPlots, GnuplotWritesValidSvgWithEverySeries) {
  if (FindExecutable("gnuplot").empty()) GTEST_SKIP() << "gnuplot not on PATH (Debian package gnuplot-nox)";
  const std::string dir = FreshTestDir("plots_svg");
  const Json sweep = SyntheticSweep(true);
  PlotOptions options;
  options.png = true;
  absl::StatusOr<PlotFiles> files = WriteSweepPlots(sweep, dir + "/toy.json", options);
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_FALSE(files->skipped);
  const std::vector<PlotFigure> figures = SweepFigures(sweep);
  ASSERT_EQ(files->svgs.size(), figures.size());
  EXPECT_EQ(files->files.size(), 2 * figures.size());
  for (size_t i = 0; i < figures.size(); ++i) {
    EXPECT_EQ(files->svgs[i], dir + "/toy." + figures[i].name + ".svg");
    const SvgSummary svg = ParseSvg(ReadFile(files->svgs[i]));
    EXPECT_TRUE(svg.well_formed) << files->svgs[i];
    EXPECT_EQ(svg.root, "svg");
    EXPECT_EQ(svg.series, Titles(figures[i])) << figures[i].name;
    EXPECT_EQ(svg.drawn, static_cast<int>(figures[i].series.size())) << figures[i].name;
    const std::string png = ReadFile(dir + "/toy." + figures[i].name + ".png");
    ASSERT_GT(png.size(), 8u);
    EXPECT_EQ(png.substr(1, 3), "PNG");
  }
  // Only the figures are left beside the JSON: no data, scripts or temporary files.
  int entries = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    ++entries;
    EXPECT_TRUE(absl::EndsWith(entry.path().string(), ".svg") || absl::EndsWith(entry.path().string(), ".png"))
        << entry.path();
  }
  EXPECT_EQ(entries, static_cast<int>(files->files.size()));
}

TEST(WriteMarkdownAndFigures, MarkdownListsTheFigures) {
  if (FindExecutable("gnuplot").empty()) GTEST_SKIP() << "gnuplot not on PATH (Debian package gnuplot-nox)";
  const std::string dir = FreshTestDir("plots_md");
  ASSERT_TRUE(WriteMarkdownAndFigures(SyntheticSweep(true), dir + "/toy.json", PlotOptions{}, nullptr).ok());
  const std::string md = ReadFile(dir + "/toy.md");
  EXPECT_NE(md.find("## Figures\n\n- [top-1 accuracy vs weight bits](toy.top1_vs_bits.svg)\n"), std::string::npos)
      << md;
  EXPECT_NE(md.find("(toy.training_loss.svg)"), std::string::npos);
}

TEST(WriteSweepPlots, MissingGnuplotSkipsWithOneLine) {
  const std::string dir = FreshTestDir("plots_missing");
  // Named by a path that does not exist, and by name on a PATH without it.
  PlotOptions by_path;
  by_path.gnuplot = dir + "/no/gnuplot";
  absl::StatusOr<PlotFiles> files = WriteSweepPlots(SyntheticSweep(true), dir + "/toy.json", by_path);
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_TRUE(files->skipped);
  EXPECT_TRUE(files->files.empty());
  EXPECT_NE(files->skipped_because.find("gnuplot-nox"), std::string::npos);

  const std::string saved_path = std::getenv("PATH") ? std::getenv("PATH") : "";
  setenv("PATH", dir.c_str(), 1);
  EXPECT_EQ(FindExecutable("gnuplot"), "");
  std::FILE* log = std::tmpfile();
  ASSERT_NE(log, nullptr);
  const absl::Status written = WriteMarkdownAndFigures(SyntheticSweep(true), dir + "/toy.json", PlotOptions{}, log);
  setenv("PATH", saved_path.c_str(), 1);
  EXPECT_TRUE(written.ok()) << written;
  std::rewind(log);
  std::string logged;
  for (int c; (c = std::fgetc(log)) != EOF;) logged += static_cast<char>(c);
  std::fclose(log);
  EXPECT_EQ(std::count(logged.begin(), logged.end(), '\n'), 1) << logged;
  EXPECT_NE(logged.find("plots skipped"), std::string::npos);
  const std::string md = ReadFile(dir + "/toy.md");
  EXPECT_NE(md.find("# toy_sweep"), std::string::npos);
  EXPECT_EQ(md.find("## Figures"), std::string::npos);
  int entries = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) entries += entry.is_regular_file();
  EXPECT_EQ(entries, 1);  // the Markdown alone
}

TEST(WriteSweepPlots, FailingGnuplotIsAnError) {
  const std::string dir = FreshTestDir("plots_fail");
  PlotOptions options;
  options.gnuplot = "/bin/false";
  absl::StatusOr<PlotFiles> files = WriteSweepPlots(SyntheticSweep(true), dir + "/toy.json", options);
  ASSERT_FALSE(files.ok());
  EXPECT_NE(files.status().message().find("/bin/false failed"), std::string::npos) << files.status();
  EXPECT_TRUE(std::filesystem::is_empty(dir));
}

}  // namespace
}  // namespace quantbench
