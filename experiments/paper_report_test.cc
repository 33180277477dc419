#include "experiments/paper_report.h"

#include <map>
#include <string>

#include "gtest/gtest.h"

namespace quantbench {
namespace {

using Json = nlohmann::json;

TEST(FewestBitsWithin, FirstBitWidthThatGetsThere) {
  // Hand-made curve, unsorted on purpose: 2 -> 10, 3 -> 85, 4 -> 89.5, 5 -> 90.
  const std::vector<std::pair<int, double>> curve = {{4, 89.5}, {2, 10.0}, {5, 90.0}, {3, 85.0}};
  EXPECT_EQ(FewestBitsWithin(curve, 90.0, 1.0), 4);
  EXPECT_EQ(FewestBitsWithin(curve, 90.0, 5.0), 3);
  EXPECT_EQ(FewestBitsWithin(curve, 90.0, 100.0), 2);
  EXPECT_EQ(FewestBitsWithin(curve, 90.0, 0.0), 5);
}

TEST(FewestBitsWithin, CurveThatNeverReachesTheTarget) {
  EXPECT_FALSE(FewestBitsWithin({{2, 10.0}, {8, 80.0}}, 90.0, 1.0).has_value());
  EXPECT_FALSE(FewestBitsWithin({}, 90.0, 1.0).has_value());
}

Json Sweep() {
  Json cells = Json::array();
  // linear reaches fp32 - 1 at 5 bits (fp32 - 5 at 4), exponential both at 3; binary never.
  const std::map<int, double> linear = {{2, 0.10}, {3, 0.50}, {4, 0.86}, {5, 0.895}};
  const std::map<int, double> exponential = {{2, 0.30}, {3, 0.895}, {4, 0.90}, {5, 0.90}};
  for (const auto& [b, v] : linear) cells.push_back({{"quantizer", "linear (mid-tread)"}, {"name", "linear"}, {"bits", b}, {"top1", v}, {"top5", v}});
  for (const auto& [b, v] : exponential) cells.push_back({{"quantizer", "exponential (MSE)"}, {"name", "exponential"}, {"bits", b}, {"top1", v}, {"top5", v}});
  // A clipped per-channel linear variant reaching fp32 at 2 bits: not the default configuration,
  // so it does not enter linear - exponential.
  cells.push_back({{"quantizer", "linear (per-channel)"}, {"name", "linear"}, {"params", {{"granularity", "per_channel"}}},
                   {"bits", 2}, {"top1", 0.9}, {"top5", 0.9}});
  cells.push_back({{"quantizer", "binary"}, {"name", "binary"}, {"bits", 1}, {"top1", 0.2}, {"top5", 0.4}});
  return {{"schema", "quantbench.sweep/1"}, {"experiment", "toy"}, {"fp32", {{"top1", 0.90}, {"top5", 0.90}}}, {"cells", cells}};
}

Json Paper() {
  return Json::parse(R"json({
    "paper": "toy_paper", "title": "Toy paper", "summary": "../shared/papers/toy.md",
    "claims": [
      {"text": "exponential saves 1-2 bits", "source": "[SEED]",
       "check": {"kind": "bits_saving", "result": "results/toy.json", "better": "exponential", "baseline": "linear",
                 "metric": "top1", "within": 1.0, "min_saving": 1, "max_saving": 2, "command": "make toy"}},
      {"text": "row one", "source": "[SEED]", "check": {"kind": "row", "table": 0, "row": 0}},
      {"text": "row two", "source": "[SEED]", "check": {"kind": "row", "table": 0, "row": 1}},
      {"text": "needs ImageNet", "source": "[BOOK]", "check": {"kind": "untestable", "needs": "ImageNet val", "command": "bring it"}}
    ],
    "tables": [{"caption": "Table 1", "source": "[SEED]", "unit": "top-1 (%)", "tolerance": 1.0, "rows": [
      {"label": "exp 3 bits", "paper": 89.0, "source": "[SEED]",
       "ours": {"result": "results/toy.json", "quantizer": "exponential (MSE)", "bits": 3, "metric": "top1"}, "command": "make toy"},
      {"label": "other net", "paper": 70.0, "source": "[BOOK]",
       "ours": {"result": "results/absent.json", "quantizer": "fp32", "metric": "top1"}, "command": "bazel run //experiments:sweep -- --config=absent.pbtxt"}
    ]}],
    "figures": ["toy.top1_vs_bits.svg", "missing.svg"]
  })json");
}

TEST(RenderPaperReport, PresentResultFillsTheRowAbsentOneSaysNotRunWithItsCommand) {
  const Json sweep = Sweep();
  const ResultLookup lookup = [&](const std::string& path) { return path == "results/toy.json" ? &sweep : nullptr; };
  const PaperReport report =
      RenderPaperReport(Paper(), lookup, [](const std::string& name) { return name == "toy.top1_vs_bits.svg"; });
  ASSERT_EQ(report.verdicts.size(), 4u);
  EXPECT_EQ(report.verdicts[0].verdict, "holds") << report.verdicts[0].detail;  // 5 - 3 = 2 bits
  EXPECT_NE(report.verdicts[0].detail.find("saving 2 bit"), std::string::npos) << report.verdicts[0].detail;
  EXPECT_EQ(report.verdicts[1].verdict, "holds");  // 89.50 vs 89.00
  EXPECT_EQ(report.verdicts[2].verdict, "not run");
  EXPECT_NE(report.verdicts[2].detail.find("bazel run //experiments:sweep -- --config=absent.pbtxt"), std::string::npos);
  EXPECT_EQ(report.verdicts[3].verdict, "cannot be tested here");
  EXPECT_NE(report.verdicts[3].detail.find("ImageNet val"), std::string::npos);
  const std::string& md = report.markdown;
  EXPECT_NE(md.find("| exp 3 bits | 89.00 [SEED] | 89.50 | +0.50 | from `results/toy.json` |"), std::string::npos) << md;
  EXPECT_NE(md.find("| other net | 70.00 [BOOK] | not run | — | run `bazel run //experiments:sweep -- --config=absent.pbtxt` |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("](../toy.top1_vs_bits.svg)"), std::string::npos);
  EXPECT_EQ(md.find("missing.svg"), std::string::npos);
}

TEST(RenderPaperReport, BitsSavingOutsideTheClaimedRangeDoesNotHold) {
  Json paper = Paper();
  paper["claims"][0]["check"]["max_saving"] = 1;
  const Json sweep = Sweep();
  const PaperReport report = RenderPaperReport(
      paper, [&](const std::string&) { return &sweep; }, [](const std::string&) { return false; });
  EXPECT_EQ(report.verdicts[0].verdict, "does not hold");
  // Every path resolves to the toy sweep now, which has no fp32-only "absent" problem: row two
  // compares fp32 90.00 with 70.00.
  EXPECT_EQ(report.verdicts[2].verdict, "does not hold");
}

TEST(RenderPaperReport, BoundClaims) {
  Json paper = Paper();
  paper["claims"][1]["check"]["at_least"] = 89.6;  // ours 89.50
  paper["claims"][2]["check"] = {{"kind", "row"}, {"table", 0}, {"row", 0}, {"at_most", 89.5}};
  const Json sweep = Sweep();
  const PaperReport report = RenderPaperReport(
      paper, [&](const std::string& path) { return path == "results/toy.json" ? &sweep : nullptr; },
      [](const std::string&) { return false; });
  EXPECT_EQ(report.verdicts[1].verdict, "does not hold") << report.verdicts[1].detail;
  EXPECT_EQ(report.verdicts[2].verdict, "holds") << report.verdicts[2].detail;
}

// Three sizes of one toy sweep whose binary cell sits 70, 55 and 60 points below fp32.
TEST(RenderPaperReport, GapVsSizeNamesWhereTheGapGrowsAgain) {
  std::map<std::string, Json> sweeps;
  const std::vector<std::pair<std::string, double>> sizes = {{"small", 0.20}, {"medium", 0.35}, {"large", 0.30}};
  Json paths = Json::array();
  for (const auto& [name, top1] : sizes) {
    Json sweep = Sweep();
    sweep["experiment"] = name;
    for (Json& cell : sweep["cells"]) {
      if (cell["name"] == "binary") cell["top1"] = top1;
    }
    sweeps["results/" + name + ".json"] = sweep;
    paths.push_back("results/" + name + ".json");
  }
  Json paper = Paper();
  paper["claims"] = Json::array({
      {{"text", "gap shrinks, all sizes"}, {"source", "[SEED]"},
       {"check", {{"kind", "gap_vs_size"}, {"results", paths}, {"quantizer", "binary"}, {"bits", 1}}}},
      {{"text", "gap shrinks, small to medium"}, {"source", "[SEED]"},
       {"check", {{"kind", "gap_vs_size"}, {"results", {paths[0], paths[1]}}, {"quantizer", "binary"}, {"bits", 1}}}},
      {{"text", "gap shrinks, medium to small"}, {"source", "[SEED]"},
       {"check", {{"kind", "gap_vs_size"}, {"results", {paths[1], paths[0]}}, {"quantizer", "binary"}, {"bits", 1}}}},
  });
  const ResultLookup lookup = [&](const std::string& path) -> const Json* {
    auto it = sweeps.find(path);
    return it == sweeps.end() ? nullptr : &it->second;
  };
  const PaperReport report = RenderPaperReport(paper, lookup, [](const std::string&) { return false; });
  ASSERT_EQ(report.verdicts.size(), 3u);
  EXPECT_EQ(report.verdicts[0].verdict, "holds end to end, not monotonically") << report.verdicts[0].detail;
  EXPECT_NE(report.verdicts[0].detail.find("medium -> large (+5.00)"), std::string::npos) << report.verdicts[0].detail;
  EXPECT_EQ(report.verdicts[1].verdict, "holds") << report.verdicts[1].detail;
  EXPECT_EQ(report.verdicts[2].verdict, "does not hold") << report.verdicts[2].detail;
}

TEST(BitsToReachMarkdown, PerQuantizerAndExponentialMinusLinear) {
  Json random = Sweep();
  random["fp32"]["weights"] = {{"source", "random_init"}};
  const std::string md = BitsToReachMarkdown({{"results/toy.json", Sweep()}, {"results/random.json", random}});
  EXPECT_EQ(md.find("results/random.json"), std::string::npos);
  EXPECT_NE(md.find("| `results/toy.json` | linear (mid-tread) | 5 | 4 | 5 | 4 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| `results/toy.json` | exponential (MSE) | 3 | 3 | 3 | 3 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| `results/toy.json` | linear (per-channel) | 2 | 2 | 2 | 2 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| `results/toy.json` | binary | never | never | never | never |"), std::string::npos) << md;
  EXPECT_NE(md.find("| **linear − exponential (bits)** | +2 | +1 | +2 | +1 |"), std::string::npos) << md;
}

}  // namespace
}  // namespace quantbench
